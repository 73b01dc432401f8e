/**
 * The second level of the token cache: a store shared by every replica of a service (Redis, or any
 * store a user plugs in), behind the in-memory first level. Its operations may be asynchronous, as
 * undici's cache stores' are (`lib/cache/memory-cache-store.js`: `get` may return a promise); the
 * credential gives each one a small time budget and carries on without it when the store is slow or
 * down, so a store never fails a `getToken`.
 */

/** A token as the second level keeps it. A store must seal it: it holds a bearer token. */
export interface DistributedCacheRecord {
  /** The access token. Never log it, never store it in clear. */
  readonly token: string;
  /** ms since epoch. */
  readonly expiresOnTimestamp: number;
  /** ms since epoch; a refresh is attempted from then on. */
  readonly refreshAfterTimestamp: number;
}

/** What every operation of a {@link DistributedTokenCache} is given. */
export interface DistributedCacheOperationOptions {
  /** Aborted when the operation's time budget is spent or the caller went away. */
  readonly signal: AbortSignal;
}

/** A held fleet-wide lock: release it once the token is written (or the acquisition failed). */
export interface DistributedCacheLock {
  /** Releases the lock if this holder still holds it; never throws. */
  release(): Promise<void> | void;
}

/**
 * A shared store for tokens. Keys are built by the credential from the authority, tenant, client ID,
 * CAE and scopes (and, for On-Behalf-Of, a hash of the user assertion); they contain no secret but
 * do name the tenant and scopes, so a store that is readable by others should hash them.
 *
 * @public
 */
export interface DistributedTokenCache {
  /** The record for `key`, or undefined when there is none (or it cannot be read or trusted). */
  get(key: string, options: DistributedCacheOperationOptions): Promise<DistributedCacheRecord | undefined> | DistributedCacheRecord | undefined;
  /** Keeps `record` under `key` for `ttlMs`. */
  set(key: string, record: DistributedCacheRecord, options: DistributedCacheOperationOptions & { readonly ttlMs: number }): Promise<void> | void;
  /** Forgets `key`. */
  delete(key: string, options: DistributedCacheOperationOptions): Promise<void> | void;
  /**
   * Optional: takes a short lock for `key` so that one replica acquires a token for the fleet.
   * Resolves to the lock when taken, or to undefined when another holder has it.
   */
  tryLock?(key: string, options: DistributedCacheOperationOptions & { readonly ttlMs: number }): Promise<DistributedCacheLock | undefined>;
}

/**
 * How the credential uses a {@link DistributedTokenCache}.
 *
 * @public
 */
export interface DistributedCacheOptions {
  /** The time budget of each operation, in ms; beyond it the store counts as a miss. Default 50. */
  readonly operationTimeoutMs?: number;
  /** How long the fleet-wide acquisition lock is held at most, in ms. Default 10,000. */
  readonly lockTtlMs?: number;
}
