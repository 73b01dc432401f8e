// The token cache and GetTokenOptions end to end: what reaches the emulator (its journal) for
// concurrent callers, refreshes, expiry, claims, CAE and tenants; cancellation, timeouts, tracing
// and the options the credential refuses. Time moves only through the injected clock.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { useInstrumenter, type Instrumenter, type TracingContext, type TracingSpan } from "@azure/core-tracing";
import { AuthenticationError, BoundCredentialConfigurationError, CredentialUnavailableError } from "../../src/errors.ts";
import { EXPIRY_MARGIN_MS } from "../../src/cache/tokenCache.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { captureLogs, Harness, rejectionOf, STORAGE_SCOPE, TestClock, VAULT_SCOPE, type RegisteredApp } from "./support.ts";

const SECRET = "cache-and-options-secret-55b0";
const secretEntry: CredentialDescription = { sourceType: "ClientSecret", clientSecret: SECRET };
const SECOND = 1000;

let harness: Harness;
let app: RegisteredApp;

before(async () => {
  harness = await Harness.start();
  app = harness.emulator.registerApp({ secrets: [SECRET] });
});

after(async () => {
  await harness.close();
});

/** Token requests the login host received while `work` ran. */
async function requestsDuring(work: () => Promise<unknown>): Promise<{ status: number | undefined; form: Readonly<Record<string, string>>; path: string }[]> {
  const from = harness.loginTokenRequests();
  await work();
  return harness.emulator.journal
    .ofRoute("login.token")
    .slice(from)
    .map((entry) => ({ status: entry.status, form: entry.form, path: entry.path }));
}

