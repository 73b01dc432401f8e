import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, createSign, verify, X509Certificate } from "node:crypto";
import { chmod, mkdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Base64Source } from "../../src/sources/base64Source.ts";
import { CertificateSource } from "../../src/sources/certificateSource.ts";
import type { LoadedCertificate } from "../../src/sources/loadedCertificate.ts";
import { PathSource } from "../../src/sources/pathSource.ts";
import { type CredentialSource, type SourceMaterial, SourceUnavailableError } from "../../src/sources/types.ts";
import {
  CANARY_PASSWORD,
  type CertificateAuthority,
  createCertificateAuthority,
  entryOf,
  type IssuedCertificate,
  ManualClock,
  reencodeKey,
  temporaryDirectory,
} from "./support/fixtures.ts";

const DAY = 86_400_000;

function certificateOf(material: SourceMaterial): LoadedCertificate {
  assert.equal(material.kind, "certificate");
  if (material.kind !== "certificate") throw new Error("unreachable");
  return material.certificate;
}

async function unavailable(source: CredentialSource, reason: RegExp, reload = false): Promise<SourceUnavailableError> {
  const error: unknown = await (reload ? source.reload() : source.load()).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof SourceUnavailableError, `expected SourceUnavailableError, got ${String(error)}`);
  assert.match(error.reason, reason);
  assert.ok(!error.reason.includes(CANARY_PASSWORD));
  return error;
}

function pathSource(path: string, password?: string, now: () => number = Date.now): PathSource {
  const description = { sourceType: "Path" as const, certificateDiskPath: path, ...(password === undefined ? {} : { certificatePassword: password }) };
  const entry = entryOf(description);
  return new PathSource(entry, now);
}

