// Fault matrix, the managed identity hosts: IMDS v1 (`imds.token`, through msal-node), IMDS v2
// (`getplatformmetadata`, `issuecredential`) and leg 1 of the bound managed identity (the mtls_pop
// token on the mTLS host).
//
// The credential does not pass its injected retry sleep to the managed identity sources (IMDS
// retries wait 1 s, 2 s, 4 s or 7 × 10 s of real time), so the retried faults are tested at the
// source level, where the sleep and the per-request deadline can be injected: the unbound source
// with `sleep`/`requestTimeoutMs`, the bound one with `tuning`. Faults that are not retried
// (resets, malformed or oversize answers, v1-only hosts) are also tested through the credential,
// where the fallback entry must serve.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

const { CredentialUnavailableError } = await import("../../src/errors.ts");
const { normalizeOptions } = await import("../../src/configuration/validate.ts");
const { createManagedIdentityAssertionSource } = await import("../../src/sources/managedIdentityAssertion.ts");
const { createBoundManagedIdentitySource } = await import("../../src/sources/boundManagedIdentitySource.ts");
const { SourceUnavailableError } = await import("../../src/sources/types.ts");
const { EntraError } = await import("../../src/transport/entraError.ts");
const { HttpClient } = await import("../../src/transport/httpClient.ts");
const { MatrixSetup, SETTLE_BOUND_MS, STORAGE_SCOPE, VAULT_SCOPE } = await import("./faultMatrixSupport.ts");
const { jsonBody, outcomeOf, recordingSleep, settlesWithin, startScriptedHttpServer } = await import("./support.ts");
type FaultSpec = import("../../src/emulator/index.ts").FaultSpec;
type EmulatorRoute = import("../../src/emulator/index.ts").EmulatorRoute;
type Flow = import("./faultMatrixSupport.ts").Flow;
type MatrixSetupInstance = import("./faultMatrixSupport.ts").MatrixSetup;

const IMDS_RETRIES = [1000, 2000, 4000];
const GONE_RETRIES = [10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000];
/** The per-attempt deadline given to the sources here; the delayed answers come after it. */
const ATTEMPT_DEADLINE_MS = 300;

type ImdsRoute = "imds.token" | "imds.platformMetadata" | "imds.issueCredential";
type Expected = { attempts: number; delays: readonly number[] } & ({ ok: true } | { reason: RegExp });

interface ImdsCase {
  readonly name: string;
  fault(route: ImdsRoute): Omit<FaultSpec, "route">;
  expect(route: ImdsRoute): Expected;
}

const unavailable = (attempts: number, delays: readonly number[], reason: RegExp): Expected => ({ attempts, delays, reason });
const served = (attempts: number, delays: readonly number[]): Expected => ({ attempts, delays, ok: true });

/** IMDS answers as the source tells them: v1 through msal-node, v2 by the IMDS v2 client. */
function statusReason(route: ImdsRoute, status: number): RegExp {
  return route === "imds.token" ? new RegExp(`refused a token for .*\\(HTTP ${status}\\)`) : new RegExp(`answered ${status}\\b`);
}

function serverErrors(status: 500 | 502 | 503 | 504): ImdsCase {
  return {
    name: `HTTP ${status} on every attempt: 3 retries (1 s, 2 s, 4 s), then unavailable`,
    fault: () => ({ status, count: 4 }),
    expect: (route) => unavailable(4, IMDS_RETRIES, statusReason(route, status)),
  };
}

