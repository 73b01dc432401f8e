import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { after, before, beforeEach, describe, test } from "node:test";
import { inspect } from "node:util";

const { createManagedIdentityAssertionSource } = await import("../../src/sources/managedIdentityAssertion.ts");
const { defaultTokenExchangeUrl } = await import("../../src/sources/managedIdentitySourceType.ts");
const { SourceUnavailableError } = await import("../../src/sources/types.ts");
const { HttpClient } = await import("../../src/transport/httpClient.ts");
const { closedPort, deferred, json, recordingSleep, startHttpServer } = await import("../transport/fixtures.ts");
type NormalizedEntryOf<D> = import("../../src/configuration/normalized.ts").NormalizedEntryOf<D>;
type NormalizedManagedIdentityDescription = import("../../src/sources/managedIdentitySourceType.ts").NormalizedManagedIdentityDescription;
type NormalizedOptions = import("../../src/configuration/normalized.ts").NormalizedOptions;
type Description = import("../../src/configuration/types.ts").SignedAssertionFromManagedIdentityCredentialDescription;
type TestServer = Awaited<ReturnType<typeof startHttpServer>>;

const TOKEN = "mi-assertion-canary";
const HOUR = 3600_000;

let http: InstanceType<typeof HttpClient>;
let imds: TestServer;
let answer: (url: URL, res: ServerResponse) => void | Promise<void>;
let clock: number;
let tokenCounter = 0;

function imdsToken(resource: string, lifetimeSeconds = 86_399): Record<string, string> {
  const nowSeconds = Math.floor(Date.now() / 1000);
  tokenCounter++;
  return {
    access_token: `${TOKEN}-${tokenCounter}`,
    client_id: "mi-client",
    expires_in: String(lifetimeSeconds),
    expires_on: String(nowSeconds + lifetimeSeconds),
    ext_expires_in: String(lifetimeSeconds),
    not_before: String(nowSeconds),
    resource,
    token_type: "Bearer",
  };
}

function options(overrides: Partial<NormalizedOptions> = {}): NormalizedOptions {
  return {
    tenantId: "tenant",
    clientId: "app",
    entries: [],
    authorityHost: "https://login.microsoftonline.com",
    mtlsAuthorityHost: undefined,
    azureRegion: undefined,
    imdsEndpoint: imds.origin,
    additionallyAllowedTenants: [],
    sendCertificateChain: false,
    clientCapabilities: [],
    tlsCa: [],
    allowLoggingAccountIdentifiers: false,
    enableUnsafeSupportLogging: false,
    keyVaultCredential: undefined,
    customSignedAssertionProviders: {},
    attestationProvider: undefined,
    ...overrides,
  };
}

/** An entry as validation makes it: the exchange audience defaults to the cloud's. */
function entry(
  description: Partial<Description> = {},
  bound = false,
  authorityHost = "https://login.microsoftonline.com",
): NormalizedEntryOf<NormalizedManagedIdentityDescription> {
  return {
    index: 0,
    id: `clientCredentials[0] (SignedAssertionFromManagedIdentity${bound ? ", bound" : ""})`,
    bound,
    skip: false,
    description: {
      sourceType: "SignedAssertionFromManagedIdentity",
      ...description,
      tokenExchangeUrl: description.tokenExchangeUrl ?? defaultTokenExchangeUrl(authorityHost),
    },
  };
}

function source(description: Partial<Description> = {}, extra: { bound?: boolean; options?: Partial<NormalizedOptions>; sleep?: ReturnType<typeof recordingSleep>; http?: InstanceType<typeof HttpClient> | undefined } = {}) {
  const resolved = options(extra.options);
  return createManagedIdentityAssertionSource(entry(description, extra.bound ?? false, resolved.authorityHost), {
    options: resolved,
    now: () => clock,
    env: {},
    http: extra.http ?? http,
    sleep: (extra.sleep ?? recordingSleep()).sleep,
  });
}

async function assertion(src: ReturnType<typeof source>, signal?: AbortSignal) {
  const material = await src.load();
  assert.equal(material.kind, "assertion");
  if (material.kind !== "assertion") throw new Error("unreachable");
  return material.getAssertion({
    clientId: "app",
    tokenEndpoint: "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
    tenantId: "tenant",
    bound: false,
    ...(signal === undefined ? {} : { abortSignal: signal }),
  });
}

const resourceOf = (index = 0): string | null => new URL(imds.requests[index]?.url ?? "/", "http://x").searchParams.get("resource");

