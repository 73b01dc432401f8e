// The cache options end to end, against the emulator: two credentials (two replicas) sharing a
// second-level store, the first level's size bound, and the options' checks. The store is an
// in-memory implementation of the public DistributedTokenCache interface, written here.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { DistributedCacheLock, DistributedCacheRecord, DistributedTokenCache } from "../../src/index.ts";
import { BoundCredentialConfigurationError } from "../../src/errors.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { Harness, STORAGE_SCOPE, VAULT_SCOPE, type RegisteredApp } from "./support.ts";

const SECRET = "shared-cache-secret-19c4";
const secretEntry: CredentialDescription = { sourceType: "ClientSecret", clientSecret: SECRET };

/** A shared store in memory, as every replica of a service would see one Redis. */
class SharedStore implements DistributedTokenCache {
  readonly records = new Map<string, DistributedCacheRecord>();
  readonly locks = new Set<string>();
  get(key: string): DistributedCacheRecord | undefined {
    return this.records.get(key);
  }
  set(key: string, record: DistributedCacheRecord): void {
    this.records.set(key, record);
  }
  delete(key: string): void {
    this.records.delete(key);
  }
  async tryLock(key: string): Promise<DistributedCacheLock | undefined> {
    if (this.locks.has(key)) return undefined;
    this.locks.add(key);
    return { release: () => void this.locks.delete(key) };
  }
}

let harness: Harness;
let app: RegisteredApp;
let otherApp: RegisteredApp;

before(async () => {
  harness = await Harness.start();
  app = harness.emulator.registerApp({ secrets: [SECRET] });
  otherApp = harness.emulator.registerApp({ secrets: [SECRET] });
});

after(async () => {
  await harness.close();
});

describe("distributedCache", () => {
  test("a second replica serves the token the first obtained, without a request of its own", async () => {
    const store = new SharedStore();
    const first = harness.credential(harness.options(app, [secretEntry], { distributedCache: store }));
    const second = harness.credential(harness.options(app, [secretEntry], { distributedCache: store }));
    const before = harness.loginTokenRequests();
    const token = await first.getToken(STORAGE_SCOPE);
    assert.equal(harness.loginTokenRequests() - before, 1);
    assert.equal(store.records.size, 1);
    assert.equal((await second.getToken(STORAGE_SCOPE)).token, token.token);
    assert.equal(harness.loginTokenRequests() - before, 1, "the second replica asked Entra nothing");
    await harness.verify(token.token, app);
    assert.equal(store.locks.size, 0);
  });

  test("another application sharing the store never gets this one's token: the key names the client", async () => {
    const store = new SharedStore();
    const mine = harness.credential(harness.options(app, [secretEntry], { distributedCache: store }));
    const theirs = harness.credential(harness.options(otherApp, [secretEntry], { distributedCache: store }));
    const a = await mine.getToken(STORAGE_SCOPE);
    const b = await theirs.getToken(STORAGE_SCOPE);
    assert.notEqual(a.token, b.token);
    await harness.verify(b.token, otherApp);
    assert.equal(store.records.size, 2);
    for (const key of store.records.keys()) assert.doesNotMatch(key, new RegExp(SECRET));
  });
});

describe("maxCachedTokens", () => {
  test("the first level keeps at most that many tokens", async () => {
    const credential = harness.credential(harness.options(app, [secretEntry], { maxCachedTokens: 1 }));
    const before = harness.loginTokenRequests();
    await credential.getToken(STORAGE_SCOPE);
    await credential.getToken(VAULT_SCOPE);
    await credential.getToken(VAULT_SCOPE);
    assert.equal(harness.loginTokenRequests() - before, 2, "the newest token is kept");
    await credential.getToken(STORAGE_SCOPE);
    assert.equal(harness.loginTokenRequests() - before, 3, "the older one was evicted");
  });

  test("the cache options are checked when the credential is built", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ maxCachedTokens: 0 }, "maxCachedTokens"],
      [{ maxCachedTokens: 1.5 }, "maxCachedTokens"],
      [{ distributedCache: { get: () => undefined } }, "distributedCache"],
      [{ distributedCacheOptions: { operationTimeoutMs: -1 } }, "distributedCacheOptions.operationTimeoutMs"],
      [{ distributedCacheOptions: { lockTtlMs: Number.POSITIVE_INFINITY } }, "distributedCacheOptions.lockTtlMs"],
    ];
    for (const [extra, path] of cases) {
      assert.throws(
        () => harness.credential(harness.options(app, [secretEntry], extra)),
        (error: unknown) => error instanceof BoundCredentialConfigurationError && error.path === path,
        path,
      );
    }
  });
});
