/**
 * The five flows of the fault matrix against one emulator, each with a fallback entry behind it,
 * and the runner of one token-endpoint fault: a fresh credential, the fault scripted on the flow's
 * token route, one `getToken`, and what came of it (the requests the entry made, the delays the
 * retry policy asked the injected sleep for, the error or the entry that served).
 */
import assert from "node:assert/strict";
import { AuthenticationError, CredentialUnavailableError } from "../../src/errors.ts";
import type { BoundClientCredential } from "../../src/boundClientCredential.ts";
import type { BoundClientCredentialOptions, CredentialDescription } from "../../src/configuration/types.ts";
import type { FaultSpec, IssuedCertificate, JournalEntry, RegisteredManagedIdentity } from "../../src/emulator/index.ts";
import { Harness, STORAGE_SCOPE, VAULT_SCOPE, type RegisteredApp } from "../credential/support.ts";
import {
  collectUnhandledRejections,
  outcomeOf,
  recordingSleep,
  settlesWithin,
  socketsLeftAfterClose,
  startScriptedTokenServer,
  type RejectionCollector,
  type ScriptedServer,
} from "./support.ts";

export { STORAGE_SCOPE, VAULT_SCOPE };

/** The client secret of the matrix app; never expected in any output. */
export const MATRIX_SECRET = "fault-matrix-secret-0b7e";
/** A getToken that has not settled after this long is a hang, not a slow answer. */
export const SETTLE_BOUND_MS = 20_000;

/** The flows of the matrix. */
export type FlowName = "unbound certificate" | "client secret" | "unbound managed identity" | "bound certificate" | "bound managed identity";

/** One flow: its entry, the fallback entry behind it, and where its token requests go. */
export interface Flow {
  readonly name: FlowName;
  readonly entry: CredentialDescription;
  readonly fallback: CredentialDescription;
  readonly route: "login.token" | "mtls.token";
  readonly bound: boolean;
  /** Whether the flow must get one token first so that the next request of the route is the app's (leg 2). */
  readonly warmUp: boolean;
  /** Whether a journal entry of `route` is a request of this flow's entry (not of the fallback, not leg 1). */
  isEntryRequest(entry: JournalEntry): boolean;
}

/** The emulator, the app and the material every flow uses. */
export class MatrixSetup {
  readonly harness: Harness;
  readonly app: RegisteredApp;
  readonly identity: RegisteredManagedIdentity;
  readonly certificate: IssuedCertificate;
  readonly scripted: ScriptedServer;
  readonly rejections: RejectionCollector;
  #closed = false;

  private constructor(
    harness: Harness,
    app: RegisteredApp,
    identity: RegisteredManagedIdentity,
    certificate: IssuedCertificate,
    scripted: ScriptedServer,
    rejections: RejectionCollector,
  ) {
    this.harness = harness;
    this.app = app;
    this.identity = identity;
    this.certificate = certificate;
    this.scripted = scripted;
    this.rejections = rejections;
  }

  static async start(): Promise<MatrixSetup> {
    const rejections = collectUnhandledRejections();
    const harness = await Harness.start();
    const emu = harness.emulator;
    const certificate = await emu.issueCertificate({ subject: "CN=fault-matrix" });
    const identity = emu.registerManagedIdentity({ kind: "user" });
    const app = emu.registerApp({
      certificates: [certificate.certificatePem],
      secrets: [MATRIX_SECRET],
      federatedCredentials: [emu.federatedCredentialFor(identity)],
    });
    const scripted = await startScriptedTokenServer(emu);
    return new MatrixSetup(harness, app, identity, certificate, scripted, rejections);
  }

  get emulator() {
    return this.harness.emulator;
  }

  /** Every flow of the matrix. */
  flows(): Flow[] {
    const { app, identity, certificate } = this;
    const secret: CredentialDescription = { sourceType: "ClientSecret", clientSecret: MATRIX_SECRET };
    const pem = { certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem };
    const unboundCertificate: CredentialDescription = { sourceType: "Certificate", ...pem };
    // A request that met a scripted fault never reached the route handler, so its form is empty:
    // it counts as the entry's, since the fallback and leg 1 never meet the fault.
    const ofApp = (entry: JournalEntry) => entry.fault !== undefined || entry.form["client_id"] === app.clientId;
    const withAssertion = (entry: JournalEntry) => entry.fault !== undefined || (ofApp(entry) && entry.form["client_assertion"] !== undefined);
    return [
      {
        name: "unbound certificate",
        entry: unboundCertificate,
        fallback: secret,
        route: "login.token",
        bound: false,
        warmUp: false,
        isEntryRequest: withAssertion,
      },
      {
        name: "client secret",
        entry: secret,
        fallback: unboundCertificate,
        route: "login.token",
        bound: false,
        warmUp: false,
        isEntryRequest: (entry) => entry.fault !== undefined || (ofApp(entry) && entry.form["client_secret"] !== undefined),
      },
      {
        name: "unbound managed identity",
        entry: { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId },
        fallback: secret,
        route: "login.token",
        bound: false,
        warmUp: false,
        isEntryRequest: withAssertion,
      },
      {
        name: "bound certificate",
        entry: { sourceType: "Certificate", ...pem, useBoundCredential: true },
        fallback: secret,
        route: "mtls.token",
        bound: true,
        warmUp: false,
        isEntryRequest: withAssertion,
      },
      {
        name: "bound managed identity",
        entry: { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId, useBoundCredential: true },
        fallback: secret,
        route: "mtls.token",
        bound: true,
        // The first mtls.token request of a cold credential is leg 1; after a warm-up it is the app's.
        warmUp: true,
        isEntryRequest: withAssertion,
      },
    ];
  }

