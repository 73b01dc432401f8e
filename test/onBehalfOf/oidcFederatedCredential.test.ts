// The OIDC federated credential (OidcIdpSignedAssertion) against the emulator over real TLS:
// unbound (the inner app's token as jwt-bearer assertion) and bound (the inner app's mtls_pop
// token presented as jwt-pop with the same certificate), in code and from an appsettings object.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CredentialUnavailableError } from "../../src/errors.ts";
import { BoundClientCredential } from "../../src/boundClientCredential.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import type { IssuedCertificate, RegisteredManagedIdentity } from "../../src/emulator/index.ts";
import { oidcIdpSignedAssertion } from "../../src/oidcIdpSignedAssertion.ts";
import { Harness, rejectionOf, STORAGE_SCOPE, type RegisteredApp } from "../credential/support.ts";
import { withSeams } from "../helpers/index.ts";

const EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default";
const JWT_POP = "urn:ietf:params:oauth:client-assertion-type:jwt-pop";
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

let harness: Harness;
let identity: RegisteredManagedIdentity;
let innerCertificate: IssuedCertificate;
/** The OIDC app: trusts the managed identity, has a certificate and a secret. */
let oidcApp: RegisteredApp;
/** The final app: trusts the OIDC app's tokens. */
let finalApp: RegisteredApp;

before(async () => {
  harness = await Harness.start();
  const emulator = harness.emulator;
  identity = emulator.registerManagedIdentity({ kind: "user" });
  innerCertificate = await emulator.issueCertificate({ subject: "CN=oidc app" });
  oidcApp = emulator.registerApp({
    secrets: ["oidc-secret"],
    certificates: [innerCertificate.certificatePem],
    federatedCredentials: [emulator.federatedCredentialFor(identity)],
  });
  finalApp = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(oidcApp)] });
});
after(async () => {
  await harness.close();
});

const boundMi: CredentialDescription = { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: "", useBoundCredential: true };
const miEntry = (): CredentialDescription => ({ ...boundMi, managedIdentityClientId: identity.clientId });

function outer(inner: readonly CredentialDescription[], bound: boolean): BoundClientCredential {
  return harness.credential(
    harness.options(finalApp, [
      {
        sourceType: "CustomSignedAssertion",
        useBoundCredential: bound,
        getAssertion: oidcIdpSignedAssertion(
          withSeams({ ...harness.emulator.credentialOptions(oidcApp), clientCredentials: inner }, { env: {} }),
        ),
      },
    ]),
  );
}

describe("oidcIdpSignedAssertion in code", () => {
  test("unbound: the OIDC app's token for api://AzureADTokenExchange is the final app's jwt-bearer assertion", async () => {
    const emulator = harness.emulator;
    emulator.journal.clear();
    const token = await outer([{ sourceType: "ClientSecret", clientSecret: "oidc-secret" }], false).getToken(STORAGE_SCOPE);
    await harness.verify(token.token, finalApp);
    const [inner, final, ...rest] = emulator.journal.ofRoute("login.token");
    assert.equal(rest.length, 0);
    assert.equal(inner?.clientId, oidcApp.clientId);
    assert.equal(inner?.form["scope"], EXCHANGE_SCOPE);
    assert.equal(final?.clientId, finalApp.clientId);
    assert.equal(final?.form["client_assertion_type"], JWT_BEARER);
    assert.equal(final?.tokenObjectId, finalApp.objectId);
    assert.equal(emulator.journal.ofRoute("mtls.token").length, 0);
  });

  test("bound, three legs: managed identity → OIDC app (mtls_pop) → final app (jwt-pop), one binding certificate", async () => {
    const emulator = harness.emulator;
    emulator.journal.clear();
    const token = await outer([miEntry()], true).getToken(STORAGE_SCOPE);
    const claims = await harness.verify(token.token, finalApp);
    assert.equal(claims["cnf"], undefined, "the final token is a Bearer token");
    const [leg1, leg2, leg3, ...rest] = emulator.journal.ofRoute("mtls.token");
    assert.equal(rest.length, 0);
    assert.equal(leg1?.clientId, identity.clientId);
    assert.equal(leg1?.tokenType, "mtls_pop");
    assert.equal(leg2?.clientId, oidcApp.clientId);
    assert.equal(leg2?.form["client_assertion_type"], JWT_POP);
    assert.equal(leg2?.form["token_type"], "mtls_pop");
    assert.equal(leg2?.form["scope"], EXCHANGE_SCOPE);
    assert.equal(leg2?.tokenType, "mtls_pop");
    assert.equal(leg3?.clientId, finalApp.clientId);
    assert.equal(leg3?.form["client_assertion_type"], JWT_POP);
    assert.equal(leg3?.form["token_type"], undefined);
    assert.equal(leg3?.tokenType, "Bearer");
    assert.ok(leg1?.clientCertificateThumbprintSha256);
    assert.equal(leg2?.clientCertificateThumbprintSha256, leg1.clientCertificateThumbprintSha256);
    assert.equal(leg3?.clientCertificateThumbprintSha256, leg1.clientCertificateThumbprintSha256);
    assert.equal(emulator.journal.ofRoute("login.token").length, 0);
  });

  test("bound: the inner mtls_pop token and its certificate serve several outer scopes; concurrent callers share one leg", async () => {
    const emulator = harness.emulator;
    const credential = outer([miEntry()], true);
    emulator.journal.clear();
    await Promise.all([STORAGE_SCOPE, STORAGE_SCOPE, "https://vault.azure.net/.default"].map((scope) => credential.getToken(scope)));
    await credential.getToken("https://management.azure.com/.default");
    const legs = emulator.journal.ofRoute("mtls.token");
    assert.equal(legs.filter((entry) => entry.clientId === oidcApp.clientId).length, 1, "one inner leg");
    const finals = legs.filter((entry) => entry.clientId === finalApp.clientId);
    assert.equal(finals.length, 3, "one outer request per scope");
    assert.ok(finals.every((entry) => entry.status === 200 && entry.clientCertificateThumbprintSha256 === legs[0]?.clientCertificateThumbprintSha256));
  });

  test("bound with a bound certificate inside: its mtls_pop token travels with that certificate", async () => {
    const emulator = harness.emulator;
    emulator.journal.clear();
    const entry: CredentialDescription = {
      sourceType: "Certificate",
      certificate: innerCertificate.certificatePem,
      privateKey: innerCertificate.privateKeyPem,
      useBoundCredential: true,
    };
    await harness.verify((await outer([entry], true).getToken(STORAGE_SCOPE)).token, finalApp);
    const [inner, final, ...rest] = emulator.journal.ofRoute("mtls.token");
    assert.equal(rest.length, 0);
    assert.equal(inner?.tokenType, "mtls_pop");
    assert.equal(inner?.form["client_assertion_type"], JWT_BEARER);
    assert.equal(final?.form["client_assertion_type"], JWT_POP);
    assert.equal(final?.clientCertificateThumbprintSha256, inner?.clientCertificateThumbprintSha256);
    assert.equal(
      final?.clientCertificateThumbprintSha256,
      new (await import("node:crypto")).X509Certificate(innerCertificate.certificatePem).fingerprint256.replaceAll(":", ""),
    );
  });

  test("bound outer, unbound inner: no mtls_pop token can be had, so the entry is unavailable and says why", async () => {
    const error = await rejectionOf(outer([{ sourceType: "ClientSecret", clientSecret: "oidc-secret" }], true).getToken(STORAGE_SCOPE));
    assert.ok(error instanceof CredentialUnavailableError, error.name);
    assert.match(error.message, /mtls_pop token .* needs a bound entry/);
  });
});

