/**
 * The Redis store against a real redis-server: sealing, key rotation, misses for anything that does
 * not authenticate, locks, and what an onlooker of the keyspace can read.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DistributedTokenCache } from "../../src/cache/distributedCache.ts";
import { createSentinel } from "redis";
import { createRedisTokenCache } from "../../src/redis/index.ts";
import { captureLogs } from "../credential/support.ts";
import { redisMissing, startRedisSentinel, startRedisServer, type RedisServer } from "../helpers/redisServer.ts";
import {
  budget,
  cacheKeyFor,
  CLIENT_A,
  CLIENT_B,
  clusterClient,
  dumpKeyspace,
  newKey,
  recordFor,
  SCOPE,
  standaloneClient,
  TENANT,
  type StandaloneClient,
} from "./support.ts";

describe("Redis token cache (standalone)", { skip: redisMissing }, () => {
  let server: RedisServer;
  let client: StandaloneClient;
  const key1 = newKey();
  const key2 = newKey();

  before(async () => {
    server = await startRedisServer();
    client = await standaloneClient(server);
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  const store = (keys = [key1], keyPrefix = "bcc:"): DistributedTokenCache => createRedisTokenCache({ client, encryptionKeys: keys, keyPrefix });

  test("a record round-trips, under a hashed, hash-tagged key that expires after the ttl given", async () => {
    await client.flushAll();
    const record = await recordFor(CLIENT_A);
    const cache = store();
    await cache.set(cacheKeyFor(CLIENT_A), record, { ...budget(500), ttlMs: 60_000 });
    assert.deepEqual(await cache.get(cacheKeyFor(CLIENT_A), budget(500)), record);
    const keys = [...(await dumpKeyspace(client)).keys()];
    assert.equal(keys.length, 1);
    assert.match(keys[0] ?? "", /^bcc:\{[A-Za-z0-9_-]{43}\}:t$/);
    const ttl = await client.pTTL(keys[0] ?? "");
    assert.ok(ttl > 59_000 && ttl <= 60_000, `PTTL ${ttl}`);
    assert.equal(await cache.get(cacheKeyFor(CLIENT_A, "https://graph.microsoft.com/.default"), budget(500)), undefined);
    await cache.delete(cacheKeyFor(CLIENT_A), budget(500));
    assert.equal(await cache.get(cacheKeyFor(CLIENT_A), budget(500)), undefined);
  });

  test("a record sealed under another key is a miss, logged once", async () => {
    await client.flushAll();
    await store([key1]).set(cacheKeyFor(CLIENT_A), await recordFor(CLIENT_A), { ...budget(500), ttlMs: 60_000 });
    const logs = captureLogs("warning");
    try {
      const stranger = store([newKey()]);
      assert.equal(await stranger.get(cacheKeyFor(CLIENT_A), budget(500)), undefined);
      assert.equal(await stranger.get(cacheKeyFor(CLIENT_A), budget(500)), undefined);
    } finally {
      logs.stop();
    }
    const ignored = logs.lines.filter((line) => line.includes("shared token record was ignored"));
    assert.equal(ignored.length, 1, logs.lines.join("\n"));
    assert.match(ignored[0] ?? "", /not in encryptionKeys/);
  });

  test("a tampered record is a miss, whichever part was changed, and never an error", async () => {
    await client.flushAll();
    const cache = store();
    const record = await recordFor(CLIENT_A);
    await cache.set(cacheKeyFor(CLIENT_A), record, { ...budget(500), ttlMs: 60_000 });
    const [redisKey, sealed] = [...(await dumpKeyspace(client)).entries()][0] ?? ["", ""];
    const parts = sealed.split(".");
    assert.equal(parts.length, 5);
    const flip = (text: string, at: number): string => {
      const bytes = Buffer.from(text, "base64url");
      bytes[at % bytes.length] = (bytes[at % bytes.length] ?? 0) ^ 0x01;
      return bytes.toString("base64url");
    };
    const variants = [
      parts.map((part, i) => (i === 3 ? flip(part, 5) : part)).join("."), // ciphertext
      parts.map((part, i) => (i === 4 ? flip(part, 0) : part)).join("."), // tag
      parts.map((part, i) => (i === 2 ? flip(part, 3) : part)).join("."), // iv
      parts.map((part, i) => (i === 0 ? "v2" : part)).join("."),
      parts.slice(0, 4).join("."),
      "not a record",
      "",
    ];
    for (const variant of variants) {
      await client.set(redisKey, variant, { expiration: { type: "PX", value: 60_000 } });
      assert.equal(await cache.get(cacheKeyFor(CLIENT_A), budget(500)), undefined, `served ${variant.slice(0, 20)}…`);
    }
    await client.set(redisKey, sealed);
    assert.deepEqual(await cache.get(cacheKeyFor(CLIENT_A), budget(500)), record, "the original still opens");
    // A value of another Redis type (a list) is refused by GET: the operation fails, the token cache's miss.
    await client.del(redisKey);
    await client.lPush(redisKey, "x");
    await assert.rejects(Promise.resolve(cache.get(cacheKeyFor(CLIENT_A), budget(500))), /WRONGTYPE/);
  });

  test("a record of another client ID copied under this client's key is a miss: the cache key is authenticated", async () => {
    await client.flushAll();
    const cache = store();
    await cache.set(cacheKeyFor(CLIENT_B), await recordFor(CLIENT_B), { ...budget(500), ttlMs: 60_000 });
    const [otherKey, otherValue] = [...(await dumpKeyspace(client)).entries()][0] ?? ["", ""];
    await cache.set(cacheKeyFor(CLIENT_A), await recordFor(CLIENT_A), { ...budget(500), ttlMs: 60_000 });
    const ownKey = [...(await dumpKeyspace(client)).keys()].find((key) => key !== otherKey) ?? "";
    await client.set(ownKey, otherValue);
    assert.equal(await cache.get(cacheKeyFor(CLIENT_A), budget(500)), undefined);
    assert.ok((await cache.get(cacheKeyFor(CLIENT_B), budget(500))) !== undefined, "B's record still opens under B");
  });

  test("key rotation: the new key seals, the old one still opens; a store without the old key misses", async () => {
    await client.flushAll();
    const old = store([key1]);
    const rotated = store([key2, key1]);
    const recordOld = await recordFor(CLIENT_A);
    await old.set(cacheKeyFor(CLIENT_A), recordOld, { ...budget(500), ttlMs: 60_000 });
    assert.deepEqual(await rotated.get(cacheKeyFor(CLIENT_A), budget(500)), recordOld, "the rotated store opens records of the old key");
    assert.equal(await store([key2]).get(cacheKeyFor(CLIENT_A), budget(500)), undefined, "the new key alone does not");
    const recordNew = await recordFor(CLIENT_A);
    await rotated.set(cacheKeyFor(CLIENT_A), recordNew, { ...budget(500), ttlMs: 60_000 });
    assert.deepEqual(await store([key2]).get(cacheKeyFor(CLIENT_A), budget(500)), recordNew, "written under the new key");
    assert.equal(await old.get(cacheKeyFor(CLIENT_A), budget(500)), undefined, "a replica without the new key misses");
  });

  test("a lock is exclusive across stores, released only by its holder, and expires on its own", async () => {
    await client.flushAll();
    const stores = Array.from({ length: 12 }, () => store());
    const key = cacheKeyFor(CLIENT_A);
    const attempts = await Promise.all(stores.map((s) => s.tryLock?.(key, { ...budget(500), ttlMs: 10_000 })));
    const held = attempts.filter((lock) => lock !== undefined);
    assert.equal(held.length, 1, "exactly one store takes the lock");
    const lockKey = [...(await dumpKeyspace(client)).keys()][0] ?? "";
    assert.match(lockKey, /^bcc:\{[A-Za-z0-9_-]{43}\}:lock$/);
    const lockTtl = await client.pTTL(lockKey);
    assert.ok(lockTtl > 9_000 && lockTtl <= 10_000, `PTTL ${lockTtl}`);
    await held[0]?.release();
    const next = await stores[1]?.tryLock?.(key, { ...budget(500), ttlMs: 150 });
    assert.ok(next !== undefined, "released: another takes it");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const third = await stores[2]?.tryLock?.(key, { ...budget(500), ttlMs: 10_000 });
    assert.ok(third !== undefined, "expired: another takes it");
    const thirdValue = await client.get(lockKey);
    await next.release(); // its lock expired; it must not delete the third holder's
    assert.equal(await client.get(lockKey), thirdValue, "a former holder's release leaves the current lock alone");
    assert.equal(await stores[3]?.tryLock?.(key, { ...budget(500), ttlMs: 10_000 }), undefined);
    await third.release();
    await third.release();
    assert.equal(await client.exists(lockKey), 0);
  });

  test("after a run, the keyspace holds no token, JWT segment, tenant, client ID or scope in clear", async () => {
    await client.flushAll();
    const records = [];
    for (const clientId of [CLIENT_A, CLIENT_B]) {
      const record = await recordFor(clientId);
      records.push(record);
      const cache = store([key1], "tenant-shared:");
      await cache.set(cacheKeyFor(clientId), record, { ...budget(500), ttlMs: 60_000 });
      await cache.tryLock?.(cacheKeyFor(clientId), { ...budget(500), ttlMs: 60_000 });
    }
    const keyspace = await dumpKeyspace(client);
    assert.equal(keyspace.size, 4);
    const text = [...keyspace].flat().join("\n");
    const forbidden = [TENANT, CLIENT_A, CLIENT_B, SCOPE, "vault.azure.net", "login.microsoftonline.com"];
    for (const record of records) forbidden.push(record.token, ...record.token.split("."));
    for (const needle of forbidden) {
      assert.equal(text.includes(needle), false, `found ${needle.slice(0, 12)}… in clear`);
      assert.equal(text.includes(Buffer.from(needle).toString("base64url")), false, "found a base64url copy");
      assert.equal(text.includes(Buffer.from(needle).toString("hex")), false, "found a hex copy");
    }
    // Decoded payload claims do not appear either (a base64url re-encoding at another offset).
    assert.equal(/8f2c1d3e|1111111|6666666/.test(text), false);
  });

  test("an operation whose signal is already aborted sends nothing and rejects", async () => {
    await client.flushAll();
    const controller = new AbortController();
    controller.abort(new Error("caller gone"));
    await assert.rejects(Promise.resolve(store().set(cacheKeyFor(CLIENT_A), await recordFor(CLIENT_A), { signal: controller.signal, ttlMs: 60_000 })), /caller gone/);
    assert.equal((await dumpKeyspace(client)).size, 0);
  });

  test("a ttl under a millisecond writes nothing (Redis refuses PX 0)", async () => {
    await client.flushAll();
    await store().set(cacheKeyFor(CLIENT_A), await recordFor(CLIENT_A), { ...budget(500), ttlMs: 0 });
    assert.equal((await dumpKeyspace(client)).size, 0);
  });
});

describe("Redis token cache (cluster)", { skip: redisMissing }, () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedisServer({ cluster: true });
  });
  after(async () => {
    await server?.stop();
  });

  test("a cluster client round-trips records and locks; a token's record and lock share one slot", async () => {
    const cluster = await clusterClient(server);
    try {
      const cache = createRedisTokenCache({ client: cluster, encryptionKeys: [newKey().toString("base64")] });
      const record = await recordFor(CLIENT_A);
      await cache.set(cacheKeyFor(CLIENT_A), record, { ...budget(500), ttlMs: 60_000 });
      assert.deepEqual(await cache.get(cacheKeyFor(CLIENT_A), budget(500)), record);
      const lock = await cache.tryLock?.(cacheKeyFor(CLIENT_A), { ...budget(500), ttlMs: 10_000 });
      assert.ok(lock !== undefined);
      assert.equal(await cache.tryLock?.(cacheKeyFor(CLIENT_A), { ...budget(500), ttlMs: 10_000 }), undefined);
      const keys = (await server.command("--scan")).split("\n").filter(Boolean);
      assert.equal(keys.length, 2, keys.join(","));
      const slots = await Promise.all(keys.map((key) => server.command("CLUSTER", "KEYSLOT", key)));
      assert.equal(new Set(slots).size, 1, `slots ${slots.join(",")}`);
      // Both keys in one command: Redis Cluster refuses it (CROSSSLOT) unless they share a slot.
      assert.equal(await cluster.sendCommand(keys[0], false, ["EXISTS", ...keys]), 2);
      await lock.release();
      assert.equal(await cluster.exists(keys.find((key) => key.endsWith(":lock")) ?? ""), 0);
    } finally {
      await cluster.close();
    }
  });
});

describe("Redis token cache (sentinel)", { skip: redisMissing }, () => {
  test("a Sentinel client finds the master and round-trips records and locks", async () => {
    const master = await startRedisServer();
    const sentinel = await startRedisSentinel(master);
    const client = createSentinel({ name: sentinel.name, sentinelRootNodes: [{ host: "127.0.0.1", port: sentinel.port }] });
    client.on("error", () => undefined);
    try {
      await client.connect();
      const cache = createRedisTokenCache({ client, encryptionKeys: [newKey()] });
      const record = await recordFor(CLIENT_A);
      await cache.set(cacheKeyFor(CLIENT_A), record, { ...budget(500), ttlMs: 60_000 });
      assert.deepEqual(await cache.get(cacheKeyFor(CLIENT_A), budget(500)), record);
      const lock = await cache.tryLock?.(cacheKeyFor(CLIENT_A), { ...budget(500), ttlMs: 10_000 });
      assert.ok(lock !== undefined);
      assert.equal(await cache.tryLock?.(cacheKeyFor(CLIENT_A), { ...budget(500), ttlMs: 10_000 }), undefined);
      await lock.release();
      const keys = (await master.command("--scan")).split("\n").filter(Boolean);
      assert.equal(keys.length, 1, "the record is on the master; the lock is released");
      assert.match(keys[0] ?? "", /^bcc:\{[A-Za-z0-9_-]{43}\}:t$/);
    } finally {
      await client.close().catch(() => undefined);
      await sentinel.stop();
      await master.stop();
    }
  });
});

describe("createRedisTokenCache options", () => {
  const client = { get: async () => null, set: async () => null, del: async () => 0, eval: async () => 0, withCommandOptions: () => client };
  const codeOf = (run: () => unknown): string => {
    try {
      run();
    } catch (error) {
      assert.ok(error instanceof TypeError);
      assert.equal((error as Error).name, "BoundCredentialConfigurationError");
      return `${(error as unknown as { code: string }).code} ${(error as Error).message}`;
    }
    return "no error";
  };

  test("keys must be 32 bytes, raw or base64, distinct, and at least one; messages never echo a key", () => {
    const short = Buffer.alloc(16, 7).toString("base64");
    assert.match(codeOf(() => createRedisTokenCache({ client, encryptionKeys: [short] })), /^BCC_INVALID_VALUE encryptionKeys\[0\]: is 16 bytes long; AES-256-GCM needs a key of exactly 32 bytes/);
    assert.equal(codeOf(() => createRedisTokenCache({ client, encryptionKeys: [short] })).includes(short), false);
    assert.match(codeOf(() => createRedisTokenCache({ client, encryptionKeys: [newKey(), "not base64!"] })), /^BCC_INVALID_VALUE encryptionKeys\[1\]: is not base64/);
    assert.match(codeOf(() => createRedisTokenCache({ client, encryptionKeys: [] })), /^BCC_EMPTY_FIELD encryptionKeys/);
    const key = newKey();
    assert.match(codeOf(() => createRedisTokenCache({ client, encryptionKeys: [key, key.toString("base64url")] })), /^BCC_INVALID_VALUE encryptionKeys\[1\]: repeats/);
    assert.match(codeOf(() => createRedisTokenCache({ client, encryptionKeys: "abc" as unknown as string[] })), /^BCC_INVALID_TYPE encryptionKeys/);
    assert.match(codeOf(() => createRedisTokenCache({ client, encryptionKeys: [42 as unknown as string] })), /^BCC_INVALID_TYPE encryptionKeys\[0\]/);
    assert.equal(codeOf(() => createRedisTokenCache({ client, encryptionKeys: [new Uint8Array(32), newKey().toString("base64url")] })), "no error");
  });

  test("the prefix has no braces; the client must be a node-redis client", () => {
    assert.match(codeOf(() => createRedisTokenCache({ client, encryptionKeys: [newKey()], keyPrefix: "a{b}:" })), /^BCC_INVALID_VALUE keyPrefix/);
    assert.match(codeOf(() => createRedisTokenCache({ client: {} as never, encryptionKeys: [newKey()] })), /^BCC_INVALID_VALUE client: is not a node-redis client \(it lacks get, set, del, eval, withCommandOptions\)/);
  });

  test("the store's modules import only the types of `redis`, so the subpath loads nothing of it", () => {
    const dir = join(import.meta.dirname, "../../src/redis");
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), "utf8");
      assert.equal(/^\s*import\s+(?!type\b)[^;]*from\s+"(redis|@redis\/[^"]+)"/m.test(text), false, `${file} imports redis at runtime`);
      assert.equal(/require\(["'](redis|@redis)/.test(text), false, file);
    }
  });
});
