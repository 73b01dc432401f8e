/**
 * A bounded soak of `BoundClientCredential` against the emulator: concurrent `getToken` calls with
 * 10-second token lifetimes (every call is a cache miss by design: a token is never served within
 * five minutes of its expiry, so each call asks the token endpoint, concurrent callers of one key
 * sharing the request) across several scopes, tenants and CAE settings, through bound and unbound
 * entries: a client secret, a certificate, a managed identity (IMDS v1), a bound certificate, a
 * bound managed identity (IMDS v2) and a list whose bound primary serves. Every token's signature,
 * tenant, audience and app are verified. The emulator runs in a child process
 * (`emulatorProcess.ts`), so the open sockets and the heap (after a garbage collection) sampled
 * here are the credentials' own; at the end there must have been no error, and both must be flat
 * within the bounds stated in {@link SOAK_BOUNDS}. The emulator refuses a client assertion sent
 * twice, as it does by default (every assertion the credential sends is fresh);
 * `--accept-replayed-assertions` relaxes that, as Entra ID accepts them in practice.
 *
 * `node test/soak/soak.ts [--seconds 180] [--workers 16]` runs it and prints the figures (exit code
 * 1 when a bound is broken); `test/soak/soak.test.ts` runs it for a few seconds inside `npm test`.
 */
import "../helpers/imdsOnly.ts";
import { fork, type ChildProcess } from "node:child_process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parseArgs } from "node:util";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createLocalJWKSet, jwtVerify } from "jose";
import type { EmulatorProcessMessage, SoakSetup } from "./emulatorProcess.ts";

const { BoundClientCredential } = await import("../../src/boundClientCredential.ts");
const { withSeams } = await import("../helpers/index.ts");
type CredentialDescription = import("../../src/configuration/types.ts").CredentialDescription;
type BoundClientCredentialType = InstanceType<typeof BoundClientCredential>;

/** What "flat" means. */
export const SOAK_BOUNDS = {
  /** Open TCP+TLS sockets of the credentials may never exceed this many per worker, plus a base. */
  socketsPerWorker: 2,
  socketsBase: 12,
  /**
   * Sockets in the last quarter of the run may exceed the largest count of the first quarter by
   * at most this many (connections come and go with keep-alive; they must not pile up).
   */
  socketGrowth: 8,
  /** Heap growth from the first quarter (median, after GC) to the last quarter, in MiB. */
  heapGrowthMiB: 8,
} as const;

/** Options of {@link runSoak}. */
export interface SoakOptions {
  readonly seconds: number;
  readonly workers: number;
  /** How often sockets and heap are sampled. Default: a twentieth of the run, at least 250 ms. */
  readonly sampleEveryMs?: number;
  /** Progress lines; default none. */
  readonly log?: (line: string) => void;
  /**
   * Refuse client assertions presented twice, as the emulator does by default (Entra ID accepts
   * them in practice). Default true: the credential sends a fresh assertion every time.
   */
  readonly rejectReplayedAssertions?: boolean;
}

/** One sample. */
export interface SoakSample {
  readonly atMs: number;
  readonly sockets: number;
  readonly heapUsedMiB: number;
  readonly calls: number;
}

/** The figures of a run. */
export interface SoakReport {
  readonly seconds: number;
  readonly workers: number;
  readonly calls: number;
  readonly callsPerSecond: number;
  readonly errors: number;
  readonly firstErrors: readonly string[];
  readonly rejectReplayedAssertions: boolean;
  readonly callsByFlow: Readonly<Record<string, number>>;
  /** Requests the emulator answered, by route. */
  readonly tokenRequests: Readonly<Record<string, number>>;
  /** Of those, the ones it refused (status 400 or more), by route: retries the callers never saw. */
  readonly refusedRequests: Readonly<Record<string, number>>;
  /** The emulator process's heap at the end, for comparison (not bounded: its replay cache keeps 15 minutes of assertions). */
  readonly emulatorHeapMiB: number;
  readonly gcAvailable: boolean;
  readonly samples: readonly SoakSample[];
  readonly sockets: { readonly max: number; readonly firstQuarterMax: number; readonly lastQuarterMax: number; readonly afterClose: number };
  readonly heapMiB: { readonly firstQuarterMedian: number; readonly lastQuarterMedian: number; readonly max: number };
  /** Broken bounds; empty when the run passed. */
  readonly violations: readonly string[];
}

