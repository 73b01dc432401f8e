/**
 * Client authentication at the emulated token endpoints, per wire-protocol §1.4, §3.3, §4.1 and
 * §7: client secrets, certificate-signed `jwt-bearer` assertions (PS256/RS256, `x5t`,
 * `x5t#S256`, `x5c`), federated assertions, `jwt-pop` assertions bound to the TLS certificate,
 * certificate-only authentication on the mTLS host, and managed identity binding certificates.
 */
import { createHash, createPublicKey, type KeyObject, timingSafeEqual, X509Certificate } from "node:crypto";
import { compactVerify } from "jose";
import type { CertificateRegistration, Principal, ThumbprintCertificate } from "./directory.ts";
import { normalizeDistinguishedName } from "./directory.ts";
import { entraErrors } from "./entraErrors.ts";
import type { TokenService } from "./tokenService.ts";

export const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
export const JWT_POP = "urn:ietf:params:oauth:client-assertion-type:jwt-pop";

/** Longest client assertion lifetime accepted (`exp` minus `nbf`). */
const MAX_ASSERTION_LIFETIME_SECONDS = 3600;

/** How the client authenticated: `1` secret, `2` certificate or assertion (token `appidacr`). */
export type AuthenticationMethod = "1" | "2";

/** What the checks need from the emulator. */
export interface AuthenticationContext {
  readonly tokens: TokenService;
  /** Roots trusted for subject name and issuer authentication. */
  readonly trustedRoots: readonly X509Certificate[];
  /** The CA of IMDS v2 binding certificates. */
  readonly managedIdentityCa: X509Certificate;
  /** Token endpoint URLs (and issuer) a client assertion may name as `aud`, for a tenant segment. */
  audiences(tenant: string): readonly string[];
  readonly clock: () => number;
  readonly skewSeconds: number;
}

/** One token request's client credentials, from the form body. */
export interface PresentedCredentials {
  readonly clientSecret: string | undefined;
  readonly clientAssertion: string | undefined;
  readonly clientAssertionType: string | undefined;
}

interface DecodedJwt {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
}

/** Remembers assertion ids until the assertions expire, to refuse replays. */
export class ReplayCache {
  readonly #seen = new Map<string, number>();

