/**
 * Redis down, killed mid-run, blocked or paused: every store operation ends within its budget
 * (resolving or rejecting), nothing is left unhandled, and the store works again once Redis is back.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DistributedTokenCache } from "../../src/cache/distributedCache.ts";
import { createRedisTokenCache } from "../../src/redis/index.ts";
import { redisMissing, startRedisServer, type RedisServer } from "../helpers/redisServer.ts";
import { cacheKeyFor, CLIENT_A, newKey, recordFor, standaloneClient, type StandaloneClient } from "./support.ts";

const BUDGET_MS = 50;
/** Timers on a loaded CI machine fire late; a hang would show as seconds, not this. */
const SLACK_MS = 250;

interface Outcome {
  readonly op: string;
  readonly ok: boolean;
  readonly elapsedMs: number;
}

/** Runs one of each operation under a fresh 50 ms budget and times it. */
async function round(cache: DistributedTokenCache, i: number): Promise<Outcome[]> {
  const key = cacheKeyFor(CLIENT_A, `https://s${i % 5}.example/.default`);
  const record = await recordFor(CLIENT_A);
  const ops: Array<[string, () => Promise<unknown>]> = [
    ["set", async () => cache.set(key, record, { signal: AbortSignal.timeout(BUDGET_MS), ttlMs: 60_000 })],
    ["get", async () => cache.get(key, { signal: AbortSignal.timeout(BUDGET_MS) })],
    ["tryLock", async () => (await cache.tryLock?.(key, { signal: AbortSignal.timeout(BUDGET_MS), ttlMs: 1_000 }))?.release()],
    ["delete", async () => cache.delete(key, { signal: AbortSignal.timeout(BUDGET_MS) })],
  ];
  return Promise.all(
    ops.map(async ([op, run]) => {
      const started = performance.now();
      const ok = await run().then(
        () => true,
        () => false,
      );
      return { op, ok, elapsedMs: performance.now() - started };
    }),
  );
}

/** Runs rounds until `stop` resolves, then returns every outcome. */
async function runUntil(cache: DistributedTokenCache, stop: Promise<unknown>): Promise<Outcome[]> {
  let done = false;
  void stop.then(() => (done = true));
  const outcomes: Outcome[] = [];
  for (let i = 0; !done; i++) {
    outcomes.push(...(await round(cache, i)));
    await sleep(5);
  }
  return outcomes;
}

async function untilWorking(cache: DistributedTokenCache, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const outcomes = await round(cache, 0);
    if (outcomes.every((outcome) => outcome.ok)) return;
    await sleep(50);
  }
  assert.fail("the store did not work again after Redis came back");
}

function assertBounded(outcomes: readonly Outcome[]): void {
  const slow = outcomes.filter((outcome) => outcome.elapsedMs > BUDGET_MS + SLACK_MS);
  assert.deepEqual(slow, [], "operations outlived their budget");
}

describe("Redis outages", { skip: redisMissing }, () => {
  let server: RedisServer;
  let client: StandaloneClient;
  let cache: DistributedTokenCache;
  const unhandled: unknown[] = [];
  const onUnhandled = (error: unknown): void => void unhandled.push(error);

  before(async () => {
    process.on("unhandledRejection", onUnhandled);
    process.on("uncaughtException", onUnhandled);
    server = await startRedisServer();
    client = await standaloneClient(server);
    cache = createRedisTokenCache({ client, encryptionKeys: [newKey()] });
  });
  after(async () => {
    process.off("unhandledRejection", onUnhandled);
    process.off("uncaughtException", onUnhandled);
    await client?.close().catch(() => undefined);
    await server?.stop();
  });

  test("Redis killed (SIGKILL) mid-run and restarted on the same port", async () => {
    await untilWorking(cache);
    const outcomes = await runUntil(
      cache,
      (async () => {
        await sleep(150);
        await server.kill();
        await sleep(700);
        await server.restart();
      })(),
    );
    assertBounded(outcomes);
    assert.ok(outcomes.some((outcome) => !outcome.ok), "some operations failed while Redis was down");
    assert.ok(outcomes.some((outcome) => outcome.ok), "operations succeeded before the kill");
    await untilWorking(cache);
    await sleep(20);
    assert.deepEqual(unhandled, []);
  });

  test("Redis blocked (DEBUG SLEEP): connections open, nothing answers", async () => {
    await untilWorking(cache);
    const outcomes = await runUntil(
      cache,
      (async () => {
        await server.freeze(1_000);
        await sleep(1_100);
      })(),
    );
    assertBounded(outcomes);
    assert.ok(outcomes.filter((outcome) => !outcome.ok).length >= 4, "operations timed out while Redis slept");
    await untilWorking(cache);
    assert.deepEqual(unhandled, []);
  });

  test("Redis paused (CLIENT PAUSE ALL)", async () => {
    await untilWorking(cache);
    const outcomes = await runUntil(
      cache,
      (async () => {
        await sleep(100);
        await server.pause(800);
        await sleep(900);
      })(),
    );
    assertBounded(outcomes);
    assert.ok(outcomes.some((outcome) => !outcome.ok), "operations timed out while Redis was paused");
    await untilWorking(cache);
    assert.deepEqual(unhandled, []);
  });

  test("a lock taken by a SET the caller stopped waiting for is released, not left to block the fleet", async () => {
    await untilWorking(cache);
    const key = cacheKeyFor(CLIENT_A, "https://orphan.example/.default");
    await server.freeze(600);
    // Sent on the open connection, answered only after the sleep: the caller has long given up.
    await assert.rejects(cache.tryLock?.(key, { signal: AbortSignal.timeout(BUDGET_MS), ttlMs: 30_000 }) ?? Promise.resolve());
    const deadline = Date.now() + 5_000;
    let lock;
    while (lock === undefined && Date.now() < deadline) {
      await sleep(50);
      lock = await cache.tryLock?.(key, { signal: AbortSignal.timeout(500), ttlMs: 30_000 }).catch(() => undefined);
    }
    assert.ok(lock !== undefined, "the abandoned lock was released well before its 30 s expiry");
    await lock.release();
    assert.deepEqual(unhandled, []);
  });

  test("Redis stopped for good: operations keep ending within their budget", async () => {
    await untilWorking(cache);
    await server.kill();
    try {
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 10; i++) outcomes.push(...(await round(cache, i)));
      assertBounded(outcomes);
      assert.ok(outcomes.every((outcome) => !outcome.ok));
    } finally {
      await server.restart();
    }
    await untilWorking(cache);
    assert.deepEqual(unhandled, []);
  });
});
