/** A token as the cache keeps it. */
export interface CachedToken {
  /** The access token. Never log it. */
  readonly token: string;
  /** ms since epoch. */
  readonly expiresOnTimestamp: number;
  /** ms since epoch; a refresh is attempted from then on. */
  readonly refreshAfterTimestamp: number;
}

/**
 * Where tokens are kept. The default keeps them in memory; a shared second level (for example
 * Redis, for fleets of replicas) can implement the same three operations without touching
 * acquisition.
 */
export interface TokenStore {
  get(key: string): CachedToken | undefined;
  set(key: string, token: CachedToken): void;
  evict(key: string): void;
}

/**
 * The in-memory store: a `Map`, with expired entries pruned as new ones arrive and, when
 * `maxEntries` is given, the least recently used entry dropped beyond it (a web API calling
 * On-Behalf-Of sees an open-ended number of users).
 */
export class MemoryTokenStore implements TokenStore {
  readonly #entries = new Map<string, CachedToken>();
  readonly #now: () => number;
  readonly #maxEntries: number;
  #writesSincePrune = 0;

  constructor(now: () => number, options: { readonly maxEntries?: number } = {}) {
    this.#now = now;
    this.#maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY;
  }

  get(key: string): CachedToken | undefined {
    const token = this.#entries.get(key);
    if (token !== undefined && this.#maxEntries !== Number.POSITIVE_INFINITY) {
      // A Map iterates in insertion order: re-inserting marks the entry most recently used.
      this.#entries.delete(key);
      this.#entries.set(key, token);
    }
    return token;
  }

  set(key: string, token: CachedToken): void {
    this.#entries.delete(key);
    this.#entries.set(key, token);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    // Amortised pruning keeps a long-lived process with many short-lived scopes from growing.
    if (++this.#writesSincePrune >= 256) {
      this.#writesSincePrune = 0;
      const now = this.#now();
      for (const [k, t] of this.#entries) if (t.expiresOnTimestamp <= now) this.#entries.delete(k);
    }
  }

  evict(key: string): void {
    this.#entries.delete(key);
  }

  /** How many tokens are held. */
  get size(): number {
    return this.#entries.size;
  }
}
