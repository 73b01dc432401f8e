/**
 * Retry policies as pure functions, and one loop that applies them. The numbers are MSAL's
 * (wire-protocol §2.10, §5.3), so that this library is no more and no less insistent than the
 * official clients. Sleeping is injectable and abortable, so tests count attempts without waiting.
 */
import { TransportError } from "./errors.ts";

/** What one attempt produced: an HTTP status, or an error thrown before any status arrived. */
export type AttemptOutcome =
  | { readonly status: number; readonly retryAfterMs: number | undefined }
  | { readonly error: unknown };

/**
 * Decides whether to try again. `retriesSoFar` counts the retries already made (0 after the
 * first attempt); `first` is the outcome of the first attempt, which fixes some budgets.
 * Returns the delay before the next attempt, or undefined to stop.
 */
export interface RetryPolicy {
  readonly name: string;
  nextDelayMs(outcome: AttemptOutcome, retriesSoFar: number, first: AttemptOutcome): number | undefined;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The default {@link Sleep}: a timer that does not keep the process alive and stops on abort. */
export const sleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** The longest `Retry-After` that is honoured or reported; longer values are cut to this. */
export const RETRY_AFTER_CAP_MS = 60_000;

/**
 * Parses `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`,
 * capped at {@link RETRY_AFTER_CAP_MS}. Undefined when absent or unparsable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    // Only the three HTTP-date forms; Date.parse alone would read "-5" as a year.
    if (!/^[A-Za-z]{3}/.test(text) || !/\d{1,2}:\d{2}:\d{2}/.test(text)) return undefined;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  if (!Number.isFinite(ms)) return RETRY_AFTER_CAP_MS;
  return Math.min(Math.max(0, Math.ceil(ms)), RETRY_AFTER_CAP_MS);
}

function isTimeout(outcome: AttemptOutcome): boolean {
  return "error" in outcome && outcome.error instanceof TransportError && outcome.error.kind === "timeout";
}

function statusOf(outcome: AttemptOutcome): number | undefined {
  return "status" in outcome ? outcome.status : undefined;
}

/** Tunables of the IMDS policies; the defaults are MSAL's. */
export interface ImdsRetryOptions {
  /** Retries after a first status other than 410. Default 3. */
  maxRetries?: number;
  /** Retries when the first status was 410 (IMDS is updating). Default 7. */
  goneMaxRetries?: number;
  /** First delay; each later one doubles up to `maxDelayMs`. Default 1000. */
  baseDelayMs?: number;
  /** Default 4000. */
  maxDelayMs?: number;
  /** Delay after a 410. Default 10 000. */
  goneDelayMs?: number;
}

/** MSAL's exponential schedule: 1 s, 2 s, 4 s, 4 s, … (`min(2^(n-1)·2·base, max)`, first `base`). */
export function exponentialDelayMs(retriesSoFar: number, baseDelayMs = 1000, maxDelayMs = 4000): number {
  if (retriesSoFar <= 0) return baseDelayMs;
  return Math.min(2 ** (retriesSoFar - 1) * 2 * baseDelayMs, maxDelayMs);
}

function imdsLike(name: string, retryable: ReadonlySet<number>, options: ImdsRetryOptions): RetryPolicy {
  const maxRetries = options.maxRetries ?? 3;
  const goneMaxRetries = options.goneMaxRetries ?? 7;
  const baseDelayMs = options.baseDelayMs ?? 1000;
  const maxDelayMs = options.maxDelayMs ?? 4000;
  const goneDelayMs = options.goneDelayMs ?? 10_000;
  return {
    name,
    nextDelayMs(outcome, retriesSoFar, first) {
      // The budget is fixed by the first answer, as MSAL does: a 410 first means IMDS is updating.
      const budget = statusOf(first) === 410 ? goneMaxRetries : maxRetries;
      if (retriesSoFar >= budget) return undefined;
      const status = statusOf(outcome);
      const retry = status === undefined ? isTimeout(outcome) : retryable.has(status) || (status >= 500 && status <= 599);
      if (!retry) return undefined;
      return status === 410 ? goneDelayMs : exponentialDelayMs(retriesSoFar, baseDelayMs, maxDelayMs);
    },
  };
}

/**
 * IMDS token, `getplatformmetadata` and `issuecredential` requests: retry on 404, 408, 410, 429,
 * 5xx and timeouts; 3 retries (1 s, 2 s, 4 s), or 7 retries of 10 s when the first answer was 410.
 * A refused or unreachable connection is not retried: IMDS is absent, and the caller should know
 * at once.
 */
export function imdsRetryPolicy(options: ImdsRetryOptions = {}): RetryPolicy {
  return imdsLike("imds", new Set([404, 408, 410, 429]), options);
}

/** IMDS probes (v1/v2 detection): as {@link imdsRetryPolicy} but a 404 is an answer, not a fault. */
export function imdsProbeRetryPolicy(options: ImdsRetryOptions = {}): RetryPolicy {
  return imdsLike("imds-probe", new Set([408, 410, 429]), options);
}

/** Region discovery (`/metadata/instance/compute`): as {@link imdsRetryPolicy} without 404 and 408. */
export function regionDiscoveryRetryPolicy(options: ImdsRetryOptions = {}): RetryPolicy {
  return imdsLike("region-discovery", new Set([410, 429]), options);
}

/** Tunables of {@link managedIdentityRetryPolicy}. */
export interface ManagedIdentityRetryOptions {
  /** Default 3. */
  maxRetries?: number;
  /** Default 1000. */
  delayMs?: number;
}

/**
 * The other managed identity hosts (App Service, Arc, Cloud Shell, Service Fabric, Machine
 * Learning): retry on 404, 408, 429, 500, 503, 504 and timeouts, 3 times, after 1 s or the
 * `Retry-After` when that is longer.
 */
export function managedIdentityRetryPolicy(options: ManagedIdentityRetryOptions = {}): RetryPolicy {
  const maxRetries = options.maxRetries ?? 3;
  const delayMs = options.delayMs ?? 1000;
  const retryable = new Set([404, 408, 429, 500, 503, 504]);
  return {
    name: "managed-identity",
    nextDelayMs(outcome, retriesSoFar) {
      if (retriesSoFar >= maxRetries) return undefined;
      if ("status" in outcome) {
        if (!retryable.has(outcome.status)) return undefined;
        return Math.max(delayMs, outcome.retryAfterMs ?? 0);
      }
      return isTimeout(outcome) ? delayMs : undefined;
    },
  };
}

/** Tunables of {@link stsRetryPolicy}. */
export interface StsRetryOptions {
  /** Default 1. */
  maxRetries?: number;
  /** Delay before retrying a 5xx without `Retry-After`, or a timeout. Default 1000. */
  baseDelayMs?: number;
  /**
   * A 429 or 5xx whose `Retry-After` is at most this long is retried once after that wait; a longer
   * one is not retried and is reported to the caller. Default 2000; 0 never waits on `Retry-After`.
   * Never more than {@link RETRY_AFTER_CAP_MS}.
   */
  maxRetryAfterWaitMs?: number;
  /**
   * When set, the delay doubles with each retry (`baseDelayMs`, `2·baseDelayMs`, …) up to this
   * long, as the Azure SDK's exponential retry policy does. Unset: every retry waits `baseDelayMs`.
   */
  maxDelayMs?: number;
}

/** The Azure SDK's `retryOptions`, as a credential takes them. */
export interface PipelineRetryOptionsLike {
  readonly maxRetries?: number | undefined;
  readonly retryDelayInMs?: number | undefined;
  readonly maxRetryDelayInMs?: number | undefined;
}

/**
 * The STS retry tunables for the Azure SDK's `retryOptions`: `maxRetries` retries, starting at
 * `retryDelayInMs` and doubling up to `maxRetryDelayInMs`, which also bounds the `Retry-After`
 * waited on. Fields left out keep MSAL's defaults.
 */
export function stsRetryOptionsFrom(options: PipelineRetryOptionsLike | undefined): StsRetryOptions {
  if (options === undefined) return {};
  return {
    ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
    ...(options.retryDelayInMs === undefined ? {} : { baseDelayMs: options.retryDelayInMs }),
    ...(options.maxRetryDelayInMs === undefined
      ? options.retryDelayInMs === undefined
        ? {}
        : { maxDelayMs: Math.max(options.retryDelayInMs, 2000) }
      : { maxDelayMs: options.maxRetryDelayInMs, maxRetryAfterWaitMs: options.maxRetryDelayInMs }),
  };
}

/**
 * Token endpoint requests. As MSAL.NET: one retry after 1 s on a 5xx without `Retry-After` or on a
 * timeout; no retry on other 4xx, on connection failures or TLS failures.
 *
 * One deliberate addition: a 429 or 5xx that carries a short `Retry-After` (≤ 2 s by default) is
 * retried once after exactly that wait, because the server said when to come back and the wait
 * is shorter than a caller's typical retry. A longer `Retry-After` is never slept on: the
 * response is surfaced with its `retryAfterMs` so the caller can back off without blocking a
 * `getToken` for up to a minute.
 */
export function stsRetryPolicy(options: StsRetryOptions = {}): RetryPolicy {
  const maxRetries = options.maxRetries ?? 1;
  const baseDelayMs = options.baseDelayMs ?? 1000;
  const maxRetryAfterWaitMs = Math.min(options.maxRetryAfterWaitMs ?? 2000, RETRY_AFTER_CAP_MS);
  const maxDelayMs = options.maxDelayMs;
  const delay = (retriesSoFar: number): number =>
    maxDelayMs === undefined ? baseDelayMs : Math.min(baseDelayMs * 2 ** retriesSoFar, maxDelayMs);
  return {
    name: "sts",
    nextDelayMs(outcome, retriesSoFar) {
      if (retriesSoFar >= maxRetries) return undefined;
      if (!("status" in outcome)) return isTimeout(outcome) ? delay(retriesSoFar) : undefined;
      const { status, retryAfterMs } = outcome;
      const serverError = status >= 500 && status <= 599;
      if (retryAfterMs !== undefined) {
        if (!serverError && status !== 429) return undefined;
        return retryAfterMs <= maxRetryAfterWaitMs ? retryAfterMs : undefined;
      }
      return serverError ? delay(retriesSoFar) : undefined;
    },
  };
}

/** What {@link withRetry} tells its observer before each retry. */
export interface RetryEvent {
  readonly policy: string;
  /** 1 for the first retry. */
  readonly retry: number;
  readonly delayMs: number;
  readonly outcome: AttemptOutcome;
}

/** Options of {@link withRetry}. */
export interface WithRetryOptions<T> {
  policy: RetryPolicy;
  /** How a value returned by an attempt reads to the policy (statuses are values, not errors). */
  outcomeOf: (value: T) => AttemptOutcome;
  sleep?: Sleep;
  signal?: AbortSignal;
  /** Called before each wait, for logging. */
  onRetry?: (event: RetryEvent) => void;
  /** The error to throw when `signal` aborts during a wait; default the signal's reason. */
  abortError?: () => unknown;
}

/**
 * Runs `attempt` until the policy says stop. Returns the last value, or rethrows the last error.
 *
 * @param attempt - receives the 0-based attempt number
 */
export async function withRetry<T>(attempt: (attemptNumber: number) => Promise<T>, options: WithRetryOptions<T>): Promise<T> {
  const wait = options.sleep ?? sleep;
  let first: AttemptOutcome | undefined;
  for (let retriesSoFar = 0; ; retriesSoFar++) {
    let outcome: AttemptOutcome;
    let value: T | undefined;
    let failed = false;
    let error: unknown;
    try {
      value = await attempt(retriesSoFar);
      outcome = options.outcomeOf(value);
    } catch (err) {
      failed = true;
      error = err;
      outcome = { error: err };
    }
    first ??= outcome;
    const delayMs = options.signal?.aborted === true ? undefined : options.policy.nextDelayMs(outcome, retriesSoFar, first);
    if (delayMs === undefined) {
      if (failed) throw error;
      return value as T;
    }
    options.onRetry?.({ policy: options.policy.name, retry: retriesSoFar + 1, delayMs, outcome });
    try {
      await wait(delayMs, options.signal);
    } catch (err) {
      throw options.signal?.aborted === true && options.abortError !== undefined ? options.abortError() : err;
    }
  }
}
