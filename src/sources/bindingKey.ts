import { constants, generateKeyPair, type KeyObject, sign, type X509Certificate } from "node:crypto";
import { inspect } from "node:util";
import type { TokenKey } from "./loadedCertificate.ts";

/** RSA modulus size IMDS v2 expects for the binding key (MSAL.NET `Constants.RsaKeySize`). */
export const BINDING_KEY_BITS = 2048;

/**
 * An RSA-2048 key pair a managed identity binding certificate is issued for, wherever it lives:
 * in this process ({@link BindingKey}) or in a PKCS#11 token. What the binding flow needs of it:
 * the public key for the CSR and the attestation, a signature for the CSR, and the private key for
 * the TLS handshake.
 */
export interface BindingKeyPair {
  /** DER SubjectPublicKeyInfo of the public key. */
  readonly publicKeySpki: Buffer;
  /** SPKI PEM of the public key, as the attestation provider receives it. */
  readonly publicKeyPem: string;
  /** Where the private key lives. */
  readonly storage: "software" | "pkcs11";
  /** The private key's `pkcs11:` URI without a PIN, for a key in a token. */
  readonly pkcs11Uri?: string | undefined;
  /** Whether `certificate` carries this key pair's public key. */
  matches(certificate: X509Certificate): boolean;
  /** RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt over `data`, for the CSR. */
  signPss(data: Buffer): Promise<Buffer>;
  /** The private key for the TLS client certificate: a KeyObject, or the token that holds it. */
  readonly tlsKey: KeyObject | TokenKey;
  /**
   * Told when the certificate issued for this key is no longer used (replaced, or its mint
   * failed), so that a key stored outside the process can be removed.
   */
  retire?(): void;
}

/**
 * The RSA-2048 key pair a managed identity binding certificate is issued for. It is generated in
 * this process and never leaves it: the private key lives in a `#private` field and is handed only
 * to the CSR signer and to the TLS handshake (through {@link LoadedCertificate}). A re-mint makes a
 * new instance, so an old certificate can never be paired with a new key.
 */
export class BindingKey implements BindingKeyPair {
  readonly storage = "software" as const;
  /** The public half, safe to share. */
  readonly publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo of {@link BindingKey.publicKey}, for comparing with a certificate's key. */
  readonly publicKeySpki: Buffer;
  readonly #privateKey: KeyObject;

  private constructor(publicKey: KeyObject, privateKey: KeyObject) {
    this.publicKey = publicKey;
    this.publicKeySpki = publicKey.export({ type: "spki", format: "der" });
    this.#privateKey = privateKey;
  }

  /** Generates a fresh key pair off the main thread (RSA generation takes tens of milliseconds). */
  static async generate(): Promise<BindingKey> {
    const { publicKey, privateKey } = await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>(
      (resolve, reject) => {
        generateKeyPair("rsa", { modulusLength: BINDING_KEY_BITS, publicExponent: 0x10001 }, (error, pub, priv) => {
          if (error) reject(error);
          else resolve({ publicKey: pub, privateKey: priv });
        });
      },
    );
    return new BindingKey(publicKey, privateKey);
  }

  /** The private key: for the CSR signature and the TLS client certificate only. */
  get privateKey(): KeyObject {
    return this.#privateKey;
  }

  get tlsKey(): KeyObject {
    return this.#privateKey;
  }

  /** Signs on libuv's thread pool; MGF1 takes the signature's hash, OpenSSL's default. */
  signPss(data: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      sign("sha256", data, { key: this.#privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, (error, value) =>
        error ? reject(error) : resolve(value),
      );
    });
  }

  /** SPKI PEM of the public key, as the attestation provider receives it. */
  get publicKeyPem(): string {
    return this.publicKey.export({ type: "spki", format: "pem" }).toString();
  }

  /** Whether `certificate` carries this key pair's public key. */
  matches(certificate: X509Certificate): boolean {
    return certificate.publicKey.export({ type: "spki", format: "der" }).equals(this.publicKeySpki);
  }

  toJSON(): Record<string, string> {
    return { type: "rsa", bits: String(BINDING_KEY_BITS) };
  }

  [inspect.custom](): string {
    return `BindingKey { type: 'rsa', bits: ${BINDING_KEY_BITS} }`;
  }
}
