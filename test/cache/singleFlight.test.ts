import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Freshness, RefreshAhead, type RefreshOutcome, SingleFlight } from "../../src/cache/singleFlight.ts";
import { deferred, TestClock } from "../helpers/index.ts";

describe("SingleFlight", () => {
  test("concurrent callers of one key share one unit of work; other keys get their own", async () => {
    const flights = new SingleFlight<string, number>();
    const gate = deferred<void>();
    let calls = 0;
    const work = async (): Promise<number> => {
      calls++;
      await gate.promise;
      return calls;
    };
    const a = Array.from({ length: 100 }, () => flights.run("a", work));
    const b = flights.run("b", work);
    assert.equal(flights.has("a"), true);
    gate.resolve();
    assert.deepEqual(new Set(await Promise.all(a)).size, 1);
    await b;
    assert.equal(calls, 2);
    assert.equal(flights.has("a"), false, "a settled flight is forgotten");
  });

  test("a failed flight rejects every caller and is forgotten, so the next caller starts again", async () => {
    const flights = new SingleFlight<string, string>();
    let calls = 0;
    const failing = async (): Promise<string> => {
      calls++;
      throw new Error(`failure ${calls}`);
    };
    const results = await Promise.allSettled([flights.run("k", failing), flights.run("k", failing)]);
    assert.deepEqual(
      results.map((r) => (r.status === "rejected" ? (r.reason as Error).message : "ok")),
      ["failure 1", "failure 1"],
    );
    assert.equal(await flights.run("k", async () => "second"), "second");
  });

  test("a synchronous throw in the work is a rejection, not a throw from run", async () => {
    const flights = new SingleFlight<string, string>();
    const promise = flights.run("k", () => {
      throw new Error("sync");
    });
    await assert.rejects(promise, /sync/);
  });

  test("one caller's abort rejects that caller at once; the work goes on for the others", async () => {
    const flights = new SingleFlight<string, string>();
    const gate = deferred<string>();
    let workSignal: AbortSignal | undefined;
    const work = (signal: AbortSignal): Promise<string> => {
      workSignal = signal;
      return gate.promise;
    };
    const impatient = new AbortController();
    const first = flights.run("k", work, { signal: impatient.signal });
    const second = flights.run("k", work);
    const reason = new Error("gave up");
    impatient.abort(reason);
    await assert.rejects(first, (error) => error === reason);
    assert.equal(workSignal?.aborted, false, "the shared work is not aborted while a caller waits");
    gate.resolve("value");
    assert.equal(await second, "value");
  });

  test("the work is aborted when every caller has gone, and the next caller starts anew", async () => {
    const flights = new SingleFlight<string, string>();
    const signals: AbortSignal[] = [];
    const work = (signal: AbortSignal): Promise<string> => {
      signals.push(signal);
      return new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error)));
    };
    const a = new AbortController();
    const b = new AbortController();
    const first = flights.run("k", work, { signal: a.signal });
    const second = flights.run("k", work, { signal: b.signal });
    await Promise.resolve();
    a.abort(new Error("a"));
    assert.equal(signals[0]?.aborted, false);
    b.abort(new Error("b"));
    await assert.rejects(first, /^Error: a$/);
    await assert.rejects(second, /^Error: b$/);
    assert.equal(signals[0]?.aborted, true, "no caller is left: the work is aborted");
    assert.equal(flights.has("k"), false);
    const third = flights.run("k", async () => "fresh start");
    assert.equal(await third, "fresh start");
  });

  test("an already aborted signal rejects without starting work", async () => {
    const flights = new SingleFlight<string, string>();
    let started = false;
    const controller = new AbortController();
    controller.abort(new Error("before"));
    await assert.rejects(
      flights.run("k", async () => {
        started = true;
        return "x";
      }, { signal: controller.signal }),
      /before/,
    );
    assert.equal(started, false);
  });

  test("fresh() does not join ordinary work already in flight; it supersedes it, and later fresh() calls join it", async () => {
    const flights = new SingleFlight<string, string>();
    const old = deferred<string>();
    const states: { superseded: boolean }[] = [];
    const ordinary = flights.run("k", (_signal, state) => {
      states.push(state);
      return old.promise;
    });
    await Promise.resolve();
    let freshCalls = 0;
    const freshWork = async (): Promise<string> => `fresh-${++freshCalls}`;
    const f1 = flights.fresh("k", freshWork);
    const f2 = flights.fresh("k", freshWork);
    assert.equal(flights.isFresh("k"), true);
    assert.equal(await f1, "fresh-1");
    assert.equal(await f2, "fresh-1");
    assert.equal(states[0]?.superseded, true);
    old.resolve("old");
    assert.equal(await ordinary, "old", "callers of the superseded work still get its result");
  });
});

