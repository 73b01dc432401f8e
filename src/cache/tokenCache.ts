import type { CachedToken, TokenStore } from "./tokenStore.ts";

/** Tokens are never handed out when they expire within this margin. */
export const EXPIRY_MARGIN_MS = 5 * 60_000;

/** Lifetimes above this get a refresh time at half-life when the server gave none. */
const HALF_LIFE_THRESHOLD_MS = 2 * 60 * 60_000;

/**
 * When to refresh a token obtained at `now`: the server's `refresh_in` when given, else half of a
 * lifetime over two hours, else the start of the expiry margin — never later than that margin.
 */
export function refreshAfter(now: number, expiresOn: number, refreshInSeconds: number | undefined): number {
  const latest = expiresOn - EXPIRY_MARGIN_MS;
  if (refreshInSeconds !== undefined) return Math.min(now + refreshInSeconds * 1000, latest);
  const lifetime = expiresOn - now;
  if (lifetime > HALF_LIFE_THRESHOLD_MS) return Math.min(now + lifetime / 2, latest);
  return Math.max(now, latest);
}

/** The parts of a request that decide which token may serve it. */
export interface CacheKeyParts {
  readonly tenantId: string;
  readonly scopes: readonly string[];
  readonly enableCae: boolean;
  /** On-Behalf-Of: the SHA-256 of the user's token, so that a user's token never serves another. */
  readonly userAssertionHash?: string | undefined;
}

/**
 * `tenant|cae|scope scope…` with scopes sorted, so the order a caller lists them in does not
 * matter; `|obo:<hash>` for a user's token. The key names no secret.
 */
export function cacheKey(parts: CacheKeyParts): string {
  const scopes = parts.scopes.length === 1 ? (parts.scopes[0] as string) : [...parts.scopes].sort().join(" ");
  const user = parts.userAssertionHash === undefined ? "" : `|obo:${parts.userAssertionHash}`;
  return `${parts.tenantId}|${parts.enableCae ? "cae" : "-"}|${scopes}${user}`;
}

/** What the cache reports about a lookup, for logs. */
export type CacheOutcome = "hit" | "miss" | "refresh" | "refresh-failed-served-cached" | "bypass";

/**
 * Serves tokens from a {@link TokenStore} and makes sure that, per key, only one acquisition is
 * in flight: concurrent callers of one cold scope share a single token request.
 */
export class TokenCache {
  readonly #store: TokenStore;
  readonly #now: () => number;
  readonly #inFlight = new Map<string, Flight>();

  constructor(store: TokenStore, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  /**
   * A token for `key`: from the store while it is fresh; otherwise from `acquire`, shared with
   * every concurrent caller of the same key. When a due refresh fails but the cached token is still
   * outside the expiry margin, that token is served and `onRefreshFailure` is told why.
   *
   * @param options.bypassRead - skip the read (a claims challenge): always acquire, then store the result
   * @param options.bypassKey - what tells bypassing requests apart (the claims): only requests with
   * the same one share an acquisition
   */
  async getOrAcquire(
    key: string,
    acquire: (signal: AbortSignal) => Promise<CachedToken>,
    options: {
      bypassRead: boolean;
      bypassKey?: string | undefined;
      signal?: AbortSignal | undefined;
      onRefreshFailure: (error: unknown) => void;
      onOutcome?: (outcome: CacheOutcome) => void;
    },
  ): Promise<CachedToken> {
    options.signal?.throwIfAborted();
    const cached = this.#store.get(key);
    const now = this.#now();
    const usable = cached !== undefined && cached.expiresOnTimestamp - EXPIRY_MARGIN_MS > now;
    if (options.bypassRead) {
      options.onOutcome?.("bypass");
      return this.#acquireOnce(`${key}|bypass|${options.bypassKey ?? ""}`, key, acquire, options.signal);
    }
    if (usable && cached.refreshAfterTimestamp > now) {
      options.onOutcome?.("hit");
      return cached;
    }
    if (!usable) {
      options.onOutcome?.("miss");
      return this.#acquireOnce(key, key, acquire, options.signal);
    }
    try {
      const fresh = await this.#acquireOnce(key, key, acquire, options.signal);
      options.onOutcome?.("refresh");
      return fresh;
    } catch (error) {
      // The caller's own abort is not a failed refresh: it rejects, as an abort does.
      if (options.signal?.aborted === true) throw error;
      // Only serve the old token while it is still outside the expiry margin at this moment.
      if (cached.expiresOnTimestamp - EXPIRY_MARGIN_MS > this.#now()) {
        options.onRefreshFailure(error);
        options.onOutcome?.("refresh-failed-served-cached");
        return cached;
      }
      throw error;
    }
  }

  /** Synchronous fast path: a fresh token for `key`, or undefined. */
  peek(key: string): CachedToken | undefined {
    const cached = this.#store.get(key);
    if (cached === undefined) return undefined;
    const now = this.#now();
    return cached.refreshAfterTimestamp > now && cached.expiresOnTimestamp - EXPIRY_MARGIN_MS > now ? cached : undefined;
  }

  /**
   * Joins the acquisition in flight for `flightKey`, or starts one. Each caller's abort signal
   * rejects that caller at once; the request itself is aborted only when every caller has gone.
   */
  #acquireOnce(
    flightKey: string,
    storeKey: string,
    acquire: (signal: AbortSignal) => Promise<CachedToken>,
    signal: AbortSignal | undefined,
  ): Promise<CachedToken> {
    signal?.throwIfAborted();
    let flight = this.#inFlight.get(flightKey);
    if (flight === undefined) {
      const controller = new AbortController();
      const promise = acquire(controller.signal).then((token) => {
        this.#store.set(storeKey, token);
        return token;
      });
      const clear = (): void => {
        if (this.#inFlight.get(flightKey) === started) this.#inFlight.delete(flightKey);
      };
      const started: Flight = { promise, controller, waiters: 0, abandon: clear };
      flight = started;
      this.#inFlight.set(flightKey, started);
      promise.then(clear, clear);
    }
    return this.#wait(flight, signal);
  }

  #wait(flight: Flight, signal: AbortSignal | undefined): Promise<CachedToken> {
    flight.waiters++;
    if (signal === undefined) {
      return flight.promise.finally(() => void flight.waiters--);
    }
    return new Promise<CachedToken>((resolve, reject) => {
      const onAbort = (): void => {
        flight.waiters--;
        if (flight.waiters === 0) {
          // Nobody waits any more: a caller arriving while the aborted request unwinds must start
          // a request of its own instead of joining this one and inheriting its abort.
          flight.abandon();
          flight.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(
        (token) => {
          signal.removeEventListener("abort", onAbort);
          if (!signal.aborted) {
            flight.waiters--;
            resolve(token);
          }
        },
        (error: unknown) => {
          signal.removeEventListener("abort", onAbort);
          if (!signal.aborted) {
            flight.waiters--;
            reject(error);
          }
        },
      );
    });
  }
}

interface Flight {
  readonly promise: Promise<CachedToken>;
  readonly controller: AbortController;
  waiters: number;
  /** Forgets this flight so that the next caller starts another; a no-op once it is replaced. */
  readonly abandon: () => void;
}