  /** Records `key`; false when it was already recorded and has not expired. */
  remember(key: string, expiresAtSeconds: number, nowSeconds: number): boolean {
    for (const [seenKey, expiry] of this.#seen) if (expiry < nowSeconds) this.#seen.delete(seenKey);
    if (this.#seen.has(key)) return false;
    this.#seen.set(key, expiresAtSeconds);
    return true;
  }
}

/** Authenticates a request on the login host (no TLS client certificate). */
export async function authenticateOnLoginHost(
  principal: Principal,
  credentials: PresentedCredentials,
  tenant: string,
  context: AuthenticationContext,
  replays: ReplayCache | undefined,
): Promise<AuthenticationMethod> {
  const { clientSecret, clientAssertion, clientAssertionType } = credentials;
  if (clientSecret !== undefined && clientAssertion !== undefined) throw entraErrors.twoCredentials();
  if (clientSecret !== undefined) {
    checkSecret(principal, clientSecret, context.clock());
    return "1";
  }
  if (clientAssertion === undefined) throw entraErrors.missingCredential();
  if (clientAssertionType === undefined) throw entraErrors.missingParameter("client_assertion_type");
  if (clientAssertionType === JWT_POP) throw entraErrors.mtlsRequiresMtlsHost("a jwt-pop client assertion");
  if (clientAssertionType !== JWT_BEARER) throw entraErrors.unsupportedAssertionType(clientAssertionType);
  const jwt = decodeJwt(clientAssertion);
  if (isCertificateAssertion(jwt)) {
    await verifyCertificateAssertion(principal, clientAssertion, jwt, tenant, context, replays);
  } else {
    await verifyFederatedAssertion(principal, clientAssertion, jwt, context);
  }
  return "2";
}

/** Authenticates a request on the mTLS host; `tlsChain` is the client's certificates, leaf first. */
export async function authenticateOnMtlsHost(
  principal: Principal,
  credentials: PresentedCredentials,
  tenant: string,
  tlsChain: readonly X509Certificate[],
  popRequested: boolean,
  context: AuthenticationContext,
  replays: ReplayCache | undefined,
): Promise<AuthenticationMethod> {
  const tlsCertificate = tlsChain[0];
  if (tlsCertificate === undefined) throw entraErrors.clientCertificateMissing();
  const { clientSecret, clientAssertion, clientAssertionType } = credentials;
  if (clientSecret !== undefined) throw entraErrors.mtlsCredentialNotSupported("a client secret");
  if (principal.kind === "managedIdentity") {
    if (clientAssertion !== undefined) {
      throw entraErrors.mtlsCredentialNotSupported("a client assertion from a managed identity");
    }
    checkBindingCertificate(principal, tlsCertificate, context);
    return "2";
  }
  if (clientAssertion === undefined) {
    // Certificate only (mtls_pop with a certificate credential, or MSAL.NET 4.84.0/4.84.1 Bearer).
    const registration = findTlsRegistration(principal, tlsChain, context);
    if (registration === undefined) throw entraErrors.certificateNotRegistered(hexSha256(tlsCertificate), principal.clientId);
    checkRegistrationWindow(registration, context.clock());
    return "2";
  }
  if (clientAssertionType === undefined) throw entraErrors.missingParameter("client_assertion_type");
  const jwt = decodeJwt(clientAssertion);
  if (clientAssertionType === JWT_BEARER) {
    if (!isCertificateAssertion(jwt)) {
      throw entraErrors.mtlsCredentialNotSupported("a federated jwt-bearer assertion (send it as jwt-pop)");
    }
    const signer = await verifyCertificateAssertion(principal, clientAssertion, jwt, tenant, context, replays);
    if (!signer.raw.equals(tlsCertificate.raw)) {
      throw entraErrors.tlsCertificateMismatch(
        `The assertion was signed with certificate ${hexSha256(signer)}, the TLS certificate is ${hexSha256(tlsCertificate)}.`,
      );
    }
    return "2";
  }
  if (clientAssertionType === JWT_POP) {
    const cnf = jwt.payload["cnf"];
    const bound = typeof cnf === "object" && cnf !== null ? (cnf as Record<string, unknown>)["x5t#S256"] : undefined;
    if (typeof bound !== "string") {
      if (popRequested) throw entraErrors.popWithBearerAssertion();
      throw entraErrors.tlsCertificateMismatch("The jwt-pop assertion carries no cnf.x5t#S256 binding.");
    }
    const tlsX5t = createHash("sha256").update(tlsCertificate.raw).digest("base64url");
    if (bound !== tlsX5t) {
      throw entraErrors.tlsCertificateMismatch(`The assertion is bound to x5t#S256 ${bound}, the TLS certificate is ${tlsX5t}.`);
    }
    await verifyFederatedAssertion(principal, clientAssertion, jwt, context);
    return "2";
  }
  throw entraErrors.unsupportedAssertionType(clientAssertionType);
}

function checkSecret(principal: Principal, presented: string, now: number): void {
  const presentedHash = createHash("sha256").update(presented).digest();
  const match = principal.secrets.find((secret) =>
    timingSafeEqual(createHash("sha256").update(secret.value).digest(), presentedHash),
  );
  if (match === undefined) throw entraErrors.invalidSecret(principal.clientId);
  if (match.expiresOn !== undefined && match.expiresOn.getTime() <= now) throw entraErrors.expiredSecret(principal.clientId);
}

function decodeJwt(jwt: string): DecodedJwt {
  const parts = jwt.split(".");
  if (parts.length !== 3) throw entraErrors.malformedAssertion("A JWS compact serialization has three parts.");
  const parse = (part: string, what: string): Record<string, unknown> => {
    try {
      const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
      if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // reported below
    }
    throw entraErrors.malformedAssertion(`The ${what} is not a base64url JSON object.`);
  };
  return { header: parse(parts[0] ?? "", "header"), payload: parse(parts[1] ?? "", "payload") };
}

/**
 * A certificate assertion is issued by the client itself (`iss` is its client id, a GUID); a
 * federated one by an identity provider, whose issuer is an https URL. The header cannot tell
 * them apart: Entra's own tokens carry `x5t` too.
 */
function isCertificateAssertion(jwt: DecodedJwt): boolean {
  const issuer = jwt.payload["iss"];
  return !(typeof issuer === "string" && /^https?:\/\//i.test(issuer));
}

/** `exp`, `nbf`, `iat`: numbers, or numeric strings as MSAL.NET writes them. */
function numericClaim(payload: Record<string, unknown>, name: string): number | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  const number = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(number)) throw entraErrors.malformedAssertion(`The ${name} claim is not a number.`);
  return number;
}

function audienceList(payload: Record<string, unknown>): string[] {
  const aud = payload["aud"];
  if (typeof aud === "string") return [aud];
  if (Array.isArray(aud)) return aud.filter((value): value is string => typeof value === "string");
  return [];
}

function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();
}