/** A value with an explicit freshness, judged against the clock. */
interface Value {
  readonly name: string;
  readonly staleAt: number;
  readonly expiresAt: number;
}

function freshness(value: Value, now: number): Freshness {
  if (now >= value.expiresAt) return "expired";
  return now >= value.staleAt ? "stale" : "fresh";
}

function fixture() {
  const clock = new TestClock(1_000_000);
  const discarded: string[] = [];
  const cache = new RefreshAhead<Value>({ freshness, now: clock.now, onDiscard: (v) => discarded.push(v.name) });
  let calls = 0;
  const issue = (name = `v${++calls}`): Value => ({ name, staleAt: clock.now() + 1000, expiresAt: clock.now() + 2000 });
  const outcomes: RefreshOutcome[] = [];
  return { clock, cache, discarded, issue, outcomes, calls: () => calls, onOutcome: (o: RefreshOutcome) => outcomes.push(o) };
}

describe("RefreshAhead", () => {
  test("miss, then hits while fresh, then a refresh when stale", async () => {
    const f = fixture();
    const acquire = async () => f.issue();
    assert.equal((await f.cache.get("k", acquire, { onOutcome: f.onOutcome })).name, "v1");
    f.clock.advance(999);
    assert.equal(f.cache.peek("k")?.name, "v1");
    assert.equal((await f.cache.get("k", acquire, { onOutcome: f.onOutcome })).name, "v1");
    f.clock.advance(1);
    assert.equal(f.cache.peek("k"), undefined, "a stale value does not serve synchronously");
    assert.equal(f.cache.kept("k")?.name, "v1");
    assert.equal((await f.cache.get("k", acquire, { onOutcome: f.onOutcome })).name, "v2");
    assert.deepEqual(f.outcomes, ["miss", "hit", "refresh"]);
    assert.deepEqual(f.discarded, ["v1"], "the replaced value is discarded");
  });

  test("a failed refresh serves the stale value and says why; after expiry it rejects", async () => {
    const f = fixture();
    await f.cache.get("k", async () => f.issue());
    f.clock.advance(1500);
    const failures: unknown[] = [];
    const failure = new Error("refresh failed");
    const served = await f.cache.get("k", async () => Promise.reject(failure), { onStaleServed: (e) => failures.push(e), onOutcome: f.onOutcome });
    assert.equal(served.name, "v1");
    assert.deepEqual(failures, [failure]);
    assert.deepEqual(f.outcomes, ["stale-served"]);
    f.clock.advance(500);
    await assert.rejects(f.cache.get("k", async () => Promise.reject(failure)), /refresh failed/);
  });

  test("a stale value that expires while the refresh runs is not served when the refresh fails", async () => {
    const f = fixture();
    await f.cache.get("k", async () => f.issue());
    f.clock.advance(1500);
    await assert.rejects(
      f.cache.get("k", async () => {
        f.clock.advance(600);
        throw new Error("late failure");
      }),
      /late failure/,
    );
  });

  test("the caller's own abort during a refresh rejects instead of serving stale", async () => {
    const f = fixture();
    await f.cache.get("k", async () => f.issue());
    f.clock.advance(1500);
    const controller = new AbortController();
    const pending = f.cache.get("k", (signal) => new Promise((_r, reject) => signal.addEventListener("abort", () => reject(new Error("aborted work")))), {
      signal: controller.signal,
      onStaleServed: () => assert.fail("must not serve stale on the caller's abort"),
    });
    controller.abort(new Error("caller gone"));
    await assert.rejects(pending, /caller gone/);
  });

  test("concurrent callers of a cold key share one acquisition", async () => {
    const f = fixture();
    const gate = deferred<void>();
    const acquire = async (): Promise<Value> => {
      await gate.promise;
      return f.issue();
    };
    const all = Array.from({ length: 50 }, () => f.cache.get("k", acquire));
    gate.resolve();
    assert.ok((await Promise.all(all)).every((v) => v.name === "v1"));
    assert.equal(f.calls(), 1);
  });

  test("refresh() never returns the kept value, and get() waits for a refresh in flight", async () => {
    const f = fixture();
    await f.cache.get("k", async () => f.issue());
    const gate = deferred<void>();
    const refreshed = f.cache.refresh("k", async () => {
      await gate.promise;
      return f.issue();
    });
    const during = f.cache.get("k", async () => assert.fail("get joins the refresh"), { onOutcome: f.onOutcome });
    gate.resolve();
    assert.equal((await refreshed).name, "v2");
    assert.equal((await during).name, "v2");
    assert.equal(f.cache.peek("k")?.name, "v2");
    assert.deepEqual(f.outcomes, ["refresh"]);
  });

  test("a superseded flight's late result is not kept over the newer one", async () => {
    const f = fixture();
    const slow = deferred<Value>();
    const ordinary = f.cache.get("k", () => slow.promise);
    await Promise.resolve();
    const newer = await f.cache.refresh("k", async () => f.issue("newer"));
    assert.equal(newer.name, "newer");
    slow.resolve(f.issue("older"));
    assert.equal((await ordinary).name, "older");
    assert.equal(f.cache.kept("k")?.name, "newer");
  });

  test("variants share only among themselves and keep their result under the key", async () => {
    const f = fixture();
    const gate = deferred<void>();
    let calls = 0;
    const acquire = (name: string) => async (): Promise<Value> => {
      calls++;
      await gate.promise;
      return f.issue(name);
    };
    const a1 = f.cache.refresh("k", acquire("a"), { variant: "claims-a" });
    const a2 = f.cache.refresh("k", acquire("a-again"), { variant: "claims-a" });
    const b = f.cache.refresh("k", acquire("b"), { variant: "claims-b" });
    gate.resolve();
    assert.equal((await a1).name, "a");
    assert.equal((await a2).name, "a");
    assert.equal((await b).name, "b");
    assert.equal(calls, 2);
    assert.ok(["a", "b"].includes(f.cache.kept("k")?.name ?? ""));
  });

  test("invalidate with the rejected value drops it only if it is still kept", async () => {
    const f = fixture();
    const first = await f.cache.get("k", async () => f.issue());
    await f.cache.refresh("k", async () => f.issue());
    f.cache.invalidate("k", first);
    assert.equal(f.cache.kept("k")?.name, "v2", "a replacement is not thrown away for an older rejection");
    f.cache.invalidate("k", f.cache.kept("k"));
    assert.equal(f.cache.kept("k"), undefined);
    assert.deepEqual(f.discarded, ["v1", "v2"]);
  });

  test("keeps values in the given store", async () => {
    const store = new Map<string, Value>();
    const clock = new TestClock(0);
    const cache = new RefreshAhead<Value>({ freshness, now: clock.now, store });
    await cache.get("k", async () => ({ name: "x", staleAt: 10, expiresAt: 20 }));
    assert.equal(store.get("k")?.name, "x");
  });
});
