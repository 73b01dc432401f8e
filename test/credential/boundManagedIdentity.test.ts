import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { INITIAL_COOLDOWN_MS } from "../../src/acquisition/credentialList.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { journalHash } from "../../src/emulator/index.ts";
import { Harness, STORAGE_SCOPE, TestClock, VAULT_SCOPE, rejectionOf } from "./support.ts";

const harnesses: Harness[] = [];
after(async () => {
  await Promise.all(harnesses.map((h) => h.close()));
});

async function setup(options: Parameters<typeof Harness.start>[0] = {}) {
  const harness = await Harness.start(options);
  harnesses.push(harness);
  const emu = harness.emulator;
  const identity = emu.registerManagedIdentity({ kind: "user" });
  const app = emu.registerApp({ secrets: ["fallback"], federatedCredentials: [emu.federatedCredentialFor(identity)] });
  const boundMi: CredentialDescription = {
    sourceType: "SignedAssertionFromManagedIdentity",
    managedIdentityClientId: identity.clientId,
    useBoundCredential: true,
  };
  const secret: CredentialDescription = { sourceType: "ClientSecret", clientSecret: "fallback" };
  return { harness, emu, identity, app, boundMi, secret };
}

describe("bound managed identity through the credential", () => {
  test("the full flow: IMDS v2 certificate, leg 1 mtls_pop, leg 2 jwt-pop; the final token is the app's Bearer token", async () => {
    const { harness, emu, app, identity, boundMi } = await setup();
    const credential = harness.credential(harness.options(app, [boundMi]));
    const token = await credential.getToken(STORAGE_SCOPE);
    assert.equal(token.tokenType, "Bearer");
    const claims = await harness.verify(token.token, app);
    assert.equal(claims["appid"], app.clientId);
    assert.equal(claims["cnf"], undefined);

    assert.equal(emu.journal.ofRoute("imds.platformMetadata").length, 1);
    assert.equal(emu.journal.ofRoute("imds.issueCredential").length, 1);
    const [leg1, leg2, ...rest] = emu.journal.ofRoute("mtls.token");
    assert.equal(rest.length, 0);
    assert.equal(leg1?.form["token_type"], "mtls_pop");
    assert.equal(leg1?.form["client_id"], identity.clientId);
    assert.equal(leg1?.form["scope"], "api://AzureADTokenExchange/.default");
    assert.equal(leg1?.tokenType, "mtls_pop");
    assert.equal(leg2?.form["client_id"], app.clientId);
    assert.equal(leg2?.form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-pop");
    assert.equal(leg2?.form["token_type"], undefined);
    assert.equal(leg2?.status, 200);
    // One snapshot: both legs present the same binding certificate.
    assert.ok(leg1?.clientCertificateThumbprintSha256);
    assert.equal(leg2?.clientCertificateThumbprintSha256, leg1?.clientCertificateThumbprintSha256);
    assert.equal(emu.journal.ofRoute("login.token").length, 0);
  });

  test("the binding certificate and the leg-1 token serve many scopes; renewed after half-life", async () => {
    const { harness, emu, app, boundMi } = await setup({ imds: { bindingCertificateLifetimeSeconds: 3600 }, acceptAnyResource: true });
    const clock = new TestClock();
    const credential = harness.credential(harness.options(app, [boundMi]), { now: clock.now });
    for (let i = 0; i < 5; i++) await credential.getToken(`api://${app.clientId}/scope-${i}/.default`);
    assert.equal(emu.journal.ofRoute("imds.issueCredential").length, 1);
    assert.equal(emu.journal.filter((e) => e.route === "mtls.token" && e.form["token_type"] === "mtls_pop").length, 1);
    clock.advance(31 * 60_000);
    await credential.getToken(STORAGE_SCOPE);
    assert.equal(emu.journal.ofRoute("imds.issueCredential").length, 2, "past half of the certificate's hour: re-minted");
  });

  test("AADSTS500181 on leg 2 re-mints the binding certificate once and succeeds", async () => {
    const { harness, emu, app, boundMi } = await setup();
    const credential = harness.credential(harness.options(app, [boundMi]));
    await credential.getToken(STORAGE_SCOPE);
    emu.journal.clear();
    emu.faults.add({ route: "mtls.token", count: 1, status: 401, error: "invalid_client", errorCode: 500181 });
    const token = await credential.getToken(VAULT_SCOPE);
    await harness.verify(token.token, app, "https://vault.azure.net");
    assert.equal(emu.journal.ofRoute("imds.issueCredential").length, 1, "one re-mint");
    const thumbprints = new Set(emu.journal.ofRoute("mtls.token").map((e) => e.clientCertificateThumbprintSha256));
    assert.equal(thumbprints.size, 2, "the retry presents the new certificate");
  });

  test("two concurrent requests refused with the same binding certificate make one new certificate, not two", async () => {
    const { harness, emu, app, boundMi } = await setup({ acceptAnyResource: true });
    const credential = harness.credential(harness.options(app, [boundMi]));
    await credential.getToken(STORAGE_SCOPE);
    emu.journal.clear();
    emu.faults.add({ route: "mtls.token", count: 2, status: 401, error: "invalid_client", errorCode: 500181 });
    const [a, b] = await Promise.all([credential.getToken("api://one/.default"), credential.getToken("api://two/.default")]);
    assert.notEqual(a.token, b.token);
    assert.equal(emu.journal.ofRoute("imds.issueCredential").length, 1, "one re-mint for both");
  });

  test("a TLS rejection by the mTLS host re-mints once", async () => {
    const { harness, emu, app, boundMi } = await setup();
    const credential = harness.credential(harness.options(app, [boundMi]));
    await credential.getToken(STORAGE_SCOPE);
    // A handshake can only be refused on a new connection: drop the kept-alive one first.
    await credential.close();
    emu.journal.clear();
    emu.faults.add({ route: "mtls.token", count: 1, tls: "reject" });
    await credential.getToken(VAULT_SCOPE);
    assert.equal(emu.journal.ofRoute("imds.issueCredential").length, 1);
  });

  test("a v1-only host (no IMDS v2) makes the entry unavailable; the next entry serves; the probe is not paid again during the cool-down", async () => {
    const { harness, emu, app, boundMi, secret } = await setup({ imds: { v2: false } });
    const clock = new TestClock();
    const credential = harness.credential(harness.options(app, [boundMi, secret]), { now: clock.now });
    await credential.getToken(STORAGE_SCOPE);
    assert.equal(credential.lastServed?.entryId, "clientCredentials[1] (ClientSecret)");
    const probes = emu.journal.ofRoute("imds.platformMetadata");
    assert.equal(probes.length, 1, "404 is not retried");
    assert.equal(probes[0]?.status, 404);
    await credential.getToken(VAULT_SCOPE);
    assert.equal(emu.journal.ofRoute("imds.platformMetadata").length, 1, "benched: IMDS is not asked again");
    clock.advance(INITIAL_COOLDOWN_MS + 1);
    await credential.getToken("api://third/.default").catch(() => undefined);
    assert.equal(emu.journal.ofRoute("imds.platformMetadata").length, 2, "after the cool-down it is tried again");
  });

  test("alone on a v1-only host: CredentialUnavailableError naming IMDS v2", async () => {
    const { harness, app, boundMi } = await setup({ imds: { v2: false } });
    const credential = harness.credential(harness.options(app, [boundMi]));
    const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
    assert.equal(error.name, "CredentialUnavailableError");
    assert.match(error.message, /IMDS/);
    assert.match(error.message, /v2|credential endpoint/i);
  });

  test("attestation required: without a provider the entry is unavailable with that reason", async () => {
    const { harness, app, boundMi } = await setup({ imds: { requireAttestation: true } });
    const credential = harness.credential(harness.options(app, [boundMi]));
    const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
    assert.equal(error.name, "CredentialUnavailableError");
    assert.match(error.message, /attestation/i);
  });

  test("attestation required: with a provider it works and IMDS saw the attestation token", async () => {
    const { harness, emu, app, boundMi } = await setup({ imds: { requireAttestation: true } });
    const seen: string[] = [];
    const credential = harness.credential(
      harness.options(app, [boundMi], {
        attestationProvider: async (context) => {
          seen.push(context.attestationEndpoint);
          assert.match(context.publicKeyPem, /BEGIN PUBLIC KEY/);
          return "attestation-jwt-from-maa";
        },
      }),
    );
    await credential.getToken(STORAGE_SCOPE);
    assert.equal(seen.length, 1);
    assert.equal(emu.journal.last("imds.issueCredential")?.form["attestation_token"], journalHash("attestation-jwt-from-maa"));
  });

  test("Entra refusing the identity's own token (leg 1) takes only this entry out; the next entry serves", async () => {
    const { harness, emu, app, boundMi, secret } = await setup();
    const credential = harness.credential(harness.options(app, [boundMi, secret]));
    emu.faults.add({ route: "mtls.token", count: 1, status: 400, error: "invalid_resource", errorCode: 500011 });
    await credential.getToken(STORAGE_SCOPE);
    assert.equal(credential.lastServed?.entryId, "clientCredentials[1] (ClientSecret)");
  });
});

describe("unbound managed identity through the credential", () => {
  test("a call that was aborted does not poison later calls (the msal application outlives it)", async () => {
    const { harness, emu, app, identity } = await setup();
    const unbound: CredentialDescription = { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId };
    const credential = harness.credential(harness.options(app, [unbound]));
    emu.faults.add({ route: "login.token", count: 2, delayMs: 1000 });
    await assert.rejects(credential.getToken(STORAGE_SCOPE, { abortSignal: AbortSignal.timeout(200) }));
    const token = await credential.getToken(VAULT_SCOPE);
    await harness.verify(token.token, app, "https://vault.azure.net");
  });
});
