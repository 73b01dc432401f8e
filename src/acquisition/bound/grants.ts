/**
 * The grant part of a token request sent over mutual TLS, one function per request kind: adding a
 * grant to the bound path is adding its function here.
 */
import { BoundCredentialError } from "../../errors.ts";
import type { RequestKind } from "../types.ts";

/** A request kind this version cannot send yet. */
export class UnsupportedGrantError extends BoundCredentialError {
  constructor(grant: string) {
    super("BCC_UNSUPPORTED_GRANT", `The ${grant} grant is not supported by this version of bound-client-credential.`);
    this.name = "UnsupportedGrantError";
  }
}

/** The form fields that say what is asked for (`grant_type` and what that grant needs). */
export function grantFields(kind: RequestKind): Record<string, string> {
  switch (kind.grant) {
    case "client_credentials":
      return clientCredentialsFields();
    case "on_behalf_of":
      throw new UnsupportedGrantError(kind.grant);
  }
}

/** RFC 6749 §4.4.2: `grant_type=client_credentials`; the scope and credential are added by the caller. */
function clientCredentialsFields(): Record<string, string> {
  return { grant_type: "client_credentials" };
}
