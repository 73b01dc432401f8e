// The secrets canary across every unbound flow: with verbose logging on, a client secret, PFX and
// key passwords, private key material, assertions and access tokens must never appear in a log
// line, an error message, a cause, or the JSON / util.inspect form of the credential or its errors —
// whether the flow succeeded or failed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { inspect } from "node:util";
import { AuthenticationError, CredentialUnavailableError } from "../../src/errors.ts";
import type { BoundClientCredential } from "../../src/boundClientCredential.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import type { IssuedCertificate } from "../../src/emulator/index.ts";
import { captureLogs, everyTextOf, Harness, rejectionOf, STORAGE_SCOPE, VAULT_SCOPE, type LogCapture, type RegisteredApp } from "./support.ts";

const CLIENT_SECRET = "canary-client-secret-4e8d2a";
const WRONG_SECRET = "canary-wrong-secret-19bc77";
const PFX_PASSWORD = "canary-pfx-Passw0rd-c03f";
const WRONG_PFX_PASSWORD = "canary-wrong-pfx-Passw0rd-6a1e";
const KEY_PASSWORD = "canary-key-Passw0rd-77d1";
const VAULT_READER_SECRET = "canary-vault-reader-secret-2b90";
const SUBJECT = "canary-workload";

/** Any JWT: assertions, managed identity tokens and access tokens all look like this. */
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

let harness: Harness;
let app: RegisteredApp;
let certificate: IssuedCertificate;
let logs: LogCapture;
/** Every value that must stay secret, collected as the flows run. */
const canaries = new Set<string>([CLIENT_SECRET, WRONG_SECRET, PFX_PASSWORD, WRONG_PFX_PASSWORD, KEY_PASSWORD, VAULT_READER_SECRET]);
/** Every error and credential whose JSON and inspect forms are checked at the end. */
const exhibits: unknown[] = [];

before(async () => {
  harness = await Harness.start();
  const emu = harness.emulator;
  certificate = await emu.issueCertificate({ subject: "CN=canary" });
  const identity = emu.registerManagedIdentity({ kind: "user" });
  app = emu.registerApp({
    certificates: [certificate.certificatePem],
    secrets: [CLIENT_SECRET],
    federatedCredentials: [emu.federatedCredentialFor(identity), { issuer: `${emu.authorityHost}/${emu.tenantId}/v2.0`, subject: SUBJECT }],
  });
  for (const line of certificate.privateKeyPem.split("\n")) if (!line.startsWith("-----") && line.length >= 32) canaries.add(line);
  managedIdentityClientId = identity.clientId;
  logs = captureLogs("verbose");
});

let managedIdentityClientId = "";

after(async () => {
  logs.stop();
  await harness.close();
});

function credential(entries: readonly CredentialDescription[], extra = {}): BoundClientCredential {
  const made = harness.credential(harness.options(app, entries, extra));
  exhibits.push(made);
  return made;
}

/** Gets a token, verifies it and remembers it as a canary. */
async function succeeds(entries: readonly CredentialDescription[], extra = {}): Promise<void> {
  const made = credential(entries, extra);
  const token = await made.getToken(STORAGE_SCOPE);
  assert.match(token.token, JWT, "the JWT pattern recognises real tokens");
  canaries.add(token.token);
  await harness.verify(token.token, app);
  // A second scope, so that the cached material is used again.
  canaries.add((await made.getToken(VAULT_SCOPE)).token);
}

