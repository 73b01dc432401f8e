import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TransportError } from "../../src/transport/errors.ts";
import {
  type AttemptOutcome,
  exponentialDelayMs,
  imdsProbeRetryPolicy,
  imdsRetryPolicy,
  managedIdentityRetryPolicy,
  parseRetryAfter,
  RETRY_AFTER_CAP_MS,
  regionDiscoveryRetryPolicy,
  type RetryPolicy,
  sleep,
  stsRetryPolicy,
  withRetry,
} from "../../src/transport/retry.ts";
import { recordingSleep } from "./fixtures.ts";

const status = (code: number, retryAfterMs?: number): AttemptOutcome => ({ status: code, retryAfterMs });
const timeout: AttemptOutcome = { error: new TransportError("timeout", "h", "timed out") };
const refused: AttemptOutcome = { error: new TransportError("connect", "h", "refused") };
const tlsFailure: AttemptOutcome = { error: new TransportError("tls", "h", "bad cert") };

/** The delays a policy asks for when every attempt has the same outcome. */
function delaysFor(policy: RetryPolicy, outcomes: AttemptOutcome[] | AttemptOutcome): number[] {
  const list = Array.isArray(outcomes) ? outcomes : Array.from({ length: 20 }, () => outcomes);
  const delays: number[] = [];
  const first = list[0];
  assert.ok(first !== undefined);
  for (let i = 0; i < list.length; i++) {
    const outcome = list[i];
    assert.ok(outcome !== undefined);
    const delay = policy.nextDelayMs(outcome, i, first);
    if (delay === undefined) break;
    delays.push(delay);
  }
  return delays;
}

describe("IMDS policy (wire-protocol §2.10)", () => {
  const policy = imdsRetryPolicy();
  for (const code of [404, 408, 429, 500, 502, 503, 504, 599]) {
    test(`${code}: 3 retries after 1 s, 2 s, 4 s`, () => {
      assert.deepEqual(delaysFor(policy, status(code)), [1000, 2000, 4000]);
    });
  }
  test("410 first: 7 retries of 10 s", () => {
    assert.deepEqual(delaysFor(policy, status(410)), Array.from({ length: 7 }, () => 10_000));
  });
  test("a 410 after another first status keeps the budget of 3 but waits 10 s", () => {
    assert.deepEqual(delaysFor(policy, [status(500), status(410), status(410), status(410), status(410)]), [1000, 10_000, 10_000]);
  });
  test("timeouts are retried; refused connections and TLS failures are not", () => {
    assert.deepEqual(delaysFor(policy, timeout), [1000, 2000, 4000]);
    assert.deepEqual(delaysFor(policy, refused), []);
    assert.deepEqual(delaysFor(policy, tlsFailure), []);
  });
  for (const code of [200, 400, 401, 403]) {
    test(`${code} is not retried`, () => assert.deepEqual(delaysFor(policy, status(code)), []));
  }
  test("IMDS ignores Retry-After", () => {
    assert.deepEqual(delaysFor(policy, status(429, 30_000)), [1000, 2000, 4000]);
  });
  test("probe variant does not retry 404", () => {
    assert.deepEqual(delaysFor(imdsProbeRetryPolicy(), status(404)), []);
    assert.deepEqual(delaysFor(imdsProbeRetryPolicy(), status(500)), [1000, 2000, 4000]);
    assert.equal(delaysFor(imdsProbeRetryPolicy(), status(410)).length, 7);
  });
  test("region discovery does not retry 404 or 408", () => {
    assert.deepEqual(delaysFor(regionDiscoveryRetryPolicy(), status(404)), []);
    assert.deepEqual(delaysFor(regionDiscoveryRetryPolicy(), status(408)), []);
    assert.deepEqual(delaysFor(regionDiscoveryRetryPolicy(), status(503)), [1000, 2000, 4000]);
  });
  test("exponential schedule", () => {
    assert.deepEqual([0, 1, 2, 3, 4].map((n) => exponentialDelayMs(n)), [1000, 2000, 4000, 4000, 4000]);
  });
});

describe("managed identity default policy", () => {
  const policy = managedIdentityRetryPolicy();
  test("retries 404/408/429/500/503/504 three times, 1 s or a longer Retry-After", () => {
    for (const code of [404, 408, 429, 500, 503, 504]) assert.deepEqual(delaysFor(policy, status(code)), [1000, 1000, 1000]);
    assert.deepEqual(delaysFor(policy, status(429, 5000)), [5000, 5000, 5000]);
    assert.deepEqual(delaysFor(policy, status(502)), []);
    assert.deepEqual(delaysFor(policy, timeout), [1000, 1000, 1000]);
  });
});

