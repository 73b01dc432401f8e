// The ordered list against the emulator, one test per row of DESIGN.md §4: unavailable entries fall
// through, entries rejected by Entra are reloaded once and then benched (and come back after the
// cool-down), request errors stop the list at once. The journal shows what reached the emulator.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inspect } from "node:util";
import { AuthenticationError, BoundCredentialConfigurationError, CredentialUnavailableError } from "../../src/errors.ts";
import { INITIAL_COOLDOWN_MS } from "../../src/acquisition/credentialList.ts";
import { ROTATION_CHECK_INTERVAL_MS } from "../../src/acquisition/sourceEntry.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import type { IssuedCertificate } from "../../src/emulator/index.ts";
import { captureLogs, everyTextOf, Harness, rejectionOf, STORAGE_SCOPE, TestClock, VAULT_SCOPE, type RegisteredApp } from "./support.ts";

const SECRET = "fall-through-secret-7c21";
const PFX_PASSWORD = "fall-through-Pfx-Passw0rd";
const WRONG_PASSWORD = "not-the-Pfx-Passw0rd-91";

let harness: Harness;
let app: RegisteredApp;
let registered: IssuedCertificate;
let unregistered: IssuedCertificate;

const secretEntry: CredentialDescription = { sourceType: "ClientSecret", clientSecret: SECRET };

before(async () => {
  harness = await Harness.start();
  [registered, unregistered] = await Promise.all([
    harness.emulator.issueCertificate({ subject: "CN=registered" }),
    harness.emulator.issueCertificate({ subject: "CN=unregistered" }),
  ]);
  app = harness.emulator.registerApp({ certificates: [registered.certificatePem], secrets: [SECRET] });
});

after(async () => {
  await harness.close();
});

/** The login host's token requests from `from` on: status and AADSTS code. */
function tokenRequestsSince(from: number): { status: number | undefined; errorCode: number | undefined }[] {
  return harness.emulator.journal
    .ofRoute("login.token")
    .slice(from)
    .map((entry) => ({ status: entry.status, errorCode: entry.errorCode }));
}

async function pfxFile(certificate: IssuedCertificate, name = "app.pfx"): Promise<string> {
  return harness.file(name, certificate.toPfx(PFX_PASSWORD));
}

