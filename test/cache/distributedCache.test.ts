/**
 * The token cache with a second level, against an in-memory implementation of the
 * `DistributedTokenCache` interface written here (the Redis store has tests of its own against a
 * real Redis). The first level, the flights and the lock protocol are the library's, unreplaced.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { DistributedCacheLock, DistributedCacheRecord, DistributedTokenCache } from "../../src/cache/distributedCache.ts";
import {
  DEFAULT_DISTRIBUTED_LOCK_TTL_MS,
  DISTRIBUTED_BACKOFF_MS,
  DISTRIBUTED_POLL_INTERVAL_MS,
  EXPIRY_MARGIN_MS,
  refreshAfter,
  TokenCache,
} from "../../src/cache/tokenCache.ts";
import type { CachedToken } from "../../src/cache/tokenStore.ts";
import type { CredentialLogger } from "../../src/logging.ts";
import { recordingSleep, TestClock } from "../helpers/index.ts";

const HOUR = 3_600_000;

/** A shared store in memory: records with a time to live, and locks with one, on the test clock. */
class MemoryDistributedCache implements DistributedTokenCache {
  readonly records = new Map<string, { record: DistributedCacheRecord; until: number }>();
  readonly locks = new Map<string, { holder: number; until: number }>();
  readonly calls: string[] = [];
  readonly ttls: number[] = [];
  /** Every operation throws while set. */
  failing = false;
  /** Every operation hangs (and ignores its signal) while set. */
  hanging = false;
  readonly signals: AbortSignal[] = [];
  readonly #now: () => number;
  #holders = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  #enter(operation: string, signal: AbortSignal): Promise<void> | undefined {
    this.calls.push(operation);
    this.signals.push(signal);
    if (this.failing) throw new Error(`store down (${operation})`);
    if (this.hanging) return new Promise<void>(() => undefined);
    return undefined;
  }

  async get(key: string, { signal }: { signal: AbortSignal }): Promise<DistributedCacheRecord | undefined> {
    await this.#enter("get", signal);
    const found = this.records.get(key);
    return found !== undefined && found.until > this.#now() ? found.record : undefined;
  }

  async set(key: string, record: DistributedCacheRecord, { signal, ttlMs }: { signal: AbortSignal; ttlMs: number }): Promise<void> {
    await this.#enter("set", signal);
    this.ttls.push(ttlMs);
    this.records.set(key, { record, until: this.#now() + ttlMs });
  }

  async delete(key: string, { signal }: { signal: AbortSignal }): Promise<void> {
    await this.#enter("delete", signal);
    this.records.delete(key);
  }

  async tryLock(key: string, { signal, ttlMs }: { signal: AbortSignal; ttlMs: number }): Promise<DistributedCacheLock | undefined> {
    await this.#enter("tryLock", signal);
    const held = this.locks.get(key);
    if (held !== undefined && held.until > this.#now()) return undefined;
    const holder = ++this.#holders;
    this.locks.set(key, { holder, until: this.#now() + ttlMs });
    return {
      release: () => {
        this.calls.push("release");
        // Compare and delete: only the holder releases its own lock.
        if (this.locks.get(key)?.holder === holder) this.locks.delete(key);
      },
    };
  }

  /** Another replica takes the lock for `key`. */
  lockElsewhere(key: string, ttlMs = DEFAULT_DISTRIBUTED_LOCK_TTL_MS): void {
    this.locks.set(key, { holder: -1, until: this.#now() + ttlMs });
  }

  /** Another replica writes a token for `key`. */
  writeElsewhere(key: string, record: DistributedCacheRecord): void {
    this.records.set(key, { record, until: record.expiresOnTimestamp - EXPIRY_MARGIN_MS });
  }
}

function recordingLogger(): CredentialLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    title: "test",
    lines,
    info: (m) => lines.push(`info ${m}`),
    warning: (m) => lines.push(`warning ${m}`),
    verbose: () => undefined,
    error: (m) => lines.push(`error ${m}`),
  };
}

function fixture(options: { operationTimeoutMs?: number; withoutLocks?: boolean } = {}) {
  const clock = new TestClock(1_000_000_000_000);
  const store = new MemoryDistributedCache(clock.now);
  if (options.withoutLocks === true) Object.defineProperty(store, "tryLock", { value: undefined });
  const sleep = recordingSleep();
  const logger = recordingLogger();
  const cache = new TokenCache({
    now: clock.now,
    distributed: store,
    sleep: sleep.sleep,
    logger,
    ...(options.operationTimeoutMs === undefined ? {} : { operationTimeoutMs: options.operationTimeoutMs }),
  });
  let calls = 0;
  const issue = (lifetimeMs = HOUR): CachedToken => {
    calls++;
    const expiresOn = clock.now() + lifetimeMs;
    return { token: `token-${calls}`, expiresOnTimestamp: expiresOn, refreshAfterTimestamp: refreshAfter(clock.now(), expiresOn, undefined) };
  };
  const acquire = async (): Promise<CachedToken> => issue();
  const options_ = { bypassRead: false, onRefreshFailure: () => undefined };
  return { clock, store, sleep, logger, cache, issue, acquire, options: options_, calls: () => calls };
}

describe("TokenCache with a second level", () => {
  test("a second-level hit fills the first level; nothing is acquired", async () => {
    const f = fixture();
    const record = { token: "from-another-replica", expiresOnTimestamp: f.clock.now() + HOUR, refreshAfterTimestamp: f.clock.now() + HOUR / 2 };
    f.store.writeElsewhere("k", record);
    assert.equal((await f.cache.getOrAcquire("k", f.acquire, f.options)).token, "from-another-replica");
    assert.equal(f.calls(), 0);
    assert.equal(f.cache.peek("k")?.token, "from-another-replica", "the first level now answers synchronously");
    assert.deepEqual(f.store.calls, ["get"]);
  });

  test("a miss in both levels: one replica takes the lock, acquires, writes with the margin taken off, releases", async () => {
    const f = fixture();
    const token = await f.cache.getOrAcquire("k", f.acquire, f.options);
    assert.equal(token.token, "token-1");
    assert.deepEqual(f.store.calls, ["get", "tryLock", "get", "set", "release"], "read again under the lock, then acquire, write, release");
    assert.deepEqual(f.store.ttls, [HOUR - EXPIRY_MARGIN_MS]);
    assert.equal(f.store.records.get("k")?.record.token, "token-1");
    assert.equal(f.store.locks.size, 0);
  });

  test("a replica that wrote and released between this one's read and its lock: the token is read under the lock, not acquired again", async () => {
    const f = fixture();
    const record = { token: "from-the-replica-that-just-released", expiresOnTimestamp: f.clock.now() + HOUR, refreshAfterTimestamp: f.clock.now() + HOUR / 2 };
    // The other replica finishes exactly then: its write lands after this replica's first read, and its lock is gone.
    const tryLock = f.store.tryLock.bind(f.store);
    f.store.tryLock = async (key, options) => {
      f.store.writeElsewhere(key, record);
      return tryLock(key, options);
    };
    const token = await f.cache.getOrAcquire("k", f.acquire, f.options);
    assert.equal(token.token, "from-the-replica-that-just-released");
    assert.equal(f.calls(), 0, "nothing acquired: the fleet asked once");
    assert.deepEqual(f.store.calls, ["get", "tryLock", "get", "release"]);
    assert.equal(f.store.locks.size, 0, "the lock taken for nothing is released");
  });

  test("a token already inside the expiry margin is not written to the second level", async () => {
    const f = fixture();
    await f.cache.getOrAcquire("k", async () => f.issue(EXPIRY_MARGIN_MS - 1000), f.options);
    assert.equal(f.store.calls.includes("set"), false);
  });

  test("while another replica holds the lock, this one polls the second level and takes the token it writes", async () => {
    const f = fixture();
    f.store.lockElsewhere("k");
    let polls = 0;
    const sleep = f.sleep.sleep;
    const cache = new TokenCache({
      now: f.clock.now,
      distributed: f.store,
      sleep: async (ms, signal) => {
        await sleep(ms, signal);
        f.clock.advance(ms);
        if (++polls === 3) f.store.writeElsewhere("k", { token: "written-by-holder", expiresOnTimestamp: f.clock.now() + HOUR, refreshAfterTimestamp: f.clock.now() + HOUR / 2 });
      },
    });
    assert.equal((await cache.getOrAcquire("k", f.acquire, f.options)).token, "written-by-holder");
    assert.equal(f.calls(), 0);
    assert.deepEqual(f.sleep.delays, [DISTRIBUTED_POLL_INTERVAL_MS, DISTRIBUTED_POLL_INTERVAL_MS, DISTRIBUTED_POLL_INTERVAL_MS]);
  });

  test("a holder that fails releases the lock, and a waiting replica takes over", async () => {
    const f = fixture();
    f.store.lockElsewhere("k");
    const cache = new TokenCache({
      now: f.clock.now,
      distributed: f.store,
      sleep: async (ms) => {
        f.clock.advance(ms);
        // The other replica's acquisition failed: its lock is released, nothing was written.
        f.store.locks.delete("k");
      },
    });
    assert.equal((await cache.getOrAcquire("k", f.acquire, f.options)).token, "token-1");
    assert.equal(f.store.records.get("k")?.record.token, "token-1");
  });

  test("a failed acquisition releases the lock it holds", async () => {
    const f = fixture();
    await assert.rejects(f.cache.getOrAcquire("k", async () => Promise.reject(new Error("Entra said no")), f.options), /Entra said no/);
    assert.equal(f.store.locks.size, 0);
    assert.ok(f.store.calls.includes("release"));
  });

  test("a lock that is never released: after lockTtlMs of polling the replica acquires itself", async () => {
    const f = fixture();
    f.store.lockElsewhere("k", 10 * DEFAULT_DISTRIBUTED_LOCK_TTL_MS);
    const cache = new TokenCache({
      now: f.clock.now,
      distributed: f.store,
      sleep: async (ms, signal) => {
        await f.sleep.sleep(ms, signal);
        f.clock.advance(ms);
      },
    });
    assert.equal((await cache.getOrAcquire("k", f.acquire, f.options)).token, "token-1");
    const waited = f.sleep.delays.reduce((a, b) => a + b, 0);
    assert.ok(waited >= DEFAULT_DISTRIBUTED_LOCK_TTL_MS && waited < DEFAULT_DISTRIBUTED_LOCK_TTL_MS + 2 * DISTRIBUTED_POLL_INTERVAL_MS, `waited ${waited} ms`);
  });

  test("polling is bounded by a count too, so a clock that does not move cannot make it spin", async () => {
    const f = fixture();
    f.store.lockElsewhere("k", Number.MAX_SAFE_INTEGER - f.clock.now());
    assert.equal((await f.cache.getOrAcquire("k", f.acquire, f.options)).token, "token-1");
    assert.equal(f.sleep.delays.length, Math.ceil(DEFAULT_DISTRIBUTED_LOCK_TTL_MS / DISTRIBUTED_POLL_INTERVAL_MS));
  });

  test("a due refresh takes a token another replica already refreshed, without acquiring", async () => {
    const f = fixture();
    await f.cache.getOrAcquire("k", async () => f.issue(4 * HOUR), f.options);
    f.clock.advance(2 * HOUR);
    f.store.writeElsewhere("k", { token: "refreshed-elsewhere", expiresOnTimestamp: f.clock.now() + HOUR, refreshAfterTimestamp: f.clock.now() + HOUR / 2 });
    const outcomes: string[] = [];
    const token = await f.cache.getOrAcquire("k", f.acquire, { ...f.options, onOutcome: (o) => outcomes.push(o) });
    assert.equal(token.token, "refreshed-elsewhere");
    assert.equal(f.calls(), 1);
    assert.deepEqual(outcomes, ["refresh"]);
  });

  test("a due refresh while another replica holds the lock serves the still-valid token at once", async () => {
    const f = fixture();
    await f.cache.getOrAcquire("k", async () => {
      const expiresOn = f.clock.now() + 2 * HOUR;
      return { token: "first", expiresOnTimestamp: expiresOn, refreshAfterTimestamp: f.clock.now() + HOUR };
    }, f.options);
    f.clock.advance(HOUR);
    f.store.records.clear();
    f.store.lockElsewhere("k");
    assert.equal((await f.cache.getOrAcquire("k", f.acquire, f.options)).token, "first");
    assert.equal(f.calls(), 0);
    assert.deepEqual(f.sleep.delays, [], "it did not wait for the other replica");
  });

  test("a store that fails is a miss: the token is acquired, the failure logged once per outage, and the store left alone for a while", async () => {
    const f = fixture();
    f.store.failing = true;
    assert.equal((await f.cache.getOrAcquire("a", f.acquire, f.options)).token, "token-1");
    const callsDuringOutage = f.store.calls.length;
    assert.equal((await f.cache.getOrAcquire("b", f.acquire, f.options)).token, "token-2");
    assert.equal(f.store.calls.length, callsDuringOutage, "skipped during the back-off");
    f.clock.advance(DISTRIBUTED_BACKOFF_MS);
    await f.cache.getOrAcquire("c", f.acquire, f.options);
    assert.ok(f.store.calls.length > callsDuringOutage, "tried again after the back-off");
    assert.equal(f.logger.lines.filter((l) => l.startsWith("warning")).length, 1, f.logger.lines.join("\n"));
    assert.match(f.logger.lines[0] ?? "", /distributed token cache failed \(get: store down \(get\)\)/);
    f.store.failing = false;
    f.clock.advance(DISTRIBUTED_BACKOFF_MS);
    await f.cache.getOrAcquire("d", f.acquire, f.options);
    assert.ok(f.logger.lines.some((l) => /works again/.test(l)));
    assert.equal(f.store.records.get("d")?.record.token, "token-4");
  });

  test("a store that hangs and ignores its signal costs the budget, not the call", async () => {
    const f = fixture({ operationTimeoutMs: 20 });
    f.store.hanging = true;
    assert.equal((await f.cache.getOrAcquire("k", f.acquire, f.options)).token, "token-1");
    assert.ok(f.store.signals.length > 0);
    assert.ok(f.store.signals.every((s) => s.aborted), "each operation's signal was aborted at its budget");
  });

  test("a record that is not a token record is a miss", async () => {
    const f = fixture();
    f.store.records.set("k", { record: { token: 42, expiresOnTimestamp: "soon" } as unknown as DistributedCacheRecord, until: Number.MAX_SAFE_INTEGER });
    assert.equal((await f.cache.getOrAcquire("k", f.acquire, f.options)).token, "token-1");
  });

  test("a claims challenge is acquired for this process only: never read from nor written to the second level", async () => {
    const f = fixture();
    const token = await f.cache.getOrAcquire("k", f.acquire, { ...f.options, bypassRead: true, bypassKey: '{"access_token":{}}' });
    assert.equal(token.token, "token-1");
    assert.deepEqual(f.store.calls, []);
  });

  test("a store without tryLock: acquire and write", async () => {
    const f = fixture({ withoutLocks: true });
    assert.equal((await f.cache.getOrAcquire("k", f.acquire, f.options)).token, "token-1");
    assert.deepEqual(f.store.calls, ["get", "set"]);
  });

  test("the caller's abort while waiting for the lock rejects with its reason", async () => {
    const f = fixture();
    f.store.lockElsewhere("k");
    const controller = new AbortController();
    const cache = new TokenCache({
      now: f.clock.now,
      distributed: f.store,
      sleep: async (_ms, signal) => {
        controller.abort(new Error("caller gone"));
        signal?.throwIfAborted();
      },
    });
    await assert.rejects(cache.getOrAcquire("k", f.acquire, { ...f.options, signal: controller.signal }), /caller gone/);
    assert.equal(f.calls(), 0);
  });
});