before(async () => {
  http = new HttpClient();
  imds = await startHttpServer((req, res) => answer(new URL(req.url ?? "/", "http://x"), res));
});
after(async () => {
  await http.close();
  await imds.close();
});
beforeEach(() => {
  imds.requests.length = 0;
  clock = Date.parse("2026-03-01T00:00:00Z");
  answer = (url, res) => json(res, 200, imdsToken(url.searchParams.get("resource") ?? ""));
});

describe("SignedAssertionFromManagedIdentity (unbound)", () => {
  test("gets a managed identity token for api://AzureADTokenExchange from IMDS", async () => {
    const result = await assertion(source());
    assert.match(result.assertion, new RegExp(`^${TOKEN}-\\d+$`));
    assert.equal(result.bindingCertificate, undefined);
    assert.equal(resourceOf(), "api://AzureADTokenExchange");
    assert.equal(imds.requests[0]?.headers["metadata"], "true");
    assert.ok(result.expiresOnTimestamp !== undefined);
    // The lifetime is carried over to the injected clock.
    const lifetime = result.expiresOnTimestamp - clock;
    assert.ok(lifetime > 86_390_000 && lifetime <= 86_400_000, `lifetime ${lifetime}`);
  });

  test("the assertion is cached until half its life, then renewed", async () => {
    const src = source();
    const first = await assertion(src);
    clock += 6 * HOUR;
    assert.equal((await assertion(src)).assertion, first.assertion);
    assert.equal(imds.requests.length, 1);
    clock += 6 * HOUR + 1000;
    const renewed = await assertion(src);
    assert.notEqual(renewed.assertion, first.assertion);
    assert.equal(imds.requests.length, 2);
  });

  test("a short-lived token is renewed 5 minutes before expiry at the latest", async () => {
    answer = (url, res) => json(res, 200, imdsToken(url.searchParams.get("resource") ?? "", 8 * 60));
    const src = source();
    await assertion(src);
    clock += 3 * 60_000 - 5000; // before min(half-life = 4 min, expiry - 5 min = 3 min)
    await assertion(src);
    assert.equal(imds.requests.length, 1);
    clock += 10_000;
    await assertion(src);
    assert.equal(imds.requests.length, 2);
  });

  test("concurrent callers share one request", async () => {
    const hold = deferred();
    answer = async (url, res) => {
      await hold.promise;
      json(res, 200, imdsToken(url.searchParams.get("resource") ?? ""));
    };
    const src = source();
    const pending = Array.from({ length: 20 }, () => assertion(src));
    while (imds.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    hold.resolve();
    const results = await Promise.all(pending);
    assert.equal(new Set(results.map((r) => r.assertion)).size, 1);
    assert.equal(imds.requests.length, 1);
  });

  test("tokenExchangeUrl is the resource, without /.default; sovereign clouds get their default", async () => {
    await assertion(source({ tokenExchangeUrl: "api://custom-exchange/.default" }));
    assert.equal(resourceOf(0), "api://custom-exchange");
    await assertion(source({}, { options: { authorityHost: "https://login.microsoftonline.us" } }));
    assert.equal(resourceOf(1), "api://AzureADTokenExchangeUSGov");
    assert.equal(defaultTokenExchangeUrl("https://login.partner.microsoftonline.cn"), "api://AzureADTokenExchangeChina");
    assert.equal(defaultTokenExchangeUrl("https://login.chinacloudapi.cn"), "api://AzureADTokenExchangeChina");
    assert.equal(defaultTokenExchangeUrl("https://login.example.test:8443"), "api://AzureADTokenExchange");
    assert.equal(defaultTokenExchangeUrl("not a url"), "api://AzureADTokenExchange");
  });

  test("user-assigned identities are selected by client id, object id or resource id", async () => {
    const cases: [Partial<Description>, string, string][] = [
      [{ managedIdentityClientId: "cid-1" }, "client_id", "cid-1"],
      [{ managedIdentityObjectId: "oid-1" }, "object_id", "oid-1"],
      [{ managedIdentityResourceId: "/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u" }, "msi_res_id", "/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"],
    ];
    for (const [description, parameter, value] of cases) {
      imds.requests.length = 0;
      await assertion(source(description));
      const url = new URL(imds.requests[0]?.url ?? "/", "http://x");
      assert.equal(url.searchParams.get(parameter), value);
    }
  });

  test("an unreachable IMDS makes the source unavailable at once, naming the endpoint", async () => {
    const port = await closedPort();
    const sleep = recordingSleep();
    const src = source({}, { options: { imdsEndpoint: `http://127.0.0.1:${port}` }, sleep });
    await assert.rejects(assertion(src), (err: unknown) => {
      assert.ok(err instanceof SourceUnavailableError, String(err));
      assert.match(err.reason, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match(err.reason, /refused/);
      return true;
    });
    assert.deepEqual(sleep.delays, [], "no retries for a refused connection");
  });

  test("IMDS 5xx is retried 3 times (1 s, 2 s, 4 s), then the source is unavailable", async () => {
    answer = (_url, res) => json(res, 503, { error: "service_unavailable", error_description: "IMDS is busy" });
    const sleep = recordingSleep();
    await assert.rejects(assertion(source({}, { sleep })), (err: unknown) => {
      assert.ok(err instanceof SourceUnavailableError);
      assert.match(err.reason, /HTTP 503/);
      return true;
    });
    assert.equal(imds.requests.length, 4);
    assert.deepEqual(sleep.delays, [1000, 2000, 4000]);
  });

  test("IMDS 410 first is retried 7 times, 10 s apart", async () => {
    answer = (_url, res) => json(res, 410, { error: "gone" });
    const sleep = recordingSleep();
    await assert.rejects(assertion(source({}, { sleep })), SourceUnavailableError);
    assert.equal(imds.requests.length, 8);
    assert.deepEqual(sleep.delays, Array.from({ length: 7 }, () => 10_000));
  });

  test("an identity IMDS does not know makes the source unavailable with IMDS's reason", async () => {
    answer = (_url, res) => json(res, 400, { error: "invalid_request", error_description: "Identity not found" });
    await assert.rejects(assertion(source({ managedIdentityClientId: "unknown" })), (err: unknown) => {
      assert.ok(err instanceof SourceUnavailableError);
      assert.match(err.reason, /HTTP 400/);
      assert.match(err.reason, /Identity not found/);
      return true;
    });
    assert.equal(imds.requests.length, 1);
  });

  test("a bound entry is left to the IMDS v2 flow", async () => {
    await assert.rejects(source({}, { bound: true }).load(), (err: unknown) => {
      assert.ok(err instanceof SourceUnavailableError);
      assert.equal(err.reason, "bound managed identity is handled by the IMDS v2 flow");
      return true;
    });
    assert.equal(imds.requests.length, 0);
  });

  test("a caller's abort rejects that caller only; the shared request goes on", async () => {
    const hold = deferred();
    answer = async (url, res) => {
      await hold.promise;
      json(res, 200, imdsToken(url.searchParams.get("resource") ?? ""));
    };
    const src = source();
    const controller = new AbortController();
    const aborted = assertion(src, controller.signal);
    const patient = assertion(src);
    while (imds.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error("caller gave up"));
    await assert.rejects(aborted, (err: unknown) => !(err instanceof SourceUnavailableError) && /caller gave up/.test(String(err)));
    hold.resolve();
    assert.match((await patient).assertion, new RegExp(`^${TOKEN}`));
    assert.equal(imds.requests.length, 1);
    await assert.rejects(assertion(src, AbortSignal.abort(new Error("already"))), /already/);
  });

  test("reload drops the cached assertion", async () => {
    const src = source();
    const first = await assertion(src);
    await src.reload();
    const second = await assertion(src);
    assert.notEqual(second.assertion, first.assertion);
    assert.equal(imds.requests.length, 2);
  });

  test("a failed early renewal serves the current assertion until 5 minutes before expiry", async () => {
    const src = source();
    const first = await assertion(src);
    answer = (_url, res) => json(res, 500, { error: "server_error" });
    clock += 13 * HOUR;
    assert.equal((await assertion(src)).assertion, first.assertion);
    clock = (first.expiresOnTimestamp ?? 0) - 4 * 60_000;
    await assert.rejects(assertion(src), SourceUnavailableError);
  });

  test("no token reaches JSON.stringify, util.inspect or error messages", async () => {
    const src = source();
    await assertion(src);
    assert.ok(!JSON.stringify(src).includes(TOKEN));
    assert.ok(!inspect(src, { depth: 10, showHidden: true }).includes(TOKEN));
    answer = (_url, res) => json(res, 400, { error: "invalid_request", error_description: "nope" });
    await src.reload();
    const failure = await assertion(src).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(failure instanceof SourceUnavailableError);
    assert.ok(!failure.message.includes(TOKEN) && !inspect(failure, { depth: 10 }).includes(TOKEN));
  });
});
