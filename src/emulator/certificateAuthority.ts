import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createHash, generateKeyPair, type KeyObject, randomBytes, X509Certificate } from "node:crypto";
import { inspect, promisify } from "node:util";
import forge from "node-forge";
import type { CertificateAuthority, IssueCertificateOptions, IssuedCertificate } from "./pki.ts";

x509.cryptoProvider.set(globalThis.crypto);

const generateKeyPairAsync = promisify(generateKeyPair);

const RSA_SIGNING: RsaHashedImportParams & RsaHashedKeyGenParams = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const EC_SIGNING: EcKeyImportParams & EcdsaParams = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

const MINUTE = 60_000;
const DAY = 86_400_000;

interface CryptoKeys {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

async function newKeyPair(keyType: "rsa" | "ec"): Promise<{ keys: CryptoKeys; privateKey: KeyObject }> {
  const pair =
    keyType === "ec"
      ? await generateKeyPairAsync("ec", { namedCurve: "P-256" })
      : await generateKeyPairAsync("rsa", { modulusLength: 2048 });
  const algorithm = keyType === "ec" ? EC_SIGNING : RSA_SIGNING;
  const keys = {
    privateKey: await globalThis.crypto.subtle.importKey(
      "pkcs8",
      pair.privateKey.export({ type: "pkcs8", format: "der" }),
      algorithm,
      true,
      ["sign"],
    ),
    publicKey: await globalThis.crypto.subtle.importKey(
      "spki",
      pair.publicKey.export({ type: "spki", format: "der" }),
      algorithm,
      true,
      ["verify"],
    ),
  };
  return { keys, privateKey: pair.privateKey };
}

/** A positive 16-byte serial number in hex, as RFC 5280 wants. */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f | 0x01;
  return bytes.toString("hex");
}

function hexThumbprint(der: Buffer, algorithm: "sha1" | "sha256"): string {
  return createHash(algorithm).update(der).digest("hex").toUpperCase();
}

/** Options of {@link LocalCertificateAuthority.issueForPublicKey}. */
export interface IssueForPublicKeyOptions {
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extendedKeyUsage?: readonly ("serverAuth" | "clientAuth")[];
}

/**
 * The certificate authority behind {@link createCertificateAuthority}. Besides issuing certificates
 * with fresh keys, it signs certificates for a public key it never saw the private half of (the
 * managed identity binding certificates that IMDS v2 issues for a CSR).
 */
export class LocalCertificateAuthority implements CertificateAuthority {
  readonly certificatePem: string;
  /** The root certificate, parsed. */
  readonly certificate: X509Certificate;
  readonly #root: x509.X509Certificate;
  readonly #keys: CryptoKeys;

  private constructor(root: x509.X509Certificate, keys: CryptoKeys) {
    this.#root = root;
    this.#keys = keys;
    this.certificatePem = root.toString("pem") + "\n";
    this.certificate = new X509Certificate(this.certificatePem);
  }

  /** Generates the root key and certificate. */
  static async create(commonName: string): Promise<LocalCertificateAuthority> {
    const { keys } = await newKeyPair("rsa");
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerialNumber(),
      name: `CN=${commonName}`,
      notBefore: new Date(Date.now() - MINUTE),
      notAfter: new Date(Date.now() + 3650 * DAY),
      signingAlgorithm: RSA_SIGNING,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new LocalCertificateAuthority(root, keys);
  }

  async issueCertificate(options: IssueCertificateOptions = {}): Promise<IssuedCertificate> {
    const keyType = options.keyType ?? "rsa";
    const { keys, privateKey } = await newKeyPair(keyType);
    const selfSigned = options.selfSigned ?? false;
    const subject = options.subject ?? "CN=bound-client-credential test";
    const notBefore = options.notBefore ?? new Date(Date.now() - MINUTE);
    const notAfter = options.notAfter ?? new Date(Date.now() + DAY);
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        keyType === "rsa"
          ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
          : x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(ekuOids(options.extendedKeyUsage ?? ["clientAuth"])),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ];
    const altNames: x509.JsonGeneralName[] = [
      ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(options.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames));
    let certificate: x509.X509Certificate;
    if (selfSigned) {
      certificate = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: randomSerialNumber(),
        name: subject,
        notBefore,
        notAfter,
        signingAlgorithm: keyType === "ec" ? EC_SIGNING : RSA_SIGNING,
        keys,
        extensions,
      });
    } else {
      extensions.push(await x509.AuthorityKeyIdentifierExtension.create(this.#root));
      certificate = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerialNumber(),
        subject,
        issuer: this.#root.subject,
        notBefore,
        notAfter,
        signingAlgorithm: RSA_SIGNING,
        publicKey: keys.publicKey,
        signingKey: this.#keys.privateKey,
        extensions,
      });
    }
    const der = Buffer.from(certificate.rawData);
    return new LocalIssuedCertificate(
      certificate.toString("pem") + "\n",
      der,
      privateKey,
      selfSigned ? [] : [Buffer.from(this.#root.rawData)],
    );
  }

  /**
   * Signs a certificate for a public key given as SubjectPublicKeyInfo DER.
   *
   * @returns the certificate DER
   */
  async issueForPublicKey(spkiDer: Uint8Array<ArrayBuffer>, options: IssueForPublicKeyOptions): Promise<Buffer> {
    const publicKey = await globalThis.crypto.subtle.importKey("spki", spkiDer, RSA_SIGNING, true, ["verify"]);
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialNumber(),
      subject: options.subject,
      issuer: this.#root.subject,
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      signingAlgorithm: RSA_SIGNING,
      publicKey,
      signingKey: this.#keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(ekuOids(options.extendedKeyUsage ?? ["clientAuth"])),
        await x509.AuthorityKeyIdentifierExtension.create(this.#root),
      ],
    });
    return Buffer.from(certificate.rawData);
  }

  toJSON(): Record<string, string> {
    return { subject: this.certificate.subject, thumbprintSha256: hexThumbprint(this.certificate.raw, "sha256") };
  }

  [inspect.custom](): string {
    return `LocalCertificateAuthority ${inspect(this.toJSON())}`;
  }
}