describe("unavailable: the reason is recorded and the next entry serves", () => {
  test("a missing PFX file falls through to the secret", async () => {
    const missing = join(await harness.directory(), "missing.pfx");
    const credential = harness.credential(
      harness.options(app, [{ sourceType: "Path", certificateDiskPath: missing, certificatePassword: PFX_PASSWORD }, secretEntry]),
    );
    const from = harness.loginTokenRequests();
    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, app);
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[1\] \(ClientSecret/);
    assert.deepEqual(tokenRequestsSince(from), [{ status: 200, errorCode: undefined }], "only the secret reached Entra");
  });

  test("a wrong PFX password falls through, naming the password problem and never the password", async () => {
    const path = await pfxFile(registered);
    const entry: CredentialDescription = { sourceType: "Path", certificateDiskPath: path, certificatePassword: WRONG_PASSWORD };
    const logs = captureLogs();
    try {
      const credential = harness.credential(harness.options(app, [entry, secretEntry]));
      await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, app);
      assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[1\]/);
      assert.ok(logs.lines.some((line) => /password/i.test(line) && line.includes(path)), "the log names the password problem");

      // Alone in the list, the entry makes the whole credential unavailable with that reason.
      const alone = harness.credential(harness.options(app, [entry]));
      const error = await rejectionOf(alone.getToken(STORAGE_SCOPE));
      assert.ok(error instanceof CredentialUnavailableError);
      assert.match(error.message, /clientCredentials\[0\] \(Path [^)]*\): unavailable: .*password is wrong or missing/);
      for (const text of [...logs.lines, ...everyTextOf(error, (value) => inspect(value, { depth: 8 })), ...everyTextOf(alone, inspect)]) {
        assert.ok(!text.includes(WRONG_PASSWORD), "the wrong password never appears");
        assert.ok(!text.includes(PFX_PASSWORD), "the right password never appears");
      }
    } finally {
      logs.stop();
    }
  });

  test("an expired certificate, and one not yet valid, fall through", async () => {
    const day = 86_400_000;
    const expired = await harness.emulator.issueCertificate({
      notBefore: new Date(Date.now() - 10 * day),
      notAfter: new Date(Date.now() - day),
    });
    const future = await harness.emulator.issueCertificate({ notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 10 * day) });
    const credential = harness.credential(
      harness.options(app, [
        { sourceType: "Certificate", certificate: expired.certificatePem, privateKey: expired.privateKeyPem },
        { sourceType: "Path", certificateDiskPath: await pfxFile(future, "future.pfx"), certificatePassword: PFX_PASSWORD },
        secretEntry,
      ]),
    );
    const from = harness.loginTokenRequests();
    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, app);
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[2\]/);
    assert.equal(tokenRequestsSince(from).length, 1, "neither certificate was sent");

    const alone = harness.credential(
      harness.options(app, [
        { sourceType: "Certificate", certificate: expired.certificatePem, privateKey: expired.privateKeyPem },
        { sourceType: "Path", certificateDiskPath: await pfxFile(future, "future2.pfx"), certificatePassword: PFX_PASSWORD },
      ]),
    );
    const error = await rejectionOf(alone.getToken(STORAGE_SCOPE));
    assert.ok(error instanceof CredentialUnavailableError);
    const [, first, second] = error.message.split("\n");
    assert.match(first ?? "", /^ {2}clientCredentials\[0\] \(Certificate[^)]*\): unavailable: .*expired/);
    assert.match(second ?? "", /^ {2}clientCredentials\[1\] \(Path [^)]*\): unavailable: .*not (yet )?valid/);
  });

  test("the managed identity endpoint unreachable falls through", async () => {
    const identity = harness.emulator.registerManagedIdentity({ kind: "user" });
    const credential = harness.credential(
      harness.options(
        app,
        [{ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId }, secretEntry],
        // A port nothing listens on: the connection is refused at once.
        { imdsEndpoint: "http://127.0.0.1:1" },
      ),
    );
    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, app);
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[1\]/);
  });

  test("a Key Vault certificate that does not exist falls through", async () => {
    const reader = harness.emulator.registerApp({ secrets: ["kv-reader"] });
    const keyVaultCredential = harness.credential(harness.options(reader, [{ sourceType: "ClientSecret", clientSecret: "kv-reader" }]));
    const credential = harness.credential(
      harness.options(app, [
        { sourceType: "KeyVault", keyVaultUrl: harness.emulator.keyVaultUrl, keyVaultCertificateName: "no-such-certificate", keyVaultCredential },
        secretEntry,
      ]),
    );
    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, app);
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[1\]/);
  });

  test("every entry unavailable: CredentialUnavailableError listing every entry in order", async () => {
    const missing = join(await harness.directory(), "gone.pem");
    const credential = harness.credential(
      harness.options(app, [
        { sourceType: "Path", certificateDiskPath: missing },
        { sourceType: "StoreWithThumbprint", certificateStorePath: "CurrentUser/My", certificateThumbprint: registered.thumbprintSha1 },
        { sourceType: "ClientSecret", clientSecret: "skipped-secret", skip: true },
        { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: join(await harness.directory(), "no-token") },
      ]),
    );
    const from = harness.loginTokenRequests();
    const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
    assert.ok(error instanceof CredentialUnavailableError);
    assert.equal(error.name, "CredentialUnavailableError");
    const lines = error.message.split("\n");
    assert.match(lines[0] ?? "", /no credential in the list could obtain a token for https:\/\/storage\.azure\.com\/\.default/);
    assert.match(lines[1] ?? "", /^ {2}clientCredentials\[0\] \(Path [^)]*\): unavailable: .*does not exist/);
    assert.match(lines[2] ?? "", /^ {2}clientCredentials\[1\] \(StoreWithThumbprint[^)]*\): unavailable: Windows certificate stores/);
    assert.match(lines[3] ?? "", /^ {2}clientCredentials\[2\] \(ClientSecret[^)]*\): skipped/);
    assert.match(lines[4] ?? "", /^ {2}clientCredentials\[3\] \(SignedAssertionFilePath[^)]*\): unavailable: .*does not exist/);
    assert.equal(lines.length, 5);
    assert.deepEqual(tokenRequestsSince(from), [], "nothing reached Entra");
  });
});

describe("skip: true", () => {
  test("a skipped entry is never loaded nor sent", async () => {
    const credential = harness.credential(
      harness.options(app, [
        { sourceType: "ClientSecret", clientSecret: "a-wrong-secret", skip: true },
        { sourceType: "Path", certificateDiskPath: "/nonexistent/skipped.pfx", skip: true },
        secretEntry,
      ]),
    );
    const from = harness.loginTokenRequests();
    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, app);
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[2\]/);
    assert.deepEqual(tokenRequestsSince(from), [{ status: 200, errorCode: undefined }]);
  });

  test("a list where every entry is skipped is refused at construction", () => {
    assert.throws(
      () => harness.credential(harness.options(app, [{ ...secretEntry, skip: true }])),
      (error: unknown) => error instanceof BoundCredentialConfigurationError && error.code === "BCC_ALL_ENTRIES_SKIPPED",
    );
  });
});