describe("cache", () => {
  test("1,000 concurrent callers of one scope share one token request; another scope makes one more", async () => {
    const credential = harness.credential(harness.options(app, [secretEntry]));
    let tokens: { token: string }[] = [];
    const requests = await requestsDuring(async () => {
      tokens = await Promise.all(Array.from({ length: 1000 }, () => credential.getToken(STORAGE_SCOPE)));
    });
    assert.equal(requests.length, 1);
    assert.equal(new Set(tokens.map((t) => t.token)).size, 1, "every caller got the same token");
    await harness.verify(tokens[0]?.token ?? "", app);

    const second = await requestsDuring(() => Promise.all(Array.from({ length: 100 }, () => credential.getToken(VAULT_SCOPE))));
    assert.equal(second.length, 1);
    assert.equal(second[0]?.form["scope"], VAULT_SCOPE);
    // Scopes in another order are the same key.
    assert.equal((await requestsDuring(() => credential.getToken([STORAGE_SCOPE]))).length, 0);
  });

  test("refresh_in: the token is served until then, refreshed after it", async () => {
    const clock = new TestClock();
    const credential = harness.credential(harness.options(app, [secretEntry]), { now: clock.now });
    const first = await credential.getToken(STORAGE_SCOPE);
    // The emulator sends refresh_in = half of expires_in (3599 s).
    const refreshIn = Math.floor(3599 / 2) * SECOND;
    assert.ok(Math.abs(first.refreshAfterTimestamp - (clock.now() + refreshIn)) <= 2 * SECOND, "refreshAfterTimestamp follows refresh_in");
    assert.ok(Math.abs(first.expiresOnTimestamp - (clock.now() + 3599 * SECOND)) <= 2 * SECOND, "expiry follows expires_in on the credential's clock");

    clock.advance(refreshIn - 10 * SECOND);
    assert.equal((await requestsDuring(() => credential.getToken(STORAGE_SCOPE))).length, 0, "before refresh_in: from the cache");

    clock.advance(20 * SECOND);
    let refreshed = first;
    assert.equal(
      (await requestsDuring(async () => (refreshed = await credential.getToken(STORAGE_SCOPE)))).length,
      1,
      "after refresh_in: refreshed",
    );
    assert.notEqual(refreshed.token, first.token);
    assert.ok(refreshed.expiresOnTimestamp > first.expiresOnTimestamp);
    assert.equal(credential.lastServed?.cache, "refresh");
    assert.equal((await requestsDuring(() => credential.getToken(STORAGE_SCOPE))).length, 0, "the new token is cached");
  });

  test("without refresh_in, a token living over two hours is refreshed at half-life", async () => {
    const quiet = await Harness.start({ sendRefreshIn: false, tokenLifetimeSeconds: 4 * 3600 });
    try {
      const quietApp = quiet.emulator.registerApp({ secrets: [SECRET] });
      const clock = new TestClock();
      const credential = quiet.credential(quiet.options(quietApp, [secretEntry]), { now: clock.now });
      const first = await credential.getToken(STORAGE_SCOPE);
      const halfLife = (first.expiresOnTimestamp - clock.now()) / 2;
      assert.ok(Math.abs(halfLife - 2 * 3600 * SECOND) <= 2 * SECOND);
      assert.ok(Math.abs(first.refreshAfterTimestamp - (clock.now() + halfLife)) <= 2 * SECOND);
      clock.advance(halfLife - 10 * SECOND);
      assert.equal((await credential.getToken(STORAGE_SCOPE)).token, first.token);
      clock.advance(20 * SECOND);
      const from = quiet.loginTokenRequests();
      assert.notEqual((await credential.getToken(STORAGE_SCOPE)).token, first.token);
      assert.equal(quiet.loginTokenRequests() - from, 1);
    } finally {
      await quiet.close();
    }
  });

  test("a failed refresh serves the still-valid token and logs why", async () => {
    const clock = new TestClock();
    const credential = harness.credential(harness.options(app, [secretEntry]), { now: clock.now });
    const first = await credential.getToken(STORAGE_SCOPE);
    clock.advance(first.refreshAfterTimestamp - clock.now() + SECOND);

    harness.emulator.faults.add({ route: "login.token", status: 503, count: 2 });
    const logs = captureLogs("warning");
    let served = first;
    let requests;
    try {
      requests = await requestsDuring(async () => (served = await credential.getToken(STORAGE_SCOPE)));
    } finally {
      logs.stop();
      harness.emulator.faults.clear();
    }
    assert.deepEqual(requests.map((r) => r.status), [503, 503], "the refresh was tried (with its one retry)");
    assert.equal(served.token, first.token, "the cached token was served");
    assert.ok(logs.lines.some((line) => /refreshing the token for .* failed; serving the cached token/.test(line)));

    // Entra is back: the next call refreshes.
    const later = await credential.getToken(STORAGE_SCOPE);
    assert.notEqual(later.token, first.token);
  });

  test("never served within five minutes of expiry: a new token is fetched, and a failure is not hidden", async () => {
    const shortLived = harness.emulator.registerApp({ secrets: [SECRET], tokenLifetimeSeconds: 600 });
    const clock = new TestClock();
    const credential = harness.credential(harness.options(shortLived, [secretEntry]), { now: clock.now });
    const first = await credential.getToken(STORAGE_SCOPE);
    assert.ok(first.refreshAfterTimestamp <= first.expiresOnTimestamp - EXPIRY_MARGIN_MS);

    clock.advance(first.expiresOnTimestamp - EXPIRY_MARGIN_MS - clock.now() + SECOND);
    let second = first;
    assert.equal((await requestsDuring(async () => (second = await credential.getToken(STORAGE_SCOPE)))).length, 1);
    assert.notEqual(second.token, first.token);
    assert.equal((await requestsDuring(() => credential.getToken(STORAGE_SCOPE))).length, 0, "the new token is cached");

    // At the margin again, Entra fails: the old token is not served.
    clock.advance(second.expiresOnTimestamp - EXPIRY_MARGIN_MS - clock.now() + SECOND);
    harness.emulator.faults.add({ route: "login.token", status: 500, count: 2 });
    try {
      const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
      assert.ok(error instanceof AuthenticationError);
    } finally {
      harness.emulator.faults.clear();
    }
  });

  test("claims bypass the cache read and reach Entra", async () => {
    const credential = harness.credential(harness.options(app, [secretEntry]));
    const cached = await credential.getToken(STORAGE_SCOPE);
    const challenge = JSON.stringify({ access_token: { nbf: { essential: true, value: "1700000000" } } });
    let fresh = cached;
    const requests = await requestsDuring(async () => (fresh = await credential.getToken(STORAGE_SCOPE, { claims: challenge })));
    assert.equal(requests.length, 1);
    // msal-node adds id_token claims of its own; the challenge's access_token part is passed as it is.
    const sent = JSON.parse(requests[0]?.form["claims"] ?? "{}") as { access_token?: unknown };
    assert.deepEqual(sent.access_token, JSON.parse(challenge).access_token);
    assert.notEqual(fresh.token, cached.token);
    assert.equal(credential.lastServed?.cache, "bypass");
    assert.equal((await requestsDuring(() => credential.getToken(STORAGE_SCOPE, { claims: challenge }))).length, 1, "every claims call goes to Entra");
  });

  test("enableCae: cp1 is announced in claims, and CAE tokens are cached apart", async () => {
    const credential = harness.credential(harness.options(app, [secretEntry]));
    const plain = await credential.getToken(STORAGE_SCOPE);
    let cae = plain;
    const requests = await requestsDuring(async () => (cae = await credential.getToken(STORAGE_SCOPE, { enableCae: true })));
    assert.equal(requests.length, 1, "not served from the non-CAE cache");
    const claims = JSON.parse(requests[0]?.form["claims"] ?? "{}") as { access_token?: { xms_cc?: { values?: unknown } } };
    assert.deepEqual(claims.access_token?.xms_cc?.values, ["cp1"]);
    assert.deepEqual((await harness.verify(cae.token, app))["xms_cc"], ["cp1"]);
    assert.equal((await harness.verify(plain.token, app))["xms_cc"], undefined);

    assert.equal((await requestsDuring(() => credential.getToken(STORAGE_SCOPE, { enableCae: true }))).length, 0);
    assert.equal((await credential.getToken(STORAGE_SCOPE)).token, plain.token);
    assert.equal((await credential.getToken(STORAGE_SCOPE, { enableCae: true })).token, cae.token);

    // A claims challenge and CAE together: both in one claims parameter.
    const merged = await requestsDuring(() =>
      credential.getToken(STORAGE_SCOPE, { enableCae: true, claims: JSON.stringify({ access_token: { nbf: { essential: true, value: "1" } } }) }),
    );
    const mergedClaims = JSON.parse(merged[0]?.form["claims"] ?? "{}") as { access_token?: Record<string, unknown> };
    assert.deepEqual(Object.keys(mergedClaims.access_token ?? {}).sort(), ["nbf", "xms_cc"]);
  });
});