  /** Credential options of `flow` (entry, then fallback), with `extra` options. */
  options(flow: Flow, extra: Partial<BoundClientCredentialOptions> = {}): BoundClientCredentialOptions {
    return this.harness.options(this.app, [flow.entry, flow.fallback], extra);
  }

  /**
   * Closes every credential and server, then checks what must hold at the end of a file: no
   * unhandled rejection and no TCP or TLS socket left open.
   */
  async closeAndCheck(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.scripted.close();
    await this.harness.close();
    this.rejections.dispose();
    assert.deepEqual(this.rejections.rejections, [], "no unhandled rejection");
    assert.deepEqual(await socketsLeftAfterClose(), [], "no TCP or TLS socket left open");
  }
}

/** What one case expects of a flow. */
export type Expectation =
  | {
      /** Requests of the entry on the flow's route. */
      readonly attempts: number;
      readonly delays: readonly number[];
      /** The entry that served: 0 the flow's entry, 1 the fallback. */
      readonly served: 0 | 1;
      /** Binding certificates minted for the request (bound managed identity). */
      readonly mints?: number;
    }
  | {
      readonly attempts: number;
      readonly delays: readonly number[];
      readonly error: typeof AuthenticationError | typeof CredentialUnavailableError;
      /** Matched against the line of `clientCredentials[0]` in the message. */
      readonly reason: RegExp;
      /** The fallback's line: `not tried` when the failure stopped the list. */
      readonly fallback: RegExp;
    };

/** A token-endpoint fault of the matrix. */
export interface TokenFaultCase {
  readonly name: string;
  readonly fault: Omit<FaultSpec, "route">;
  /** `requestOptions.timeout` of the call; default 10 s. */
  readonly timeoutMs?: number;
  /** Drop kept-alive connections first, for faults that only affect new connections. */
  readonly newConnection?: boolean;
  expect(flow: Flow): Expectation;
  /** A further check of the outcome. */
  check?(flow: Flow, outcome: { value: unknown } | { error: unknown }): void;
}

/** What happened in one run. */
export interface RunResult {
  readonly outcome: { value: unknown } | { error: unknown };
  readonly attempts: number;
  readonly delays: readonly number[];
  readonly mints: number;
  readonly credential: BoundClientCredential;
}

/**
 * Runs one fault on a fresh credential of `flow`: warm-up if the flow needs one, the fault on the
 * flow's route, one `getToken` for Storage that must settle, then the journal and the sleeps.
 */
export async function runTokenFault(setup: MatrixSetup, flow: Flow, c: TokenFaultCase, extra: Partial<BoundClientCredentialOptions> = {}): Promise<RunResult> {
  const emu = setup.emulator;
  const sleep = recordingSleep();
  const credential = setup.harness.credential(setup.options(flow, extra), { retry: { sleep: sleep.sleep } });
  try {
    if (flow.warmUp) await credential.getToken(VAULT_SCOPE);
    if (c.newConnection === true) await credential.close();
    emu.faults.clear();
    emu.journal.clear();
    sleep.reset();
    emu.faults.add({ route: flow.route, ...c.fault });
    const outcome = await outcomeOf(
      settlesWithin(credential.getToken(STORAGE_SCOPE, { requestOptions: { timeout: c.timeoutMs ?? 10_000 } }), SETTLE_BOUND_MS, "getToken"),
    );
    assert.equal(emu.faults.pending(), 0, "every scripted fault was met");
    return {
      outcome,
      attempts: emu.journal.ofRoute(flow.route).filter((entry) => flow.isEntryRequest(entry)).length,
      delays: [...sleep.delays],
      mints: emu.journal.ofRoute("imds.issueCredential").length,
      credential,
    };
  } finally {
    emu.faults.clear();
    await credential.close();
  }
}

/** Asserts a run against an expectation. */
export function assertExpectation(setup: MatrixSetup, flow: Flow, run: RunResult, expected: Expectation): void {
  assert.equal(run.attempts, expected.attempts, `requests of ${flow.name} on ${flow.route}`);
  assert.deepEqual(run.delays, expected.delays, "delays asked of the retry sleep");
  if ("served" in expected) {
    if ("error" in run.outcome) {
      assert.fail(`expected a token, got ${run.outcome.error instanceof Error ? run.outcome.error.message : String(run.outcome.error)}`);
    }
    const token = run.outcome.value as { token: string };
    assert.match(run.credential.lastServed?.entryId ?? "", new RegExp(`^clientCredentials\\[${expected.served}\\]`), "the entry that served");
    assert.equal(run.credential.lastServed?.bound, expected.served === 0 ? flow.bound : false);
    assert.equal(typeof token.token, "string");
    if (expected.mints !== undefined) assert.equal(run.mints, expected.mints, "binding certificates minted");
    return;
  }
  assert.ok("error" in run.outcome, "expected the call to fail");
  const error = run.outcome.error;
  assert.ok(error instanceof expected.error, `expected ${expected.error.name}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  const lines = error.message.split("\n");
  const entryLine = lines.find((line) => line.trimStart().startsWith("clientCredentials[0]")) ?? "";
  const fallbackLine = lines.find((line) => line.trimStart().startsWith("clientCredentials[1]")) ?? "";
  assert.match(entryLine, expected.reason, "the message says what happened to the entry");
  assert.match(fallbackLine, expected.fallback, "the fallback's line");
  assert.equal(setup.emulator.faults.pending(), 0);
}

/** Picks the expectation of a flow by what its entry is. */
export function byKind<T>(flow: Flow, values: { unbound: T; boundCertificate: T; boundManagedIdentity: T }): T {
  if (!flow.bound) return values.unbound;
  return flow.name === "bound certificate" ? values.boundCertificate : values.boundManagedIdentity;
}
