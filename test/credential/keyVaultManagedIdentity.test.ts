import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Harness, STORAGE_SCOPE, type RegisteredApp } from "./support.ts";

let harness: Harness;
let app: RegisteredApp;
let identityClientId: string;

before(async () => {
  harness = await Harness.start();
  const emu = harness.emulator;
  const certificate = await emu.issueCertificate({ subject: "CN=kv-mi" });
  app = emu.registerApp({ certificates: [certificate.certificatePem] });
  identityClientId = emu.registerManagedIdentity({ kind: "user" }).clientId;
  emu.keyVault.setCertificate("app-cert", certificate);
});
after(async () => {
  await harness.close();
});

test("a KeyVault entry reads the vault with the managed identity from the configured IMDS endpoint", async () => {
  const emu = harness.emulator;
  emu.journal.clear();
  const credential = harness.credential(
    harness.options(app, [
      { sourceType: "KeyVault", keyVaultUrl: emu.keyVaultUrl, keyVaultCertificateName: "app-cert", managedIdentityClientId: identityClientId },
    ]),
  );
  const token = await credential.getToken(STORAGE_SCOPE);
  await harness.verify(token.token, app);
  const imds = emu.journal.ofRoute("imds.token");
  assert.equal(imds.length, 1);
  assert.equal(imds[0]?.query["resource"], "https://vault.azure.net");
  assert.equal(imds[0]?.query["client_id"], identityClientId);
  assert.equal(emu.journal.ofRoute("keyVault.secret").at(-1)?.status, 200);
});

test("an unknown managed identity makes the KeyVault entry unavailable with a reason", async () => {
  const emu = harness.emulator;
  const credential = harness.credential(
    harness.options(app, [
      { sourceType: "KeyVault", keyVaultUrl: emu.keyVaultUrl, keyVaultCertificateName: "app-cert", managedIdentityClientId: "00000000-0000-0000-0000-00000000dead" },
    ]),
  );
  await assert.rejects(credential.getToken(STORAGE_SCOPE), (e: Error) => {
    assert.equal(e.name, "CredentialUnavailableError");
    assert.match(e.message, /app-cert/);
    return true;
  });
});