describe("STS policy (wire-protocol §5.3)", () => {
  const policy = stsRetryPolicy();
  test("one retry after 1 s on a 5xx without Retry-After, or a timeout", () => {
    for (const code of [500, 502, 503, 504]) assert.deepEqual(delaysFor(policy, status(code)), [1000]);
    assert.deepEqual(delaysFor(policy, timeout), [1000]);
  });
  test("no retry on 4xx, 429 without Retry-After, refused connections or TLS failures", () => {
    for (const code of [400, 401, 403, 404, 412, 429]) assert.deepEqual(delaysFor(policy, status(code)), []);
    assert.deepEqual(delaysFor(policy, refused), []);
    assert.deepEqual(delaysFor(policy, tlsFailure), []);
  });
  test("a short Retry-After on 429/5xx is waited on once; a long one is not retried", () => {
    assert.deepEqual(delaysFor(policy, status(429, 1000)), [1000]);
    assert.deepEqual(delaysFor(policy, status(503, 2000)), [2000]);
    assert.deepEqual(delaysFor(policy, status(503, 0)), [0]);
    assert.deepEqual(delaysFor(policy, status(503, 2001)), []);
    assert.deepEqual(delaysFor(policy, status(429, 30_000)), []);
    assert.deepEqual(delaysFor(policy, status(400, 1000)), []);
  });
  test("waiting on Retry-After can be switched off, and never exceeds the cap", () => {
    assert.deepEqual(delaysFor(stsRetryPolicy({ maxRetryAfterWaitMs: 0 }), status(429, 1000)), []);
    assert.deepEqual(delaysFor(stsRetryPolicy({ maxRetryAfterWaitMs: 10 * 60_000 }), status(429, RETRY_AFTER_CAP_MS)), [RETRY_AFTER_CAP_MS]);
  });
  test("tunable retries and delay", () => {
    assert.deepEqual(delaysFor(stsRetryPolicy({ maxRetries: 3, baseDelayMs: 5 }), status(500)), [5, 5, 5]);
    assert.deepEqual(delaysFor(stsRetryPolicy({ maxRetries: 0 }), status(500)), []);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const cases: [string | undefined, number | undefined][] = [
    [undefined, undefined],
    ["", undefined],
    ["   ", undefined],
    ["0", 0],
    ["5", 5000],
    [" 7 ", 7000],
    ["1.5", 1500],
    ["120", RETRY_AFTER_CAP_MS],
    ["99999999999999999999999", RETRY_AFTER_CAP_MS],
    ["-5", undefined],
    ["soon", undefined],
    ["Thu, 01 Jan 2026 00:00:10 GMT", 10_000],
    ["Wed, 31 Dec 2025 23:59:00 GMT", 0],
    ["Thu, 01 Jan 2026 01:00:00 GMT", RETRY_AFTER_CAP_MS],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(parseRetryAfter(input, now), expected));
  }
});

describe("withRetry", () => {
  test("retries per policy with the injected sleep and returns the last value", async () => {
    const { delays, sleep: fake } = recordingSleep();
    const answers = [503, 500, 200];
    let attempts = 0;
    const result = await withRetry(async () => answers[attempts++] ?? 0, {
      policy: stsRetryPolicy({ maxRetries: 5 }),
      outcomeOf: (code) => ({ status: code, retryAfterMs: undefined }),
      sleep: fake,
    });
    assert.equal(result, 200);
    assert.equal(attempts, 3);
    assert.deepEqual(delays, [1000, 1000]);
  });

  test("rethrows the last error when the policy stops", async () => {
    const { delays, sleep: fake } = recordingSleep();
    let attempts = 0;
    await assert.rejects(
      withRetry(
        async () => {
          attempts++;
          throw new TransportError("timeout", "h", `timed out ${attempts}`);
        },
        { policy: imdsRetryPolicy(), outcomeOf: () => ({ status: 200, retryAfterMs: undefined }), sleep: fake },
      ),
      /timed out 4/,
    );
    assert.equal(attempts, 4);
    assert.deepEqual(delays, [1000, 2000, 4000]);
  });

  test("tells the observer about each retry", async () => {
    const events: number[] = [];
    let attempts = 0;
    await withRetry(async () => (attempts++ === 0 ? 500 : 200), {
      policy: stsRetryPolicy(),
      outcomeOf: (code) => ({ status: code, retryAfterMs: undefined }),
      sleep: recordingSleep().sleep,
      onRetry: (event) => events.push(event.retry, event.delayMs),
    });
    assert.deepEqual(events, [1, 1000]);
  });

  test("an abort during the wait stops at once with the given error", async () => {
    const controller = new AbortController();
    let attempts = 0;
    const started = withRetry(
      async () => {
        attempts++;
        return 500;
      },
      {
        policy: stsRetryPolicy({ baseDelayMs: 60_000 }),
        outcomeOf: (code) => ({ status: code, retryAfterMs: undefined }),
        signal: controller.signal,
        abortError: () => new Error("stopped by caller"),
      },
    );
    setImmediate(() => controller.abort());
    await assert.rejects(started, /stopped by caller/);
    assert.equal(attempts, 1);
  });

  test("no retry once the signal has aborted", async () => {
    let attempts = 0;
    const controller = new AbortController();
    const value = await withRetry(
      async () => {
        attempts++;
        controller.abort();
        return 500;
      },
      { policy: stsRetryPolicy(), outcomeOf: (code) => ({ status: code, retryAfterMs: undefined }), signal: controller.signal },
    );
    assert.equal(value, 500);
    assert.equal(attempts, 1);
  });
});

describe("sleep", () => {
  test("waits and can be aborted", async () => {
    await sleep(1);
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort(new Error("cancelled"));
    await assert.rejects(pending, /cancelled/);
    await assert.rejects(sleep(10, AbortSignal.abort(new Error("already"))), /already/);
  });
});
