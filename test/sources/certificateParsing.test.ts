import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import {
  MAX_CERTIFICATE_INPUT_BYTES,
  parseCertificateBytes,
  parseDerCertificate,
  parsePemCertificate,
  parsePkcs12,
} from "../../src/sources/certificateParsing.ts";
import { SourceUnavailableError } from "../../src/sources/types.ts";
import {
  CANARY_PASSWORD,
  type CertificateAuthority,
  createCertificateAuthority,
  createThreeLevelChain,
  type IssuedCertificate,
  opensslPfx,
  reencodeKey,
  temporaryDirectory,
  type ThreeLevelChain,
} from "./support/fixtures.ts";

/** Asserts that `work` throws a SourceUnavailableError whose reason matches, and never the canary. */
async function assertUnavailable(work: () => unknown, reason: RegExp): Promise<SourceUnavailableError> {
  let caught: unknown;
  try {
    await work();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof SourceUnavailableError, `expected SourceUnavailableError, got ${String(caught)}`);
  assert.match(caught.reason, reason);
  assert.ok(!caught.message.includes(CANARY_PASSWORD), "the reason must not hold the password");
  assert.ok(!JSON.stringify(caught).includes(CANARY_PASSWORD));
  return caught;
}

function sha256Of(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replaceAll(":", "");
}

