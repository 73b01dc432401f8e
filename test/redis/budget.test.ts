/**
 * The second level's time budget counts the store's slowness, not this process's: when the process
 * was busy past the budget while Redis had already answered, the answer is taken.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { DistributedTokenCache } from "../../src/cache/distributedCache.ts";
import { TokenCache } from "../../src/cache/tokenCache.ts";
import { createRedisTokenCache } from "../../src/redis/index.ts";
import { redisMissing, startRedisServer, type RedisServer } from "../helpers/redisServer.ts";
import { cacheKeyFor, CLIENT_A, newKey, recordFor, standaloneClient, type StandaloneClient } from "./support.ts";

let server: RedisServer;
let client: StandaloneClient;
before(async () => {
  if (redisMissing) return;
  server = await startRedisServer();
  client = await standaloneClient(server);
});
after(async () => {
  await client?.close();
  await server?.stop();
});

/** Blocks the event loop, as a burst of synchronous work (module loading, a large JSON) would. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test("a Redis answer that arrived while the process was busy past the budget is a hit, not a timeout", { skip: redisMissing }, async () => {
  const store = createRedisTokenCache({ client, encryptionKeys: [newKey()] });
  const key = cacheKeyFor(CLIENT_A);
  const record = await recordFor(CLIENT_A);
  await store.set(key, record, { signal: AbortSignal.timeout(1_000), ttlMs: 60_000 });
  // The GET is written (node-redis writes in an immediate queued before this one), then the process is busy for 150 ms
  // while Redis answers at once: when the loop comes back, the budget's timer and the answer are both due.
  const stalling: DistributedTokenCache = {
    get: (k, options) => {
      const answer = store.get(k, options);
      setImmediate(() => busy(150));
      return answer;
    },
    set: (k, r, options) => store.set(k, r, options),
    delete: (k, options) => store.delete(k, options),
  };
  const cache = new TokenCache({ now: Date.now, distributed: stalling, operationTimeoutMs: 50 });
  let acquisitions = 0;
  const token = await cache.getOrAcquire(
    key,
    async () => {
      acquisitions++;
      return { token: "acquired", expiresOnTimestamp: Date.now() + 3_600_000, refreshAfterTimestamp: Date.now() + 1_800_000 };
    },
    { bypassRead: false, onRefreshFailure: () => undefined },
  );
  assert.equal(acquisitions, 0, "the token came from Redis");
  assert.equal(token.token, record.token);
});
