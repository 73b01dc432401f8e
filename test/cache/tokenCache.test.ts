import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cacheKey, EXPIRY_MARGIN_MS, refreshAfter, TokenCache } from "../../src/cache/tokenCache.ts";
import { MemoryTokenStore } from "../../src/cache/tokenStore.ts";
import type { CachedToken } from "../../src/cache/tokenStore.ts";
import { CLIENT_CREDENTIALS } from "../../src/acquisition/types.ts";
import { TestClock } from "../helpers/index.ts";

const HOUR = 3_600_000;

function fixture(start = 1_000_000_000_000) {
  const clock = new TestClock(start);
  const store = new MemoryTokenStore(clock.now);
  const cache = new TokenCache({ now: clock.now });
  let calls = 0;
  const issue = (lifetimeMs = HOUR, refreshInSeconds?: number): CachedToken => {
    calls++;
    const expiresOn = clock.now() + lifetimeMs;
    return { token: `token-${calls}`, expiresOnTimestamp: expiresOn, refreshAfterTimestamp: refreshAfter(clock.now(), expiresOn, refreshInSeconds) };
  };
  const options = { bypassRead: false, onRefreshFailure: () => {} };
  return { clock, store, cache, issue, options, calls: () => calls };
}

describe("cacheKey", () => {
  const parts = { authorityHost: "https://login.microsoftonline.com", clientId: "app", kind: CLIENT_CREDENTIALS };
  test("ignores the order of scopes and separates tenants and CAE", () => {
    const a = cacheKey({ ...parts, tenantId: "t", scopes: ["b", "a"], enableCae: false });
    assert.equal(a, cacheKey({ ...parts, tenantId: "t", scopes: ["a", "b"], enableCae: false }));
    assert.notEqual(a, cacheKey({ ...parts, tenantId: "u", scopes: ["a", "b"], enableCae: false }));
    assert.notEqual(a, cacheKey({ ...parts, tenantId: "t", scopes: ["a", "b"], enableCae: true }));
  });

  test("separates clients, authorities and users of On-Behalf-Of, and names no secret", () => {
    const base = { ...parts, tenantId: "t", scopes: ["s"], enableCae: false };
    const key = cacheKey(base);
    assert.notEqual(key, cacheKey({ ...base, clientId: "other-app" }));
    assert.notEqual(key, cacheKey({ ...base, authorityHost: "https://login.microsoftonline.us" }));
    assert.equal(key, cacheKey({ ...base, authorityHost: "https://LOGIN.microsoftonline.com/" }), "the host is compared without case");
    const alice = cacheKey({ ...base, kind: { grant: "on_behalf_of", userAssertionHash: "hash-of-alice" } });
    const bob = cacheKey({ ...base, kind: { grant: "on_behalf_of", userAssertionHash: "hash-of-bob" } });
    assert.notEqual(alice, bob);
    assert.notEqual(alice, key);
    assert.match(alice, /hash-of-alice/);
  });
});

describe("refreshAfter", () => {
  const now = 0;
  test("uses refresh_in when given", () => {
    assert.equal(refreshAfter(now, 10 * HOUR, 1800), 1_800_000);
  });
  test("uses half-life for lifetimes over two hours", () => {
    assert.equal(refreshAfter(now, 4 * HOUR, undefined), 2 * HOUR);
  });
  test("uses the expiry margin for short lifetimes", () => {
    assert.equal(refreshAfter(now, HOUR, undefined), HOUR - EXPIRY_MARGIN_MS);
  });
  test("never refreshes later than the expiry margin", () => {
    assert.equal(refreshAfter(now, HOUR, 3599), HOUR - EXPIRY_MARGIN_MS);
  });
  test("a token shorter than the margin is due at once", () => {
    assert.equal(refreshAfter(now, 60_000, undefined), now);
  });
});

