/**
 * Test certificates: a certificate authority generated in memory and the leaf certificates it
 * issues (client, server, expired, not yet valid, self-signed, RSA or EC), with PEM, thumbprints
 * and PKCS#12 export. Used by the emulator for its own servers and by tests for client material.
 */
import { LocalCertificateAuthority } from "./certificateAuthority.ts";

/** A certificate with its private key, as issued by {@link CertificateAuthority.issueCertificate}. */
export interface IssuedCertificate {
  /** The leaf certificate, PEM (issued by the authority unless it was requested self-signed). */
  readonly certificatePem: string;
  /** The private key, unencrypted PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** Uppercase hex SHA-256 of the certificate DER. */
  readonly thumbprintSha256: string;
  /** Uppercase hex SHA-1 of the certificate DER (the classic Windows thumbprint). */
  readonly thumbprintSha1: string;
  /**
   * A PKCS#12 file holding the key, the certificate and (unless self-signed) the CA certificate.
   *
   * @param password - the PFX password (may be empty)
   * @param options - `legacy: true` encrypts the key with 3DES (PBE-SHA1-3DES), as older Windows
   *   exports do; otherwise AES-256-CBC with PBKDF2
   */
  toPfx(password: string, options?: { legacy?: boolean }): Buffer;
}

/** What a certificate issued by {@link CertificateAuthority.issueCertificate} looks like. */
export interface IssueCertificateOptions {
  /** Distinguished name; default `CN=bound-client-credential test`. */
  subject?: string;
  /** Default one minute ago. May be in the future, for not-yet-valid certificates. */
  notBefore?: Date;
  /** Default one day from now. May be in the past, for expired certificates. */
  notAfter?: Date;
  /** Sign the certificate with its own key instead of the authority's. Default false. */
  selfSigned?: boolean;
  /** `"rsa"` (2048 bits, the default) or `"ec"` (P-256). */
  keyType?: "rsa" | "ec";
  /** DNS subject alternative names; server certificates use `["localhost"]`. */
  dnsNames?: string[];
  /** IP subject alternative names; server certificates use `["127.0.0.1"]`. */
  ipAddresses?: string[];
  /** Extended key usages; default `["clientAuth"]`. */
  extendedKeyUsage?: ("serverAuth" | "clientAuth")[];
}

/** A certificate authority whose key lives only in memory. */
export interface CertificateAuthority {
  /** The self-signed root certificate, PEM: what a client passes as `ca` to trust it. */
  readonly certificatePem: string;
  /** Issues a certificate with a fresh key pair. */
  issueCertificate(options?: IssueCertificateOptions): Promise<IssuedCertificate>;
}

/**
 * Generates an RSA-2048 root certificate authority valid from one minute ago for ten years.
 *
 * @param options - `commonName` of the root; default `bound-client-credential test CA`
 */
export async function createCertificateAuthority(options?: { commonName?: string }): Promise<CertificateAuthority> {
  return LocalCertificateAuthority.create(options?.commonName ?? "bound-client-credential test CA");
}
