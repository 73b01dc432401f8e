import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { LoadedCertificate } from "../sources/loadedCertificate.ts";
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
