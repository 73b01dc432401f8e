/**
 * The emulator's token signing key: access tokens shaped as Entra's (v1 for resources such as
 * Azure Storage and Key Vault, with the `https://sts.windows.net/{tenant}/` issuer Azurite
 * requires; v2 for `api://AzureADTokenExchange`), the JWKS that publishes the key, and
 * verification of tokens it issued (federated and `jwt-pop` assertions, Key Vault).
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomBytes, randomUUID, X509Certificate } from "node:crypto";
import { compactVerify, SignJWT } from "jose";
import { TOKEN_EXCHANGE_AUDIENCE } from "./constants.ts";
import type { LocalCertificateAuthority } from "./certificateAuthority.ts";
import { normalizeResource } from "./directory.ts";

/** Who a token is for and about. */
export interface AccessTokenRequest {
  readonly tenantId: string;
  /** The resource, as requested (scope without `/.default`). */
  readonly resource: string;
  readonly clientId: string;
  readonly objectId: string;
  readonly lifetimeSeconds: number;
  /** `1` client secret, `2` certificate or assertion. */
  readonly clientAuthenticationMethod: "1" | "2";
  /** base64url SHA-256 of the certificate the token is bound to (`mtls_pop`). */
  readonly boundCertificateX5tS256?: string;
  /** Client capabilities (`xms_cc`), from the `claims` request parameter. */
  readonly clientCapabilities?: readonly string[];
  /** ARM id of a managed identity (`xms_mirid`). */
  readonly managedIdentityResourceId?: string;
  /** On-Behalf-Of: the signed-in user the token is about, and the delegated permissions (`scp`). */
  readonly user?: {
    readonly objectId: string;
    readonly subject: string;
    readonly name: string | undefined;
    readonly preferredUsername: string | undefined;
    readonly permissions: readonly string[];
  };
}

/** A signed access token and its times (seconds since the epoch). */
export interface IssuedAccessToken {
  readonly token: string;
  readonly issuedAt: number;
  readonly notBefore: number;
  readonly expiresOn: number;
}

/** A token's decoded parts after its signature checked out. */
export interface VerifiedToken {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
}

/** Entra back-dates `iat`/`nbf` by five minutes, which also absorbs small clock differences. */
const BACKDATE_SECONDS = 300;

/** The key that signs the emulator's tokens. */
export class TokenService {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #certificate: X509Certificate;
  readonly kid: string;
  readonly #authorityHost: string;
  readonly #clock: () => number;

  private constructor(privateKey: KeyObject, certificate: X509Certificate, authorityHost: string, clock: () => number) {
    this.#privateKey = privateKey;
    this.#certificate = certificate;
    this.#publicKey = createPublicKey(certificate.publicKey.export({ type: "spki", format: "pem" }));
    this.kid = createHash("sha1").update(certificate.raw).digest("base64url");
    this.#authorityHost = authorityHost;
    this.#clock = clock;
  }

  /** Generates the signing key, with a certificate from the emulator's CA for the JWKS `x5c`. */
  static async create(authority: LocalCertificateAuthority, authorityHost: string, clock: () => number): Promise<TokenService> {
    const issued = await authority.issueCertificate({
      subject: "CN=bound-client-credential emulator token signing",
      notAfter: new Date(Date.now() + 3650 * 86_400_000),
    });
    return new TokenService(createPrivateKey(issued.privateKeyPem), new X509Certificate(issued.certificatePem), authorityHost, clock);
  }

  /** `${authorityHost}/${tenantId}/v2.0`: the issuer of v2 tokens, hence of managed identity federated assertions. */
  v2Issuer(tenantId: string): string {
    return `${this.#authorityHost}/${tenantId}/v2.0`;
  }

  /** The JWKS document (`/discovery/v2.0/keys`). */
  jwks(): Record<string, unknown> {
    const jwk = this.#publicKey.export({ format: "jwk" });
    return {
      keys: [
        {
          kty: "RSA",
          use: "sig",
          kid: this.kid,
          x5t: this.kid,
          n: jwk.n,
          e: jwk.e,
          x5c: [this.#certificate.raw.toString("base64")],
          issuer: `${this.#authorityHost}/{tenantid}/v2.0`,
        },
      ],
    };
  }

  async issueAccessToken(request: AccessTokenRequest): Promise<IssuedAccessToken> {
    const now = Math.floor(this.#clock() / 1000);
    const issuedAt = now - BACKDATE_SECONDS;
    const expiresOn = now + request.lifetimeSeconds;
    const v2 = normalizeResource(request.resource) === normalizeResource(TOKEN_EXCHANGE_AUDIENCE);
    const issuer = v2 ? this.v2Issuer(request.tenantId) : `https://sts.windows.net/${request.tenantId}/`;
    const claims: Record<string, unknown> = {
      aud: request.resource,
      iss: issuer,
      iat: issuedAt,
      nbf: issuedAt,
      exp: expiresOn,
      aio: randomBytes(24).toString("base64url"),
      appid: request.clientId,
      azp: request.clientId,
      oid: request.user?.objectId ?? request.objectId,
      sub: request.user?.subject ?? request.objectId,
      tid: request.tenantId,
      idtyp: request.user === undefined ? "app" : "user",
      ...(request.user === undefined
        ? {}
        : {
            scp: request.user.permissions.join(" "),
            ...(request.user.name === undefined ? {} : { name: request.user.name }),
            ...(request.user.preferredUsername === undefined
              ? {}
              : v2
                ? { preferred_username: request.user.preferredUsername }
                : { upn: request.user.preferredUsername, unique_name: request.user.preferredUsername }),
          }),
      uti: randomBytes(16).toString("base64url"),
      ver: v2 ? "2.0" : "1.0",
      ...(v2
        ? { azpacr: request.clientAuthenticationMethod }
        : { appidacr: request.clientAuthenticationMethod, idp: issuer, rh: "0.emulator." }),
      ...(request.boundCertificateX5tS256 === undefined ? {} : { cnf: { "x5t#S256": request.boundCertificateX5tS256 } }),
      ...(request.clientCapabilities === undefined ? {} : { xms_cc: [...request.clientCapabilities] }),
      ...(request.managedIdentityResourceId === undefined ? {} : { xms_mirid: request.managedIdentityResourceId }),
    };
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: this.kid, x5t: this.kid })
      .sign(this.#privateKey);
    return { token, issuedAt, notBefore: issuedAt, expiresOn };
  }

  /** A JWT signed with the emulator's key, for tests that need a federated assertion. */
  async signAssertion(claims: Record<string, unknown>): Promise<string> {
    return new SignJWT({ ...claims, jti: randomUUID() })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: this.kid })
      .sign(this.#privateKey);
  }

  /**
   * Checks that the emulator signed `token` and returns its parts; times are the caller's to check.
   *
   * @throws Error when the signature is not the emulator's
   */
  async verify(token: string): Promise<VerifiedToken> {
    const { payload, protectedHeader } = await compactVerify(token, this.#publicKey, { algorithms: ["RS256"] });
    const claims: unknown = JSON.parse(new TextDecoder().decode(payload));
    if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
      throw new Error("The token payload is not a JSON object.");
    }
    return { header: { ...protectedHeader }, payload: claims as Record<string, unknown> };
  }
}