describe("TokenCache", () => {
  test("1,000 concurrent callers of one cold key share one acquisition", async () => {
    const f = fixture();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const acquire = async (): Promise<CachedToken> => {
      await gate;
      return f.issue();
    };
    const all = Array.from({ length: 1000 }, () => f.cache.getOrAcquire("k", acquire, f.options));
    release();
    const tokens = await Promise.all(all);
    assert.equal(f.calls(), 1);
    assert.ok(tokens.every((t) => t.token === "token-1"));
  });

  test("serves from the store until refreshAfter, then refreshes", async () => {
    const f = fixture();
    const acquire = async () => f.issue(HOUR, 1800);
    assert.equal((await f.cache.getOrAcquire("k", acquire, f.options)).token, "token-1");
    f.clock.advance(1_799_000);
    assert.equal((await f.cache.getOrAcquire("k", acquire, f.options)).token, "token-1");
    f.clock.advance(2_000);
    assert.equal((await f.cache.getOrAcquire("k", acquire, f.options)).token, "token-2");
    assert.equal(f.calls(), 2);
  });

  test("a failed refresh serves the still-valid token and reports the failure", async () => {
    const f = fixture();
    await f.cache.getOrAcquire("k", async () => f.issue(HOUR, 600), f.options);
    f.clock.advance(601_000);
    const failures: unknown[] = [];
    const token = await f.cache.getOrAcquire("k", async () => { throw new Error("entra down"); }, {
      bypassRead: false,
      onRefreshFailure: (e) => failures.push(e),
    });
    assert.equal(token.token, "token-1");
    assert.equal(failures.length, 1);
  });

  test("never serves a token within five minutes of expiry", async () => {
    const f = fixture();
    await f.cache.getOrAcquire("k", async () => f.issue(HOUR, 3000), f.options);
    f.clock.advance(HOUR - EXPIRY_MARGIN_MS + 1);
    await assert.rejects(
      f.cache.getOrAcquire("k", async () => { throw new Error("entra down"); }, f.options),
      /entra down/,
    );
  });

  test("claims bypass the read but the result is stored", async () => {
    const f = fixture();
    const acquire = async () => f.issue();
    await f.cache.getOrAcquire("k", acquire, f.options);
    const challenged = await f.cache.getOrAcquire("k", acquire, { ...f.options, bypassRead: true });
    assert.equal(challenged.token, "token-2");
    assert.equal((await f.cache.getOrAcquire("k", acquire, f.options)).token, "token-2");
  });

  test("concurrent claims challenges that differ make a request each; equal ones share one", async () => {
    const f = fixture();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    const acquireFor = (claims: string) => async () => {
      seen.push(claims);
      await gate;
      return f.issue();
    };
    const a = f.cache.getOrAcquire("k", acquireFor("A"), { ...f.options, bypassRead: true, bypassKey: "A" });
    const b = f.cache.getOrAcquire("k", acquireFor("B"), { ...f.options, bypassRead: true, bypassKey: "B" });
    const a2 = f.cache.getOrAcquire("k", acquireFor("A"), { ...f.options, bypassRead: true, bypassKey: "A" });
    release();
    const [ta, tb, ta2] = await Promise.all([a, b, a2]);
    assert.deepEqual(seen, ["A", "B"]);
    assert.notEqual(ta.token, tb.token);
    assert.equal(ta.token, ta2.token);
  });

  test("a caller that aborts during a due refresh is rejected, not served the old token", async () => {
    const f = fixture();
    await f.cache.getOrAcquire("k", async () => f.issue(HOUR, 600), f.options);
    f.clock.advance(601_000);
    const controller = new AbortController();
    const failures: unknown[] = [];
    const slow = (signal: AbortSignal) =>
      new Promise<CachedToken>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    const pending = f.cache.getOrAcquire("k", slow, { bypassRead: false, signal: controller.signal, onRefreshFailure: (e) => failures.push(e) });
    controller.abort(new Error("caller gave up"));
    await assert.rejects(pending, /caller gave up/);
    assert.equal(failures.length, 0, "an abort is not reported as a failed refresh");
  });

  test("a failed acquisition is not cached and the next caller tries again", async () => {
    const f = fixture();
    await assert.rejects(f.cache.getOrAcquire("k", async () => { throw new Error("once"); }, f.options), /once/);
    assert.equal((await f.cache.getOrAcquire("k", async () => f.issue(), f.options)).token, "token-1");
  });

  test("an aborted caller is rejected at once; the request goes on for the others", async () => {
    const f = fixture();
    let release!: () => void;
    let requestSignal: AbortSignal | undefined;
    const gate = new Promise<void>((r) => (release = r));
    const acquire = async (signal: AbortSignal) => {
      requestSignal = signal;
      await gate;
      return f.issue();
    };
    const controller = new AbortController();
    const aborted = f.cache.getOrAcquire("k", acquire, { ...f.options, signal: controller.signal });
    const patient = f.cache.getOrAcquire("k", acquire, f.options);
    controller.abort(new Error("caller gave up"));
    await assert.rejects(aborted, /caller gave up/);
    assert.equal(requestSignal?.aborted, false);
    release();
    assert.equal((await patient).token, "token-1");
  });

  test("the request is aborted when every caller has gone", async () => {
    const f = fixture();
    let requestSignal: AbortSignal | undefined;
    const acquire = (signal: AbortSignal) =>
      new Promise<CachedToken>((_, reject) => {
        requestSignal = signal;
        signal.addEventListener("abort", () => reject(signal.reason));
      });
    const one = new AbortController();
    const two = new AbortController();
    const a = f.cache.getOrAcquire("k", acquire, { ...f.options, signal: one.signal });
    const b = f.cache.getOrAcquire("k", acquire, { ...f.options, signal: two.signal });
    one.abort(new Error("one"));
    assert.equal(requestSignal?.aborted, false);
    two.abort(new Error("two"));
    assert.equal(requestSignal?.aborted, true);
    await assert.rejects(a, /one/);
    await assert.rejects(b, /two/);
  });

  test("an already-aborted signal rejects without acquiring", async () => {
    const f = fixture();
    const controller = new AbortController();
    controller.abort(new Error("before"));
    await assert.rejects(f.cache.getOrAcquire("k", async () => f.issue(), { ...f.options, signal: controller.signal }), /before/);
    assert.equal(f.calls(), 0);
  });

  test("the memory store prunes expired tokens as it grows", () => {
    const f = fixture();
    for (let i = 0; i < 300; i++) f.store.set(`old-${i}`, { token: "x", expiresOnTimestamp: f.clock.now() + 1, refreshAfterTimestamp: 0 });
    f.clock.advance(10);
    for (let i = 0; i < 256; i++) f.store.set(`new-${i}`, { token: "x", expiresOnTimestamp: f.clock.now() + HOUR, refreshAfterTimestamp: 0 });
    assert.ok(f.store.size <= 300, `expected pruning, size ${f.store.size}`);
  });
});