describe("certificate sources", () => {
  let ca: CertificateAuthority;
  let rsa: IssuedCertificate;
  let ec: IssuedCertificate;
  let rotated: IssuedCertificate;
  let expired: IssuedCertificate;
  let notYetValid: IssuedCertificate;
  let directory: { path: string; remove: () => Promise<void> };

  before(async () => {
    ca = await createCertificateAuthority();
    const now = Date.now();
    [rsa, ec, rotated, expired, notYetValid] = await Promise.all([
      ca.issueCertificate({ subject: "CN=first" }),
      ca.issueCertificate({ subject: "CN=ec", keyType: "ec" }),
      ca.issueCertificate({ subject: "CN=rotated" }),
      ca.issueCertificate({ subject: "CN=expired", notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) }),
      ca.issueCertificate({ subject: "CN=future", notBefore: new Date(now + DAY), notAfter: new Date(now + 10 * DAY) }),
    ]);
    directory = await temporaryDirectory();
  });
  after(async () => {
    await directory.remove();
  });

  describe("Certificate (in memory)", () => {
    function certificateSource(
      certificate: string | Uint8Array,
      extra: { privateKey?: string | ReturnType<typeof createPrivateKey>; privateKeyPassword?: string } = {},
      now: () => number = Date.now,
    ): CertificateSource {
      const description = { sourceType: "Certificate" as const, certificate, ...extra };
      return new CertificateSource(entryOf(description), now);
    }

    test("PEM with the key, PEM with a separate encrypted key, DER with a KeyObject, PEM as bytes", async () => {
      const cases: CertificateSource[] = [
        certificateSource(rsa.certificatePem + rsa.privateKeyPem),
        certificateSource(rsa.certificatePem, {
          privateKey: reencodeKey(rsa.privateKeyPem, "encrypted-pkcs8"),
          privateKeyPassword: CANARY_PASSWORD,
        }),
        certificateSource(new Uint8Array(new X509Certificate(rsa.certificatePem).raw), {
          privateKey: createPrivateKey(rsa.privateKeyPem),
        }),
        certificateSource(new TextEncoder().encode(rsa.certificatePem + rsa.privateKeyPem)),
      ];
      for (const source of cases) {
        assert.equal(certificateOf(await source.load()).thumbprintSha256, rsa.thumbprintSha256);
      }
    });

    test("load is cached: the same material until reload", async () => {
      const source = certificateSource(ec.certificatePem + ec.privateKeyPem);
      const first = await source.load();
      assert.equal(await source.load(), first);
      const reloaded = await source.reload();
      assert.notEqual(reloaded, first);
      assert.equal(certificateOf(reloaded).thumbprintSha256, ec.thumbprintSha256);
      assert.equal(await source.load(), reloaded);
    });

    test("wrong password, key mismatch, garbage", async () => {
      await unavailable(
        certificateSource(rsa.certificatePem, {
          privateKey: reencodeKey(rsa.privateKeyPem, "encrypted-pkcs8"),
          privateKeyPassword: "not-the-password",
        }),
        /^the in-memory certificate cannot be used: the private key password is wrong$/,
      );
      await unavailable(
        certificateSource(rsa.certificatePem, { privateKey: reencodeKey(rsa.privateKeyPem, "encrypted-pkcs8") }),
        /the private key is encrypted and no password was given/,
      );
      await unavailable(certificateSource(rsa.certificatePem + ec.privateKeyPem), /does not match the certificate/);
      await unavailable(certificateSource("garbage"), /not a certificate/);
      await unavailable(certificateSource(new Uint8Array([1, 2, 3])), /not a certificate/);
    });

    test("expired and not yet valid certificates are unavailable, naming dates and thumbprint", async () => {
      const old = await unavailable(certificateSource(expired.certificatePem + expired.privateKeyPem), /has expired/);
      assert.match(old.reason, new RegExp(expired.thumbprintSha256));
      assert.match(old.reason, /valid from \d{4}-\d\d-\d\dT.* to \d{4}-\d\d-\d\dT/);
      const future = await unavailable(
        certificateSource(notYetValid.certificatePem + notYetValid.privateKeyPem),
        /is not valid yet/,
      );
      assert.match(future.reason, new RegExp(notYetValid.thumbprintSha256));
    });

    test("validity follows the injected clock, also for material already loaded", async () => {
      const clock = new ManualClock(Date.now() + 10 * DAY);
      await unavailable(certificateSource(rsa.certificatePem + rsa.privateKeyPem, {}, clock.now), /has expired/);
      clock.set(Date.now());
      const source = certificateSource(rsa.certificatePem + rsa.privateKeyPem, {}, clock.now);
      await source.load();
      clock.advance(2 * DAY);
      await unavailable(source, /has expired/);
    });
  });

  describe("Path", () => {
    test("PFX (modern and legacy, RSA and EC) and PEM files, told apart by content not extension", async () => {
      const files: [string, Buffer | string, string | undefined, string][] = [
        ["modern.pfx", rsa.toPfx(CANARY_PASSWORD), CANARY_PASSWORD, rsa.thumbprintSha256],
        ["legacy.p12", ec.toPfx(CANARY_PASSWORD, { legacy: true }), CANARY_PASSWORD, ec.thumbprintSha256],
        ["pfx-named.pem", rsa.toPfx(""), undefined, rsa.thumbprintSha256],
        ["pem-named.pfx", rsa.certificatePem + rsa.privateKeyPem, undefined, rsa.thumbprintSha256],
        [
          "encrypted.pem",
          rsa.certificatePem + reencodeKey(rsa.privateKeyPem, "encrypted-pkcs8"),
          CANARY_PASSWORD,
          rsa.thumbprintSha256,
        ],
      ];
      for (const [name, content, password, thumbprint] of files) {
        const path = join(directory.path, name);
        await writeFile(path, content);
        assert.equal(certificateOf(await pathSource(path, password).load()).thumbprintSha256, thumbprint, name);
      }
    });

    test("missing file, directory, empty file, garbage, wrong password", async () => {
      const missing = join(directory.path, "missing.pfx");
      const error = await unavailable(pathSource(missing), /does not exist \(ENOENT\)/);
      assert.ok(error.reason.includes(missing));
      await unavailable(pathSource(directory.path), /is a directory/);
      const empty = join(directory.path, "empty.pfx");
      await writeFile(empty, "");
      await unavailable(pathSource(join(empty, "child.pfx")), /child\.pfx cannot be read \(ENOTDIR\)/);
      await unavailable(pathSource(empty), /^the certificate file .*empty\.pfx cannot be used: the file is empty$/);
      const garbage = join(directory.path, "garbage.pfx");
      await writeFile(garbage, "this is a text file, not a certificate\n");
      await unavailable(pathSource(garbage), /not a certificate/);
      const pfx = join(directory.path, "protected.pfx");
      await writeFile(pfx, rsa.toPfx(CANARY_PASSWORD));
      const wrong = await unavailable(pathSource(pfx, "wrong"), /the PFX password is wrong or missing/);
      assert.ok(wrong.reason.includes(pfx));
      await unavailable(pathSource(pfx), /the PFX password is wrong or missing/);
    });

    test("an unreadable file names the errno code", async (t) => {
      if (process.getuid?.() === 0) return t.skip("running as root: file permissions do not stop reads");
      const path = join(directory.path, "unreadable.pfx");
      await writeFile(path, rsa.toPfx(""));
      await chmod(path, 0o000);
      try {
        await unavailable(pathSource(path), /permission denied \(EACCES\)/);
      } finally {
        await chmod(path, 0o600);
      }
    });

    test("a file larger than any certificate is refused without parsing", async () => {
      const path = join(directory.path, "huge.pfx");
      await writeFile(path, Buffer.alloc(5 * 1024 * 1024, 0x30));
      await unavailable(pathSource(path), /larger than 4 MiB/);
    });

    test("expired and not yet valid files", async () => {
      const path = join(directory.path, "expired.pfx");
      await writeFile(path, expired.toPfx(CANARY_PASSWORD));
      const error = await unavailable(pathSource(path, CANARY_PASSWORD), /has expired/);
      assert.ok(error.reason.includes(expired.thumbprintSha256));
      const future = join(directory.path, "future.pem");
      await writeFile(future, notYetValid.certificatePem + notYetValid.privateKeyPem);
      await unavailable(pathSource(future), /is not valid yet/);
    });

    test("concurrent loads share one read", async () => {
      const path = join(directory.path, "shared.pfx");
      await writeFile(path, rsa.toPfx(CANARY_PASSWORD));
      const source = pathSource(path, CANARY_PASSWORD);
      const materials = await Promise.all(Array.from({ length: 50 }, () => source.load()));
      // Every read builds a new LoadedCertificate: one instance means one read.
      assert.equal(new Set(materials.map((material) => certificateOf(material))).size, 1);
      const reloads = await Promise.all(Array.from({ length: 10 }, () => source.reload()));
      assert.equal(new Set(reloads.map((material) => certificateOf(material))).size, 1);
      assert.notEqual(certificateOf(reloads[0] as SourceMaterial), certificateOf(materials[0] as SourceMaterial));
    });

    test("a failed load is not kept: the next load reads again", async () => {
      const path = join(directory.path, "appears-later.pem");
      const source = pathSource(path);
      await unavailable(source, /ENOENT/);
      await writeFile(path, rsa.certificatePem + rsa.privateKeyPem);
      assert.equal(certificateOf(await source.load()).thumbprintSha256, rsa.thumbprintSha256);
    });

    test("rotation: a replaced file is noticed, reload yields the new certificate, the old snapshot is unchanged", async () => {
      const path = join(directory.path, "rotating.pfx");
      await writeFile(path, rsa.toPfx(CANARY_PASSWORD));
      const source = pathSource(path, CANARY_PASSWORD);
      assert.equal(await source.hasChanged(), false, "nothing loaded yet");
      const before = certificateOf(await source.load());
      assert.equal(await source.hasChanged(), false);
      const beforeKeyPem = before.privateKeyPem;
      const beforeChain = before.certificateChainPem;

      await writeFile(path, rotated.toPfx(CANARY_PASSWORD, { legacy: true }));
      assert.equal(await source.hasChanged(), true);
      // load() keeps serving the snapshot until someone reloads.
      assert.equal(certificateOf(await source.load()), before);
      const after = certificateOf(await source.reload());
      assert.equal(after.thumbprintSha256, rotated.thumbprintSha256);
      assert.equal(await source.hasChanged(), false);
      assert.equal(certificateOf(await source.load()), after);

      // The old snapshot still holds the old certificate and key, which still sign for it.
      assert.equal(before.thumbprintSha256, rsa.thumbprintSha256);
      assert.equal(before.privateKeyPem, beforeKeyPem);
      assert.equal(before.certificateChainPem, beforeChain);
      const signature = createSign("sha256").update("data").sign(before.privateKey);
      assert.ok(verify("sha256", Buffer.from("data"), before.leaf.publicKey, signature));
    });

    test("rotation: a same-size replacement with the old mtime is caught by the content hash", async () => {
      const path = join(directory.path, "same-size.pem");
      // Same bytes in another order: same size, different content.
      await writeFile(path, rsa.certificatePem + rsa.privateKeyPem);
      const source = pathSource(path);
      await source.load();
      const { mtime, atime } = await stat(path);
      await writeFile(path, rsa.privateKeyPem + rsa.certificatePem);
      await utimes(path, atime, mtime);
      assert.equal((await stat(path)).mtimeMs, mtime.getTime());
      assert.equal(await source.hasChanged(), true);
    });

    test("rotation: a deleted file is no new certificate (the loaded one goes on serving), and an explicit reload reports it", async () => {
      const folder = join(directory.path, "deleted");
      await mkdir(folder);
      const path = join(folder, "cert.pem");
      await writeFile(path, rsa.certificatePem + rsa.privateKeyPem);
      const source = pathSource(path);
      await source.load();
      await rm(path);
      assert.equal(await source.hasChanged(), false);
      await unavailable(source, /ENOENT/, true);
      // Nothing is kept after a failed reload.
      await unavailable(source, /ENOENT/);
    });

    test("an expired snapshot is re-read on load, picking up a renewed file", async () => {
      const clock = new ManualClock(Date.now());
      const path = join(directory.path, "renewed.pem");
      await writeFile(path, rsa.certificatePem + rsa.privateKeyPem);
      const source = pathSource(path, undefined, clock.now);
      const first = certificateOf(await source.load());
      clock.advance(2 * DAY);
      await unavailable(source, /has expired/);
      const renewed = await ca.issueCertificate({
        subject: "CN=renewed",
        notAfter: new Date(Date.now() + 5 * DAY),
      });
      await writeFile(path, renewed.certificatePem + renewed.privateKeyPem);
      const second = certificateOf(await source.load());
      assert.equal(second.thumbprintSha256, renewed.thumbprintSha256);
      assert.notEqual(second, first);
    });

    test("loads honour an abort signal", async () => {
      const path = join(directory.path, "abort.pem");
      await writeFile(path, rsa.certificatePem + rsa.privateKeyPem);
      const source = pathSource(path);
      await assert.rejects(source.load(AbortSignal.abort()), { name: "AbortError" });
      assert.equal(certificateOf(await source.load()).thumbprintSha256, rsa.thumbprintSha256);
    });
  });

  describe("Base64Encoded", () => {
    function base64Source(value: string, password?: string): Base64Source {
      const description = {
        sourceType: "Base64Encoded" as const,
        base64EncodedValue: value,
        ...(password === undefined ? {} : { certificatePassword: password }),
      };
      return new Base64Source(entryOf(description), Date.now);
    }

    test("a base64 PFX, also wrapped over lines, also without a password", async () => {
      const pfx = rsa.toPfx(CANARY_PASSWORD).toString("base64");
      assert.equal(certificateOf(await base64Source(pfx, CANARY_PASSWORD).load()).thumbprintSha256, rsa.thumbprintSha256);
      const wrapped = pfx.replace(/(.{64})/g, "$1\n");
      assert.equal(
        certificateOf(await base64Source(wrapped, CANARY_PASSWORD).load()).thumbprintSha256,
        rsa.thumbprintSha256,
      );
      const open = ec.toPfx("", { legacy: true }).toString("base64");
      assert.equal(certificateOf(await base64Source(open).load()).thumbprintSha256, ec.thumbprintSha256);
    });

    test("invalid base64, empty value, wrong password, expired", async () => {
      await unavailable(base64Source("not base64 at all!"), /not valid base64/);
      await unavailable(base64Source("   "), /base64 value is empty/);
      await unavailable(
        base64Source(rsa.toPfx(CANARY_PASSWORD).toString("base64"), "wrong"),
        /^the base64-encoded certificate cannot be used: the PFX password is wrong or missing$/,
      );
      await unavailable(base64Source(Buffer.from("garbage bytes").toString("base64")), /not a certificate/);
      await unavailable(base64Source(expired.toPfx("").toString("base64")), /has expired/);
    });
  });
});