const IMDS_CASES: readonly ImdsCase[] = [
  serverErrors(500),
  serverErrors(502),
  serverErrors(503),
  serverErrors(504),
  {
    name: "HTTP 500 once: the retry after 1 s succeeds",
    fault: () => ({ status: 500, count: 1 }),
    expect: () => served(2, [1000]),
  },
  {
    name: "HTTP 429 with Retry-After: 1 on every attempt: MSAL's IMDS schedule, then unavailable",
    fault: () => ({ status: 429, retryAfter: 1, count: 4 }),
    expect: (route) => unavailable(4, IMDS_RETRIES, statusReason(route, 429)),
  },
  {
    name: "HTTP 410 (IMDS updating) on every attempt: 7 retries of 10 s, then unavailable",
    fault: () => ({ status: 410, count: 8 }),
    expect: (route) => unavailable(8, GONE_RETRIES, statusReason(route, 410)),
  },
  {
    name: "HTTP 410 twice: the third attempt succeeds, 10 s apart",
    fault: () => ({ status: 410, count: 2 }),
    expect: () => served(3, [10_000, 10_000]),
  },
  {
    name: "HTTP 404: retried for a token or a certificate; on getplatformmetadata it means IMDS v1 only",
    fault: (route) => ({ status: 404, count: route === "imds.platformMetadata" ? 1 : 4 }),
    expect: (route) =>
      route === "imds.platformMetadata" ? unavailable(1, [], /IMDS v1 only/) : unavailable(4, IMDS_RETRIES, statusReason(route, 404)),
  },
  {
    name: "answers delayed past the per-attempt deadline: retried as timeouts, then unavailable",
    fault: () => ({ delayMs: 1000, count: 4 }),
    expect: () => unavailable(4, IMDS_RETRIES, /timed out/),
  },
  {
    name: "the connection is reset: IMDS is not there, no retry",
    fault: () => ({ reset: true }),
    expect: () => unavailable(1, [], /connection was (reset|closed)/),
  },
  {
    name: "a 200 with malformed JSON",
    fault: () => ({ body: "malformed-json" }),
    // The scripted fault has no `Server: IMDS` header, which IMDS v2 checks first.
    expect: (route) =>
      unavailable(1, [], route === "imds.token" ? /not a token response.*not JSON/ : route === "imds.platformMetadata" ? /not the instance metadata service/ : /not JSON/),
  },
  {
    name: "an HTML page with HTTP 200",
    fault: () => ({ body: "html" }),
    expect: (route) =>
      unavailable(1, [], route === "imds.token" ? /not a token response/ : route === "imds.platformMetadata" ? /not the instance metadata service/ : /not JSON/),
  },
  {
    name: "an HTML error page (HTTP 503) on every attempt: retried, reported by its title",
    fault: () => ({ body: "html", status: 503, count: 4 }),
    expect: () => unavailable(4, IMDS_RETRIES, /text\/html body titled "Service unavailable" of \d+ bytes/),
  },
  {
    name: "an oversize body (4 MiB): cut off at 1 MiB, not retried",
    fault: () => ({ body: "oversize" }),
    expect: () => unavailable(1, [], /larger than 1048576 bytes/),
  },
];

let setup: MatrixSetupInstance;
let http: InstanceType<typeof HttpClient>;
before(async () => {
  setup = await MatrixSetup.start();
  http = new HttpClient({ ca: [setup.emulator.caCertificatePem] });
});
after(async () => {
  await http.close();
  await setup.closeAndCheck();
});

function flow(name: Flow["name"]): Flow {
  return setup.flows().find((f) => f.name === name)!;
}

/** One assertion from a fresh source of `flowName`, with the sleep and deadlines injected. */
async function assertionFromSource(flowName: "unbound managed identity" | "bound managed identity", sleep: (ms: number, signal?: AbortSignal) => Promise<void>) {
  const options = normalizeOptions(setup.options(flow(flowName)), {});
  const entry = options.entries[0]!;
  const source =
    flowName === "unbound managed identity"
      ? createManagedIdentityAssertionSource(entry, { options, now: Date.now, env: {}, http, sleep, requestTimeoutMs: ATTEMPT_DEADLINE_MS })
      : createBoundManagedIdentitySource(entry, {
          options,
          now: Date.now,
          env: {},
          http,
          tuning: {
            imdsRetry: { sleep },
            imdsRequestTimeoutMs: ATTEMPT_DEADLINE_MS,
            tokenRetry: { sleep },
            tokenRequestTimeoutMs: ATTEMPT_DEADLINE_MS,
          },
        });
  const material = await source.load();
  assert.equal(material.kind, "assertion");
  if (material.kind !== "assertion") throw new Error("unreachable");
  return material.getAssertion({
    clientId: setup.app.clientId,
    tenantId: setup.app.tenantId,
    tokenEndpoint: setup.emulator.mtlsTokenEndpoint(setup.app.tenantId),
    bound: flowName === "bound managed identity",
  });
}

