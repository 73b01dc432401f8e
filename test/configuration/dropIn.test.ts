import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { optionsFromDropInArguments } from "../../src/configuration/dropIn.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import { CLIENT, FAKE_CERT_PEM, TENANT, expectConfigError } from "./helpers.ts";

const PEM_WITH_KEY = `${FAKE_CERT_PEM}-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n`;

describe("drop-in arguments: the overloads of ClientCertificateCredential", () => {
  test("a path string becomes a Path entry", () => {
    assert.deepEqual(optionsFromDropInArguments(TENANT, CLIENT, "/certs/app.pem", undefined), {
      tenantId: TENANT,
      clientId: CLIENT,
      clientCredentials: [{ sourceType: "Path", certificateDiskPath: "/certs/app.pem" }],
    });
  });

  test("{ certificatePath, certificatePassword } becomes a Path entry with its password", () => {
    assert.deepEqual(optionsFromDropInArguments(TENANT, CLIENT, { certificatePath: "/certs/app.pfx", certificatePassword: "pw" }, {}), {
      tenantId: TENANT,
      clientId: CLIENT,
      clientCredentials: [{ sourceType: "Path", certificateDiskPath: "/certs/app.pfx", certificatePassword: "pw" }],
    });
  });

  test("{ certificate, certificatePassword } becomes a Certificate entry whose password opens the key", () => {
    assert.deepEqual(optionsFromDropInArguments(TENANT, CLIENT, { certificate: PEM_WITH_KEY, certificatePassword: "pw" }, undefined), {
      tenantId: TENANT,
      clientId: CLIENT,
      clientCredentials: [{ sourceType: "Certificate", certificate: PEM_WITH_KEY, privateKeyPassword: "pw" }],
    });
  });

  test("options.useBoundCredential marks the entry bound; the library's own options pass through", () => {
    const options = optionsFromDropInArguments(TENANT, CLIENT, "/certs/app.pem", {
      useBoundCredential: true,
      azureRegion: "westus2",
      sendCertificateChain: true,
      additionallyAllowedTenants: ["*"],
      authorityHost: "https://login.microsoftonline.com",
    });
    assert.deepEqual(options, {
      tenantId: TENANT,
      clientId: CLIENT,
      clientCredentials: [{ sourceType: "Path", certificateDiskPath: "/certs/app.pem", useBoundCredential: true }],
      azureRegion: "westus2",
      sendCertificateChain: true,
      additionallyAllowedTenants: ["*"],
      authorityHost: "https://login.microsoftonline.com",
    });
    assert.equal(normalizeOptions(options, {}).entries[0]!.id, "clientCredentials[0] (Path /certs/app.pem, bound)");
  });

  test("harmless pipeline options are accepted and dropped", () => {
    const options = optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", {
      userAgentOptions: { userAgentPrefix: "app" },
      telemetryOptions: { clientRequestIdHeaderName: "x" },
      redirectOptions: { maxRetries: 1 },
      disableInstanceDiscovery: true,
      loggingOptions: { logger: console.log, additionalAllowedHeaderNames: ["a"], additionalAllowedQueryParameters: ["b"], allowLoggingAccountIdentifiers: true },
      tokenCachePersistenceOptions: { enabled: false },
      allowInsecureConnection: false,
      additionalPolicies: [],
    });
    assert.deepEqual(options, {
      tenantId: TENANT,
      clientId: CLIENT,
      clientCredentials: [{ sourceType: "Path", certificateDiskPath: "/c.pem" }],
      loggingOptions: { allowLoggingAccountIdentifiers: true },
    });
  });

  test("retryOptions and proxyOptions are honoured, not dropped", () => {
    const options = optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", {
      retryOptions: { maxRetries: 5, retryDelayInMs: 100, maxRetryDelayInMs: 800 },
      proxyOptions: { host: "http://proxy.example", port: 3128, username: "user", password: "pass" },
    });
    assert.deepEqual(options.retryOptions, { maxRetries: 5, retryDelayInMs: 100, maxRetryDelayInMs: 800 });
    const normalized = normalizeOptions(options, {});
    assert.deepEqual(normalized.network?.retryOptions, { maxRetries: 5, retryDelayInMs: 100, maxRetryDelayInMs: 800 });
    assert.equal(normalized.network?.proxy?.url.href, "http://proxy.example:3128/");
    assert.equal(String(normalized.network?.proxy), "http://user:***@proxy.example:3128");
    assert.equal(normalized.network?.proxy?.origin, "proxyOptions");
  });

  test("a retryOptions field that cannot be honoured is refused, naming it", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { retryOptions: { maxTries: 3 } }), {
      code: "BCC_UNKNOWN_OPTION",
      path: "options.retryOptions.maxTries",
      remedy: /./,
    });
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { retryOptions: { maxRetries: -1 } }), {
      code: "BCC_INVALID_VALUE",
      path: "options.retryOptions.maxRetries",
      remedy: /leave it out for the default/,
    });
  });

  test("tlsOptions.ca maps to tls.ca, Buffers included", () => {
    const options = optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { tlsOptions: { ca: [Buffer.from(FAKE_CERT_PEM), FAKE_CERT_PEM] } });
    assert.deepEqual(options.tls, { ca: [FAKE_CERT_PEM, FAKE_CERT_PEM] });
    assert.deepEqual(normalizeOptions(options, {}).tlsCa, [FAKE_CERT_PEM, FAKE_CERT_PEM]);
  });
});