describe("GetTokenOptions.tenantId", () => {
  const otherTenant = randomUUID();
  const anyTenant = randomUUID();
  let multiTenant: RegisteredApp;

  before(() => {
    multiTenant = harness.emulator.registerApp({ secrets: [SECRET], additionalTenantIds: [otherTenant, anyTenant] });
  });

  test("an allowed tenant gets its own token, cached apart from the home tenant's", async () => {
    const credential = harness.credential(harness.options(multiTenant, [secretEntry], { additionallyAllowedTenants: [otherTenant] }));
    const home = await credential.getToken(STORAGE_SCOPE);
    let other = home;
    const requests = await requestsDuring(async () => (other = await credential.getToken(STORAGE_SCOPE, { tenantId: otherTenant })));
    assert.equal(requests.length, 1, "not served from the home tenant's cache");
    assert.equal(requests[0]?.path, `/${otherTenant}/oauth2/v2.0/token`);
    assert.equal((await harness.verify(home.token, multiTenant))["tid"], multiTenant.tenantId);
    assert.equal((await harness.verify(other.token, multiTenant))["tid"], otherTenant);

    assert.equal((await requestsDuring(() => credential.getToken(STORAGE_SCOPE, { tenantId: otherTenant }))).length, 0);
    assert.equal((await credential.getToken(STORAGE_SCOPE)).token, home.token);
    assert.equal((await credential.getToken(STORAGE_SCOPE, { tenantId: multiTenant.tenantId })).token, home.token);
  });

  test("a tenant not allowed: CredentialUnavailableError with @azure/identity's message, nothing sent", async () => {
    const credential = harness.credential(harness.options(multiTenant, [secretEntry], { additionallyAllowedTenants: [otherTenant] }));
    let error: Error | undefined;
    const requests = await requestsDuring(async () => (error = await rejectionOf(credential.getToken(STORAGE_SCOPE, { tenantId: anyTenant }))));
    assert.ok(error instanceof CredentialUnavailableError);
    assert.equal(error.name, "CredentialUnavailableError");
    assert.equal(
      error.message,
      `The current credential is not configured to acquire tokens for tenant ${anyTenant}. To enable acquiring tokens for this tenant add it to the AdditionallyAllowedTenants on the credential options, or add "*" to AdditionallyAllowedTenants to allow acquiring tokens for any tenant.`,
    );
    assert.equal(requests.length, 0);
  });

  test('"*" allows any tenant', async () => {
    const credential = harness.credential(harness.options(multiTenant, [secretEntry], { additionallyAllowedTenants: ["*"] }));
    const token = await credential.getToken(STORAGE_SCOPE, { tenantId: anyTenant });
    assert.equal((await harness.verify(token.token, multiTenant))["tid"], anyTenant);
  });

  test("AZURE_IDENTITY_DISABLE_MULTITENANTAUTH keeps the configured tenant, as @azure/identity does", async () => {
    const credential = harness.credential(harness.options(multiTenant, [secretEntry]), {
      env: { AZURE_IDENTITY_DISABLE_MULTITENANTAUTH: "true" },
    });
    const token = await credential.getToken(STORAGE_SCOPE, { tenantId: anyTenant });
    assert.equal((await harness.verify(token.token, multiTenant))["tid"], multiTenant.tenantId);
  });
});