async function runSourceFault(flowName: "unbound managed identity" | "bound managed identity", route: EmulatorRoute, fault: Omit<FaultSpec, "route">) {
  const emu = setup.emulator;
  const sleep = recordingSleep();
  emu.faults.clear();
  emu.journal.clear();
  emu.faults.add({ route, ...fault });
  try {
    const outcome = await outcomeOf(settlesWithin(assertionFromSource(flowName, sleep.sleep), SETTLE_BOUND_MS, "the assertion"));
    assert.equal(emu.faults.pending(), 0, "every scripted fault was met");
    return { outcome, delays: sleep.delays, attempts: emu.journal.ofRoute(route).length };
  } finally {
    emu.faults.clear();
  }
}

function assertSourceOutcome(result: Awaited<ReturnType<typeof runSourceFault>>, expected: Expected): void {
  assert.equal(result.attempts, expected.attempts, "attempts");
  assert.deepEqual(result.delays, expected.delays, "delays asked of the retry sleep");
  if ("ok" in expected) {
    assert.ok("value" in result.outcome, `expected an assertion, got ${"error" in result.outcome ? String(result.outcome.error) : ""}`);
    assert.match(result.outcome.value.assertion, /^ey/);
    return;
  }
  assert.ok("error" in result.outcome, "expected a failure");
  const error = result.outcome.error;
  assert.ok(error instanceof SourceUnavailableError, `expected SourceUnavailableError, got ${String(error)}`);
  assert.match(error.reason, expected.reason);
}

const ROUTES_OF = {
  "unbound managed identity": ["imds.token"],
  "bound managed identity": ["imds.platformMetadata", "imds.issueCredential"],
} as const;

for (const flowName of ["unbound managed identity", "bound managed identity"] as const) {
  for (const route of ROUTES_OF[flowName]) {
    describe(`${flowName} source: faults of ${route} (injected sleep, ${ATTEMPT_DEADLINE_MS} ms per attempt)`, () => {
      for (const c of IMDS_CASES) {
        test(c.name, async () => {
          const result = await runSourceFault(flowName, route, c.fault(route));
          assertSourceOutcome(result, c.expect(route));
        });
      }
    });
  }
}

