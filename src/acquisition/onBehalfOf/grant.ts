/**
 * The grant fields of a token request body, one function per grant. Client authentication
 * (secret, `jwt-bearer` or `jwt-pop` assertion, TLS certificate) is added by the caller and is the
 * same for every grant: Entra authenticates the confidential client of an On-Behalf-Of request
 * exactly as it does for client credentials (Microsoft identity platform, "OAuth 2.0 On-Behalf-Of
 * flow"; MSAL.NET sends both grants through one mTLS path since its 4.84.2).
 */
import type { RequestKind } from "../types.ts";

/** RFC 7523 §2.1: the grant type of On-Behalf-Of. */
export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** `client_credentials`: the app's own token. `client_info=2` as MSAL.NET sends for app tokens. */
function clientCredentialsFields(): Record<string, string> {
  return { grant_type: "client_credentials", client_info: "2" };
}

/**
 * On-Behalf-Of: the user's token as `assertion`, `requested_token_use=on_behalf_of`, and
 * `client_info=1` as msal-node's `OnBehalfOfClient` and MSAL.NET send for user flows.
 */
function onBehalfOfFields(kind: Extract<RequestKind, { grant: "on_behalf_of" }>): Record<string, string> {
  return {
    grant_type: JWT_BEARER_GRANT,
    requested_token_use: "on_behalf_of",
    assertion: kind.userAssertion.reveal(),
    client_info: "1",
  };
}

/** The grant fields of a request of `kind`. */
export function grantFields(kind: RequestKind): Record<string, string> {
  switch (kind.grant) {
    case "client_credentials":
      return clientCredentialsFields();
    case "on_behalf_of":
      return onBehalfOfFields(kind);
  }
}