describe("OidcIdpSignedAssertion from the whole configuration", () => {
  const appsettings = (bound: boolean, sectionName = "AzureAd2") => ({
    AzureAd: {
      Instance: harness.emulator.authorityHost,
      TenantId: harness.emulator.tenantId,
      ClientId: finalApp.clientId,
      ClientCredentials: [
        {
          SourceType: "CustomSignedAssertion",
          CustomSignedAssertionProviderName: "OidcIdpSignedAssertion",
          CustomSignedAssertionProviderData: { ConfigurationSection: sectionName },
          UseBoundCredential: bound,
        },
      ],
    },
    AzureAd2: {
      Instance: harness.emulator.authorityHost,
      TenantId: harness.emulator.tenantId,
      ClientId: oidcApp.clientId,
      ClientCredentials: bound
        ? [{ SourceType: "SignedAssertionFromManagedIdentity", ManagedIdentityClientId: identity.clientId, UseBoundCredential: true }]
        : [{ SourceType: "ClientSecret", ClientSecret: "oidc-secret" }],
    },
  });
  const fromConfiguration = (configuration: unknown) =>
    harness.track(
      BoundClientCredential.fromConfiguration(
        configuration,
        withSeams(
          {
            tls: { ca: harness.emulator.caCertificatePem },
            mtlsAuthorityHost: harness.emulator.mtlsAuthorityHost,
            imdsEndpoint: harness.emulator.imdsEndpoint,
          },
          { env: {} },
        ),
      ),
    );

  for (const bound of [false, true]) {
    test(`the entry finds its section and serves (${bound ? "bound: jwt-pop over mTLS" : "unbound: jwt-bearer"})`, async () => {
      const emulator = harness.emulator;
      emulator.journal.clear();
      const token = await fromConfiguration(appsettings(bound)).getToken(STORAGE_SCOPE);
      await harness.verify(token.token, finalApp);
      const last = emulator.journal.last(bound ? "mtls.token" : "login.token");
      assert.equal(last?.clientId, finalApp.clientId);
      assert.equal(last?.form["client_assertion_type"], bound ? JWT_POP : JWT_BEARER);
    });
  }

  test("a section that is not in the configuration, or none named, is a configuration error", () => {
    assert.throws(
      () => fromConfiguration(appsettings(false, "Missing")),
      /ClientCredentials\[0\]\.CustomSignedAssertionProviderData\.ConfigurationSection: The section "Missing" is not in the configuration given\. Pass the whole parsed appsettings\.json/,
    );
    const noName = appsettings(false);
    noName.AzureAd.ClientCredentials[0]!.CustomSignedAssertionProviderData = {} as { ConfigurationSection: string };
    assert.throws(() => fromConfiguration(noName), /names no configuration section/);
  });
});
