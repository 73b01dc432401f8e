import { describe, test, before } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import tls from "node:tls";
import { inspect } from "node:util";
import forge from "node-forge";
import { createCertificateAuthority, type CertificateAuthority } from "../../src/emulator/pki.ts";

function pfxContents(pfx: Buffer, password: string): { certificates: number; keys: number } {
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(pfx.toString("binary"))), false, password);
  const oids = forge.pki.oids;
  const certBag = oids["certBag"] ?? "";
  const keyBag = oids["pkcs8ShroudedKeyBag"] ?? "";
  return {
    certificates: (p12.getBags({ bagType: certBag })[certBag] ?? []).length,
    keys: (p12.getBags({ bagType: keyBag })[keyBag] ?? []).length,
  };
}

describe("pki", () => {
  let authority: CertificateAuthority;
  let root: X509Certificate;

  before(async () => {
    authority = await createCertificateAuthority({ commonName: "pki test CA" });
    root = new X509Certificate(authority.certificatePem);
  });

  test("the root is a self-signed CA with the given name", () => {
    assert.equal(root.subject, "CN=pki test CA");
    assert.equal(root.ca, true);
    assert.ok(root.verify(root.publicKey));
  });

  test("a default leaf is an RSA-2048 client certificate issued by the CA, valid now for a day", async () => {
    const issued = await authority.issueCertificate();
    const leaf = new X509Certificate(issued.certificatePem);
    assert.equal(leaf.subject, "CN=bound-client-credential test");
    assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey));
    assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.privateKeyPem)));
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.deepEqual(leaf.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
    const now = Date.now();
    assert.ok(Date.parse(leaf.validFrom) <= now && Date.parse(leaf.validTo) > now + 23 * 3600_000);
    assert.equal(issued.thumbprintSha256, leaf.fingerprint256.replaceAll(":", ""));
    assert.equal(issued.thumbprintSha1, leaf.fingerprint.replaceAll(":", ""));
    assert.match(issued.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  test("server certificates carry the SAN and EKU asked for, and EC keys work", async () => {
    const issued = await authority.issueCertificate({
      subject: "CN=localhost",
      keyType: "ec",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      extendedKeyUsage: ["serverAuth"],
    });
    const leaf = new X509Certificate(issued.certificatePem);
    assert.equal(leaf.subjectAltName, "DNS:localhost, IP Address:127.0.0.1");
    assert.equal(leaf.publicKey.asymmetricKeyType, "ec");
    assert.deepEqual(leaf.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
    assert.ok(leaf.checkHost("localhost") !== undefined && leaf.checkIP("127.0.0.1") !== undefined);
  });

  test("expired, not-yet-valid and self-signed certificates can be made", async () => {
    const expired = await authority.issueCertificate({ notBefore: new Date("2020-01-01"), notAfter: new Date("2020-02-01") });
    assert.equal(new X509Certificate(expired.certificatePem).validTo, "Feb  1 00:00:00 2020 GMT");
    const future = await authority.issueCertificate({ notBefore: new Date(Date.now() + 86_400_000) });
    assert.ok(Date.parse(new X509Certificate(future.certificatePem).validFrom) > Date.now());
    const selfSigned = await authority.issueCertificate({ selfSigned: true, subject: "CN=alone" });
    const leaf = new X509Certificate(selfSigned.certificatePem);
    assert.equal(leaf.issuer, "CN=alone");
    assert.ok(leaf.verify(leaf.publicKey));
    assert.ok(!leaf.checkIssued(root));
  });

  test("PFX export (AES-256 and legacy 3DES, RSA and EC) loads in node-forge and in Node's TLS", async () => {
    for (const keyType of ["rsa", "ec"] as const) {
      const issued = await authority.issueCertificate({ keyType });
      for (const legacy of [false, true]) {
        const pfx = issued.toPfx("pfx-password", { legacy });
        assert.deepEqual(pfxContents(pfx, "pfx-password"), { certificates: 2, keys: 1 }, `${keyType} legacy=${legacy}`);
        assert.doesNotThrow(() => tls.createSecureContext({ pfx, passphrase: "pfx-password" }));
      }
      assert.throws(() => pfxContents(issued.toPfx("right"), "wrong"), /MAC could not be verified|Invalid password/);
    }
    const selfSigned = await authority.issueCertificate({ selfSigned: true });
    assert.deepEqual(pfxContents(selfSigned.toPfx(""), ""), { certificates: 1, keys: 1 });
  });

  test("the private key stays out of util.inspect and JSON.stringify", async () => {
    const issued = await authority.issueCertificate();
    const keyBody = issued.privateKeyPem.split("\n")[1] ?? "";
    assert.ok(!inspect(issued, { depth: 5 }).includes(keyBody));
    assert.ok(!JSON.stringify(issued).includes("PRIVATE KEY"));
    assert.ok(inspect(issued).includes(issued.thumbprintSha256));
  });
});