function ekuOids(usages: readonly ("serverAuth" | "clientAuth")[]): string[] {
  return usages.map((usage) =>
    usage === "serverAuth" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
  );
}

/** An issued certificate; the private key stays out of `JSON.stringify` and `util.inspect`. */
class LocalIssuedCertificate implements IssuedCertificate {
  readonly certificatePem: string;
  readonly thumbprintSha256: string;
  readonly thumbprintSha1: string;
  readonly #der: Buffer;
  readonly #privateKey: KeyObject;
  readonly #chainDer: readonly Buffer[];

  constructor(certificatePem: string, der: Buffer, privateKey: KeyObject, chainDer: readonly Buffer[]) {
    this.certificatePem = certificatePem;
    this.#der = der;
    this.#privateKey = privateKey;
    this.#chainDer = chainDer;
    this.thumbprintSha256 = hexThumbprint(der, "sha256");
    this.thumbprintSha1 = hexThumbprint(der, "sha1");
  }

  get privateKeyPem(): string {
    return this.#privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  }

  toPfx(password: string, options?: { legacy?: boolean }): Buffer {
    return buildPkcs12(
      this.#privateKey.export({ type: "pkcs8", format: "der" }),
      [this.#der, ...this.#chainDer],
      password,
      options?.legacy === true ? "3des" : "aes256",
    );
  }

  toJSON(): Record<string, string> {
    return { thumbprintSha256: this.thumbprintSha256, thumbprintSha1: this.thumbprintSha1 };
  }

  [inspect.custom](): string {
    return `IssuedCertificate ${inspect(this.toJSON())}`;
  }
}

/**
 * A PKCS#12 file laid out as node-forge's `toPkcs12Asn1` lays it out, but from a PKCS#8 key and
 * certificate DER, so that EC keys work too (forge itself only wraps RSA keys).
 */
function buildPkcs12(
  privateKeyInfoDer: Buffer,
  certificatesDer: readonly Buffer[],
  password: string,
  algorithm: "aes256" | "3des",
): Buffer {
  const { asn1, pki } = forge;
  const seq = (items: forge.asn1.Asn1[]) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
  const set = (items: forge.asn1.Asn1[]) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, items);
  const oid = (value: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(value).getBytes());
  const octets = (bytes: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes);
  const explicit0 = (items: forge.asn1.Asn1[]) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, items);
  const binary = (buffer: Buffer) => buffer.toString("binary");
  const dataContentInfo = (content: forge.asn1.Asn1) =>
    seq([oid(pki.oids["data"] ?? "1.2.840.113549.1.7.1"), explicit0([octets(asn1.toDer(content).getBytes())])]);

  const leaf = certificatesDer[0];
  if (leaf === undefined) throw new TypeError("A PKCS#12 file needs at least one certificate.");
  const localKeyId = createHash("sha1").update(leaf).digest().toString("binary");
  const bagAttributes = set([seq([oid(pki.oids["localKeyId"] ?? "1.2.840.113549.1.9.21"), set([octets(localKeyId)])])]);

  const certBags = certificatesDer.map((der, index) => {
    const parts = [
      oid(pki.oids["certBag"] ?? "1.2.840.113549.1.12.10.1.3"),
      explicit0([seq([oid(pki.oids["x509Certificate"] ?? "1.2.840.113549.1.9.22.1"), explicit0([octets(binary(der))])])]),
    ];
    if (index === 0) parts.push(bagAttributes);
    return seq(parts);
  });
  const privateKeyInfo = asn1.fromDer(forge.util.createBuffer(binary(privateKeyInfoDer)));
  const keyBag = seq([
    oid(pki.oids["pkcs8ShroudedKeyBag"] ?? "1.2.840.113549.1.12.10.1.2"),
    explicit0([pki.encryptPrivateKeyInfo(privateKeyInfo, password, { algorithm, count: 2048, saltSize: 8 })]),
    bagAttributes,
  ]);
  const authenticatedSafe = seq([dataContentInfo(seq(certBags)), dataContentInfo(seq([keyBag]))]);

  const macSalt = forge.random.getBytesSync(8);
  const iterations = 2048;
  const macKey = forge.pkcs12.generateKey(password, forge.util.createBuffer(macSalt), 3, iterations, 20);
  const hmac = forge.hmac.create();
  hmac.start("sha1", macKey);
  hmac.update(asn1.toDer(authenticatedSafe).getBytes());
  const macData = seq([
    seq([
      seq([oid(pki.oids["sha1"] ?? "1.3.14.3.2.26"), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, "")]),
      octets(hmac.getMac().getBytes()),
    ]),
    octets(macSalt),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(iterations).getBytes()),
  ]);
  const pfx = seq([
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(3).getBytes()),
    dataContentInfo(authenticatedSafe),
    macData,
  ]);
  return Buffer.from(asn1.toDer(pfx).getBytes(), "binary");
}