const SCOPES = [
  ["https://storage.azure.com/.default", "https://storage.azure.com"],
  ["https://vault.azure.net/.default", "https://vault.azure.net"],
  ["https://management.azure.com/.default", "https://management.azure.com"],
  ["https://graph.microsoft.com/.default", "https://graph.microsoft.com"],
] as const;

/** A garbage collector, when V8 lets us have one without a command-line flag. */
function garbageCollector(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === "function") return existing;
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    return typeof gc === "function" ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

function openSockets(): number {
  return process.getActiveResourcesInfo().filter((name) => name === "TCPSocketWrap" || name === "TLSWrap").length;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : (sorted[Math.floor(sorted.length / 2)] ?? 0);
}

const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs the soak and returns its figures; it stops by itself after `seconds`. */
/** The emulator in its own process; see `emulatorProcess.ts`. */
interface EmulatorProcess {
  readonly setup: SoakSetup;
  /** Requests per route since the last call, and the emulator's heap. */
  stats(): Promise<{ requests: Record<string, number>; refused: Record<string, number>; heapUsedMiB: number }>;
  stop(): Promise<void>;
}

async function startEmulatorProcess(tokenLifetimeSeconds: number, rejectReplayedAssertions: boolean): Promise<EmulatorProcess> {
  const args = [String(tokenLifetimeSeconds), ...(rejectReplayedAssertions ? ["reject-replayed-assertions"] : [])];
  const child: ChildProcess = fork(fileURLToPath(new URL("./emulatorProcess.ts", import.meta.url)), args, {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const next = <T extends EmulatorProcessMessage["type"]>(type: T): Promise<Extract<EmulatorProcessMessage, { type: T }>> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: EmulatorProcessMessage): void => {
        if (message.type !== type) return;
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(message as Extract<EmulatorProcessMessage, { type: T }>);
      };
      const onExit = (): void => reject(new Error("the emulator process exited"));
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  const ready = await next("ready");
  return {
    setup: ready.setup,
    async stats() {
      const answer = next("stats");
      child.send({ type: "stats" });
      const { requests, refused, heapUsedMiB } = await answer;
      return { requests, refused, heapUsedMiB };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        if (child.connected) child.send({ type: "stop" });
        else child.kill();
      }
      await exited;
    },
  };
}

