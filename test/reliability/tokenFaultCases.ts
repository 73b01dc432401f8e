/**
 * The token-endpoint rows of the fault matrix: every fault the emulator can script on a token
 * route, and what each flow must make of it (DESIGN.md §4, §7). STS policy: one retry after 1 s on
 * a 5xx without `Retry-After` or a timeout; a `Retry-After` of at most 2 s on a 429 or 5xx is
 * waited once; nothing else is retried.
 */
import assert from "node:assert/strict";
import { AuthenticationError } from "../../src/errors.ts";
import { EntraError } from "../../src/transport/entraError.ts";
import { byKind, type Expectation, type Flow, type TokenFaultCase } from "./faultMatrixSupport.ts";

const NOT_TRIED = /: not tried\./;
const RETRY_DELAY = [1000];

/** A request error: the list stops, the fallback is not tried. */
function stopped(attempts: number, delays: readonly number[], reason: RegExp): Expectation {
  return { attempts, delays, error: AuthenticationError, reason: new RegExp(`: stop: .*${reason.source}`), fallback: NOT_TRIED };
}

/**
 * A transport failure of the token request (a reset, a refused handshake): the entry is
 * unavailable and the next entry serves, since it may go elsewhere; for a bound managed identity a
 * new binding certificate first (the old one may have been revoked), which then serves.
 */
function transportFailure(flow: Flow, journaled: number): Expectation {
  return byKind<Expectation>(flow, {
    unbound: { attempts: journaled, delays: [], served: 1 },
    boundCertificate: { attempts: journaled, delays: [], served: 1 },
    // The failed attempt (if it reached the server) and the retry with the re-minted certificate.
    boundManagedIdentity: { attempts: journaled + 1, delays: [], served: 0, mints: 1 },
  });
}

function serverErrorTwice(status: 500 | 502 | 503 | 504): TokenFaultCase {
  return {
    name: `HTTP ${status} twice: one retry after 1 s, then a request error`,
    fault: { status, count: 2 },
    expect: () => stopped(2, RETRY_DELAY, new RegExp(`AADSTS90033 \\(HTTP ${status}\\): .*failing or throttling`)),
  };
}

function retryAfterOf(outcome: { value: unknown } | { error: unknown }): number | undefined {
  let current: unknown = "error" in outcome ? outcome.error : undefined;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    if (current instanceof EntraError) return current.retryAfterMs;
    current = current.cause;
  }
  return undefined;
}

/** Every token-endpoint fault, as one row each. */
export const TOKEN_FAULT_CASES: readonly TokenFaultCase[] = [
  serverErrorTwice(500),
  serverErrorTwice(502),
  serverErrorTwice(503),
  serverErrorTwice(504),
  {
    name: "HTTP 500 once: the retry after 1 s gets the token",
    fault: { status: 500, count: 1 },
    expect: () => ({ attempts: 2, delays: RETRY_DELAY, served: 0, mints: 0 }),
  },
  {
    name: "HTTP 429 with Retry-After: 1, once: waited as asked, then the token",
    fault: { status: 429, retryAfter: 1, count: 1 },
    expect: () => ({ attempts: 2, delays: [1000], served: 0, mints: 0 }),
  },
  {
    name: "HTTP 429 with Retry-After: 1, twice: one wait, then a request error",
    fault: { status: 429, retryAfter: 1, count: 2 },
    expect: () => stopped(2, [1000], /AADSTS50196 \(HTTP 429\): .*failing or throttling/),
  },
  {
    name: "HTTP 429 with Retry-After: 30: not slept on, surfaced at once",
    fault: { status: 429, retryAfter: 30 },
    expect: () => stopped(1, [], /AADSTS50196 \(HTTP 429\)/),
    check(flow, outcome) {
      // The mTLS token client keeps the server's Retry-After for the caller; msal-node does not.
      if (flow.bound) assert.equal(retryAfterOf(outcome), 30_000);
    },
  },
  {
    name: "HTTP 503 with Retry-After: 5: longer than the 2 s budget, not retried",
    fault: { status: 503, retryAfter: 5 },
    expect: () => stopped(1, [], /AADSTS90033 \(HTTP 503\)/),
  },
  {
    name: "answers delayed past requestOptions.timeout, twice: one retry after 1 s, then the login host's is a request error and the mTLS host's takes only the bound entry out",
    fault: { delayMs: 1500, count: 2 },
    timeoutMs: 300,
    expect: (flow) =>
      byKind<Expectation>(flow, {
        unbound: stopped(2, RETRY_DELAY, /timed out/),
        // Every unbound entry needs the login host; the next entry may not need the mTLS host.
        boundCertificate: { attempts: 2, delays: RETRY_DELAY, served: 1 },
        boundManagedIdentity: { attempts: 2, delays: RETRY_DELAY, served: 1 },
      }),
  },
  {
    name: "an answer delayed past requestOptions.timeout once: the retry gets the token",
    fault: { delayMs: 1500, count: 1 },
    timeoutMs: 300,
    expect: () => ({ attempts: 2, delays: RETRY_DELAY, served: 0, mints: 0 }),
  },
  {
    name: "the connection is reset instead of an answer",
    fault: { reset: true },
    expect: (flow) => transportFailure(flow, 1),
  },
  {
    name: "the TLS handshake is refused",
    fault: { tls: "reject" },
    newConnection: true,
    // The refused connection never carries a request: nothing reaches the journal.
    expect: (flow) => transportFailure(flow, 0),
  },
  {
    name: "a 200 with malformed JSON",
    fault: { body: "malformed-json" },
    expect: () => stopped(1, [], /not JSON/),
  },
  {
    name: "an HTML error page (HTTP 503), twice: retried once, reported by its title, never quoted",
    fault: { body: "html", status: 503, count: 2 },
    expect: () => stopped(2, RETRY_DELAY, /HTTP 503.*text\/html body titled "Service unavailable" of \d+ bytes/),
  },
  {
    name: "an HTML page with HTTP 200",
    fault: { body: "html" },
    expect: () => stopped(1, [], /not JSON/),
  },
  {
    name: "an oversize body (4 MiB): cut off at 1 MiB",
    fault: { body: "oversize" },
    expect: () => stopped(1, [], /larger than 1048576 bytes/),
  },
];
