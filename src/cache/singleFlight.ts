/**
 * One primitive for everything that is fetched once, shared while in flight, kept while fresh,
 * refreshed ahead of its end and served stale when a refresh fails: tokens, certificate material,
 * binding certificates, managed identity tokens.
 *
 * Two layers. {@link SingleFlight} shares one unit of work per key among concurrent callers, each of
 * whom may give up on its own. {@link RefreshAhead} keeps the results of such flights and decides,
 * per call, whether the kept value serves, must be refreshed (and may still serve if the refresh
 * fails) or must be replaced.
 *
 * The abort rule follows the one `fetch` callers expect: a caller's abort rejects that caller at
 * once with the signal's reason; the shared work is aborted only when every caller has gone, so one
 * impatient caller never fails the others.
 */
import { abortReason } from "../abortable.ts";

/** What the work of a flight can learn about its flight while it runs. */
export interface FlightState {
  /** Whether a newer flight of the same key replaced this one (its result is then not the latest). */
  readonly superseded: boolean;
}

/**
 * The work behind a flight; `signal` aborts once every caller has given up, `flight` tells whether a
 * newer flight has replaced it.
 */
export type FlightWork<V> = (signal: AbortSignal, flight: FlightState) => Promise<V>;

/** How a caller joins a flight. */
export interface FlightCallOptions {
  /** This caller's abort: it stops waiting at once; the work goes on while others wait. */
  readonly signal?: AbortSignal | undefined;
}

interface Flight<V> {
  readonly promise: Promise<V>;
  readonly controller: AbortController;
  /** Started by a refresh: what it returns was read after the refresh was asked for. */
  readonly fresh: boolean;
  /** Replaced by a newer flight of the same key: its result must not overwrite the newer one's. */
  readonly state: { superseded: boolean };
  waiters: number;
}

/**
 * Per key, at most one unit of work in flight; callers that arrive while it runs share it. A failed
 * flight is forgotten as it settles, so the next caller starts again.
 */
export class SingleFlight<K, V> {
  readonly #flights = new Map<K, Flight<V>>();

  /**
   * Joins the flight of `key`, or starts `work` as one.
   *
   * @param options.signal - rejects this caller at once on abort; the work itself is aborted only
   *   when no caller waits any more, and a caller arriving after that starts a new flight
   */
  run(key: K, work: FlightWork<V>, options?: FlightCallOptions): Promise<V> {
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return this.#wait(key, this.#flights.get(key) ?? this.#start(key, work, false), signal);
  }

  /**
   * A flight whose work starts after this call: joins a flight that was itself started by `fresh`,
   * otherwise starts one that replaces (supersedes) whatever is in flight for `key`.
   */
  fresh(key: K, work: FlightWork<V>, options?: FlightCallOptions): Promise<V> {
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const current = this.#flights.get(key);
    return this.#wait(key, current?.fresh === true ? current : this.#start(key, work, true), signal);
  }

  /** Whether work is in flight for `key`. */
  has(key: K): boolean {
    return this.#flights.has(key);
  }

  /** Whether the work in flight for `key` was started by {@link SingleFlight.fresh}. */
  isFresh(key: K): boolean {
    return this.#flights.get(key)?.fresh === true;
  }

