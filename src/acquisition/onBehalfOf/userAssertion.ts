/**
 * The user's token of an On-Behalf-Of request: kept as a secret, named by its SHA-256 only.
 * msal-node keys its On-Behalf-Of cache entries by a SHA-256 of the assertion the same way
 * (`OnBehalfOfClient.userAssertionHash`); MSAL.NET by `UserAssertion.AssertionHash`.
 */
import { createHash } from "node:crypto";
import { BoundCredentialConfigurationError } from "../../errors.ts";
import { SecretValue } from "../../sources/types.ts";
import type { RequestKind } from "../types.ts";

/** base64url SHA-256 of a user's token. */
export function userAssertionHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("base64url");
}

/**
 * The request kind of an On-Behalf-Of request for `token`, checked early: a missing or blank
 * token, or one that is not a JWT, would only fail at Entra.
 *
 * @param where - the option or argument that holds the token, for the error message
 * @throws BoundCredentialConfigurationError naming `where`; the message never contains the token
 */
export function onBehalfOfKind(token: unknown, where: string): Extract<RequestKind, { grant: "on_behalf_of" }> {
  if (typeof token !== "string" || token.trim() === "") {
    throw new BoundCredentialConfigurationError(
      "BCC_MISSING_FIELD",
      where,
      "The user's token is missing or empty.",
      "Pass the access token the web API received (the Bearer token of the incoming request, without 'Bearer ').",
    );
  }
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((part) => part === "" || !/^[A-Za-z0-9_-]+$/.test(part))) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_VALUE",
      where,
      `The user's token is not a JWT (a JWS compact serialization of three base64url parts); it has ${parts.length} part(s) and ${token.length} characters.`,
      "Pass the access token the web API received, without the 'Bearer ' prefix.",
    );
  }
  return { grant: "on_behalf_of", userAssertion: new SecretValue(token), userAssertionHash: userAssertionHash(token) };
}
