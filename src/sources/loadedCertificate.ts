import { createHash, KeyObject, X509Certificate } from "node:crypto";
import { inspect } from "node:util";
import { SourceUnavailableError } from "./types.ts";

/**
 * A private key that stays in a PKCS#11 token: it signs through the token and is presented in TLS
 * handshakes through OpenSSL's pkcs11 engine. It cannot be exported.
 */
export interface TokenKey {
  /** Always `"rsa"`: Entra ID takes client assertions signed with RSA keys only. */
  readonly keyType: "rsa";
  /** RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (JOSE PS256) over `data`, by the token. */
  signPs256(data: Uint8Array): Promise<Buffer>;
  /** The engine and key identifier for a TLS context (bound entries only); the identifier may hold the PIN. */
  readonly engineKey: EngineKeyReference | undefined;
}

/** An OpenSSL engine key for `tls.createSecureContext` (`privateKeyEngine`, `privateKeyIdentifier`). */
export interface EngineKeyReference {
  /** The engine's id, such as `pkcs11`. */
  readonly engine: string;
  /** The key's identifier for the engine; secret when it carries a PIN. */
  readonly identifier: string;
  /** Environment variables the engine reads when it starts (its directory, its module). */
  readonly environment: Readonly<Record<string, string>>;
}

/**
 * A certificate chain with its private key, loaded and validated once. The key lives in `#private`
 * fields: it never reaches `JSON.stringify`, `util.inspect`, logs or errors. Instances are
 * immutable snapshots; a rotated certificate is a new instance, so a request that takes its TLS
 * certificate and its assertion from one instance never mixes two generations.
 */
export class LoadedCertificate {
  /** The leaf certificate. */
  readonly leaf: X509Certificate;
  /** Leaf first, then the intermediates that came with it. */
  readonly chain: readonly X509Certificate[];
  /** Uppercase hex SHA-1 of the leaf DER (the classic thumbprint). */
  readonly thumbprintSha1: string;
  /** Uppercase hex SHA-256 of the leaf DER. */
  readonly thumbprintSha256: string;
  /** base64url SHA-1 of the leaf DER: JOSE `x5t`. */
  readonly x5t: string;
  /** base64url SHA-256 of the leaf DER: JOSE `x5t#S256` and RFC 8705 `cnf`. */
  readonly x5tS256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** `"rsa"` or `"ec"`. */
  readonly keyType: string;
  readonly #privateKey: KeyObject | undefined;
  readonly #tokenKey: TokenKey | undefined;
  #privateKeyPem: string | undefined;

  /**
   * @param chain - leaf first; at least one certificate
   * @param privateKey - the leaf's private key, or the token that holds it; the caller has checked
   * that it matches
   */
  constructor(chain: readonly X509Certificate[], privateKey: KeyObject | TokenKey) {
    const leaf = chain[0];
    if (leaf === undefined) throw new TypeError("A certificate chain needs at least one certificate.");
    this.leaf = leaf;
    this.chain = Object.freeze([...chain]);
    this.thumbprintSha1 = createHash("sha1").update(leaf.raw).digest("hex").toUpperCase();
    this.thumbprintSha256 = createHash("sha256").update(leaf.raw).digest("hex").toUpperCase();
    this.x5t = createHash("sha1").update(leaf.raw).digest("base64url");
    this.x5tS256 = createHash("sha256").update(leaf.raw).digest("base64url");
    // The Date forms come from the certificate's ASN.1 times; the string forms may not parse back.
    this.notBefore = leaf.validFromDate;
    this.notAfter = leaf.validToDate;
    if (Number.isNaN(this.notBefore.getTime()) || Number.isNaN(this.notAfter.getTime())) {
      throw new SourceUnavailableError("the certificate's validity dates cannot be read; it is malformed");
    }
    if (privateKey instanceof KeyObject) {
      this.keyType = privateKey.asymmetricKeyType ?? "unknown";
      this.#privateKey = privateKey;
    } else {
      this.keyType = privateKey.keyType;
      this.#tokenKey = privateKey;
    }
  }

  /**
   * The private key, for signing client assertions.
   *
   * @throws TypeError for a key held by a token, which has no `KeyObject`
   */
  get privateKey(): KeyObject {
    if (this.#privateKey === undefined) throw new TypeError("This certificate's private key stays in its PKCS#11 token; sign with tokenKey.");
    return this.#privateKey;
  }

  /** The token that holds the private key, for a certificate of a PKCS#11 entry. */
  get tokenKey(): TokenKey | undefined {
    return this.#tokenKey;
  }

  /** The engine key for the TLS handshake, for a certificate whose key stays in a token. */
  get engineKey(): EngineKeyReference | undefined {
    return this.#tokenKey?.engineKey;
  }

  /**
   * PKCS#8 PEM of the private key, for the TLS handshake (Node's TLS takes no `KeyObject`).
   *
   * @throws TypeError for a key held by a token: it is never exported
   */
  get privateKeyPem(): string {
    if (this.#privateKey === undefined) throw new TypeError("This certificate's private key stays in its PKCS#11 token and cannot be exported.");
    this.#privateKeyPem ??= this.#privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    return this.#privateKeyPem;
  }

  /** PEM of the leaf followed by the intermediates. */
  get certificateChainPem(): string {
    return this.chain.map((c) => c.toString()).join("");
  }

  /** Base64 DER of each certificate, leaf first: JOSE `x5c`. */
  get x5c(): string[] {
    return this.chain.map((c) => c.raw.toString("base64"));
  }

  /** Whether `at` (ms since epoch) falls inside the leaf's validity window. */
  isValidAt(at: number): boolean {
    return at >= this.notBefore.getTime() && at <= this.notAfter.getTime();
  }

  toJSON(): Record<string, string> {
    return this.#describe();
  }

  [inspect.custom](): string {
    return `LoadedCertificate ${inspect(this.#describe())}`;
  }

  #describe(): Record<string, string> {
    return {
      subject: this.leaf.subject,
      issuer: this.leaf.issuer,
      thumbprintSha256: this.thumbprintSha256,
      notBefore: this.notBefore.toISOString(),
      notAfter: this.notAfter.toISOString(),
    };
  }
}
