/**
 * The cache options of the credential (`maxCachedTokens`, `distributedCache`,
 * `distributedCacheOptions`), checked as the rest of the options are: early, naming the option
 * and the fix.
 */
import { BoundCredentialConfigurationError } from "../errors.ts";
import type { DistributedTokenCache } from "./distributedCache.ts";

/** How the token cache is set up. */
export interface CacheSettings {
  readonly maxEntries: number | undefined;
  readonly distributed: DistributedTokenCache | undefined;
  readonly operationTimeoutMs: number | undefined;
  readonly lockTtlMs: number | undefined;
}

const MAX_OPERATION_TIMEOUT_MS = 60_000;
const MAX_LOCK_TTL_MS = 10 * 60_000;

/**
 * The cache settings of `input` (the options object, of any shape; an input that is not an object
 * has none, and its own validation reports it).
 *
 * @throws BoundCredentialConfigurationError naming the option that is wrong
 */
export function readCacheSettings(input: unknown): CacheSettings {
  const options = typeof input === "object" && input !== null ? (input as Record<string, unknown>) : {};
  const maxEntries = options["maxCachedTokens"];
  if (maxEntries !== undefined && (typeof maxEntries !== "number" || !Number.isSafeInteger(maxEntries) || maxEntries < 1)) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_VALUE",
      "maxCachedTokens",
      "must be a whole number of tokens, at least 1.",
      "Give the most tokens to keep in memory, such as 10000, or leave it out for that default.",
    );
  }
  const distributed = options["distributedCache"];
  if (distributed !== undefined && !isStore(distributed)) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_TYPE",
      "distributedCache",
      "must be an object with get, set and delete methods (and optionally tryLock).",
      "Pass a DistributedTokenCache, such as the one createRedisTokenCache returns, or leave it out.",
    );
  }
  const tuning = options["distributedCacheOptions"];
  if (tuning !== undefined && (tuning === null || typeof tuning !== "object" || Array.isArray(tuning))) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_TYPE",
      "distributedCacheOptions",
      "must be an object.",
      "Give { operationTimeoutMs, lockTtlMs } or leave it out.",
    );
  }
  const tuned = (tuning ?? {}) as Record<string, unknown>;
  return {
    maxEntries: maxEntries as number | undefined,
    distributed: distributed as DistributedTokenCache | undefined,
    operationTimeoutMs: milliseconds(tuned, "operationTimeoutMs", MAX_OPERATION_TIMEOUT_MS),
    lockTtlMs: milliseconds(tuned, "lockTtlMs", MAX_LOCK_TTL_MS),
  };
}

function isStore(value: unknown): value is DistributedTokenCache {
  if (value === null || typeof value !== "object") return false;
  const store = value as Record<string, unknown>;
  return (
    typeof store["get"] === "function" &&
    typeof store["set"] === "function" &&
    typeof store["delete"] === "function" &&
    (store["tryLock"] === undefined || typeof store["tryLock"] === "function")
  );
}

function milliseconds(tuning: Record<string, unknown>, name: string, max: number): number | undefined {
  const value = tuning[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_VALUE",
      `distributedCacheOptions.${name}`,
      `must be a number of milliseconds above 0 and at most ${max}.`,
      "Give a number of milliseconds, or leave it out for the default.",
    );
  }
  return value;
}