describe("cancellation and timeouts", () => {
  test("abortSignal aborts the request in flight and rejects promptly; nothing is left pending", async () => {
    const credential = harness.credential(harness.options(app, [secretEntry, secretEntry]));
    harness.emulator.faults.add({ route: "login.token", delayMs: 5000, count: 1 });
    const from = harness.loginTokenRequests();
    const controller = new AbortController();
    const pending = rejectionOf(credential.getToken(STORAGE_SCOPE, { abortSignal: controller.signal }));
    // Abort once the request is in flight at the emulator, however long a loaded machine took to send it.
    for (let waited = 0; harness.loginTokenRequests() === from && waited < 10_000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const started = performance.now();
    controller.abort();
    const error = await pending;
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 2500, `rejected after ${Math.round(elapsed)} ms, long before the 5 s answer`);
    assert.match(error.name, /AbortError|TimeoutError/);
    assert.equal(harness.loginTokenRequests() - from, 1, "the request had been sent, and the next entry was not tried");

    // The aborted flight is gone: the next caller gets a token of its own at once, from the first
    // entry (an abort benches nothing).
    const next = await credential.getToken(STORAGE_SCOPE);
    await harness.verify(next.token, app);
    assert.equal(harness.loginTokenRequests() - from, 2);
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[0\]/);
  });

  test("an aborted caller does not cancel the request another caller still waits for", async () => {
    const credential = harness.credential(harness.options(app, [secretEntry]));
    harness.emulator.faults.add({ route: "login.token", delayMs: 300, count: 1 });
    const controller = new AbortController();
    const patient = credential.getToken(VAULT_SCOPE);
    const impatient = credential.getToken(VAULT_SCOPE, { abortSignal: controller.signal });
    controller.abort();
    await rejectionOf(impatient);
    await harness.verify((await patient).token, app, "https://vault.azure.net");
  });

  test("an already aborted signal rejects without a request", async () => {
    const credential = harness.credential(harness.options(app, [secretEntry]));
    const requests = await requestsDuring(() => rejectionOf(credential.getToken(STORAGE_SCOPE, { abortSignal: AbortSignal.abort() })));
    assert.equal(requests.length, 0);
  });

  test("requestOptions.timeout bounds each request; a timeout is retried once", async () => {
    const credential = harness.credential(harness.options(app, [secretEntry, secretEntry]));
    harness.emulator.faults.add({ route: "login.token", delayMs: 5000, count: 2 });
    const from = harness.loginTokenRequests();
    const started = performance.now();
    // 250 ms: long enough for a loaded machine to open the connection, far below the 5 s answer.
    const error = await rejectionOf(credential.getToken(STORAGE_SCOPE, { requestOptions: { timeout: 250 } }));
    const elapsed = performance.now() - started;
    harness.emulator.faults.clear();
    assert.ok(elapsed < 2500, `rejected after ${Math.round(elapsed)} ms`);
    assert.ok(error instanceof AuthenticationError, `${error.name}: ${error.message}`);
    assert.match(error.message, /clientCredentials\[0\] \(ClientSecret\): stop: .*tim(ed|e) ?out/i);
    assert.match(error.message, /clientCredentials\[1\] \(ClientSecret\): not tried/);
    assert.equal(harness.loginTokenRequests() - from, 2, "one retry after a timeout, then stop");

    // One slow answer only: the retry gets the token, from the first entry (nothing was benched).
    harness.emulator.faults.add({ route: "login.token", delayMs: 5000, count: 1 });
    const token = await credential.getToken(VAULT_SCOPE, { requestOptions: { timeout: 250 } });
    await harness.verify(token.token, app, "https://vault.azure.net");
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[0\]/);
  });
});

