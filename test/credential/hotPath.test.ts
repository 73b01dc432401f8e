import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Harness, STORAGE_SCOPE, TestClock, type RegisteredApp } from "./support.ts";

let harness: Harness;
let app: RegisteredApp;
before(async () => {
  harness = await Harness.start();
  app = harness.emulator.registerApp({ secrets: ["hot-path"] });
});
after(async () => {
  await harness.close();
});
const entries = [{ sourceType: "ClientSecret", clientSecret: "hot-path" }] as const;

test("a plain cached call answers from the cache, with the same token for a string and a one-element array", async () => {
  const credential = harness.credential(harness.options(app, entries));
  const first = await credential.getToken(STORAGE_SCOPE);
  const requests = harness.loginTokenRequests();
  const second = await credential.getToken(STORAGE_SCOPE);
  const third = await credential.getToken([STORAGE_SCOPE]);
  assert.equal(harness.loginTokenRequests(), requests);
  assert.equal(second.token, first.token);
  assert.equal(third.token, first.token);
  assert.equal(second.tokenType, "Bearer");
  assert.equal(second.refreshAfterTimestamp, first.refreshAfterTimestamp);
});

test("cache hits share one settled answer per token, frozen so that no caller changes another's; a refreshed token has its own", async () => {
  const clock = new TestClock();
  const credential = harness.credential(harness.options(app, entries), { now: clock.now });
  const first = await credential.getToken(STORAGE_SCOPE);
  const hitA = credential.getToken(STORAGE_SCOPE);
  const hitB = credential.getToken(STORAGE_SCOPE, { enableCae: false, tracingOptions: {} });
  assert.equal(hitA, hitB, "one promise for every hit of one token");
  const answer = await hitA;
  assert.equal(answer.token, first.token);
  assert.ok(Object.isFrozen(answer));
  assert.throws(() => {
    (answer as { token: string }).token = "changed by one caller";
  }, TypeError);
  assert.equal((await credential.getToken(STORAGE_SCOPE)).token, first.token);
  clock.advance(first.refreshAfterTimestamp - clock.now() + 1);
  const refreshed = await credential.getToken(STORAGE_SCOPE);
  assert.notEqual(refreshed.token, first.token);
  const nextHit = credential.getToken(STORAGE_SCOPE);
  assert.notEqual(nextHit, hitA);
  assert.equal((await nextHit).token, refreshed.token);
});

test("an already-aborted signal rejects even when the token is cached", async () => {
  const credential = harness.credential(harness.options(app, entries));
  await credential.getToken(STORAGE_SCOPE);
  const controller = new AbortController();
  controller.abort(new Error("gave up before asking"));
  await assert.rejects(credential.getToken(STORAGE_SCOPE, { abortSignal: controller.signal }), /gave up before asking/);
});

test("a token due for refresh is not served by the hot path: it is refreshed", async () => {
  const clock = new TestClock();
  const credential = harness.credential(harness.options(app, entries), { now: clock.now });
  const first = await credential.getToken(STORAGE_SCOPE);
  clock.advance(first.refreshAfterTimestamp - clock.now() + 1);
  const requests = harness.loginTokenRequests();
  const refreshed = await credential.getToken(STORAGE_SCOPE);
  assert.equal(harness.loginTokenRequests(), requests + 1);
  assert.notEqual(refreshed.token, first.token);
});

test("a scope with surrounding spaces is trimmed by the full path and shares the cached token", async () => {
  const credential = harness.credential(harness.options(app, entries));
  const first = await credential.getToken(STORAGE_SCOPE);
  const spaced = await credential.getToken(` ${STORAGE_SCOPE} `);
  assert.equal(spaced.token, first.token);
});

test("a foreign AbortSignalLike reused across calls keeps no listener once each call is over", async () => {
  const credential = harness.credential(harness.options(app, entries));
  const listeners = new Set<unknown>();
  let added = 0;
  const signal = {
    aborted: false,
    addEventListener(_type: "abort", listener: unknown): void {
      added++;
      listeners.add(listener);
    },
    removeEventListener(_type: "abort", listener: unknown): void {
      listeners.delete(listener);
    },
  };
  // Cache misses take the full path, which bridges the signal.
  for (const scope of [STORAGE_SCOPE, "https://vault.azure.net/.default"]) {
    await credential.getToken(scope, { abortSignal: signal });
    assert.equal(listeners.size, 0, `after ${scope}`);
  }
  assert.equal(added, 2, "each call did bridge the signal");
});