describe("bound managed identity source: faults of leg 1 (mtls.token, mtls_pop for the token exchange)", () => {
  type Leg1Expected = { attempts: number; delays: readonly number[]; mints: number } & (
    | { ok: true }
    | { unavailable: RegExp }
    | { entraStatus: number; retryAfterMs?: number }
  );
  const leg1Cases: { name: string; fault: Omit<FaultSpec, "route">; expected: Leg1Expected }[] = [
    { name: "HTTP 500 twice: one retry after 1 s, then unavailable with Entra's error as the cause", fault: { status: 500, count: 2 }, expected: { attempts: 2, delays: [1000], mints: 1, entraStatus: 500 } },
    { name: "HTTP 503 once: the retry after 1 s gets the token", fault: { status: 503, count: 1 }, expected: { attempts: 2, delays: [1000], mints: 1, ok: true } },
    { name: "HTTP 429 with Retry-After: 1 once: waited, then the token", fault: { status: 429, retryAfter: 1, count: 1 }, expected: { attempts: 2, delays: [1000], mints: 1, ok: true } },
    { name: "HTTP 429 with Retry-After: 30: surfaced with its Retry-After", fault: { status: 429, retryAfter: 30 }, expected: { attempts: 1, delays: [], mints: 1, entraStatus: 429, retryAfterMs: 30_000 } },
    { name: "answers delayed past the deadline twice: unavailable", fault: { delayMs: 1000, count: 2 }, expected: { attempts: 2, delays: [1000], mints: 1, unavailable: /timed out/ } },
    { name: "the connection is reset: the binding certificate is re-minted once, then the token", fault: { reset: true }, expected: { attempts: 2, delays: [], mints: 2, ok: true } },
    { name: "the TLS handshake is refused: re-minted once, then the token", fault: { tls: "reject" }, expected: { attempts: 1, delays: [], mints: 2, ok: true } },
    { name: "a 200 with malformed JSON: no bound assertion, unavailable", fault: { body: "malformed-json" }, expected: { attempts: 1, delays: [], mints: 1, unavailable: /cannot be used as a bound assertion: .*not JSON/ } },
    { name: "an HTML error page (HTTP 503) twice: retried once, unavailable with Entra's error as the cause", fault: { body: "html", status: 503, count: 2 }, expected: { attempts: 2, delays: [1000], mints: 1, entraStatus: 503 } },
    { name: "an oversize body: cut off, unavailable", fault: { body: "oversize" }, expected: { attempts: 1, delays: [], mints: 1, unavailable: /larger than 1048576 bytes/ } },
  ];
  for (const c of leg1Cases) {
    test(c.name, async () => {
      const result = await runSourceFault("bound managed identity", "mtls.token", c.fault);
      const { expected } = c;
      assert.equal(result.attempts, expected.attempts, "leg-1 requests");
      assert.deepEqual(result.delays, expected.delays, "delays asked of the retry sleep");
      assert.equal(setup.emulator.journal.ofRoute("imds.issueCredential").length, expected.mints, "binding certificates minted");
      if ("ok" in expected) {
        assert.ok("value" in result.outcome, `expected a bound assertion, got ${"error" in result.outcome ? String(result.outcome.error) : ""}`);
        assert.ok(result.outcome.value.bindingCertificate !== undefined);
        return;
      }
      assert.ok("error" in result.outcome, "expected a failure");
      const error = result.outcome.error;
      if ("unavailable" in expected) {
        assert.ok(error instanceof SourceUnavailableError, `expected SourceUnavailableError, got ${String(error)}`);
        assert.match(error.reason, expected.unavailable);
        return;
      }
      // A refusal of leg 1 takes this entry out (the list goes on); Entra's answer is the cause.
      assert.ok(error instanceof SourceUnavailableError, `expected SourceUnavailableError, got ${String(error)}`);
      assert.match(error.reason, /refused the managed identity's own token \(leg 1\)/);
      const cause = error.cause;
      assert.ok(cause instanceof EntraError, `expected an EntraError cause, got ${String(cause)}`);
      assert.equal(cause.status, expected.entraStatus);
      if (expected.retryAfterMs !== undefined) assert.equal(cause.retryAfterMs, expected.retryAfterMs);
    });
  }
});

describe("through the credential: IMDS faults that are not retried make the entry unavailable; the fallback serves", () => {
  const cases: { flow: "unbound managed identity" | "bound managed identity"; route: ImdsRoute; fault: Omit<FaultSpec, "route">; reason: RegExp }[] = [
    { flow: "unbound managed identity", route: "imds.token", fault: { reset: true }, reason: /connection was (reset|closed)/ },
    { flow: "unbound managed identity", route: "imds.token", fault: { body: "malformed-json" }, reason: /not a token response/ },
    { flow: "unbound managed identity", route: "imds.token", fault: { body: "html" }, reason: /not a token response/ },
    { flow: "unbound managed identity", route: "imds.token", fault: { body: "oversize" }, reason: /larger than 1048576 bytes/ },
    { flow: "bound managed identity", route: "imds.platformMetadata", fault: { status: 404 }, reason: /IMDS v1 only/ },
    { flow: "bound managed identity", route: "imds.platformMetadata", fault: { reset: true }, reason: /unreachable.*connection was (reset|closed)/ },
    { flow: "bound managed identity", route: "imds.platformMetadata", fault: { body: "malformed-json" }, reason: /not the instance metadata service/ },
    { flow: "bound managed identity", route: "imds.platformMetadata", fault: { body: "oversize" }, reason: /larger than 1048576 bytes/ },
    { flow: "bound managed identity", route: "imds.issueCredential", fault: { reset: true }, reason: /issuecredential .*unreachable/ },
    { flow: "bound managed identity", route: "imds.issueCredential", fault: { body: "malformed-json" }, reason: /issuecredential .*not JSON/ },
    { flow: "bound managed identity", route: "imds.issueCredential", fault: { body: "oversize" }, reason: /larger than 1048576 bytes/ },
  ];
  for (const c of cases) {
    const what = c.fault.status !== undefined ? `HTTP ${c.fault.status}` : c.fault.reset === true ? "a reset" : `a ${c.fault.body} body`;
    test(`${c.flow}: ${what} on ${c.route}`, async () => {
      const emu = setup.emulator;
      const sleep = recordingSleep();
      const credential = setup.harness.credential(setup.options(flow(c.flow)), { retry: { sleep: sleep.sleep } });
      emu.faults.clear();
      emu.journal.clear();
      emu.faults.add({ route: c.route, ...c.fault });
      const token = await settlesWithin(credential.getToken(STORAGE_SCOPE), SETTLE_BOUND_MS, "getToken");
      assert.equal(emu.faults.pending(), 0);
      assert.equal(emu.journal.ofRoute(c.route).length, 1, "one attempt");
      assert.deepEqual(sleep.delays, []);
      assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[1\] \(ClientSecret\)/);
      await setup.harness.verify(token.token, setup.app);
      assert.equal(emu.journal.ofRoute("mtls.token").length, 0, "no token request from the managed identity entry");

      // Alone, the entry makes the credential unavailable, with the reason.
      const alone = setup.harness.credential(setup.harness.options(setup.app, [flow(c.flow).entry]));
      emu.faults.add({ route: c.route, ...c.fault });
      const error = await outcomeOf(settlesWithin(alone.getToken(STORAGE_SCOPE), SETTLE_BOUND_MS, "getToken"));
      assert.ok("error" in error && error.error instanceof CredentialUnavailableError, "CredentialUnavailableError");
      assert.match(error.error.message, new RegExp(`clientCredentials\\[0\\] \\(SignedAssertionFromManagedIdentity[^)]*\\): unavailable: .*${c.reason.source}`));
      emu.faults.clear();
      await credential.close();
      await alone.close();
    });
  }
});

