import { generateKeyPair, type KeyObject, type X509Certificate } from "node:crypto";
import { inspect } from "node:util";

/** RSA modulus size IMDS v2 expects for the binding key (MSAL.NET `Constants.RsaKeySize`). */
export const BINDING_KEY_BITS = 2048;

/**
 * The RSA-2048 key pair a managed identity binding certificate is issued for. It is generated in
 * this process and never leaves it: the private key lives in a `#private` field and is handed only
 * to the CSR signer and to the TLS handshake (through {@link LoadedCertificate}). A re-mint makes a
 * new instance, so an old certificate can never be paired with a new key.
 */
export class BindingKey {
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
