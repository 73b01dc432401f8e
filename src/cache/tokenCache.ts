import { setTimeout as delay } from "node:timers/promises";
import type { CredentialLogger } from "../logging.ts";
import type { DistributedCacheLock, DistributedCacheRecord, DistributedTokenCache } from "./distributedCache.ts";
import { type Freshness, RefreshAhead, type RefreshOutcome } from "./singleFlight.ts";
import { type CachedToken, DEFAULT_MAX_CACHED_TOKENS, MemoryTokenStore } from "./tokenStore.ts";

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

/** How a cached token stands at `now`. */
export function tokenFreshness(token: CachedToken, now: number): Freshness {
  if (token.expiresOnTimestamp - EXPIRY_MARGIN_MS <= now) return "expired";
  return token.refreshAfterTimestamp > now ? "fresh" : "stale";
}

/**
 * The parts of a request that decide which token may serve it. A token store shared by several
 * applications (a second level) must never hand one's token to another, so the key names the
 * authority and the client as well as what was asked.
 */
export interface CacheKeyParts {
  /** The login host, `https://host[:port]`. */
  readonly authorityHost: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly enableCae: boolean;
  readonly scopes: readonly string[];
  /**
   * The request kind (`RequestKind` of the acquisition layer): for On-Behalf-Of, the hash of the
   * user assertion (never the assertion) tells users apart.
   */
  readonly kind: { readonly grant: "client_credentials" } | { readonly grant: "on_behalf_of"; readonly userAssertionHash: string };
}

/**
 * `v1|{host}/{tenant}|{client}|{cae}|{grant}|{scope scope…}` with scopes sorted, so the order a
 * caller lists them in does not matter. Nothing in it is a secret.
 */
export function cacheKey(parts: CacheKeyParts): string {
  const scopes = parts.scopes.length === 1 ? (parts.scopes[0] as string) : [...parts.scopes].sort().join(" ");
  const grant = parts.kind.grant === "on_behalf_of" ? `obo:${parts.kind.userAssertionHash}` : "cc";
  // join, not a template: a template of eleven pieces is a rope of eleven V8 cons strings (32 bytes
  // each, kept for the key's life and walked by every Map lookup); join makes one flat string.
  return ["v1", `${authorityOf(parts.authorityHost)}/${parts.tenantId}`, parts.clientId, parts.enableCae ? "cae" : "-", grant, scopes].join("|");
}

/** The last authority host seen and its key part: a credential has one, and URL parsing is not free. */
let lastAuthority: readonly [string, string] | undefined;

function authorityOf(authorityHost: string): string {
  if (lastAuthority !== undefined && lastAuthority[0] === authorityHost) return lastAuthority[1];
  let host: string;
  try {
    host = new URL(authorityHost).host.toLowerCase();
  } catch {
    host = authorityHost.toLowerCase();
  }
  lastAuthority = [authorityHost, host];
  return host;
}

/** What the cache reports about a lookup, for logs. */
export type CacheOutcome = "hit" | "miss" | "refresh" | "refresh-failed-served-cached" | "bypass";

const OUTCOMES: Readonly<Record<RefreshOutcome, CacheOutcome>> = {
  hit: "hit",
  miss: "miss",
  refresh: "refresh",
  "stale-served": "refresh-failed-served-cached",
};

/** Time budget of one second-level operation, unless configured. */
export const DEFAULT_DISTRIBUTED_OPERATION_TIMEOUT_MS = 50;
/** How long a fleet-wide acquisition lock is held at most, unless configured. */
export const DEFAULT_DISTRIBUTED_LOCK_TTL_MS = 10_000;
/** How often a replica that waits for another's acquisition looks at the second level. */
export const DISTRIBUTED_POLL_INTERVAL_MS = 75;
/** How long the second level is left alone after it failed. */
export const DISTRIBUTED_BACKOFF_MS = 1000;