/** Base64 DER certificates of the `x5c` header: an array (msal-node) or a single string (MSAL.NET). */
function x5cCertificates(header: Record<string, unknown>): X509Certificate[] {
  const x5c = header["x5c"];
  const values = typeof x5c === "string" ? [x5c] : Array.isArray(x5c) ? x5c : [];
  try {
    return values.map((value) => {
      if (typeof value !== "string") throw new TypeError("not a string");
      return new X509Certificate(Buffer.from(value, "base64"));
    });
  } catch {
    throw entraErrors.malformedAssertion("The x5c header does not hold base64 DER certificates.");
  }
}

async function verifyCertificateAssertion(
  principal: Principal,
  assertion: string,
  jwt: DecodedJwt,
  tenant: string,
  context: AuthenticationContext,
  replays: ReplayCache | undefined,
): Promise<X509Certificate> {
  const { header, payload } = jwt;
  const alg = header["alg"];
  if (alg !== "PS256" && alg !== "RS256") {
    throw entraErrors.assertionSignatureInvalid(`The algorithm '${String(alg)}' is not supported; use PS256 or RS256.`);
  }
  const x5c = x5cCertificates(header);
  const signer = findAssertionCertificate(principal, header, x5c, context);
  if (signer === undefined) {
    throw entraErrors.certificateNotRegistered(presentedThumbprint(header, x5c), principal.clientId);
  }
  if (signer.registration !== undefined) checkRegistrationWindow(signer.registration, context.clock());
  const publicKey: KeyObject = createPublicKey(signer.certificate.publicKey.export({ type: "spki", format: "pem" }));
  try {
    await compactVerify(assertion, publicKey, { algorithms: ["PS256", "RS256"] });
  } catch {
    throw entraErrors.assertionSignatureInvalid("The signature does not verify with the registered certificate's key.");
  }
  if (payload["iss"] !== principal.clientId || payload["sub"] !== principal.clientId) throw entraErrors.assertionClientMismatch();
  const audiences = audienceList(payload);
  const accepted = context.audiences(tenant);
  if (!audiences.some((aud) => accepted.some((url) => sameUrl(aud, url)))) {
    throw entraErrors.assertionAudienceMismatch(audiences.join(", "));
  }
  const exp = checkTimes(payload, context);
  const jti = payload["jti"];
  if (typeof jti !== "string" || jti === "") throw entraErrors.malformedAssertion("The jti claim is missing.");
  if (replays !== undefined && !replays.remember(`${principal.clientId}|${jti}`, exp + context.skewSeconds, context.clock() / 1000)) {
    throw entraErrors.assertionSignatureInvalid(`The assertion was already used: jti '${jti}' was presented before.`);
  }
  return signer.certificate;
}

