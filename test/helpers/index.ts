/**
 * The test doubles every area shares: one clock that moves only when told, one sleep that records
 * its delays and returns at once, one deferred promise. They replace time and waiting only; nothing
 * of the library is replaced.
 */
import {
  clockOption,
  environmentOption,
  loggerOption,
  regionCacheOption,
  retryOption,
  type Environment,
  type RuntimeSeams,
} from "../../src/runtime.ts";
import type { CredentialLogger } from "../../src/logging.ts";
import type { RegionCache } from "../../src/transport/region.ts";
import type { TokenClientRetryOptions } from "../../src/transport/tokenClient.ts";

/** A clock the test moves by hand; starts at the real time, so assertions signed now stay valid. */
export class TestClock {
  #now: number;
  constructor(start: number = Date.now()) {
    this.#now = start;
  }
  /** The current time, ms since epoch; a bound function, to pass as a `now` dependency. */
  readonly now = (): number => this.#now;
  /** Sets the time. */
  set(value: number): void {
    this.#now = value;
  }
  /** Moves the time forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
}

/** A sleep that returns at once and records each delay it was asked for. */
export interface RecordingSleep {
  readonly delays: number[];
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Forgets the delays recorded so far. */
  reset(): void;
}

/** A {@link RecordingSleep}; it honours an aborted signal as the real sleep does. */
export function recordingSleep(): RecordingSleep {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      delays.push(ms);
    },
    reset() {
      delays.length = 0;
    },
  };
}

/** A promise the test settles by hand. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/** A {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The dependencies a test replaces, by name. */
export interface Seams {
  readonly now?: () => number;
  readonly env?: Environment;
  readonly retry?: TokenClientRetryOptions;
  readonly logger?: CredentialLogger;
  readonly regionCache?: RegionCache;
}

/** `options` with `seams` under the symbol keys the credential reads them from. */
export function withSeams<T extends object>(options: T, seams: Seams): T & RuntimeSeams {
  return {
    ...options,
    ...(seams.now === undefined ? {} : { [clockOption]: seams.now }),
    ...(seams.env === undefined ? {} : { [environmentOption]: seams.env }),
    ...(seams.retry === undefined ? {} : { [retryOption]: seams.retry }),
    ...(seams.logger === undefined ? {} : { [loggerOption]: seams.logger }),
    ...(seams.regionCache === undefined ? {} : { [regionCacheOption]: seams.regionCache }),
  };
}