/** How the token cache is built. */
export interface TokenCacheOptions {
  /** The clock, ms since epoch. */
  readonly now: () => number;
  /** The first level's bound; {@link DEFAULT_MAX_CACHED_TOKENS} unless given. */
  readonly maxEntries?: number | undefined;
  /** The optional second level, shared by replicas. */
  readonly distributed?: DistributedTokenCache | undefined;
  readonly operationTimeoutMs?: number | undefined;
  readonly lockTtlMs?: number | undefined;
  /** Waits between polls of the second level; a real timer unless given. */
  readonly sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  /** Where second-level outages are reported. */
  readonly logger?: CredentialLogger | undefined;
}

/**
 * Serves tokens from the first level (memory) and, behind it, an optional second level shared by
 * replicas; makes sure that, per key, only one acquisition is in flight in this process (and, with
 * a second level that can lock, in the fleet).
 */
export class TokenCache {
  readonly #store: MemoryTokenStore;
  readonly #now: () => number;
  readonly #tokens: RefreshAhead<CachedToken>;
  readonly #shared: SharedLevel | undefined;

  constructor(options: TokenCacheOptions) {
    this.#now = options.now;
    this.#store = new MemoryTokenStore(options.now, options.maxEntries ?? DEFAULT_MAX_CACHED_TOKENS);
    this.#tokens = new RefreshAhead<CachedToken>({ freshness: tokenFreshness, now: options.now, store: this.#store });
    this.#shared = options.distributed === undefined ? undefined : new SharedLevel(options.distributed, options);
  }

  /**
   * A token for `key`: from the first level while it is fresh; otherwise from the second level, or
   * from `acquire` — shared with every concurrent caller of the same key. When a due refresh fails
   * but the cached token is still outside the expiry margin, that token is served and
   * `onRefreshFailure` is told why.
   *
   * @param options.bypassRead - skip the read (a claims challenge): always acquire, then keep the
   *   result in the first level only
   * @param options.bypassKey - what tells bypassing requests apart (the claims): only requests with
   *   the same one share an acquisition
   */
  getOrAcquire(
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
    if (options.signal?.aborted === true) return Promise.reject(options.signal.reason);
    if (options.bypassRead) {
      options.onOutcome?.("bypass");
      return this.#tokens.refresh(key, acquire, { variant: options.bypassKey ?? "", signal: options.signal });
    }
    // A fresh first-level token answers without building the flight's options (calls with options,
    // such as an SDK client's abort signal, come here on every call).
    const fresh = this.peek(key);
    if (fresh !== undefined) {
      options.onOutcome?.("hit");
      return Promise.resolve(fresh);
    }
    const shared = this.#shared;
    const onOutcome = options.onOutcome;
    return this.#tokens.get(key, shared === undefined ? acquire : (signal) => shared.acquire(key, acquire, signal, this.#store.get(key)), {
      signal: options.signal,
      onStaleServed: options.onRefreshFailure,
      ...(onOutcome === undefined ? {} : { onOutcome: (o: RefreshOutcome) => onOutcome(OUTCOMES[o]) }),
    });
  }

  /** Synchronous fast path: a fresh first-level token for `key`, or undefined. */
  peek(key: string): CachedToken | undefined {
    const cached = this.#store.get(key);
    if (cached === undefined) return undefined;
    const now = this.#now();
    return cached.refreshAfterTimestamp > now && cached.expiresOnTimestamp - EXPIRY_MARGIN_MS > now ? cached : undefined;
  }

  /** How many tokens the first level holds. */
  get size(): number {
    return this.#store.size;
  }
}

/** A second-level operation that failed or ran out of time: treated as a miss or a skipped write. */
const UNAVAILABLE: unique symbol = Symbol("unavailable");

/**
 * The second level as the cache uses it: every operation within a time budget (the signal aborts
 * at the budget, and the cache stops waiting even if the store ignores it), failures swallowed,
 * logged once per outage, and the store left alone for a second after each failure.
 */
class SharedLevel {
  readonly #store: DistributedTokenCache;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #lockTtlMs: number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #logger: CredentialLogger | undefined;
  #downUntil = 0;
  #outage = false;

