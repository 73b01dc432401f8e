// Claims challenges and the cache. A `claims` value that is not a JSON object is refused before any
// request, on the unbound (msal-node) and the bound (mutual TLS) path alike — msal-node would send
// the request without it. A token obtained for a claims challenge replaces the cached token for the
// same tenant, scopes and CAE, and later callers without claims are served that token, as MSAL does.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BoundCredentialConfigurationError } from "../../src/errors.ts";
import { Harness, STORAGE_SCOPE, type RegisteredApp } from "../credential/support.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";

const SECRET = "claims-test-secret-7d2e";
let harness: Harness;
let app: RegisteredApp;
let pem: { certificate: string; privateKey: string };

before(async () => {
  harness = await Harness.start();
  const certificate = await harness.emulator.issueCertificate({ subject: "CN=claims" });
  app = harness.emulator.registerApp({ certificates: [certificate.certificatePem], secrets: [SECRET] });
  pem = { certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem };
});
after(() => harness.close());

const CHALLENGE = JSON.stringify({ access_token: { nbf: { essential: true, value: "1700000000" } } });

function tokenRequests(): number {
  return harness.emulator.journal.ofRoute("login.token").length + harness.emulator.journal.ofRoute("mtls.token").length;
}

describe("a claims value that is not a JSON object", () => {
  const entries: { name: string; entry: () => CredentialDescription }[] = [
    { name: "unbound (client secret)", entry: () => ({ sourceType: "ClientSecret", clientSecret: SECRET }) },
    { name: "unbound (certificate)", entry: () => ({ sourceType: "Certificate", ...pem }) },
    { name: "bound (certificate)", entry: () => ({ sourceType: "Certificate", ...pem, useBoundCredential: true }) },
  ];
  for (const { name, entry } of entries) {
    test(`${name}: refused with a clear error, and nothing is sent`, async () => {
      const credential = harness.credential(harness.options(app, [entry()]));
      const before = tokenRequests();
      for (const claims of ["not json", "eyJhY2Nlc3NfdG9rZW4iOnt9fQ==", "[1, 2]", "42", "null"]) {
        await assert.rejects(
          credential.getToken(STORAGE_SCOPE, { claims }),
          (error: unknown) =>
            error instanceof BoundCredentialConfigurationError &&
            error.path === "getTokenOptions.claims" &&
            /not a JSON object/.test(error.message) &&
            /base64-decode/.test(error.message),
          `claims ${claims}`,
        );
      }
      assert.equal(tokenRequests(), before, "no token request was sent");
    });
  }
});

describe("a token obtained for a claims challenge", () => {
  test("replaces the cached token and is served to later callers without claims", async () => {
    const credential = harness.credential(harness.options(app, [{ sourceType: "ClientSecret", clientSecret: SECRET }]));
    const plain = await credential.getToken(STORAGE_SCOPE);
    const challenged = await credential.getToken(STORAGE_SCOPE, { claims: CHALLENGE });
    assert.notEqual(challenged.token, plain.token, "the challenge bypassed the cache and got a new token");
    const requests = tokenRequests();
    const later = await credential.getToken(STORAGE_SCOPE);
    assert.equal(later.token, challenged.token, "a later plain caller is served the token of the challenge");
    assert.equal(tokenRequests(), requests, "from the cache");
  });
});