describe("through the credential: requestOptions.timeout bounds every HTTP request, the managed identity's too", () => {
  // README: `requestOptions.timeout` is "the timeout of each HTTP request". The managed identity
  // requests use fixed deadlines of their own (IMDS v1 15 s, IMDS v2 10 s, leg 1 none), so a slow
  // IMDS holds getToken for as long as it likes. A request that the timeout cut short never gets
  // its answer journaled (the emulator finds the connection gone).
  const cases: { flow: "unbound managed identity" | "bound managed identity"; route: EmulatorRoute }[] = [
    { flow: "unbound managed identity", route: "imds.token" },
    { flow: "bound managed identity", route: "imds.platformMetadata" },
    { flow: "bound managed identity", route: "mtls.token" },
  ];
  for (const c of cases) {
    test(`${c.flow}: an answer of ${c.route} delayed past requestOptions.timeout is not waited for`, async () => {
      const emu = setup.emulator;
      const credential = setup.harness.credential(setup.options(flow(c.flow)));
      emu.faults.clear();
      emu.journal.clear();
      emu.faults.add({ route: c.route, delayMs: 1500 });
      await outcomeOf(settlesWithin(credential.getToken(STORAGE_SCOPE, { requestOptions: { timeout: 300 } }), SETTLE_BOUND_MS, "getToken"));
      const delayed = emu.journal.ofRoute(c.route).find((entry) => entry.fault !== undefined);
      assert.ok(delayed !== undefined);
      // An ordering check, not a timing one: when getToken settled, had the emulator answered yet?
      assert.equal(delayed.status, undefined, "getToken gave up on the delayed request before it was answered");
      await credential.close();
    });
  }
});

describe("IMDS v1 answers the emulator cannot script, from a scripted IMDS", () => {
  const now = Math.floor(Date.now() / 1000);
  const cases: { name: string; body: unknown; reason: RegExp }[] = [
    { name: "no access_token", body: { expires_on: String(now + 3600), token_type: "Bearer", resource: "api://AzureADTokenExchange" }, reason: /no token|not a token response|no managed identity token/ },
    { name: "a JSON array", body: [], reason: /no token|not a token response|no managed identity token/ },
  ];
  for (const c of cases) {
    test(`${c.name}: the entry is unavailable, the fallback serves`, async () => {
      const imds = await startScriptedHttpServer();
      try {
        imds.answer({ status: 200, body: jsonBody(c.body), headers: { server: "IMDS/150.870.65.1854" } });
        const credential = setup.harness.credential(setup.options(flow("unbound managed identity"), { imdsEndpoint: imds.origin }));
        await credential.getToken(VAULT_SCOPE);
        assert.equal(imds.requests.length, 1);
        assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[1\]/);
        const alone = setup.harness.credential(setup.harness.options(setup.app, [flow("unbound managed identity").entry], { imdsEndpoint: imds.origin }));
        const outcome = await outcomeOf(alone.getToken(VAULT_SCOPE));
        assert.ok("error" in outcome && outcome.error instanceof CredentialUnavailableError);
        assert.match(outcome.error.message, c.reason);
        await credential.close();
        await alone.close();
      } finally {
        await imds.close();
      }
    });
  }
});

test("end of file: every credential and server closed, no unhandled rejection, no socket left open", async () => {
  await http.close();
  await setup.closeAndCheck();
});