  #start(key: K, work: FlightWork<V>, fresh: boolean): Flight<V> {
    const previous = this.#flights.get(key);
    if (previous !== undefined) previous.state.superseded = true;
    const controller = new AbortController();
    // Deferred by one tick, so that a synchronous throw in `work` is a rejection like any other.
    const state = { superseded: false };
    // The work starts at once (a request is on its way when `run` returns); a synchronous throw
    // is a rejection like any other.
    let promise: Promise<V>;
    try {
      promise = Promise.resolve(work(controller.signal, state));
    } catch (error) {
      promise = Promise.reject(error);
    }
    const flight: Flight<V> = { promise, controller, fresh, state, waiters: 0 };
    this.#flights.set(key, flight);
    const clear = (): void => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    promise.then(clear, clear);
    return flight;
  }

  #wait(key: K, flight: Flight<V>, signal: AbortSignal | undefined): Promise<V> {
    flight.waiters++;
    if (signal === undefined) {
      return flight.promise.finally(() => void flight.waiters--);
    }
    return new Promise<V>((resolve, reject) => {
      const onAbort = (): void => {
        flight.waiters--;
        if (flight.waiters === 0) {
          // Nobody waits any more: a caller arriving while the aborted work unwinds must start a
          // flight of its own instead of joining this one and inheriting its abort.
          if (this.#flights.get(key) === flight) this.#flights.delete(key);
          flight.controller.abort(abortReason(signal));
        }
        reject(abortReason(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          if (!signal.aborted) {
            flight.waiters--;
            resolve(value);
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

/**
 * How a kept value stands at a moment: `fresh` serves as it is; `stale` is due for a refresh but may
 * still serve if the refresh fails; `expired` must not serve.
 */
export type Freshness = "fresh" | "stale" | "expired";

/** What {@link RefreshAhead.get} did, for logs and tests. */
export type RefreshOutcome = "hit" | "miss" | "refresh" | "stale-served";

/** Where a {@link RefreshAhead} keeps its values; synchronous, so that a hit never waits. */
export interface KeptValues<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
}

/** How a {@link RefreshAhead} judges and keeps its values. */
export interface RefreshAheadOptions<V> {
  /** How `value` stands at `now` (ms since epoch). */
  readonly freshness: (value: V, now: number) => Freshness;
  /** The clock, ms since epoch. */
  readonly now: () => number;
  /** Where values are kept; a `Map` unless given (a size-bounded store, for example). */
  readonly store?: KeptValues<V> | undefined;
  /**
   * Told when a kept value is replaced by a different one or invalidated, so that what was opened
   * for it (a TLS agent for a certificate) can be closed.
   */
  readonly onDiscard?: ((value: V) => void) | undefined;
}

/** How a caller asks a {@link RefreshAhead}. */
export interface RefreshAheadCallOptions extends FlightCallOptions {
  /** Told why a due refresh failed when the stale value was served instead. */
  readonly onStaleServed?: ((error: unknown) => void) | undefined;
  /** Told what was done. */
  readonly onOutcome?: ((outcome: RefreshOutcome) => void) | undefined;
}

/** How a caller forces an acquisition with {@link RefreshAhead.refresh}. */
export interface RefreshCallOptions extends FlightCallOptions {
  /**
   * What sets this forced acquisition apart (for example a claims challenge): only callers with the
   * same variant share it, and it never joins (nor supersedes) the ordinary flight of the key.
   */
  readonly variant?: string | undefined;
}

/**
 * Values by key, each acquired by one shared flight, kept while fresh, refreshed when stale (the
 * caller waits for the refresh, and gets the stale value if the refresh fails while that value is
 * still not expired) and replaced when expired.
 */
export class RefreshAhead<V> {
  readonly #freshness: (value: V, now: number) => Freshness;
  readonly #now: () => number;
  readonly #store: KeptValues<V>;
  readonly #onDiscard: ((value: V) => void) | undefined;
  readonly #flights = new SingleFlight<string, V>();
  readonly #variants = new SingleFlight<string, V>();

  constructor(options: RefreshAheadOptions<V>) {
    this.#freshness = options.freshness;
    this.#now = options.now;
    this.#store = options.store ?? new Map<string, V>();
    this.#onDiscard = options.onDiscard;
  }

  /** The kept value of `key` when it is fresh, synchronously; never starts anything. */
  peek(key: string): V | undefined {
    const kept = this.#store.get(key);
    return kept !== undefined && this.#freshness(kept, this.#now()) === "fresh" ? kept : undefined;
  }

  /** The kept value of `key`, whatever its freshness. */
  kept(key: string): V | undefined {
    return this.#store.get(key);
  }

  /**
   * The value of `key`: the result of a {@link RefreshAhead.refresh} in flight; else the kept one
   * while fresh; when stale, the result of a refresh (or the stale
   * value, if the refresh fails and the value has not expired meanwhile — the caller's own abort
   * rejects instead); when expired or absent, the result of `acquire`. Concurrent callers share one
   * `acquire`.
   */
  get(key: string, acquire: FlightWork<V>, options?: RefreshAheadCallOptions): Promise<V> {
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (this.#flights.isFresh(key)) {
      // A refresh is under way because what is kept may predate a change: wait for it.
      return this.#flights.run(key, this.#keeping(key, acquire), options).then((value) => {
        options?.onOutcome?.("refresh");
        return value;
      });
    }
    const kept = this.#store.get(key);
    const standing = kept === undefined ? "expired" : this.#freshness(kept, this.#now());
    if (standing === "fresh") {
      options?.onOutcome?.("hit");
      return Promise.resolve(kept as V);
    }
    if (standing === "expired") {
      options?.onOutcome?.("miss");
      return this.#flights.run(key, this.#keeping(key, acquire), options);
    }
    return this.#refreshStale(key, kept as V, acquire, options);
  }

  async #refreshStale(key: string, kept: V, acquire: FlightWork<V>, options: RefreshAheadCallOptions | undefined): Promise<V> {
    try {
      const value = await this.#flights.run(key, this.#keeping(key, acquire), options);
      options?.onOutcome?.("refresh");
      return value;
    } catch (error) {
      if (options?.signal?.aborted === true) throw error;
      // Serve the old value only while it is still usable at this moment, not when the call began.
      if (this.#freshness(kept, this.#now()) !== "expired") {
        options?.onStaleServed?.(error);
        options?.onOutcome?.("stale-served");
        return kept;
      }
      throw error;
    }
  }

  /**
   * A value acquired after this call, never the kept one (what was kept may predate a change):
   * joins a refresh of `key` already in flight, else starts one that supersedes any ordinary
   * flight. With a `variant`, only callers of the same variant share it. The result is kept.
   */
  refresh(key: string, acquire: FlightWork<V>, options?: RefreshCallOptions): Promise<V> {
    const variant = options?.variant;
    if (variant === undefined) {
      return this.#flights.fresh(key, this.#keeping(key, acquire), options);
    }
    const flightKey = `${key}\u0000${variant}`;
    return this.#variants.run(flightKey, this.#keeping(key, acquire), options);
  }

  /** Keeps `value` for `key`, as a flight's result would be kept. */
  set(key: string, value: V): void {
    const previous = this.#store.get(key);
    this.#store.set(key, value);
    if (previous !== undefined && previous !== value) this.#onDiscard?.(previous);
  }

  /**
   * Forgets the value of `key` so that the next call acquires. With `rejected`, only if the kept
   * value is still that one: when several requests fail with one value, the first replacement is
   * not thrown away by the others.
   */
  invalidate(key: string, rejected?: V): void {
    const kept = this.#store.get(key);
    if (kept === undefined) return;
    if (rejected === undefined || kept === rejected) {
      this.#store.delete(key);
      this.#onDiscard?.(kept);
    }
  }

  /** Whether an acquisition of `key` is in flight (variants aside). */
  inFlight(key: string): boolean {
    return this.#flights.has(key);
  }

  /** `acquire`, keeping its result unless a newer flight of the key has superseded this one. */
  #keeping(key: string, acquire: FlightWork<V>): FlightWork<V> {
    return async (signal, flight) => {
      const value = await acquire(signal, flight);
      if (!flight.superseded) this.set(key, value);
      return value;
    };
  }
}