describe("tracing and refused options", () => {
  test("tracingOptions: a span named BoundClientCredential.getToken under the caller's context", async () => {
    const spans: { name: string; parent: TracingContext | undefined; status: unknown; ended: boolean }[] = [];
    const instrumenter: Instrumenter = {
      startSpan(name, spanOptions) {
        const record: { name: string; parent: TracingContext | undefined; status: unknown; ended: boolean } = {
          name,
          parent: spanOptions.tracingContext,
          status: undefined,
          ended: false,
        };
        spans.push(record);
        const span: TracingSpan = {
          setStatus: (status) => void (record.status = status),
          setAttribute: () => undefined,
          end: () => void (record.ended = true),
          recordException: () => undefined,
          isRecording: () => true,
        };
        return { span, tracingContext: testContext(new Map<symbol, unknown>([[SPAN_KEY, span]])) };
      },
      withContext: (_context, callback, ...args) => callback(...args),
      parseTraceparentHeader: () => undefined,
      createRequestHeaders: () => ({}),
    };
    useInstrumenter(instrumenter);
    const parent = testContext(new Map<symbol, unknown>([[PARENT_KEY, "caller"]]));
    const credential = harness.credential(harness.options(app, [secretEntry]));
    await credential.getToken(STORAGE_SCOPE, { tracingOptions: { tracingContext: parent } });
    const span = spans.find((s) => s.name === "BoundClientCredential.getToken");
    assert.ok(span, `spans started: ${spans.map((s) => s.name).join(", ")}`);
    assert.equal(span.parent?.getValue(PARENT_KEY), "caller");
    assert.deepEqual(span.status, { status: "success" });
    assert.equal(span.ended, true);

    // A failure is recorded on the span too.
    await rejectionOf(credential.getToken("https://no-such-resource.example/.default", { tracingOptions: { tracingContext: parent } }));
    const failed = spans.filter((s) => s.name === "BoundClientCredential.getToken").at(-1);
    assert.equal((failed?.status as { status?: string } | undefined)?.status, "error");
  });

  test("a cached call with a tracing context gets its span when an instrumenter can record one, and is served from the cache", async () => {
    const started: string[] = [];
    const recording: Instrumenter = {
      startSpan(name, spanOptions) {
        started.push(name);
        const span: TracingSpan = {
          setStatus: () => undefined,
          setAttribute: () => undefined,
          end: () => undefined,
          recordException: () => undefined,
          isRecording: () => true,
        };
        return { span, tracingContext: spanOptions.tracingContext ?? testContext(new Map()) };
      },
      withContext: (_context, callback, ...args) => callback(...args),
      // A real instrumenter (OpenTelemetry's) parses a valid traceparent; the default one does not.
      parseTraceparentHeader: () => testContext(new Map()),
      createRequestHeaders: () => ({}),
    };
    const parent = testContext(new Map<symbol, unknown>([[PARENT_KEY, "caller"]]));
    const sdkOptions = { enableCae: true, abortSignal: new AbortController().signal, tracingOptions: { tracingContext: parent } };
    const credential = harness.credential(harness.options(app, [secretEntry]));
    const first = await credential.getToken(STORAGE_SCOPE, sdkOptions);
    useInstrumenter(recording);
    try {
      const requests = await requestsDuring(async () => {
        const again = await credential.getToken(STORAGE_SCOPE, sdkOptions);
        assert.equal(again.token, first.token);
      });
      assert.equal(requests.length, 0, "served from the cache");
      assert.deepEqual(started, ["BoundClientCredential.getToken"]);
    } finally {
      useInstrumenter(createDefaultLikeInstrumenter());
    }
  });

  test("proofOfPossessionOptions is refused with a clear error, before any request", async () => {
    const credential = harness.credential(harness.options(app, [secretEntry]));
    let error: Error | undefined;
    const requests = await requestsDuring(
      async () =>
        (error = await rejectionOf(
          credential.getToken(STORAGE_SCOPE, {
            proofOfPossessionOptions: { nonce: "nonce", resourceRequestMethod: "GET", resourceRequestUrl: "https://example.com" },
          }),
        )),
    );
    assert.ok(error instanceof BoundCredentialConfigurationError);
    assert.equal(error.code, "BCC_UNSUPPORTED_REQUEST_OPTION");
    assert.match(error.message, /proofOfPossessionOptions/);
    assert.match(error.message, /Bearer/);
    assert.equal(requests.length, 0);
  });
});

const SPAN_KEY = Symbol("test span");
const PARENT_KEY = Symbol("test parent");

/** A minimal immutable tracing context. */
function testContext(values: Map<symbol, unknown>): TracingContext {
  return {
    getValue: (key) => values.get(key),
    setValue: (key, value) => testContext(new Map(values).set(key, value)),
    deleteValue: (key) => {
      const copy = new Map(values);
      copy.delete(key);
      return testContext(copy);
    },
  };
}

/** An instrumenter like @azure/core-tracing's default: spans that record nothing, no traceparent parsing. */
function createDefaultLikeInstrumenter(): Instrumenter {
  const span: TracingSpan = {
    setStatus: () => undefined,
    setAttribute: () => undefined,
    end: () => undefined,
    recordException: () => undefined,
    isRecording: () => false,
  };
  return {
    startSpan: (_name, spanOptions) => ({ span, tracingContext: spanOptions.tracingContext ?? testContext(new Map()) }),
    withContext: (_context, callback, ...args) => callback(...args),
    parseTraceparentHeader: () => undefined,
    createRequestHeaders: () => ({}),
  };
}
