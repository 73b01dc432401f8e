/**
 * The `TokenCredential` that `BoundClientCredential#onBehalfOf` hands out: one per incoming
 * request, holding the user's token, sharing the app credential's entries, connections and caches.
 */
import type { GetTokenOptions, TokenCredential } from "@azure/core-auth";
import type { BoundAccessToken } from "../../configuration/types.ts";

/** Gets a token on behalf of the user this credential was made for. */
export type GetUserToken = (scopes: string | string[], options: GetTokenOptions | undefined) => Promise<BoundAccessToken>;

/**
 * What `BoundClientCredential#onBehalfOf` returns: a `TokenCredential` for one user, sharing the
 * app credential's entries, connections and caches. It never shows the user's token (`toJSON`,
 * `util.inspect`).
 *
 * @public
 */
export class OnBehalfOfUserCredential implements TokenCredential {
  readonly #getToken: GetUserToken;
  readonly #clientId: string;

  /** @internal */
  constructor(getToken: GetUserToken, clientId: string) {
    this.#getToken = getToken;
    this.#clientId = clientId;
  }

  /** A token for `scopes` on behalf of the user, from the app credential's user-token cache while fresh. */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<BoundAccessToken> {
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
