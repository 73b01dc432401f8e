import type { SecretValue } from "../sources/types.ts";

/**
 * What is asked for: a token for the application itself (the client credentials grant, RFC 6749
 * §4.4), or — next — a token on behalf of the user whose assertion is given (the On-Behalf-Of grant,
 * `urn:ietf:params:oauth:grant-type:jwt-bearer` with `requested_token_use=on_behalf_of`). Each
 * acquisition path turns a kind into its request in one module: the mutual TLS path into form
 * fields (`bound/grants.ts`), the msal-node path into an msal call (`unbound/msalAcquirer.ts`).
 */
export type RequestKind =
  | { readonly grant: "client_credentials" }
  | { readonly grant: "on_behalf_of"; readonly userAssertion: SecretValue; readonly userAssertionHash: string };

/** The client credentials kind; one frozen value, as it carries nothing. */
export const CLIENT_CREDENTIALS: RequestKind = Object.freeze({ grant: "client_credentials" });

/** One token request as the acquisition layer sees it, after tenant and scope resolution. */
export interface TokenRequest {
  /** What is asked for. */
  readonly kind: RequestKind;
  readonly scopes: readonly string[];
  readonly tenantId: string;
  /** A claims challenge (JSON) to pass on; bypasses the cache read. */
  readonly claims: string | undefined;
  readonly enableCae: boolean;
  readonly signal: AbortSignal;
  readonly timeoutMs: number | undefined;
  /** Sent as `client-request-id` and logged, to match Entra's sign-in logs. */
  readonly correlationId: string;
}

/** A token obtained from Entra. */
export interface AcquiredToken {
  /** The access token. Never log it. */
  readonly accessToken: string;
  readonly expiresOnTimestamp: number;
  /** Seconds after which the server advised a refresh, when it said so. */
  readonly refreshInSeconds: number | undefined;
  /** The token endpoint that issued it (for logs and the CLI). */
  readonly tokenEndpoint: string;
}