describe("rejected by Entra: reload once, then bench", () => {
  test("a certificate rotated on disk is picked up by the reload after AADSTS700027", async () => {
    const emu = harness.emulator;
    const [oldCertificate, newCertificate] = await Promise.all([emu.issueCertificate(), emu.issueCertificate()]);
    const rotating = emu.registerApp({ certificates: [oldCertificate.certificatePem] });
    const path = await pfxFile(oldCertificate, "rotating.pfx");
    const credential = harness.credential(
      harness.options(rotating, [{ sourceType: "Path", certificateDiskPath: path, certificatePassword: PFX_PASSWORD }]),
    );
    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, rotating);

    // The operator rotates: the new certificate is written and registered, the old one removed.
    // The credential still holds the old one (its periodic check is not due), so Entra refuses it.
    await writeFile(path, newCertificate.toPfx(PFX_PASSWORD));
    rotating.addCertificate(newCertificate.certificatePem);
    rotating.removeCertificate(oldCertificate.thumbprintSha256);

    const from = harness.loginTokenRequests();
    const token = await credential.getToken(VAULT_SCOPE);
    await harness.verify(token.token, rotating, "https://vault.azure.net");
    assert.deepEqual(tokenRequestsSince(from), [
      { status: 401, errorCode: 700027 },
      { status: 200, errorCode: undefined },
    ]);
  });

  test("a certificate replaced on disk is picked up by the periodic check, without a rejection", async () => {
    const emu = harness.emulator;
    const [oldCertificate, newCertificate] = await Promise.all([emu.issueCertificate(), emu.issueCertificate()]);
    const rotating = emu.registerApp({ certificates: [oldCertificate.certificatePem, newCertificate.certificatePem] });
    const path = await pfxFile(oldCertificate, "periodic.pfx");
    const clock = new TestClock();
    const credential = harness.credential(
      harness.options(rotating, [{ sourceType: "Path", certificateDiskPath: path, certificatePassword: PFX_PASSWORD }]),
      { now: clock.now },
    );
    await credential.getToken(STORAGE_SCOPE);
    await writeFile(path, newCertificate.toPfx(PFX_PASSWORD));
    // Only the new certificate is accepted from now on: a request with the old one would be refused.
    rotating.removeCertificate(oldCertificate.thumbprintSha256);
    clock.advance(ROTATION_CHECK_INTERVAL_MS);
    const from = harness.loginTokenRequests();
    await harness.verify((await credential.getToken(VAULT_SCOPE)).token, rotating, "https://vault.azure.net");
    assert.deepEqual(tokenRequestsSince(from), [{ status: 200, errorCode: undefined }], "the new certificate was used at once");
  });

  test("rejected twice: benched, the next entry serves; after the cool-down the entry is tried first again", async () => {
    const emu = harness.emulator;
    const recovering = emu.registerApp({ secrets: [SECRET] });
    const clock = new TestClock();
    const path = await pfxFile(unregistered, "unregistered.pfx");
    const credential = harness.credential(
      harness.options(recovering, [{ sourceType: "Path", certificateDiskPath: path, certificatePassword: PFX_PASSWORD }, secretEntry]),
      { now: clock.now },
    );
    const logs = captureLogs("info");
    let from = harness.loginTokenRequests();
    try {
      await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, recovering);
    } finally {
      logs.stop();
    }
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[1\]/);
    assert.deepEqual(tokenRequestsSince(from), [
      { status: 401, errorCode: 700027 },
      { status: 401, errorCode: 700027 },
      { status: 200, errorCode: undefined },
    ]);
    assert.ok(logs.lines.some((line) => /clientCredentials\[0\].* is rejected: AADSTS700027.*benched for 60 s/.test(line)));

    // While benched, the certificate is not tried: the secret serves at once.
    from = harness.loginTokenRequests();
    await credential.getToken(VAULT_SCOPE);
    assert.deepEqual(tokenRequestsSince(from), [{ status: 200, errorCode: undefined }]);

    // After the cool-down it is tried first again; still refused, it is benched for twice as long.
    clock.advance(INITIAL_COOLDOWN_MS);
    from = harness.loginTokenRequests();
    await credential.getToken(STORAGE_SCOPE, { claims: "{}" });
    assert.deepEqual(
      tokenRequestsSince(from).map((r) => r.errorCode),
      [700027, 700027, undefined],
    );
    clock.advance(INITIAL_COOLDOWN_MS);
    from = harness.loginTokenRequests();
    await credential.getToken(STORAGE_SCOPE, { claims: "{}" });
    assert.deepEqual(tokenRequestsSince(from).map((r) => r.errorCode), [undefined], "still benched: the cool-down doubled");

    // The certificate gets registered; once the longer cool-down is over it serves again.
    recovering.addCertificate(unregistered.certificatePem);
    clock.advance(INITIAL_COOLDOWN_MS);
    from = harness.loginTokenRequests();
    const token = await credential.getToken(STORAGE_SCOPE, { claims: "{}" });
    await harness.verify(token.token, recovering);
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[0\] \(Path/);
    assert.deepEqual(tokenRequestsSince(from), [{ status: 200, errorCode: undefined }]);
  });

  test("a wrong secret alone: AuthenticationError naming AADSTS7000215 and never the secret", async () => {
    const credential = harness.credential(harness.options(app, [{ sourceType: "ClientSecret", clientSecret: "wrong-secret-0d8e" }]));
    const from = harness.loginTokenRequests();
    const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.name, "AuthenticationError");
    assert.match(error.message, /clientCredentials\[0\] \(ClientSecret\): rejected by Entra ID: AADSTS7000215 \(HTTP 401\)/);
    assert.ok(!error.message.includes("wrong-secret-0d8e"));
    assert.deepEqual(tokenRequestsSince(from).map((r) => r.errorCode), [7000215, 7000215]);
  });
});

