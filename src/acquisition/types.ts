import type { LoadedCertificate } from "../sources/loadedCertificate.ts";
import type { SecretValue } from "../sources/types.ts";

/**
 * What is asked for: an app token (client credentials), or a token on behalf of the user whose
 * token the caller received (On-Behalf-Of, RFC 7523 §2.1 with `requested_token_use=on_behalf_of`).
 */
export type RequestKind =
  | { readonly grant: "client_credentials" }
  | {
      readonly grant: "on_behalf_of";
      /** The user's token. Only the token request body may reveal it. */
      readonly userAssertion: SecretValue;
      /** base64url SHA-256 of the user's token: what caches and logs may name instead. */
      readonly userAssertionHash: string;
    };

/** One token request as the acquisition layer sees it, after tenant and scope resolution. */
export interface TokenRequest {
  /** The grant, and for On-Behalf-Of the user's token. */
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
  /**
   * Ask for an `mtls_pop` token bound to the certificate of the TLS handshake, and return that
   * certificate with it: the inner leg of a bound OIDC federated credential. Bound entries only.
   */
  readonly proofOfPossession?: boolean;
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
  /** For an `mtls_pop` token: the certificate it is bound to (with its key). */
  readonly bindingCertificate?: LoadedCertificate;
}