describe("MemoryTokenStore bound", () => {
  const token = (name: string): CachedToken => ({ token: name, expiresOnTimestamp: Number.MAX_SAFE_INTEGER, refreshAfterTimestamp: Number.MAX_SAFE_INTEGER });

  test("never holds more than its bound; a token read since it was stored outlives one that was not", () => {
    const store = new MemoryTokenStore(() => 0, 3);
    store.set("a", token("a"));
    store.set("b", token("b"));
    store.set("c", token("c"));
    assert.equal(store.get("a")?.token, "a");
    store.set("d", token("d"));
    assert.equal(store.size, 3);
    assert.equal(store.get("b"), undefined, "b, the least recently used, went");
    assert.equal(store.get("a")?.token, "a");
    for (let i = 0; i < 1000; i++) store.set(`k${i}`, token(`k${i}`));
    assert.equal(store.size, 3);
    assert.equal(store.get("k999")?.token, "k999");
  });

  test("replacing a token keeps the count", () => {
    const store = new MemoryTokenStore(() => 0, 2);
    store.set("a", token("a1"));
    store.set("a", token("a2"));
    store.set("b", token("b"));
    assert.equal(store.size, 2);
    assert.equal(store.get("a")?.token, "a2");
    store.delete("a");
    assert.equal(store.get("a"), undefined);
  });
});