/** Checks `nbf`/`exp` with the allowed skew and the maximum lifetime; returns `exp`. */
function checkTimes(payload: Record<string, unknown>, context: AuthenticationContext): number {
  const nowMs = context.clock();
  const now = nowMs / 1000;
  const exp = numericClaim(payload, "exp");
  const nbf = numericClaim(payload, "nbf");
  const iat = numericClaim(payload, "iat");
  const at = (seconds: number | undefined) => (seconds === undefined ? "none" : new Date(seconds * 1000).toISOString());
  const detail = `assertion valid from ${at(nbf)}, expiry time of assertion ${at(exp)}`;
  if (exp === undefined) throw entraErrors.assertionTimeRange(new Date(nowMs), `${detail} (no exp claim)`);
  if (now > exp + context.skewSeconds) throw entraErrors.assertionTimeRange(new Date(nowMs), detail);
  if (nbf !== undefined && now < nbf - context.skewSeconds) throw entraErrors.assertionTimeRange(new Date(nowMs), detail);
  const start = nbf ?? iat ?? now;
  if (exp - start > MAX_ASSERTION_LIFETIME_SECONDS) {
    throw entraErrors.assertionTimeRange(new Date(nowMs), `${detail} (a lifetime over one hour is not accepted)`);
  }
  return exp;
}

interface AssertionSigner {
  readonly certificate: X509Certificate;
  readonly registration: ThumbprintCertificate | undefined;
}

function findAssertionCertificate(
  principal: Principal,
  header: Record<string, unknown>,
  x5c: readonly X509Certificate[],
  context: AuthenticationContext,
): AssertionSigner | undefined {
  const thumbprints = principal.certificates.filter((r): r is ThumbprintCertificate => r.kind === "thumbprint");
  const x5tS256 = header["x5t#S256"];
  const x5t = header["x5t"];
  let registration: ThumbprintCertificate | undefined;
  if (typeof x5tS256 === "string") {
    const hex = Buffer.from(x5tS256, "base64url").toString("hex").toUpperCase();
    registration = thumbprints.find((r) => r.thumbprintSha256 === hex);
  } else if (typeof x5t === "string") {
    const hex = Buffer.from(x5t, "base64url").toString("hex").toUpperCase();
    registration = thumbprints.find((r) => r.thumbprintSha1 === hex);
  }
  const leaf = x5c[0];
  if (registration === undefined && leaf !== undefined) {
    registration = thumbprints.find((r) => r.thumbprintSha256 === hexSha256(leaf));
  }
  if (registration !== undefined) {
    // An x5c that names another certificate than the thumbprint is a forgery attempt.
    if (leaf !== undefined && !leaf.raw.equals(registration.certificate.raw)) return undefined;
    return { certificate: registration.certificate, registration };
  }
  if (leaf !== undefined && matchesSubjectTrust(principal, x5c, context)) return { certificate: leaf, registration: undefined };
  return undefined;
}

function presentedThumbprint(header: Record<string, unknown>, x5c: readonly X509Certificate[]): string {
  const x5tS256 = header["x5t#S256"];
  if (typeof x5tS256 === "string") return Buffer.from(x5tS256, "base64url").toString("hex").toUpperCase();
  const x5t = header["x5t"];
  if (typeof x5t === "string") return Buffer.from(x5t, "base64url").toString("hex").toUpperCase();
  const leaf = x5c[0];
  return leaf === undefined ? "none" : hexSha256(leaf);
}

/** The registration that accepts the TLS client certificate (certificate-only authentication). */
function findTlsRegistration(
  principal: Principal,
  tlsChain: readonly X509Certificate[],
  context: AuthenticationContext,
): CertificateRegistration | undefined {
  const leaf = tlsChain[0];
  if (leaf === undefined) return undefined;
  const thumbprint = hexSha256(leaf);
  const byThumbprint = principal.certificates.find((r) => r.kind === "thumbprint" && r.thumbprintSha256 === thumbprint);
  if (byThumbprint !== undefined) return byThumbprint;
  if (!matchesSubjectTrust(principal, tlsChain, context)) return undefined;
  return principal.certificates.find((r) => r.kind === "subject");
}

/** Whether the chain's leaf matches one of the app's subject name trusts and chains to a trusted root. */
function matchesSubjectTrust(
  principal: Principal,
  chain: readonly X509Certificate[],
  context: AuthenticationContext,
): boolean {
  const leaf = chain[0];
  if (leaf === undefined) return false;
  const subject = normalizeDistinguishedName(leaf.subject);
  const issuer = normalizeDistinguishedName(leaf.issuer);
  const trusted = principal.certificates.some(
    (r) =>
      r.kind === "subject" &&
      normalizeDistinguishedName(r.subjectName) === subject &&
      (r.issuerName === undefined || normalizeDistinguishedName(r.issuerName) === issuer),
  );
  return trusted && chainsToTrustedRoot(leaf, chain.slice(1), context.trustedRoots, context.clock());
}