  constructor(store: DistributedTokenCache, options: TokenCacheOptions) {
    this.#store = store;
    this.#now = options.now;
    this.#timeoutMs = options.operationTimeoutMs ?? DEFAULT_DISTRIBUTED_OPERATION_TIMEOUT_MS;
    this.#lockTtlMs = options.lockTtlMs ?? DEFAULT_DISTRIBUTED_LOCK_TTL_MS;
    this.#sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, signal === undefined ? {} : { signal }));
    this.#logger = options.logger;
  }

  /**
   * The token for `key` when the first level had none fresh: the second level's when it is fresh;
   * else one acquired under the fleet-wide lock (or without, for a store that cannot lock) and
   * written to the second level; while another replica holds the lock, `kept` (still valid) is
   * served at once, or the second level is polled until the holder has written or the lock expired.
   */
  async acquire(
    key: string,
    acquire: (signal: AbortSignal) => Promise<CachedToken>,
    signal: AbortSignal,
    kept: CachedToken | undefined,
  ): Promise<CachedToken> {
    const remote = await this.#read(key, signal);
    if (remote !== undefined && tokenFreshness(remote, this.#now()) === "fresh") return remote;
    const fallback = usable(remote, this.#now()) ?? usable(kept, this.#now());
    if (this.#store.tryLock === undefined) return this.#acquireAndWrite(key, acquire, signal);
    const started = this.#now();
    const polls = Math.ceil(this.#lockTtlMs / DISTRIBUTED_POLL_INTERVAL_MS);
    for (let poll = 0; ; poll++) {
      const lock = await this.#tryLock(key, signal);
      if (lock === UNAVAILABLE) return this.#acquireAndWrite(key, acquire, signal);
      if (lock !== undefined) {
        // Another replica may have written its token and released the lock between the read above
        // and this lock: read again under the lock (double-checked), or the fleet asks twice.
        const written = await this.#read(key, signal);
        if (written !== undefined && tokenFreshness(written, this.#now()) === "fresh") {
          await this.#run("release", () => lock.release(), undefined);
          return written;
        }
        return this.#acquireAndWrite(key, acquire, signal, lock);
      }
      // Another replica is acquiring: a still-valid token serves meanwhile.
      if (fallback !== undefined) return fallback;
      if (poll >= polls || this.#now() - started >= this.#lockTtlMs) break;
      await this.#sleep(DISTRIBUTED_POLL_INTERVAL_MS, signal);
      const written = await this.#read(key, signal);
      if (written !== undefined && tokenFreshness(written, this.#now()) === "fresh") return written;
    }
    // The holder neither wrote nor released in time: acquire here.
    return this.#acquireAndWrite(key, acquire, signal);
  }

  async #acquireAndWrite(
    key: string,
    acquire: (signal: AbortSignal) => Promise<CachedToken>,
    signal: AbortSignal,
    lock?: DistributedCacheLock,
  ): Promise<CachedToken> {
    try {
      const token = await acquire(signal);
      const ttlMs = token.expiresOnTimestamp - EXPIRY_MARGIN_MS - this.#now();
      if (ttlMs > 0) {
        const record: DistributedCacheRecord = {
          token: token.token,
          expiresOnTimestamp: token.expiresOnTimestamp,
          refreshAfterTimestamp: token.refreshAfterTimestamp,
        };
        await this.#run("set", (s) => this.#store.set(key, record, { signal: s, ttlMs }), signal);
      }
      return token;
    } finally {
      // Released on failure too, so that a waiting replica takes over at once.
      if (lock !== undefined) await this.#run("release", () => lock.release(), undefined);
    }
  }

  async #read(key: string, signal: AbortSignal): Promise<CachedToken | undefined> {
    const record = await this.#run("get", (s) => this.#store.get(key, { signal: s }), signal);
    return record === UNAVAILABLE ? undefined : validRecord(record);
  }

  #tryLock(key: string, signal: AbortSignal): Promise<DistributedCacheLock | undefined | typeof UNAVAILABLE> {
    const tryLock = this.#store.tryLock;
    if (tryLock === undefined) return Promise.resolve(UNAVAILABLE);
    return this.#run("tryLock", (s) => tryLock.call(this.#store, key, { signal: s, ttlMs: this.#lockTtlMs }), signal);
  }

  /**
   * Runs one operation within the budget. Resolves to {@link UNAVAILABLE} when it fails, times out
   * or the store is in back-off; rejects only with the caller's abort.
   */
  async #run<T>(
    operation: string,
    run: (signal: AbortSignal) => Promise<T> | T,
    caller: AbortSignal | undefined,
  ): Promise<T | typeof UNAVAILABLE> {
    caller?.throwIfAborted();
    if (this.#now() < this.#downUntil) return UNAVAILABLE;
    const controller = new AbortController();
    let settle!: (value: typeof UNAVAILABLE) => void;
    const stop = new Promise<typeof UNAVAILABLE>((resolve) => (settle = resolve));
    let expire: NodeJS.Immediate | undefined;
    // Timers run before I/O in a turn of the event loop (Node.js docs, "The Node.js Event Loop"):
    // when this process was busy past the budget, the store's answer may already wait in a socket.
    // One poll phase goes first (setImmediate runs after it), so only the store's slowness counts.
    const timer = setTimeout(() => {
      expire = setImmediate(() => {
        controller.abort(new DOMException(`the ${operation} took longer than ${this.#timeoutMs} ms`, "TimeoutError"));
        settle(UNAVAILABLE);
      });
    }, this.#timeoutMs);
    const onAbort = (): void => {
      controller.abort(caller?.reason);
      settle(UNAVAILABLE);
    };
    caller?.addEventListener("abort", onAbort, { once: true });
    try {
      const attempt = Promise.resolve().then(() => run(controller.signal));
      attempt.catch(() => undefined);
      const result = await Promise.race([attempt, stop]);
      if (caller?.aborted === true) throw caller.reason;
      if (result === UNAVAILABLE) {
        this.#failed(operation, controller.signal.reason);
        return UNAVAILABLE;
      }
      this.#recovered();
      return result;
    } catch (error) {
      if (caller?.aborted === true) throw caller.reason;
      this.#failed(operation, error);
      return UNAVAILABLE;
    } finally {
      clearTimeout(timer);
      if (expire !== undefined) clearImmediate(expire);
      caller?.removeEventListener("abort", onAbort);
    }
  }

  #failed(operation: string, error: unknown): void {
    this.#downUntil = this.#now() + DISTRIBUTED_BACKOFF_MS;
    if (this.#outage) return;
    this.#outage = true;
    const why = error instanceof Error ? error.message : String(error);
    this.#logger?.warning(
      `the distributed token cache failed (${operation}: ${why}); tokens are acquired and kept in memory until it works again.`,
    );
  }

  #recovered(): void {
    if (!this.#outage) return;
    this.#outage = false;
    this.#logger?.info("the distributed token cache works again.");
  }
}

/** `token` when it may still serve at `now` (outside the expiry margin). */
function usable(token: CachedToken | undefined, now: number): CachedToken | undefined {
  return token !== undefined && tokenFreshness(token, now) !== "expired" ? token : undefined;
}

/** A record read from a store is input: one that is not a token record is a miss. */
function validRecord(record: unknown): CachedToken | undefined {
  if (record === undefined || record === null || typeof record !== "object") return undefined;
  const { token, expiresOnTimestamp, refreshAfterTimestamp } = record as Record<string, unknown>;
  if (typeof token !== "string" || token === "") return undefined;
  if (typeof expiresOnTimestamp !== "number" || !Number.isFinite(expiresOnTimestamp)) return undefined;
  if (typeof refreshAfterTimestamp !== "number" || !Number.isFinite(refreshAfterTimestamp)) return undefined;
  return { token, expiresOnTimestamp, refreshAfterTimestamp };
}
