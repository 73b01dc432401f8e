/** One token request as the acquisition layer sees it, after tenant and scope resolution. */
export interface TokenRequest {
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
