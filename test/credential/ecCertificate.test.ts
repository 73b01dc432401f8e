import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { IssuedCertificate } from "../../src/emulator/index.ts";
import { Harness, STORAGE_SCOPE, rejectionOf, type RegisteredApp } from "./support.ts";

let harness: Harness;
let app: RegisteredApp;
let ec: IssuedCertificate;
before(async () => {
  harness = await Harness.start();
  ec = await harness.emulator.issueCertificate({ subject: "CN=ec app", keyType: "ec" });
  app = harness.emulator.registerApp({ certificates: [ec.certificatePem], secrets: ["ec-fallback"] });
});
after(async () => {
  await harness.close();
});

for (const bound of [false, true]) {
  test(`an EC certificate${bound ? " (bound)" : ""} is unavailable before any request, with the reason, and the next entry serves`, async () => {
    const emu = harness.emulator;
    emu.journal.clear();
    const credential = harness.credential(
      harness.options(app, [
        { sourceType: "Certificate", certificate: ec.certificatePem, privateKey: ec.privateKeyPem, useBoundCredential: bound },
        { sourceType: "ClientSecret", clientSecret: "ec-fallback" },
      ]),
    );
    await credential.getToken(STORAGE_SCOPE);
    assert.equal(credential.lastServed?.entryId, "clientCredentials[1] (ClientSecret)");
    assert.equal(emu.journal.ofRoute("mtls.token").length, 0, "nothing was sent with the EC certificate");
    assert.equal(emu.journal.ofRoute("login.token").length, 1, "only the secret's request");
  });
}

test("alone, an EC certificate gives CredentialUnavailableError saying to use an RSA certificate", async () => {
  const credential = harness.credential(
    harness.options(app, [{ sourceType: "Certificate", certificate: ec.certificatePem, privateKey: ec.privateKeyPem }]),
  );
  const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
  assert.equal(error.name, "CredentialUnavailableError");
  assert.match(error.message, /EC key.*RSA keys only.*use an RSA certificate/);
});
