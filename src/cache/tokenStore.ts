import type { KeptValues } from "./singleFlight.ts";

/** A token as the cache keeps it. */
export interface CachedToken {
  /** The access token. Never log it. */
  readonly token: string;
  /** ms since epoch. */
  readonly expiresOnTimestamp: number;
  /** ms since epoch; a refresh is attempted from then on. */
  readonly refreshAfterTimestamp: number;
}

/** How many tokens the first level keeps unless told otherwise. */
export const DEFAULT_MAX_CACHED_TOKENS = 10_000;

interface Slot {
  readonly token: CachedToken;
  /** Read since it was last passed over by eviction: it gets a second chance. */
  used: boolean;
}

/**
 * The first level of the token cache: in memory, synchronous, bounded. Beyond `maxEntries` the
 * least recently used token goes, approximated by the "second chance" (CLOCK) policy so that a read
 * only sets a flag instead of reordering a list — the hot path of `getToken` reads this store on
 * every call. Expired tokens are pruned as new ones arrive.
 */
export class MemoryTokenStore implements KeptValues<CachedToken> {
  readonly #slots = new Map<string, Slot>();
  readonly #now: () => number;
  readonly #maxEntries: number;
  #writesSincePrune = 0;

  /**
   * @param now - the clock, ms since epoch
   * @param maxEntries - how many tokens are kept at most (at least 1)
   */
  constructor(now: () => number, maxEntries: number = DEFAULT_MAX_CACHED_TOKENS) {
    this.#now = now;
    this.#maxEntries = Math.max(1, Math.floor(maxEntries));
  }

  get(key: string): CachedToken | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    slot.used = true;
    return slot.token;
  }

  set(key: string, token: CachedToken): void {
    const slot = this.#slots.get(key);
    if (slot !== undefined) {
      // A replaced token keeps its place, as a read would.
      this.#slots.set(key, { token, used: true });
      return;
    }
    // Amortised pruning keeps a long-lived process with many short-lived scopes from growing.
    if (++this.#writesSincePrune >= 256) {
      this.#writesSincePrune = 0;
      const now = this.#now();
      for (const [k, s] of this.#slots) if (s.token.expiresOnTimestamp <= now) this.#slots.delete(k);
    }
    if (this.#slots.size >= this.#maxEntries) this.#evictOne();
    this.#slots.set(key, { token, used: false });
  }

  delete(key: string): void {
    this.#slots.delete(key);
  }

  /** How many tokens are held. */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * Drops the oldest token not read since it was last passed over; a token that was read goes to
   * the back once, its flag cleared. Ends within two passes, as every pass clears the flags it meets.
   */
  #evictOne(): void {
    for (const [key, slot] of this.#slots) {
      this.#slots.delete(key);
      if (!slot.used) return;
      slot.used = false;
      this.#slots.set(key, slot);
    }
  }
}
