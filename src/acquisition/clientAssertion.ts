import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { LoadedCertificate } from "../sources/loadedCertificate.ts";

/** How long a client assertion we sign stays valid, as MSAL makes them. */
const ASSERTION_LIFETIME_SECONDS = 600;

/**
 * Signs a `jwt-bearer` client assertion with the certificate's key: PS256 (ES256 for an EC key) with
 * `x5t#S256`, and `x5c` when asked, `aud` the exact token endpoint URL it will be posted to.
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
  const alg = certificate.keyType === "ec" ? ecAlgorithm(certificate) : "PS256";
  return new SignJWT({})
    .setProtectedHeader({
      alg,
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

function ecAlgorithm(certificate: LoadedCertificate): "ES256" | "ES384" | "ES512" {
  const curve = certificate.privateKey.asymmetricKeyDetails?.namedCurve;
  if (curve === "secp384r1") return "ES384";
  if (curve === "secp521r1") return "ES512";
  return "ES256";
}
