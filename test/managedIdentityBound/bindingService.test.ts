// The managed identity services against the emulator: doctor's step-by-step probe, and one mint
// shared by every entry of a credential that names the same identity.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startEmulator, type Emulator, type RegisteredApp } from "../../src/emulator/index.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import { createBoundManagedIdentitySource } from "../../src/sources/boundManagedIdentitySource.ts";
import { createManagedIdentityServices } from "../../src/sources/managedIdentity/services.ts";
import { HttpClient } from "../../src/transport/httpClient.ts";
import { ImdsV2Error } from "../../src/transport/imdsV2.ts";

describe("managed identity services", () => {
  let emulator: Emulator;
  let app: RegisteredApp;
  let http: HttpClient;

  before(async () => {
    emulator = await startEmulator({ imds: { bindingCertificateLifetimeSeconds: 86_400 } });
    const identity = emulator.registerManagedIdentity({ kind: "system" });
    app = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(identity)] });
    http = new HttpClient({ ca: [emulator.caCertificatePem] });
  });
  after(async () => {
    await http.close();
    await emulator.close();
  });

  function options(entries: readonly Record<string, unknown>[]) {
    return normalizeOptions(
      {
        ...emulator.credentialOptions(app),
        clientCredentials: entries.map((entry) => ({ sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true, ...entry })),
      },
      {},
    );
  }

  test("probe() reports each step of a mint, requests no token and keeps nothing", async () => {
    const normalized = options([{}]);
    const services = createManagedIdentityServices({ options: normalized, now: Date.now, env: {}, http });
    emulator.journal.clear();
    const probe = await services.binding.probe({ selector: { kind: "system" } }, { issue: true });
    assert.equal(probe.otherHost, undefined);
    assert.equal(probe.identityMismatch, undefined);
    assert.ok(probe.metadata.ok);
    assert.ok(probe.issued?.ok === true);
    assert.equal(probe.issued.value.tokenEndpoint, emulator.mtlsTokenEndpoint());
    assert.equal(emulator.journal.ofRoute("imds.platformMetadata").length, 1);
    assert.equal(emulator.journal.ofRoute("imds.issueCredential").length, 1);
    assert.equal(emulator.journal.ofRoute("mtls.token").length, 0, "no token was requested");
    // A probe's certificate is not the one getToken would use: the next mint is a mint.
    await services.binding.certificate({ selector: { kind: "system" } });
    assert.equal(emulator.journal.ofRoute("imds.issueCredential").length, 2);
  });

  test("probe() reports what a mint would refuse instead of refusing: another host, another identity", async () => {
    const normalized = options([{}]);
    const services = createManagedIdentityServices({ options: normalized, now: Date.now, env: { IDENTITY_ENDPOINT: "http://localhost:4141/msi/token" }, http });
    const probe = await services.binding.probe({ selector: { kind: "system" }, expectedClientId: "00000000-0000-0000-0000-00000000dead" }, { issue: false });
    assert.equal(probe.otherHost?.variable, "IDENTITY_ENDPOINT");
    assert.ok(probe.metadata.ok);
    assert.match(probe.identityMismatch ?? "", /is not the configured managedIdentityClientId 00000000-0000-0000-0000-00000000dead/);
    assert.equal(probe.issued, undefined, "issue: false stops after the metadata");
    await assert.rejects(services.binding.certificate({ selector: { kind: "system" } }), /IDENTITY_ENDPOINT is set/);
  });

  test("probe() on a v1-only host says so in the metadata step", async () => {
    const v1 = await startEmulator({ imds: { v2: false } });
    try {
      const normalized = normalizeOptions({ ...v1.credentialOptions(app), clientCredentials: [{ sourceType: "SignedAssertionFromManagedIdentity" }] }, {});
      const services = createManagedIdentityServices({ options: normalized, now: Date.now, env: {}, http });
      const probe = await services.binding.probe({ selector: { kind: "system" } }, { issue: true });
      assert.ok(!probe.metadata.ok);
      assert.ok(probe.metadata.error instanceof ImdsV2Error && probe.metadata.error.kind === "v2-unavailable");
      assert.equal(probe.issued, undefined);
    } finally {
      await v1.close();
    }
  });

  test("two bound entries of one credential naming the same identity share one binding certificate and one leg 1", async () => {
    const normalized = options([{}, { tokenExchangeUrl: "api://AzureADTokenExchange" }]);
    const services = createManagedIdentityServices({ options: normalized, now: Date.now, env: {}, http });
    const [first, second] = normalized.entries.map((entry) => createBoundManagedIdentitySource(entry, { options: normalized, now: Date.now, env: {}, http, managedIdentity: services }));
    assert.ok(first !== undefined && second !== undefined);
    emulator.journal.clear();
    const assertion = async (source: typeof first) => {
      const material = await source.load();
      assert.ok(material.kind === "assertion");
      return material.getAssertion({ clientId: app.clientId, tenantId: emulator.tenantId, tokenEndpoint: emulator.mtlsTokenEndpoint(), bound: true });
    };
    const [a, b] = await Promise.all([assertion(first), assertion(second)]);
    assert.equal(a.bindingCertificate, b.bindingCertificate);
    assert.equal(a.assertion, b.assertion);
    assert.equal(emulator.journal.ofRoute("imds.issueCredential").length, 1);
    assert.equal(emulator.journal.ofRoute("mtls.token").length, 1);
  });
});
