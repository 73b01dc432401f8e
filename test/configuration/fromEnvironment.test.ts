import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { optionsFromEnvironment, USE_BOUND_CREDENTIAL_VARIABLE } from "../../src/configuration/fromEnvironment.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import { CLIENT, TENANT, expectConfigError } from "./helpers.ts";

const IDS = { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT };

describe("fromEnvironment", () => {
  test("reads every variable and orders the entries certificate, federated token file, secret", () => {
    const env = {
      ...IDS,
      AZURE_CLIENT_CERTIFICATE_PATH: "/certs/app.pfx",
      AZURE_CLIENT_CERTIFICATE_PASSWORD: "pfx-pass",
      AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: "1",
      AZURE_CLIENT_SECRET: "secret-value",
      AZURE_FEDERATED_TOKEN_FILE: "/var/run/secrets/azure/tokens/azure-identity-token",
      AZURE_AUTHORITY_HOST: "https://login.microsoftonline.us",
      AZURE_REGIONAL_AUTHORITY_NAME: "usgovvirginia",
      AZURE_ADDITIONALLY_ALLOWED_TENANTS: ` contoso.onmicrosoft.us ;${TENANT};;`,
      [USE_BOUND_CREDENTIAL_VARIABLE]: "true",
      UNRELATED: "x",
    };
    const options = optionsFromEnvironment(env);
    assert.deepEqual(options, {
      tenantId: TENANT,
      clientId: CLIENT,
      clientCredentials: [
        { sourceType: "Path", certificateDiskPath: "/certs/app.pfx", certificatePassword: "pfx-pass", useBoundCredential: true },
        { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: "/var/run/secrets/azure/tokens/azure-identity-token" },
        { sourceType: "ClientSecret", clientSecret: "secret-value" },
      ],
      authorityHost: "https://login.microsoftonline.us",
      azureRegion: "usgovvirginia",
      additionallyAllowedTenants: ["contoso.onmicrosoft.us", TENANT],
      sendCertificateChain: true,
    });
    const normalized = normalizeOptions(options, env);
    assert.deepEqual(normalized.entries.map((e) => e.id), [
      "clientCredentials[0] (Path /certs/app.pfx, bound)",
      "clientCredentials[1] (SignedAssertionFilePath /var/run/secrets/azure/tokens/azure-identity-token)",
      "clientCredentials[2] (ClientSecret)",
    ]);
  });

  test("a secret alone", () => {
    assert.deepEqual(optionsFromEnvironment({ ...IDS, AZURE_CLIENT_SECRET: "s" }), {
      tenantId: TENANT,
      clientId: CLIENT,
      clientCredentials: [{ sourceType: "ClientSecret", clientSecret: "s" }],
    });
  });

  test("a certificate without password is unbound unless the variable says so", () => {
    for (const [value, bound] of [[undefined, false], ["false", false], ["0", false], ["1", true], ["TRUE", true], ["", false]] as const) {
      const env: Record<string, string> = { ...IDS, AZURE_CLIENT_CERTIFICATE_PATH: "/c.pem" };
      if (value !== undefined) env[USE_BOUND_CREDENTIAL_VARIABLE] = value;
      const entry = optionsFromEnvironment(env).clientCredentials[0]!;
      assert.deepEqual(entry, bound ? { sourceType: "Path", certificateDiskPath: "/c.pem", useBoundCredential: true } : { sourceType: "Path", certificateDiskPath: "/c.pem" }, String(value));
    }
  });

  test("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN is on only for true or 1, as in @azure/identity", () => {
    const chain = (value: string): boolean | undefined =>
      optionsFromEnvironment({ ...IDS, AZURE_CLIENT_SECRET: "s", AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: value }).sendCertificateChain;
    assert.equal(chain("true"), true);
    assert.equal(chain("True"), true);
    assert.equal(chain("1"), true);
    assert.equal(chain("yes"), false);
    assert.equal(chain("0"), false);
  });

  test("AutoDiscoverRegion means TryAutoDetect", () => {
    const options = optionsFromEnvironment({ ...IDS, AZURE_CLIENT_SECRET: "s", AZURE_REGIONAL_AUTHORITY_NAME: "AutoDiscoverRegion" });
    assert.equal(options.azureRegion, "TryAutoDetect");
  });

  test("empty variables count as unset", () => {
    const options = optionsFromEnvironment({ ...IDS, AZURE_CLIENT_SECRET: "s", AZURE_CLIENT_CERTIFICATE_PATH: "", AZURE_AUTHORITY_HOST: "" });
    assert.deepEqual(options.clientCredentials, [{ sourceType: "ClientSecret", clientSecret: "s" }]);
    assert.equal(options.authorityHost, undefined);
  });

  test("reads process.env by default", () => {
    const saved = { ...process.env };
    try {
      for (const key of Object.keys(process.env)) if (key.startsWith("AZURE_") || key === USE_BOUND_CREDENTIAL_VARIABLE) delete process.env[key];
      Object.assign(process.env, IDS, { AZURE_CLIENT_SECRET: "from-process" });
      assert.deepEqual(optionsFromEnvironment().clientCredentials, [{ sourceType: "ClientSecret", clientSecret: "from-process" }]);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});

describe("fromEnvironment: mistakes name the variable", () => {
  test("nothing set at all lists what is read", () => {
    expectConfigError(() => optionsFromEnvironment({ PATH: "/usr/bin" }), {
      code: "BCC_MISSING_FIELD",
      path: "environment",
      remedy: /AZURE_TENANT_ID, AZURE_CLIENT_ID and at least one of AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_SECRET/,
      message: /AZURE_REGIONAL_AUTHORITY_NAME.*BOUND_CLIENT_CREDENTIAL_USE_BOUND|BOUND_CLIENT_CREDENTIAL_USE_BOUND.*AZURE_REGIONAL_AUTHORITY_NAME/,
    });
  });

  test("tenant and client missing", () => {
    expectConfigError(() => optionsFromEnvironment({ AZURE_CLIENT_SECRET: "s" }), {
      code: "BCC_MISSING_FIELD",
      path: "AZURE_TENANT_ID",
      remedy: /Set AZURE_TENANT_ID and AZURE_CLIENT_ID/,
      message: /neither is AZURE_CLIENT_ID/,
    });
  });

  test("client missing", () => {
    expectConfigError(() => optionsFromEnvironment({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_SECRET: "s" }), {
      code: "BCC_MISSING_FIELD",
      path: "AZURE_CLIENT_ID",
      remedy: /Set AZURE_CLIENT_ID/,
    });
  });

  test("no credential variable", () => {
    expectConfigError(() => optionsFromEnvironment({ ...IDS, AZURE_CLIENT_CERTIFICATE_PASSWORD: "p" }), {
      code: "BCC_CREDENTIALS_EMPTY",
      path: "environment",
      remedy: /AZURE_CLIENT_CERTIFICATE_PATH.*AZURE_FEDERATED_TOKEN_FILE.*AZURE_CLIENT_SECRET/,
    });
  });

  test("an unreadable bound flag", () => {
    expectConfigError(() => optionsFromEnvironment({ ...IDS, AZURE_CLIENT_CERTIFICATE_PATH: "/c.pem", [USE_BOUND_CREDENTIAL_VARIABLE]: "yes" }), {
      code: "BCC_INVALID_VALUE",
      path: USE_BOUND_CREDENTIAL_VARIABLE,
      remedy: /=true/,
    });
  });

  test("the bound flag without a certificate", () => {
    expectConfigError(() => optionsFromEnvironment({ ...IDS, AZURE_CLIENT_SECRET: "s", [USE_BOUND_CREDENTIAL_VARIABLE]: "1" }), {
      code: "BCC_BOUND_NOT_SUPPORTED",
      path: USE_BOUND_CREDENTIAL_VARIABLE,
      remedy: /Set AZURE_CLIENT_CERTIFICATE_PATH/,
    });
  });

  test("an invalid tenant", () => {
    expectConfigError(() => optionsFromEnvironment({ ...IDS, AZURE_TENANT_ID: "common", AZURE_CLIENT_SECRET: "s" }), {
      code: "BCC_MULTI_TENANT_AUTHORITY",
      path: "AZURE_TENANT_ID",
      remedy: /GUID/,
    });
  });

  test("a tenant with a trailing carriage return", () => {
    expectConfigError(() => optionsFromEnvironment({ ...IDS, AZURE_TENANT_ID: `${TENANT}\r`, AZURE_CLIENT_SECRET: "s" }), {
      code: "BCC_INVALID_TENANT",
      path: "AZURE_TENANT_ID",
      remedy: /trailing newline/,
    });
  });

  test("an http authority host", () => {
    expectConfigError(() => optionsFromEnvironment({ ...IDS, AZURE_CLIENT_SECRET: "s", AZURE_AUTHORITY_HOST: "http://login.microsoftonline.com" }), {
      code: "BCC_INSECURE_AUTHORITY",
      path: "AZURE_AUTHORITY_HOST",
      remedy: /https/,
    });
  });

  test("a bound certificate on a cloud without an mTLS endpoint", () => {
    expectConfigError(
      () =>
        optionsFromEnvironment({
          ...IDS,
          AZURE_CLIENT_CERTIFICATE_PATH: "/c.pem",
          [USE_BOUND_CREDENTIAL_VARIABLE]: "1",
          AZURE_AUTHORITY_HOST: "https://login.usgovcloudapi.net",
        }),
      { code: "BCC_MTLS_UNSUPPORTED_CLOUD", path: "AZURE_AUTHORITY_HOST", remedy: /login\.microsoftonline\.us/ },
    );
  });

  test("an invalid region", () => {
    expectConfigError(() => optionsFromEnvironment({ ...IDS, AZURE_CLIENT_SECRET: "s", AZURE_REGIONAL_AUTHORITY_NAME: "east-us" }), {
      code: "BCC_INVALID_VALUE",
      path: "AZURE_REGIONAL_AUTHORITY_NAME",
      remedy: /TryAutoDetect/,
      message: /Did you mean eastus\?/,
    });
  });

  test("an invalid additionally allowed tenant", () => {
    expectConfigError(() => optionsFromEnvironment({ ...IDS, AZURE_CLIENT_SECRET: "s", AZURE_ADDITIONALLY_ALLOWED_TENANTS: `${TENANT};organizations` }), {
      code: "BCC_MULTI_TENANT_AUTHORITY",
      path: "AZURE_ADDITIONALLY_ALLOWED_TENANTS[1]",
      remedy: /GUID/,
    });
  });
});
