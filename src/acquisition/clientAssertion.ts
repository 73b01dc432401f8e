import { constants, randomUUID, sign } from "node:crypto";
import type { LoadedCertificate } from "../sources/loadedCertificate.ts";
import { SourceUnavailableError } from "../sources/types.ts";

/** How long a client assertion we sign stays valid, as MSAL makes them. */
const ASSERTION_LIFETIME_SECONDS = 600;

/** RSASSA-PSS with SHA-256 and a salt as long as the digest: JWA PS256 (RFC 7518, section 3.5). */
const PS256 = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } as const;

/** A signed client assertion and the time (ms) its `exp` claim names. */
export interface SignedAssertion {
  readonly assertion: string;
  readonly expiresAt: number;
}

/** The encoded JOSE headers of a certificate, with and without `x5c`: the same for every assertion. */
const encodedHeaders = new WeakMap<LoadedCertificate, { x5c?: string; plain?: string }>();

function encodedHeader(certificate: LoadedCertificate, includeX5c: boolean): string {
  let headers = encodedHeaders.get(certificate);
  if (headers === undefined) encodedHeaders.set(certificate, (headers = {}));
  const which = includeX5c ? "x5c" : "plain";
  return (headers[which] ??= base64urlJson({
    alg: "PS256",
    typ: "JWT",
    "x5t#S256": certificate.x5tS256,
    ...(includeX5c ? { x5c: certificate.x5c } : {}),
  }));
}

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/**
 * Signs a `jwt-bearer` client assertion with the certificate's key: PS256 with `x5t#S256`, and
 * `x5c` when asked, `aud` the exact token endpoint URL it will be posted to. The JWS compact
 * serialisation (RFC 7515, section 7.1) is built here and signed with `node:crypto` on libuv's
 * thread pool (the callback form of `crypto.sign`), so the RSA operation never runs on the event
 * loop and no WebCrypto key has to be imported for it.
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
  return (await signAssertion(options)).assertion;
}

async function signAssertion(options: {
  certificate: LoadedCertificate;
  clientId: string;
  audience: string;
  includeX5c: boolean;
  now: number;
}): Promise<SignedAssertion> {
  const { certificate, clientId, audience, includeX5c } = options;
  const issuedAt = Math.floor(options.now / 1000);
  if (certificate.keyType !== "rsa" && certificate.keyType !== "rsa-pss") {
    throw new SourceUnavailableError(
      `certificate ${certificate.thumbprintSha256} has an ${certificate.keyType.toUpperCase()} key, and Entra ID accepts client assertions signed with RSA keys only (PS256); use an RSA certificate`,
    );
  }
  const expiresAtSeconds = issuedAt + ASSERTION_LIFETIME_SECONDS;
  const signingInput = `${encodedHeader(certificate, includeX5c)}.${base64urlJson({
    iss: clientId,
    sub: clientId,
    aud: audience,
    jti: randomUUID(),
    nbf: issuedAt,
    iat: issuedAt,
    exp: expiresAtSeconds,
  })}`;
  // A key held in a PKCS#11 token signs there (its source's own process); any other on libuv's pool.
  const tokenKey = certificate.tokenKey;
  const signature =
    tokenKey !== undefined
      ? await tokenKey.signPs256(Buffer.from(signingInput, "latin1"))
      : await new Promise<Buffer>((resolve, reject) => {
          sign("sha256", Buffer.from(signingInput, "latin1"), { key: certificate.privateKey, ...PS256 }, (error, value) => {
            if (error === null) resolve(value);
            else reject(new SourceUnavailableError(`certificate ${certificate.thumbprintSha256} could not sign a client assertion`));
          });
        });
  return { assertion: `${signingInput}.${signature.toString("base64url")}`, expiresAt: expiresAtSeconds * 1000 };
}

/**
 * How long before its `exp` a pre-signed assertion stops being used: the time to reach Entra ID
 * and the clock skew between the hosts. msal-node, for comparison, re-sends one assertion until it
 * expires (`ClientAssertion.getJwt` in msal-node's `client/ClientAssertion.ts`).
 */
const PRESIGNED_EXPIRY_MARGIN_MS = 60_000;

/**
 * Signs client assertions one request ahead. Signing (RSA-PSS) is most of this side's cost of a
 * cold token, so when an assertion is taken the next one for the same certificate and audience is
 * signed right away, off the critical path of the request after. Each assertion is still sent
 * once, with its own `jti`.
 */
export class AssertionSigner {
  readonly #clientId: string;
  readonly #now: () => number;
  readonly #next = new Map<string, Promise<SignedAssertion>>();

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
    const taken: Promise<SignedAssertion> =
      ready === undefined
        ? this.#sign(certificate, audience, includeX5c)
        : ready.then(
            (signed) => (this.#now() < signed.expiresAt - PRESIGNED_EXPIRY_MARGIN_MS ? signed : this.#sign(certificate, audience, includeX5c)),
            () => this.#sign(certificate, audience, includeX5c),
          );
    // Rotated certificates and tenants leave keys behind; a handful is all that is ever live.
    if (this.#next.size >= 64) this.#next.clear();
    // The next one is signed once this one is, so that two signatures never compete for the
    // request being served; it is kept until its own expiry (less the margin), not thrown away.
    const next = taken.then(() => this.#sign(certificate, audience, includeX5c));
    next.catch(() => undefined);
    this.#next.set(key, next);
    return taken.then((signed) => signed.assertion);
  }

  #sign(certificate: LoadedCertificate, audience: string, includeX5c: boolean): Promise<SignedAssertion> {
    return signAssertion({ certificate, clientId: this.#clientId, audience, includeX5c, now: this.#now() });
  }
}
