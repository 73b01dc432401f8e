import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { LoadedCertificate } from "../sources/loadedCertificate.ts";
import { signCompactJws } from "../sources/pkcs11/signer.ts";
import { SourceUnavailableError } from "../sources/types.ts";

/** How long a client assertion we sign stays valid, as MSAL makes them. */
const ASSERTION_LIFETIME_SECONDS = 600;

/**
 * Signs a `jwt-bearer` client assertion with the certificate's key: PS256 with `x5t#S256`, and
 * `x5c` when asked, `aud` the exact token endpoint URL it will be posted to.
 *
 * @throws SourceUnavailableError for a certificate whose key is not RSA: Entra ID takes client
 * assertions signed PS256 or RS256 only, so an EC certificate cannot authenticate an app
 */
export async function signClientAssertion(options: {
  certificate: LoadedCertificate;
  clientId: string;
  audience: string;
  includeX5c: boolean;
  now: number;
}): Promise<string> {
  const { certificate, clientId, audience, includeX5c } = options;
  const issuedAt = Math.floor(options.now / 1000);
  if (certificate.keyType !== "rsa" && certificate.keyType !== "rsa-pss") {
    throw new SourceUnavailableError(
      `certificate ${certificate.thumbprintSha256} has an ${certificate.keyType.toUpperCase()} key, and Entra ID accepts client assertions signed with RSA keys only (PS256); use an RSA certificate`,
    );
  }
  if (certificate.tokenKey !== undefined) {
    const header = { alg: "PS256", typ: "JWT", "x5t#S256": certificate.x5tS256, ...(includeX5c ? { x5c: certificate.x5c } : {}) };
    const claims = { iss: clientId, sub: clientId, aud: audience, jti: randomUUID(), nbf: issuedAt, iat: issuedAt, exp: issuedAt + ASSERTION_LIFETIME_SECONDS };
    return signCompactJws(header, claims, certificate.tokenKey);
  }
  return new SignJWT({})
    .setProtectedHeader({
      alg: "PS256",
      typ: "JWT",
      "x5t#S256": certificate.x5tS256,
      ...(includeX5c ? { x5c: certificate.x5c } : {}),
    })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setJti(randomUUID())
    .setNotBefore(issuedAt)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ASSERTION_LIFETIME_SECONDS)
    .sign(certificate.privateKey);
}

/** A pre-signed assertion older than this is not used: Entra allows clock skew, not stale claims. */
const PRESIGNED_MAX_AGE_MS = 60_000;

/**
 * Signs client assertions one request ahead. Signing (RSA-PSS) is most of this side's cost of a
 * cold token, so when an assertion is taken the next one for the same certificate and audience is
 * signed right away, off the critical path of the request after. Each assertion is still sent
 * once, with its own `jti`.
 */
export class AssertionSigner {
  readonly #clientId: string;
  readonly #now: () => number;
  readonly #next = new Map<string, { readonly signedAt: number; readonly assertion: Promise<string> }>();

  constructor(clientId: string, now: () => number) {
    this.#clientId = clientId;
    this.#now = now;
  }

  /**
   * An assertion for `certificate` and `audience`: the one signed ahead when it is fresh, else a
   * new one.
   *
   * @throws SourceUnavailableError for a certificate whose key is not RSA
   */
  take(certificate: LoadedCertificate, audience: string, includeX5c: boolean): Promise<string> {
    const key = `${certificate.thumbprintSha256}|${includeX5c ? "x5c" : "-"}|${audience}`;
    const ready = this.#next.get(key);
    this.#next.delete(key);
    const taken =
      ready !== undefined && this.#now() - ready.signedAt < PRESIGNED_MAX_AGE_MS
        ? ready.assertion.catch(() => this.#sign(certificate, audience, includeX5c))
        : this.#sign(certificate, audience, includeX5c);
    // Rotated certificates and tenants leave keys behind; a handful is all that is ever live.
    if (this.#next.size >= 64) this.#next.clear();
    const next = taken.then(() => this.#sign(certificate, audience, includeX5c));
    next.catch(() => undefined);
    this.#next.set(key, { signedAt: this.#now(), assertion: next });
    return taken;
  }

  #sign(certificate: LoadedCertificate, audience: string, includeX5c: boolean): Promise<string> {
    return signClientAssertion({ certificate, clientId: this.#clientId, audience, includeX5c, now: this.#now() });
  }
}