describe("certificate parsing", () => {
  let ca: CertificateAuthority;
  let rsa: IssuedCertificate;
  let ec: IssuedCertificate;
  let other: IssuedCertificate;
  let chain: ThreeLevelChain;
  let directory: { path: string; remove: () => Promise<void> };

  before(async () => {
    ca = await createCertificateAuthority();
    [rsa, ec, other, chain] = await Promise.all([
      ca.issueCertificate({ subject: "CN=rsa leaf" }),
      ca.issueCertificate({ subject: "CN=ec leaf", keyType: "ec" }),
      ca.issueCertificate({ subject: "CN=other" }),
      createThreeLevelChain(),
    ]);
    directory = await temporaryDirectory();
  });
  after(async () => {
    await directory.remove();
  });

  describe("PEM", () => {
    test("certificate with its PKCS#8 key (RSA and EC)", async () => {
      for (const issued of [rsa, ec]) {
        const loaded = parsePemCertificate(issued.certificatePem + issued.privateKeyPem);
        assert.equal(loaded.thumbprintSha256, issued.thumbprintSha256);
        assert.equal(loaded.thumbprintSha1, issued.thumbprintSha1);
        assert.equal(loaded.chain.length, 1);
      }
      assert.equal(parsePemCertificate(ec.certificatePem + ec.privateKeyPem).keyType, "ec");
    });

    test("key first, CRLF line ends and a byte-order mark are accepted", async () => {
      const pem = "\uFEFF" + (rsa.privateKeyPem + rsa.certificatePem).replaceAll("\n", "\r\n");
      assert.equal(parsePemCertificate(pem).thumbprintSha256, rsa.thumbprintSha256);
    });

    test("PKCS#1 and SEC1 keys", async () => {
      assert.equal(
        parsePemCertificate(rsa.certificatePem + reencodeKey(rsa.privateKeyPem, "pkcs1")).thumbprintSha256,
        rsa.thumbprintSha256,
      );
      assert.equal(
        parsePemCertificate(ec.certificatePem + reencodeKey(ec.privateKeyPem, "sec1")).thumbprintSha256,
        ec.thumbprintSha256,
      );
    });

    test("encrypted PKCS#8 and legacy encrypted PEM with the password", async () => {
      for (const form of ["encrypted-pkcs8", "encrypted-pkcs1"] as const) {
        const pem = rsa.certificatePem + reencodeKey(rsa.privateKeyPem, form);
        assert.equal(parsePemCertificate(pem, { password: CANARY_PASSWORD }).thumbprintSha256, rsa.thumbprintSha256);
      }
    });

    test("encrypted key without a password, or with a wrong one", async () => {
      const pem = rsa.certificatePem + reencodeKey(rsa.privateKeyPem, "encrypted-pkcs8");
      await assertUnavailable(() => parsePemCertificate(pem), /private key is encrypted and no password was given/);
      await assertUnavailable(() => parsePemCertificate(pem, { password: "" }), /no password was given/);
      await assertUnavailable(() => parsePemCertificate(pem, { password: "not-it" }), /private key password is wrong/);
      // A separately given encrypted key behaves the same.
      await assertUnavailable(
        () => parsePemCertificate(rsa.certificatePem, { privateKey: reencodeKey(rsa.privateKeyPem, "encrypted-pkcs8") }),
        /no password was given/,
      );
      const wrong = reencodeKey(rsa.privateKeyPem, "encrypted-pkcs8", "other-password");
      await assertUnavailable(
        () => parsePemCertificate(rsa.certificatePem, { privateKey: wrong, password: CANARY_PASSWORD }),
        /password is wrong/,
      );
    });

    test("a chain in any order comes out leaf first, then each issuer", async () => {
      const expected = [chain.leafPem, chain.intermediatePem, chain.rootPem].map(sha256Of);
      const orders = [
        [chain.rootPem, chain.leafKeyPem, chain.intermediatePem, chain.leafPem],
        [chain.intermediatePem, chain.rootPem, chain.leafPem, chain.leafKeyPem],
        [chain.leafPem, chain.leafKeyPem, chain.intermediatePem, chain.rootPem],
      ];
      for (const order of orders) {
        const loaded = parsePemCertificate(order.join(""));
        assert.deepEqual(
          loaded.chain.map((certificate) => certificate.fingerprint256.replaceAll(":", "")),
          expected,
        );
        assert.equal(loaded.x5c.length, 3);
      }
    });

    test("unrelated certificates are kept after the chain, duplicates dropped", async () => {
      const loaded = parsePemCertificate(other.certificatePem + rsa.certificatePem + rsa.privateKeyPem + rsa.certificatePem);
      assert.deepEqual(
        loaded.chain.map((certificate) => certificate.fingerprint256.replaceAll(":", "")),
        [rsa.thumbprintSha256, other.thumbprintSha256],
      );
    });

    test("the issuing CA after the leaf", async () => {
      const loaded = parsePemCertificate(ca.certificatePem + rsa.certificatePem + rsa.privateKeyPem);
      assert.deepEqual(
        loaded.chain.map((certificate) => certificate.fingerprint256.replaceAll(":", "")),
        [rsa.thumbprintSha256, sha256Of(ca.certificatePem)],
      );
    });

    test("a key given apart, as PEM or KeyObject, wins over none in the PEM", async () => {
      assert.equal(
        parsePemCertificate(rsa.certificatePem, { privateKey: rsa.privateKeyPem }).thumbprintSha256,
        rsa.thumbprintSha256,
      );
      assert.equal(
        parsePemCertificate(ec.certificatePem, { privateKey: createPrivateKey(ec.privateKeyPem) }).thumbprintSha256,
        ec.thumbprintSha256,
      );
    });

    test("a public KeyObject is refused", async () => {
      const publicKey = new X509Certificate(rsa.certificatePem).publicKey;
      await assertUnavailable(
        () => parsePemCertificate(rsa.certificatePem, { privateKey: publicKey }),
        /KeyObject is a public key, not a private key/,
      );
    });

    test("a key that does not match the certificate", async () => {
      const error = await assertUnavailable(
        () => parsePemCertificate(rsa.certificatePem + other.privateKeyPem),
        /private key does not match the certificate/,
      );
      assert.match(error.reason, new RegExp(rsa.thumbprintSha256));
      await assertUnavailable(
        () => parsePemCertificate(rsa.certificatePem, { privateKey: ec.privateKeyPem }),
        /does not match/,
      );
    });

    test("no private key", async () => {
      await assertUnavailable(() => parsePemCertificate(rsa.certificatePem), /no private key was found/);
    });

    test("a private key that is not PEM", async () => {
      await assertUnavailable(
        () => parsePemCertificate(rsa.certificatePem, { privateKey: "not a key" }),
        /not a PEM private key/,
      );
      await assertUnavailable(
        () => parsePemCertificate(rsa.certificatePem + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        /private key cannot be read/,
      );
    });

    test("garbage, a key alone, a broken certificate block, empty text", async () => {
      await assertUnavailable(() => parsePemCertificate("hello, I am not a certificate"), /not a certificate: no PEM block/);
      await assertUnavailable(() => parsePemCertificate(rsa.privateKeyPem), /no certificate was found/);
      await assertUnavailable(
        () => parsePemCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + rsa.privateKeyPem),
        /certificate number 1 in the PEM text cannot be read/,
      );
      await assertUnavailable(() => parsePemCertificate("  \n"), /empty/);
    });

    test("oversized input is refused before parsing", async () => {
      await assertUnavailable(() => parsePemCertificate("x".repeat(MAX_CERTIFICATE_INPUT_BYTES + 1)), /larger than 4 MiB/);
      await assertUnavailable(() => parsePkcs12(new Uint8Array(MAX_CERTIFICATE_INPUT_BYTES + 1), undefined), /larger than 4 MiB/);
    });
  });

  describe("DER", () => {
    test("DER certificate with a separate key", async () => {
      const der = new X509Certificate(rsa.certificatePem).raw;
      assert.equal(parseDerCertificate(der, { privateKey: rsa.privateKeyPem }).thumbprintSha256, rsa.thumbprintSha256);
    });

    test("DER without a key, garbage bytes, empty bytes", async () => {
      const der = new X509Certificate(rsa.certificatePem).raw;
      await assertUnavailable(() => parseDerCertificate(der, {}), /no private key was found/);
      await assertUnavailable(() => parseDerCertificate(Buffer.from("garbage"), {}), /not a certificate/);
      await assertUnavailable(() => parseDerCertificate(new Uint8Array(0), {}), /empty/);
    });
  });

  describe("PKCS#12", () => {
    test("modern (AES-256, PBKDF2) and legacy (3DES) PFX, RSA and EC", async () => {
      for (const issued of [rsa, ec]) {
        for (const legacy of [false, true]) {
          const loaded = await parsePkcs12(issued.toPfx(CANARY_PASSWORD, { legacy }), CANARY_PASSWORD);
          assert.equal(loaded.thumbprintSha256, issued.thumbprintSha256, `${issued.thumbprintSha256} legacy=${legacy}`);
          assert.equal(loaded.keyType, issued === ec ? "ec" : "rsa");
          // The chain holds the issuing CA after the leaf.
          assert.equal(loaded.chain.length, 2);
          assert.equal(loaded.chain[1]?.fingerprint256.replaceAll(":", ""), sha256Of(ca.certificatePem));
          // The key really is the leaf's.
          assert.ok(loaded.leaf.checkPrivateKey(loaded.privateKey));
        }
      }
    });

    test("a PFX with an empty password opens with no password given", async () => {
      const pfx = rsa.toPfx("");
      assert.equal((await parsePkcs12(pfx, undefined)).thumbprintSha256, rsa.thumbprintSha256);
      assert.equal((await parsePkcs12(pfx, "")).thumbprintSha256, rsa.thumbprintSha256);
    });

    test("wrong or missing password", async () => {
      const pfx = rsa.toPfx(CANARY_PASSWORD);
      await assertUnavailable(() => parsePkcs12(pfx, "wrong"), /^the PFX password is wrong or missing$/);
      await assertUnavailable(() => parsePkcs12(pfx, undefined), /^the PFX password is wrong or missing$/);
      const withWrong = await assertUnavailable(() => parsePkcs12(rsa.toPfx("other"), CANARY_PASSWORD), /password is wrong/);
      assert.ok(!String((withWrong.cause as Error | undefined)?.message).includes(CANARY_PASSWORD));
    });

    test("garbage and truncated PFX bytes do not leak node-forge errors", async () => {
      const pfx = rsa.toPfx(CANARY_PASSWORD);
      await assertUnavailable(() => parsePkcs12(Buffer.from("definitely not asn.1"), CANARY_PASSWORD), /not a readable PKCS#12/);
      await assertUnavailable(() => parsePkcs12(pfx.subarray(0, pfx.length / 2), CANARY_PASSWORD), /not a readable PKCS#12/);
      await assertUnavailable(() => parsePkcs12(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x03]), undefined), /not a readable PKCS#12/);
      await assertUnavailable(() => parsePkcs12(new Uint8Array(0), undefined), /empty/);
    });

    test("openssl-made PFX: modern, and legacy RC2-40 with a chain", async (t) => {
      const modern = await opensslPfx(directory.path, rsa.certificatePem, rsa.privateKeyPem, CANARY_PASSWORD, {
        legacy: false,
      });
      if ("skip" in modern) return t.skip(modern.skip);
      assert.equal((await parsePkcs12(modern, CANARY_PASSWORD)).thumbprintSha256, rsa.thumbprintSha256);
      const legacy = await opensslPfx(directory.path, chain.leafPem, chain.leafKeyPem, CANARY_PASSWORD, {
        legacy: true,
        chainPem: chain.rootPem + chain.intermediatePem,
      });
      if ("skip" in legacy) return t.skip(`${legacy.skip} (OpenSSL lacks the legacy provider?)`);
      const loaded = await parsePkcs12(legacy, CANARY_PASSWORD);
      assert.deepEqual(
        loaded.chain.map((certificate) => certificate.fingerprint256.replaceAll(":", "")),
        [chain.leafPem, chain.intermediatePem, chain.rootPem].map(sha256Of),
      );
      await assertUnavailable(() => parsePkcs12(legacy, "wrong"), /^the PFX password is wrong or missing$/);
      const legacyEc = await opensslPfx(directory.path, ec.certificatePem, ec.privateKeyPem, CANARY_PASSWORD, { legacy: true });
      if ("skip" in legacyEc) return t.skip(legacyEc.skip);
      assert.equal((await parsePkcs12(legacyEc, CANARY_PASSWORD)).thumbprintSha256, ec.thumbprintSha256);
    });
  });

  describe("content sniffing", () => {
    test("PEM bytes, PFX bytes, a lone DER certificate, garbage", async () => {
      assert.equal(
        (await parseCertificateBytes(Buffer.from(rsa.certificatePem + rsa.privateKeyPem), undefined)).thumbprintSha256,
        rsa.thumbprintSha256,
      );
      assert.equal(
        (await parseCertificateBytes(rsa.toPfx(CANARY_PASSWORD, { legacy: true }), CANARY_PASSWORD)).thumbprintSha256,
        rsa.thumbprintSha256,
      );
      await assertUnavailable(
        () => parseCertificateBytes(new X509Certificate(rsa.certificatePem).raw, undefined),
        /lone DER certificate/,
      );
      await assertUnavailable(
        () => parseCertificateBytes(Buffer.from("\x00\x01garbage"), undefined),
        /neither a PKCS#12 \(PFX\/P12\) file nor PEM/,
      );
    });
  });
});