function isTimeValid(certificate: X509Certificate, now: number): boolean {
  return now >= Date.parse(certificate.validFrom) && now <= Date.parse(certificate.validTo);
}

function issuedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

function chainsToTrustedRoot(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now: number,
): boolean {
  let current = leaf;
  for (let depth = 0; depth < 6; depth += 1) {
    if (!isTimeValid(current, now)) return false;
    const root = roots.find((candidate) => issuedBy(current, candidate));
    if (root !== undefined) return isTimeValid(root, now);
    const next = intermediates.find((candidate) => !candidate.raw.equals(current.raw) && issuedBy(current, candidate));
    if (next === undefined) return false;
    current = next;
  }
  return false;
}

function checkRegistrationWindow(registration: CertificateRegistration, now: number): void {
  if (registration.kind !== "thumbprint") return;
  if (now > registration.expiresOn.getTime()) throw entraErrors.assertionSignatureInvalid("The key used is expired.");
  if (now < registration.notBefore.getTime()) throw entraErrors.assertionSignatureInvalid("The key used is not yet valid.");
}

/** A managed identity's TLS certificate must be a binding certificate that IMDS v2 issued to it. */
function checkBindingCertificate(principal: Principal, certificate: X509Certificate, context: AuthenticationContext): void {
  const commonName = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1];
  const issuedToIdentity =
    issuedBy(certificate, context.managedIdentityCa) && commonName?.toLowerCase() === principal.clientId.toLowerCase();
  if (!issuedToIdentity) throw entraErrors.certificateNotRegistered(hexSha256(certificate), principal.clientId);
  if (!isTimeValid(certificate, context.clock())) {
    throw entraErrors.assertionSignatureInvalid("The binding certificate is expired or not yet valid.");
  }
}

/**
 * Federated assertions (`jwt-bearer` on the login host, `jwt-pop` on the mTLS host): tokens
 * signed by the emulator's key whose issuer, subject and audience match one of the app's
 * federated credentials. Checked in Entra's order: issuer, signature, times, subject, audience.
 */
async function verifyFederatedAssertion(
  principal: Principal,
  assertion: string,
  jwt: DecodedJwt,
  context: AuthenticationContext,
): Promise<void> {
  const issuer = jwt.payload["iss"];
  const candidates = principal.federatedCredentials.filter((credential) => credential.issuer === issuer);
  if (candidates.length === 0) throw entraErrors.federatedIssuerMismatch(String(issuer));
  try {
    await context.tokens.verify(assertion);
  } catch {
    throw entraErrors.assertionSignatureInvalid(`The assertion is not signed by a key of issuer '${String(issuer)}'.`);
  }
  const nowMs = context.clock();
  const exp = numericClaim(jwt.payload, "exp");
  const nbf = numericClaim(jwt.payload, "nbf");
  const now = nowMs / 1000;
  if (exp === undefined || now > exp + context.skewSeconds || (nbf !== undefined && now < nbf - context.skewSeconds)) {
    const at = (seconds: number | undefined) => (seconds === undefined ? "none" : new Date(seconds * 1000).toISOString());
    throw entraErrors.assertionTimeRange(new Date(nowMs), `assertion valid from ${at(nbf)}, expiry time of assertion ${at(exp)}`);
  }
  const subject = jwt.payload["sub"];
  const bySubject = candidates.filter((credential) => credential.subject === subject);
  if (bySubject.length === 0) throw entraErrors.federatedSubjectMismatch(String(subject), String(issuer));
  const audiences = audienceList(jwt.payload);
  const matched = bySubject.some((credential) => (credential.audiences ?? []).some((aud) => audiences.includes(aud)));
  if (!matched) throw entraErrors.federatedAudienceMismatch(audiences.join(", "));
}

function hexSha256(certificate: X509Certificate): string {
  return createHash("sha256").update(certificate.raw).digest("hex").toUpperCase();
}
