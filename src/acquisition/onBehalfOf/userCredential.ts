/**
 * The `TokenCredential` that `BoundClientCredential#onBehalfOf` hands out: one per incoming
 * request, holding the user's token, sharing the app credential's entries, connections and caches.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";

/** Gets a token on behalf of the user this credential was made for. */
export type GetUserToken = (scopes: string | string[], options: GetTokenOptions | undefined) => Promise<AccessToken>;

/** A per-request credential; it never shows the user's token (`toJSON`, `util.inspect`). */
export class OnBehalfOfUserCredential implements TokenCredential {
  readonly #getToken: GetUserToken;
  readonly #clientId: string;

  constructor(getToken: GetUserToken, clientId: string) {
    this.#getToken = getToken;
    this.#clientId = clientId;
  }

  /** A token for `scopes` on behalf of the user, from the app credential's user-token cache while fresh. */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    return this.#getToken(scopes, options);
  }

  /** A secret-free description. */
  toJSON(): Record<string, unknown> {
    return { clientId: this.#clientId, userAssertion: "[REDACTED]" };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `OnBehalfOfUserCredential ${JSON.stringify(this.toJSON())}`;
  }
}