/** Runs the soak and returns its figures; it stops by itself after `seconds`. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const gc = garbageCollector();
  const emulator = await startEmulatorProcess(10, options.rejectReplayedAssertions !== false);
  const credentials: { flow: string; credential: BoundClientCredentialType; multiTenant: boolean }[] = [];
  try {
    const setup = emulator.setup;
    const tenants = setup.tenants;
    const homeTenant = tenants[0]!;
    const keys = createLocalJWKSet(setup.jwks as Parameters<typeof createLocalJWKSet>[0]);
    const secret = setup.clientSecret;
    const pem = { certificate: setup.certificatePem, privateKey: setup.privateKeyPem };
    const managedIdentityClientId = setup.managedIdentityClientId;
    const flows: { flow: string; entries: CredentialDescription[]; multiTenant: boolean }[] = [
      { flow: "client secret", entries: [{ sourceType: "ClientSecret", clientSecret: secret }], multiTenant: true },
      { flow: "certificate", entries: [{ sourceType: "Certificate", ...pem }], multiTenant: true },
      { flow: "managed identity (IMDS v1)", entries: [{ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId }], multiTenant: true },
      { flow: "bound certificate", entries: [{ sourceType: "Certificate", ...pem, useBoundCredential: true }], multiTenant: true },
      {
        flow: "bound managed identity (IMDS v2)",
        entries: [{ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId, useBoundCredential: true }],
        multiTenant: false,
      },
      {
        flow: "list: bound certificate, then secret",
        entries: [{ sourceType: "Certificate", ...pem, useBoundCredential: true }, { sourceType: "ClientSecret", clientSecret: secret }],
        multiTenant: true,
      },
    ];
    for (const { flow, entries, multiTenant } of flows) {
      const credential = new BoundClientCredential(
        withSeams(
          {
            tenantId: homeTenant,
            clientId: setup.clientId,
            authorityHost: setup.authorityHost,
            mtlsAuthorityHost: setup.mtlsAuthorityHost,
            imdsEndpoint: setup.imdsEndpoint,
            tls: { ca: setup.caCertificatePem },
            additionallyAllowedTenants: ["*"],
            clientCredentials: entries,
          },
          { env: {} },
        ),
      );
      credentials.push({ flow, credential, multiTenant });
    }

    const callsByFlow: Record<string, number> = Object.fromEntries(flows.map((f) => [f.flow, 0]));
    const tokenRequests: Record<string, number> = {};
    const refusedRequests: Record<string, number> = {};
    const firstErrors: string[] = [];
    let calls = 0;
    let errors = 0;
    const started = Date.now();
    const deadline = started + options.seconds * 1000;
    const random = (n: number): number => Math.floor(Math.random() * n);

    const worker = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const { flow, credential, multiTenant } = credentials[random(credentials.length)]!;
        const [scope, resource] = SCOPES[random(SCOPES.length)]!;
        const tenantId = multiTenant ? tenants[random(tenants.length)]! : homeTenant;
        const enableCae = random(2) === 1;
        try {
          const token = await credential.getToken(scope, { tenantId, enableCae });
          const { payload: claims } = await jwtVerify(token.token, keys);
          if (claims["aud"] !== resource || claims["tid"] !== tenantId || claims["appid"] !== setup.clientId) {
            throw new Error(`a token for ${String(claims["aud"])} in ${String(claims["tid"])} was served for ${resource} in ${tenantId}`);
          }
          calls++;
          callsByFlow[flow] = (callsByFlow[flow] ?? 0) + 1;
        } catch (error) {
          errors++;
          const message = error instanceof Error ? error.message : String(error);
          if (firstErrors.length < 5) firstErrors.push(`${flow}: ${message.replace(/\s+/g, " ").slice(0, 600)}`);
        }
        await sleep(random(10));
      }
    };

    let emulatorHeapMiB = 0;
    const countRequests = async (): Promise<void> => {
      const { requests, refused, heapUsedMiB } = await emulator.stats();
      emulatorHeapMiB = heapUsedMiB;
      for (const [route, count] of Object.entries(requests)) tokenRequests[route] = (tokenRequests[route] ?? 0) + count;
      for (const [route, count] of Object.entries(refused)) refusedRequests[route] = (refusedRequests[route] ?? 0) + count;
    };
    const samples: SoakSample[] = [];
    const sampleEveryMs = options.sampleEveryMs ?? Math.max(250, (options.seconds * 1000) / 20);
    const sampler = (async () => {
      while (Date.now() < deadline) {
        await sleep(Math.min(sampleEveryMs, Math.max(0, deadline - Date.now())));
        await countRequests();
        gc?.();
        const sample = { atMs: Date.now() - started, sockets: openSockets(), heapUsedMiB: round(process.memoryUsage().heapUsed / 2 ** 20), calls };
        samples.push(sample);
        log(`  ${round(sample.atMs / 1000)} s: ${sample.calls} calls, ${sample.sockets} sockets, heap ${sample.heapUsedMiB} MiB`);
      }
    })();
    await Promise.all([...Array.from({ length: options.workers }, () => worker()), sampler]);
    await countRequests();
    const elapsedSeconds = (Date.now() - started) / 1000;

    await Promise.all(credentials.map(({ credential }) => credential.close()));
    await emulator.stop();
    let afterClose = openSockets();
    for (let i = 0; i < 100 && afterClose > 0; i++) {
      await sleep(20);
      afterClose = openSockets();
    }

    const quarter = Math.max(1, Math.floor(samples.length / 4));
    const first = samples.slice(0, quarter);
    const last = samples.slice(-quarter);
    const sockets = {
      max: Math.max(0, ...samples.map((s) => s.sockets)),
      firstQuarterMax: Math.max(0, ...first.map((s) => s.sockets)),
      lastQuarterMax: Math.max(0, ...last.map((s) => s.sockets)),
      afterClose,
    };
    const heapMiB = {
      firstQuarterMedian: median(first.map((s) => s.heapUsedMiB)),
      lastQuarterMedian: median(last.map((s) => s.heapUsedMiB)),
      max: Math.max(0, ...samples.map((s) => s.heapUsedMiB)),
    };
    const violations: string[] = [];
    if (errors > 0) violations.push(`${errors} getToken calls failed`);
    if (calls === 0) violations.push("no call succeeded");
    for (const { flow } of flows) if ((callsByFlow[flow] ?? 0) === 0) violations.push(`no call went through ${flow}`);
    const socketCap = SOAK_BOUNDS.socketsBase + SOAK_BOUNDS.socketsPerWorker * options.workers;
    if (sockets.max > socketCap) violations.push(`${sockets.max} sockets open at once (bound ${socketCap})`);
    if (sockets.lastQuarterMax > sockets.firstQuarterMax + SOAK_BOUNDS.socketGrowth) {
      violations.push(`sockets grew from ${sockets.firstQuarterMax} to ${sockets.lastQuarterMax} (bound +${SOAK_BOUNDS.socketGrowth})`);
    }
    if (afterClose !== 0) violations.push(`${afterClose} sockets still open after closing everything`);
    if (heapMiB.lastQuarterMedian - heapMiB.firstQuarterMedian > SOAK_BOUNDS.heapGrowthMiB) {
      violations.push(`the heap grew from ${heapMiB.firstQuarterMedian} to ${heapMiB.lastQuarterMedian} MiB (bound +${SOAK_BOUNDS.heapGrowthMiB} MiB)`);
    }
    return {
      seconds: round(elapsedSeconds),
      workers: options.workers,
      calls,
      callsPerSecond: round(calls / elapsedSeconds),
      errors,
      firstErrors,
      rejectReplayedAssertions: options.rejectReplayedAssertions !== false,
      callsByFlow,
      tokenRequests,
      refusedRequests,
      emulatorHeapMiB,
      gcAvailable: gc !== undefined,
      samples,
      sockets,
      heapMiB,
      violations,
    };
  } finally {
    await Promise.all(credentials.map(({ credential }) => credential.close()));
    await emulator.stop();
  }
}

/** The figures, as printed by `npm run soak`. */
export function formatReport(report: SoakReport): string {
  const lines = [
    `soak: ${report.seconds} s, ${report.workers} workers, ${report.calls} getToken calls (${report.callsPerSecond}/s), ${report.errors} errors` +
      (report.rejectReplayedAssertions ? " (emulator refusing replayed client assertions)" : ""),
    `  requests answered by the emulator: ${Object.entries(report.tokenRequests)
      .map(([route, count]) => `${route} ${count}${report.refusedRequests[route] === undefined ? "" : ` (${report.refusedRequests[route]} refused)`}`)
      .join(", ")}; the emulator's own heap at the end: ${report.emulatorHeapMiB} MiB`,
    `  calls by flow: ${Object.entries(report.callsByFlow)
      .map(([flow, count]) => `${flow} ${count}`)
      .join(", ")}`,
    `  open sockets of the credentials: max ${report.sockets.max}, first quarter max ${report.sockets.firstQuarterMax}, last quarter max ${report.sockets.lastQuarterMax}, after close ${report.sockets.afterClose}`,
    `  heap used after GC${report.gcAvailable ? "" : " (GC not available: raw)"}: first quarter median ${report.heapMiB.firstQuarterMedian} MiB, last quarter median ${report.heapMiB.lastQuarterMedian} MiB, max ${report.heapMiB.max} MiB`,
    `  bounds: sockets <= ${SOAK_BOUNDS.socketsBase} + ${SOAK_BOUNDS.socketsPerWorker}/worker and +${SOAK_BOUNDS.socketGrowth} at most from first to last quarter; heap +${SOAK_BOUNDS.heapGrowthMiB} MiB at most`,
    report.violations.length === 0 ? "  result: PASS" : `  result: FAIL\n${report.violations.map((v) => `    - ${v}`).join("\n")}`,
  ];
  if (report.firstErrors.length > 0) lines.push(`  first errors:\n${report.firstErrors.map((e) => `    - ${e}`).join("\n")}`);
  return lines.join("\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "180" },
      workers: { type: "string", default: "16" },
      quiet: { type: "boolean", default: false },
      "accept-replayed-assertions": { type: "boolean", default: false },
    },
  });
  const seconds = Number(values.seconds);
  const workers = Number(values.workers);
  if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isInteger(workers) || workers <= 0) {
    console.error("usage: node test/soak/soak.ts [--seconds 180] [--workers 16] [--quiet] [--accept-replayed-assertions]");
    process.exit(2);
  }
  console.log(`soak: ${seconds} s with ${workers} workers, 10-second tokens…`);
  const report = await runSoak({
    seconds,
    workers,
    rejectReplayedAssertions: !values["accept-replayed-assertions"],
    ...(values.quiet ? {} : { log: (line: string) => console.log(line) }),
  });
  console.log(formatReport(report));
  process.exitCode = report.violations.length === 0 ? 0 : 1;
}
