/**
 * Values that are produced remotely, kept until they are due for renewal, and renewed by one
 * producer for every caller: a binding certificate, a leg-1 token, an IMDS v1 token.
 */
import { abortable } from "../../abortable.ts";

/** A produced value and the times that govern its reuse, in ms since the epoch. */
export interface Renewable<V> {
  readonly value: V;
  /** Served without asking the producer until this time. */
  readonly refreshAt: number;
  /** After `refreshAt`, served when a renewal fails (if the failure allows it) until this time. */
  readonly staleUntil: number;
}

/** Per-call options of {@link RenewingCache.get}. */
export interface RenewingCacheCall {
  /** This caller stops waiting when it aborts; the shared production goes on for the others. */
  readonly signal?: AbortSignal | undefined;
  /** Whether a failed renewal may fall back to the value it was to replace; never when omitted. */
  readonly serveStaleOn?: (error: unknown) => boolean;
}

interface Held<V> {
  readonly renewable: Renewable<V>;
}

/**
 * Keyed values with single flight, renewal ahead of expiry and serve-stale: while a value is
 * before its `refreshAt` it is served as it is; after, the first caller starts the producer and
 * every caller that arrives while it runs shares it; a failed renewal serves the previous value
 * while it is before its `staleUntil` and the caller's `serveStaleOn` accepts the failure, and is
 * otherwise not remembered, so the next call tries again.
 */
export class RenewingCache<V> {
  readonly #now: () => number;
  readonly #onDiscard: ((value: V) => void) | undefined;
  readonly #held = new Map<string, Held<V>>();
  readonly #inFlight = new Map<string, Promise<V>>();

  /**
   * @param now - the clock, ms since the epoch
   * @param onDiscard - told when a value is replaced or invalidated, to release what was opened for it
   */
  constructor(now: () => number, onDiscard?: (value: V) => void) {
    this.#now = now;
    this.#onDiscard = onDiscard;
  }

  /** The value of `key`: the held one while fresh, else the result of the (shared) `produce`. */
  get(key: string, produce: () => Promise<Renewable<V>>, call: RenewingCacheCall = {}): Promise<V> {
    const held = this.#held.get(key);
    if (held !== undefined && this.#now() < held.renewable.refreshAt) {
      return call.signal?.aborted === true ? abortable(Promise.resolve(held.renewable.value), call.signal) : Promise.resolve(held.renewable.value);
    }
    let flight = this.#inFlight.get(key);
    if (flight === undefined) {
      flight = this.#produce(key, produce);
      this.#inFlight.set(key, flight);
    }
    const serveStaleOn = call.serveStaleOn;
    const answer =
      serveStaleOn === undefined
        ? flight
        : flight.catch((error: unknown) => {
            // Only the value the renewal was to replace, and only while nothing replaced or dropped it.
            const current = this.#held.get(key);
            if (current !== undefined && current === held && this.#now() < current.renewable.staleUntil && serveStaleOn(error)) {
              return current.renewable.value;
            }
            throw error;
          });
    return abortable(answer, call.signal);
  }

  /** The value held for `key` right now, fresh or not, without producing. */
  peek(key: string): V | undefined {
    return this.#held.get(key)?.renewable.value;
  }

  /**
   * Drops the value of `key` so that the next {@link RenewingCache.get} produces again. With
   * `only`, the value is dropped only if it is still that one: when several callers report the
   * same bad value, the first renewal is not thrown away by the others.
   */
  invalidate(key: string, only?: V): void {
    const held = this.#held.get(key);
    if (held === undefined) return;
    if (only !== undefined && held.renewable.value !== only) return;
    this.#held.delete(key);
    this.#onDiscard?.(held.renewable.value);
  }

  async #produce(key: string, produce: () => Promise<Renewable<V>>): Promise<V> {
    try {
      const renewable = await produce();
      const previous = this.#held.get(key)?.renewable.value;
      this.#held.set(key, { renewable });
      if (previous !== undefined && previous !== renewable.value) this.#onDiscard?.(previous);
      return renewable.value;
    } finally {
      this.#inFlight.delete(key);
    }
  }
}
