/**
 * Client assertions signed by a key that stays in a token: the JWS compact serialization of RFC 7515
 * section 7.1, with the signature made by the token (PS256, RFC 7518 section 3.5). jose signs with
 * a `KeyObject` only, which a token key has none of.
 */
import type { TokenKey } from "../loadedCertificate.ts";

/** `base64url(header) . base64url(claims) . base64url(signature)`, the signature by `key`. */
export async function signCompactJws(header: Readonly<Record<string, unknown>>, claims: Readonly<Record<string, unknown>>, key: Pick<TokenKey, "signPs256">): Promise<string> {
  const signingInput = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  const signature = await key.signPs256(Buffer.from(signingInput, "ascii"));
  return `${signingInput}.${signature.toString("base64url")}`;
}