describe("request errors stop the list at once", () => {
  const cases: { name: string; scope: string; code: number }[] = [
    { name: "a resource that does not exist (AADSTS500011)", scope: "https://no-such-resource.example/.default", code: 500011 },
    { name: "a scope without /.default (AADSTS1002012)", scope: "https://storage.azure.com/user_impersonation", code: 1002012 },
    { name: "two resources in one request (AADSTS70011)", scope: "", code: 70011 },
  ];
  for (const { name, scope, code } of cases) {
    test(name, async () => {
      const credential = harness.credential(
        harness.options(app, [secretEntry, { sourceType: "Certificate", certificate: registered.certificatePem, privateKey: registered.privateKeyPem }]),
      );
      const from = harness.loginTokenRequests();
      const scopes = scope === "" ? [STORAGE_SCOPE, VAULT_SCOPE] : scope;
      const error = await rejectionOf(credential.getToken(scopes));
      assert.ok(error instanceof AuthenticationError, `${error.name}: ${error.message}`);
      assert.match(error.message, new RegExp(`clientCredentials\\[0\\] \\(ClientSecret\\): stop: AADSTS${code}`));
      assert.match(error.message, /clientCredentials\[1\] \(Certificate[^)]*\): not tried\./);
      assert.deepEqual(tokenRequestsSince(from).map((r) => r.errorCode), [code], "the next entry was never tried");
    });
  }

  test("an application that does not exist (AADSTS700016) and a tenant that does not exist (AADSTS90002)", async () => {
    const unknownApp = harness.credential({ ...harness.options(app, [secretEntry, secretEntry]), clientId: "7d0c8f1e-6a59-4a39-9c0e-000000000016" });
    let from = harness.loginTokenRequests();
    let error = await rejectionOf(unknownApp.getToken(STORAGE_SCOPE));
    assert.ok(error instanceof AuthenticationError);
    assert.deepEqual(tokenRequestsSince(from).map((r) => r.errorCode), [700016]);

    const unknownTenant = harness.credential({ ...harness.options(app, [secretEntry, secretEntry]), tenantId: "5f7b3d0e-0000-4c1a-9d4e-000000090002" });
    from = harness.loginTokenRequests();
    error = await rejectionOf(unknownTenant.getToken(STORAGE_SCOPE));
    assert.ok(error instanceof AuthenticationError);
    assert.deepEqual(tokenRequestsSince(from).map((r) => r.errorCode), [90002]);
  });

  for (const status of [500, 503, 429]) {
    test(`Entra answering ${status}: AuthenticationError after the retries, the next entry never tried`, async () => {
      const credential = harness.credential(harness.options(app, [secretEntry, secretEntry]));
      harness.emulator.faults.add({ route: "login.token", status, count: 5 });
      const from = harness.loginTokenRequests();
      try {
        const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
        assert.ok(error instanceof AuthenticationError, `${error.name}: ${error.message}`);
        assert.equal(error.statusCode, status);
        assert.match(error.message, /clientCredentials\[0\] \(ClientSecret\): stop: .*Entra ID is failing or throttling/);
        assert.match(error.message, /clientCredentials\[1\] \(ClientSecret\): not tried\./);
        const attempts = tokenRequestsSince(from);
        assert.ok(attempts.every((a) => a.status === status));
        assert.equal(attempts.length, status === 429 ? 1 : 2, "one retry on 5xx, none on 429 without Retry-After");
      } finally {
        harness.emulator.faults.clear();
      }
    });
  }
});