describe("drop-in arguments: mistakes", () => {
  test("both certificate and certificatePath", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, { certificate: PEM_WITH_KEY, certificatePath: "/c.pem" }, undefined), {
      code: "BCC_CONFLICTING_FIELDS",
      path: "configuration.certificatePath",
      remedy: /either certificate .* or certificatePath/,
    });
  });

  test("neither certificate nor certificatePath", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, { certificatePassword: "pw" }, undefined), {
      code: "BCC_MISSING_FIELD",
      path: "configuration",
      remedy: /Provide either a PEM certificate in string form, or the path/,
    });
  });

  test("no certificate argument at all", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, undefined, undefined), {
      code: "BCC_MISSING_FIELD",
      path: "configuration",
      remedy: /certificatePath: "\/certs\/app\.pfx"/,
    });
  });

  test("an empty path", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "", undefined), { code: "BCC_EMPTY_FIELD", path: "certificatePath", remedy: /path of the PEM or PFX/ });
  });

  test("a certificate argument of the wrong type", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, 42, undefined), { code: "BCC_INVALID_TYPE", path: "configuration", remedy: /certificatePath/ });
  });

  test("a misspelled key in the certificate configuration", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, { certificatePath: "/c.pfx", certificatePasword: "pw" }, undefined), {
      code: "BCC_UNKNOWN_OPTION",
      path: "configuration.certificatePasword",
      remedy: /Remove it/,
      message: /Did you mean certificatePassword\?/,
    });
  });

  test("PEM text without a private key", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, { certificate: FAKE_CERT_PEM }, undefined), {
      code: "BCC_MISSING_FIELD",
      path: "configuration.certificate",
      remedy: /includes its private key/,
    });
  });

  test("a certificate path given as certificate", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, { certificate: "/certs/app.pem" }, undefined), {
      code: "BCC_INVALID_VALUE",
      path: "configuration.certificate",
      remedy: /PEM text/,
    });
  });

  test("a missing tenant", () => {
    expectConfigError(() => optionsFromDropInArguments(undefined, CLIENT, "/c.pem", undefined), { code: "BCC_MISSING_FIELD", path: "tenantId", remedy: /tenant/ });
  });

  test("a clientId of the wrong type", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, 7, "/c.pem", undefined), { code: "BCC_INVALID_TYPE", path: "clientId", remedy: /as a string/ });
  });

  test("options that are not an object", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", "bound"), { code: "BCC_INVALID_OPTIONS", path: "options", remedy: /as an object/ });
  });

  test("useBoundCredential that is not a boolean", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { useBoundCredential: "true" }), {
      code: "BCC_INVALID_TYPE",
      path: "options.useBoundCredential",
      remedy: /true or false/,
    });
  });

  test("an unknown option", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { sendCertificateChian: true }), {
      code: "BCC_UNKNOWN_OPTION",
      path: "options.sendCertificateChian",
      remedy: /Remove it/,
      message: /Did you mean sendCertificateChain\?/,
    });
  });

  test("an invalid option value names the option", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { authorityHost: "http://login.microsoftonline.com" }), {
      code: "BCC_INSECURE_AUTHORITY",
      path: "options.authorityHost",
      remedy: /https/,
    });
  });

  const rejected: readonly [string, unknown, RegExp][] = [
    ["tokenCachePersistenceOptions", { enabled: true }, /in memory only/],
    ["httpClient", { sendRequest: async () => undefined }, /own transport.*tls\.ca/],
    ["additionalPolicies", [{ policy: {}, position: "perCall" }], /policies would never be called/],
    ["allowInsecureConnection", true, /only travel over https/],
    ["agent", { keepAlive: true }, /manages its own connections/],
  ];
  for (const [key, value, remedy] of rejected) {
    test(`the option ${key}, which cannot be honoured`, () => {
      expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { [key]: value }), {
        code: "BCC_INVALID_OPTIONS",
        path: `options.${key}`,
        remedy,
      });
    });
  }

  for (const key of ["cert", "key", "pfx", "passphrase"]) {
    test(`tlsOptions.${key}, a client certificate outside the credential`, () => {
      expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { tlsOptions: { [key]: "x" } }), {
        code: "BCC_INVALID_OPTIONS",
        path: `options.tlsOptions.${key}`,
        remedy: /useBoundCredential/,
      });
    });
  }

  test("tlsOptions.ca together with tls", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { tls: { ca: FAKE_CERT_PEM }, tlsOptions: { ca: FAKE_CERT_PEM } }), {
      code: "BCC_CONFLICTING_FIELDS",
      path: "options.tlsOptions.ca",
      remedy: /once, in tls\.ca/,
    });
  });

  test("tlsOptions.ca that is not PEM names tlsOptions", () => {
    expectConfigError(() => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { tlsOptions: { ca: "/etc/ca.pem" } }), {
      code: "BCC_INVALID_VALUE",
      path: "options.tlsOptions.ca",
      remedy: /not its path/,
    });
  });
});
