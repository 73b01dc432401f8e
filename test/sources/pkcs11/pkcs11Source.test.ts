/**
 * Pkcs11 entries against a SoftHSM token and the emulator: the key is imported sensitive and
 * non-extractable, bound entries present the token's certificate in real TLS handshakes (through
 * OpenSSL's pkcs11 engine), unbound entries send assertions the token signed, and every reason an
 * entry cannot be used is reported as unavailable.
 *
 * Later tests run while this process is logged into the token (through the engine and earlier
 * entries), where C_Login in this process would answer CKR_USER_ALREADY_LOGGED_IN to any PIN: each
 * entry's session lives in a process of its own, so a wrong PIN is still refused.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { X509Certificate } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { AzureLogger, getLogLevel, setLogLevel } from "@azure/logger";
import { compactVerify, decodeProtectedHeader, decodeJwt } from "jose";
import { signClientAssertion } from "../../../src/acquisition/clientAssertion.ts";
import { BoundClientCredential } from "../../../src/boundClientCredential.ts";
import type { BoundClientCredentialOptions, CredentialDescription } from "../../../src/configuration/types.ts";
import { CredentialUnavailableError } from "../../../src/errors.ts";
import { startEmulator, type Emulator, type IssuedCertificate } from "../../../src/emulator/index.ts";
import { withSeams } from "../../helpers/index.ts";
import { createSoftHsm, type SoftHsm, softhsmSkipReason } from "../../helpers/softhsm.ts";

const STORAGE = "https://storage.azure.com/.default";
const VAULT = "https://vault.azure.net/.default";
const PIN = "4711-canary-pin";
const WRONG_PIN = "0000-wrong-pin";

const skip = await softhsmSkipReason();

describe("Pkcs11 entries", { skip }, () => {
  let emu: Emulator;
  let hsm: SoftHsm;
  let dir: string;
  let cert: IssuedCertificate;
  let other: IssuedCertificate;
  let certificateFile: string;
  let otherFile: string;
  const credentials: BoundClientCredential[] = [];
  // Every log line of the suite, at verbose level: none may hold a PIN.
  const logLines: string[] = [];
  const previousLog = AzureLogger.log;
  const previousLevel = getLogLevel();

  before(async () => {
    AzureLogger.log = (...args: unknown[]) => {
      logLines.push(args.map((arg) => (typeof arg === "string" ? arg : inspect(arg))).join(" "));
    };
    setLogLevel("verbose");
    hsm = await createSoftHsm();
    emu = await startEmulator({ acceptAnyResource: true });
    dir = await mkdtemp(join(tmpdir(), "bcc-pkcs11-"));
    cert = await emu.issueCertificate({ subject: "CN=token app" });
    other = await emu.issueCertificate({ subject: "CN=another key" });
    await hsm.initToken("app", PIN);
    await hsm.importObjects({ token: "app", pin: PIN, idHex: "a1b2", label: "signing", keyPem: cert.privateKeyPem, certificatePem: cert.certificatePem });
    // A key without a certificate object on the token: its certificate comes from a file.
    await hsm.importObjects({ token: "app", pin: PIN, idHex: "c3", label: "file-cert", keyPem: cert.privateKeyPem });
    certificateFile = join(dir, "app.pem");
    otherFile = join(dir, "other.pem");
    await writeFile(certificateFile, cert.certificatePem);
    await writeFile(otherFile, other.certificatePem);
  });

  after(async () => {
    AzureLogger.log = previousLog;
    setLogLevel(previousLevel);
    assert.ok(logLines.some((line) => line.includes("PKCS#11 key on token")), "the suite logged its loads");
    assert.ok(!logLines.some((line) => line.includes(PIN) || line.includes(WRONG_PIN)), "no PIN in any log line");
    await Promise.all(credentials.map((c) => c.close()));
    await emu?.close();
    await hsm?.remove();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  function credential(clientId: string, clientCredentials: CredentialDescription[], env: Record<string, string> = {}): BoundClientCredential {
    const options: BoundClientCredentialOptions = {
      tenantId: emu.tenantId,
      clientId,
      authorityHost: emu.authorityHost,
      mtlsAuthorityHost: emu.mtlsAuthorityHost,
      imdsEndpoint: emu.imdsEndpoint,
      tls: { ca: emu.caCertificatePem },
      clientCredentials,
    };
    const created = new BoundClientCredential(withSeams(options, { env }));
    credentials.push(created);
    return created;
  }

  const entry = (uri: string, extra: Partial<Extract<CredentialDescription, { sourceType: "Pkcs11" }>> = {}): CredentialDescription => ({
    sourceType: "Pkcs11",
    pkcs11Uri: uri,
    pkcs11ModulePath: hsm.module,
    pkcs11Pin: PIN,
    ...extra,
  });

  async function unavailableReason(c: BoundClientCredential): Promise<string> {
    const error: unknown = await c.getToken(STORAGE).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof CredentialUnavailableError, `expected CredentialUnavailableError, got ${String(error)}`);
    const reason = error.entries[0]?.reason ?? "";
    assert.equal(error.entries[0]?.outcome, "unavailable");
    for (const text of [error.message, reason, inspect(error, { depth: 8 }), JSON.stringify(error)]) {
      assert.ok(!text.includes(PIN) && !text.includes(WRONG_PIN), "no PIN in errors");
    }
    return reason;
  }

  test("the key in the token is sensitive and not extractable", async () => {
    const key = await hsm.inspectKey({ token: "app", pin: PIN, idHex: "a1b2" });
    assert.equal(key.sensitive, true);
    assert.equal(key.extractable, false);
    assert.equal(key.privateExponent, "CKR_ATTRIBUTE_SENSITIVE");
  });

  test("a wrong PIN, checked by C_Login, is unavailable and not tried again", async () => {
    const app = emu.registerApp({ certificates: [cert.certificatePem] });
    const c = credential(app.clientId, [entry("pkcs11:token=app;object=signing;type=private", { pkcs11Pin: WRONG_PIN })]);
    assert.match(await unavailableReason(c), /PIN is wrong \(CKR_PIN_INCORRECT\).*fix pkcs11Pin/);
  });

  test("unbound: the token signs a PS256 assertion that verifies with the certificate; the login host serves", async () => {
    const app = emu.registerApp({ certificates: [cert.certificatePem] });
    emu.journal.clear();
    const c = credential(app.clientId, [entry("pkcs11:token=app;object=signing;type=private")]);
    const token = await c.getToken(STORAGE);
    assert.equal((await emu.verifyAccessToken(token.token))["appid"], app.clientId);
    assert.equal(emu.journal.ofRoute("login.token").length, 1);
    assert.equal(emu.journal.ofRoute("mtls.token").length, 0);
    assert.equal(c.lastServed?.bound, false);

    // The same material, signed for a known audience, verifies with the certificate's public key.
    const { Pkcs11Source } = await import("../../../src/sources/pkcs11Source.ts");
    const { normalizeOptions } = await import("../../../src/configuration/validate.ts");
    const { isEntryOf } = await import("../../../src/sources/index.ts");
    const normalized = normalizeOptions({ tenantId: emu.tenantId, clientId: app.clientId, clientCredentials: [entry("pkcs11:token=app;id=%a1%b2")] }, {});
    const first = normalized.entries[0]!;
    if (!isEntryOf(first, "Pkcs11")) throw new Error("unreachable");
    const source = new Pkcs11Source(first, { now: Date.now, env: {} });
    try {
      const material = await source.load();
      assert.equal(material.kind, "certificate");
      if (material.kind !== "certificate") return;
      assert.equal(material.certificate.thumbprintSha256, cert.thumbprintSha256);
      assert.throws(() => material.certificate.privateKeyPem, /cannot be exported/);
      const assertion = await signClientAssertion({ certificate: material.certificate, clientId: app.clientId, audience: emu.tokenEndpoint(), includeX5c: true, now: Date.now() });
      const header = decodeProtectedHeader(assertion);
      assert.equal(header.alg, "PS256");
      assert.equal(header["x5t#S256"], material.certificate.x5tS256);
      assert.deepEqual(header.x5c, [new X509Certificate(cert.certificatePem).raw.toString("base64")]);
      await compactVerify(assertion, new X509Certificate(cert.certificatePem).publicKey);
      assert.equal(decodeJwt(assertion).aud, emu.tokenEndpoint());
      assert.ok(!inspect(source, { depth: 8 }).includes(PIN) && !JSON.stringify(source).includes(PIN));
    } finally {
      await source.close();
    }
  });

  test("bound: the token's certificate is presented in the handshake; one handshake serves several scopes", async () => {
    const app = emu.registerApp({ certificates: [cert.certificatePem] });
    emu.journal.clear();
    const before = emu.stats.handshakes.mtls;
    const c = credential(app.clientId, [entry("pkcs11:token=app;object=signing;type=private", { useBoundCredential: true })]);
    const token = await c.getToken(STORAGE);
    assert.equal((await emu.verifyAccessToken(token.token))["appid"], app.clientId);
    await c.getToken(VAULT);
    const requests = emu.journal.ofRoute("mtls.token");
    assert.equal(requests.length, 2);
    for (const request of requests) assert.equal(request.clientCertificateThumbprintSha256, cert.thumbprintSha256);
    assert.equal(emu.journal.ofRoute("login.token").length, 0);
    assert.equal(c.lastServed?.bound, true);
    assert.equal(emu.stats.handshakes.mtls - before, 1, "the connection is reused: the token signs one handshake");
  });

  test("bound with the certificate from a file", async () => {
    const app = emu.registerApp({ certificates: [cert.certificatePem] });
    emu.journal.clear();
    const c = credential(app.clientId, [entry("pkcs11:token=app;id=%c3?pin-value=" + encodeURIComponent(PIN), { pkcs11Pin: undefined, certificateDiskPath: certificateFile, useBoundCredential: true })]);
    await c.getToken(STORAGE);
    assert.equal(emu.journal.last("mtls.token")?.clientCertificateThumbprintSha256, cert.thumbprintSha256);
  });

  test("two entries on one token: the second, with a wrong PIN, is unavailable although the token is logged in", async () => {
    const app = emu.registerApp({ certificates: [cert.certificatePem] });
    const right = credential(app.clientId, [entry("pkcs11:token=app;object=signing;type=private", { useBoundCredential: true })]);
    await right.getToken(STORAGE);
    const wrong = credential(app.clientId, [entry("pkcs11:token=app;object=signing;type=private", { pkcs11Pin: WRONG_PIN, useBoundCredential: true })]);
    assert.match(await unavailableReason(wrong), /PIN is wrong \(CKR_PIN_INCORRECT\)/);
    // In one list too: the first entry is refused, the second (the right PIN) serves.
    const list = credential(app.clientId, [
      entry("pkcs11:token=app;object=signing;type=private", { pkcs11Pin: WRONG_PIN }),
      entry("pkcs11:token=app;object=signing;type=private"),
    ]);
    await list.getToken(STORAGE);
    assert.equal(list.lastServed?.notServed[0]?.outcome, "unavailable");
    assert.match(list.lastServed?.notServed[0]?.reason ?? "", /PIN is wrong/);
  });

  test("a refused PIN is not tried again until pin-source holds another; then the entry loads", async () => {
    const { Pkcs11Source } = await import("../../../src/sources/pkcs11Source.ts");
    const { normalizeOptions } = await import("../../../src/configuration/validate.ts");
    const { isEntryOf, SourceUnavailableError } = await import("../../../src/sources/index.ts");
    const pinFile = join(dir, "pin");
    await writeFile(pinFile, `${WRONG_PIN}\n`, { mode: 0o600 });
    const normalized = normalizeOptions(
      { tenantId: emu.tenantId, clientId: "app", clientCredentials: [{ sourceType: "Pkcs11", pkcs11Uri: `pkcs11:token=app;object=signing?pin-source=file://${pinFile}`, pkcs11ModulePath: hsm.module }] },
      {},
    );
    const first = normalized.entries[0]!;
    if (!isEntryOf(first, "Pkcs11")) throw new Error("unreachable");
    const source = new Pkcs11Source(first, { now: Date.now, env: {} });
    try {
      const refused = await source.load().then(() => undefined, (e: unknown) => e);
      assert.ok(refused instanceof SourceUnavailableError);
      assert.match(refused.reason, /PIN is wrong/);
      const again = await source.reload().then(() => undefined, (e: unknown) => e);
      assert.equal(again, refused, "the same PIN is answered from memory, without another C_Login");
      await writeFile(pinFile, `${PIN}\n`);
      const material = await source.reload();
      assert.equal(material.kind === "certificate" ? material.certificate.thumbprintSha256 : undefined, cert.thumbprintSha256);
    } finally {
      await source.close();
    }
  });

  test("unavailable: the module is missing", async () => {
    const c = credential("app", [entry("pkcs11:token=app;object=signing", { pkcs11ModulePath: join(dir, "no-such-module.so") })]);
    assert.match(await unavailableReason(c), /the PKCS#11 module .*no-such-module\.so cannot be used.*check pkcs11ModulePath/);
  });

  test("unavailable: no token matches", async () => {
    const c = credential("app", [entry("pkcs11:token=elsewhere;object=signing")]);
    assert.match(await unavailableReason(c), /no token matches the pkcs11Uri/);
  });

  test("unavailable: the token has no such key", async () => {
    const c = credential("app", [entry("pkcs11:token=app;object=nothing-here")]);
    assert.match(await unavailableReason(c), /the token has no private key named by the pkcs11Uri/);
  });

  test("unavailable: the key does not match the certificate", async () => {
    const c = credential("app", [entry("pkcs11:token=app;object=signing", { certificateDiskPath: otherFile })]);
    assert.match(await unavailableReason(c), /the key does not match the certificate from the certificate file/);
  });

  test("unavailable: the token has no certificate for the key and none is given", async () => {
    const c = credential("app", [entry("pkcs11:token=app;object=file-cert")]);
    assert.match(await unavailableReason(c), /the token has no certificate object with the key's id.*certificateDiskPath/);
  });

  test("unavailable: bound without OpenSSL's pkcs11 engine", async () => {
    const empty = await mkdtemp(join(dir, "engines-"));
    const c = credential("app", [entry("pkcs11:token=app;object=signing", { useBoundCredential: true })], { OPENSSL_ENGINES: empty });
    assert.match(await unavailableReason(c), /cannot be bound: OpenSSL's pkcs11 engine \(pkcs11\.so\) was not found: install OpenSSL's pkcs11 engine \(Debian\/Ubuntu: apt-get install libengine-pkcs11-openssl/);
  });
});