test("successful flows", async () => {
  const emu = harness.emulator;
  const encryptedKey = createPrivateKey(certificate.privateKeyPem)
    .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: KEY_PASSWORD })
    .toString();
  const pfx = certificate.toPfx(PFX_PASSWORD);
  const base64Pfx = pfx.toString("base64");
  for (let i = 64; i + 64 <= base64Pfx.length; i += 512) canaries.add(base64Pfx.slice(i, i + 64));
  const fileAssertion = await emu.createFederatedAssertion({ subject: SUBJECT });
  const customAssertion = await emu.createFederatedAssertion({ subject: SUBJECT });
  canaries.add(fileAssertion).add(customAssertion);
  emu.keyVault.setCertificate("canary", certificate);
  const vaultReader = harness.credential(harness.options(
    emu.registerApp({ secrets: [VAULT_READER_SECRET] }),
    [{ sourceType: "ClientSecret", clientSecret: VAULT_READER_SECRET }],
  ));
  exhibits.push(vaultReader);

  await succeeds([{ sourceType: "ClientSecret", clientSecret: CLIENT_SECRET }]);
  await succeeds([{ sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: encryptedKey, privateKeyPassword: KEY_PASSWORD }]);
  await succeeds([{ sourceType: "Path", certificateDiskPath: await harness.file("canary.pfx", pfx), certificatePassword: PFX_PASSWORD }]);
  await succeeds([{ sourceType: "Base64Encoded", base64EncodedValue: base64Pfx, certificatePassword: PFX_PASSWORD }]);
  await succeeds([{ sourceType: "KeyVault", keyVaultUrl: emu.keyVaultUrl, keyVaultCertificateName: "canary", keyVaultCredential: vaultReader }]);
  await succeeds([{ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId }]);
  await succeeds([{ sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: await harness.file("token", fileAssertion) }]);
  await succeeds([{ sourceType: "CustomSignedAssertion", getAssertion: () => customAssertion }]);
});

test("failing flows", async () => {
  const emu = harness.emulator;
  const stranger = await emu.issueCertificate({ subject: "CN=stranger" });
  for (const line of stranger.privateKeyPem.split("\n")) if (!line.startsWith("-----") && line.length >= 32) canaries.add(line);
  const foreignAssertion = await emu.createFederatedAssertion({ subject: "not-trusted" });
  canaries.add(foreignAssertion);

  // Every kind of failure in one list: unavailable, rejected (reloaded once), rejected again.
  const everything = credential([
    { sourceType: "Path", certificateDiskPath: await harness.file("wrong.pfx", certificate.toPfx(PFX_PASSWORD)), certificatePassword: WRONG_PFX_PASSWORD },
    { sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: stranger.privateKeyPem },
    { sourceType: "ClientSecret", clientSecret: WRONG_SECRET },
    { sourceType: "Certificate", certificate: stranger.certificatePem, privateKey: stranger.privateKeyPem },
    { sourceType: "CustomSignedAssertion", getAssertion: () => foreignAssertion },
    { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: await harness.file("foreign-token", foreignAssertion) },
  ]);
  const error = await rejectionOf(everything.getToken(STORAGE_SCOPE));
  assert.ok(error instanceof AuthenticationError, `${error.name}: ${error.message}`);
  exhibits.push(error);

  // A request error (stop) and an all-unavailable list.
  exhibits.push(await rejectionOf(credential([{ sourceType: "ClientSecret", clientSecret: CLIENT_SECRET }]).getToken("https://nowhere.example/.default")));
  const unavailable = await rejectionOf(
    credential([{ sourceType: "Base64Encoded", base64EncodedValue: certificate.toPfx(PFX_PASSWORD).toString("base64"), certificatePassword: WRONG_PFX_PASSWORD }]).getToken(STORAGE_SCOPE),
  );
  assert.ok(unavailable instanceof CredentialUnavailableError);
  exhibits.push(unavailable);

  // A managed identity whose token the app does not trust (no federated credential for it).
  const untrusted = emu.registerManagedIdentity({ kind: "user" });
  exhibits.push(
    await rejectionOf(credential([{ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: untrusted.clientId }]).getToken(STORAGE_SCOPE)),
  );
});

test("no canary and no JWT in any log line, message, cause, JSON or inspect output", () => {
  assert.ok(logs.lines.length > 20, `verbose logging was on (${logs.lines.length} lines)`);
  assert.ok(logs.lines.some((line) => line.startsWith("azure:keyvault-secrets")), "the Key Vault client logged its requests too");
  assert.ok(logs.lines.some((line) => line.includes("msal-node")), "msal-node's messages are forwarded");
  const texts: { where: string; text: string }[] = logs.lines.map((text, index) => ({ where: `log line ${index}`, text }));
  for (const [index, exhibit] of exhibits.entries()) {
    for (const text of everyTextOf(exhibit, (value) => inspect(value, { depth: 10, showHidden: true }))) {
      texts.push({ where: `exhibit ${index}`, text });
    }
  }
  for (const { where, text } of texts) {
    for (const canary of canaries) {
      assert.ok(!text.includes(canary), `${where} holds a secret value (${canary.slice(0, 6)}…):\n${text.slice(0, 2000)}`);
    }
    assert.doesNotMatch(text, JWT, `${where} holds a JWT`);
  }
});
