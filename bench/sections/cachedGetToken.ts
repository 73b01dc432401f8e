/**
 * Section 1: `getToken` for a scope already in the cache, called sequentially.
 */
import type { TokenCredential } from "@azure/core-auth";
import { countsSince, type BenchEnvironment, type Contender, type ContenderKind } from "../environment.ts";
import type { BenchSizes } from "../options.ts";
import { formatCount, formatMicros, formatRatio, type SectionResult } from "../report.ts";
import { median, now, percentile, rotate } from "../stats.ts";

const SCOPE = "https://storage.azure.com/.default";
const OURS: readonly ContenderKind[] = ["bound", "unbound"];
const BASELINE: ContenderKind = "azureIdentity";
const CONTENDERS: readonly ContenderKind[] = [...OURS, BASELINE, "azureIdentityPath"];
const TARGET_RATIO = 100;

interface RoundResult {
  readonly p50: number;
  readonly p99: number;
  readonly opsPerSecond: number;
}

/** Per-call latencies of `calls` sequential cached calls, in ms. */
async function latencies(credential: TokenCredential, calls: number): Promise<Float64Array> {
  const samples = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const started = now();
    await credential.getToken(SCOPE);
    samples[i] = now() - started;
  }
  return samples;
}

/** Calls per second over `calls` sequential cached calls, without a clock read per call. */
async function throughput(credential: TokenCredential, calls: number): Promise<number> {
  const started = now();
  for (let i = 0; i < calls; i++) await credential.getToken(SCOPE);
  return (calls * 1000) / (now() - started);
}

async function round(contender: Contender, calls: number): Promise<RoundResult> {
  const samples = [...(await latencies(contender.credential, calls))];
  const opsPerSecond = await throughput(contender.credential, calls);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), opsPerSecond };
}

/** Runs section 1. */
export async function cachedGetToken(env: BenchEnvironment, sizes: BenchSizes): Promise<SectionResult> {
  const contenders = CONTENDERS.map((kind) => env.create(kind));
  const callsFor = (c: Contender): number => (c.kind === "bound" || c.kind === "unbound" ? sizes.cachedCallsOurs : sizes.cachedCallsTheirs);
  const rounds = new Map<ContenderKind, RoundResult[]>(contenders.map((c) => [c.kind, []]));
  let requestsWhileCached = 0;
  try {
    for (const c of contenders) {
      await c.credential.getToken(SCOPE);
      await throughput(c.credential, Math.ceil(callsFor(c) / 4)); // warm-up: JIT, msal's cache lookups
    }
    const before = await env.counts();
    for (let r = 0; r < sizes.cachedRounds; r++) {
      for (const c of rotate(contenders, r)) rounds.get(c.kind)?.push(await round(c, callsFor(c)));
    }
    requestsWhileCached = countsSince(before, await env.counts()).tokenRequests;
  } finally {
    await Promise.all(contenders.map((c) => c.close()));
  }

  const summary = (kind: ContenderKind): RoundResult => {
    const list = rounds.get(kind) ?? [];
    return {
      p50: median(list.map((x) => x.p50)),
      p99: median(list.map((x) => x.p99)),
      opsPerSecond: median(list.map((x) => x.opsPerSecond)),
    };
  };
  const baseline = summary(BASELINE);
  const rows = contenders.map((c) => {
    const s = summary(c.kind);
    const p50Ratio = baseline.p50 / s.p50;
    const opsRatio = s.opsPerSecond / baseline.opsPerSecond;
    return [c.label, formatMicros(s.p50), formatMicros(s.p99), formatCount(s.opsPerSecond), formatRatio(p50Ratio), formatRatio(opsRatio)];
  });
  const worstOurs = OURS.map((kind) => {
    const s = summary(kind);
    return { kind, p50Ratio: baseline.p50 / s.p50, opsRatio: s.opsPerSecond / baseline.opsPerSecond };
  }).reduce((a, b) => (Math.min(b.p50Ratio, b.opsRatio) < Math.min(a.p50Ratio, a.opsRatio) ? b : a));

  return {
    id: 1,
    title: "cached getToken (one scope, sequential calls)",
    method: `${sizes.cachedRounds} alternating rounds of ${formatCount(sizes.cachedCallsOurs)} (ours) / ${formatCount(
      sizes.cachedCallsTheirs,
    )} (ClientCertificateCredential) calls after a warm-up; medians of the rounds' p50, p99 and calls/s. Ratios against ClientCertificateCredential (PEM).`,
    table: { header: ["credential", "p50 µs", "p99 µs", "calls/s", "p50 ratio", "calls/s ratio"], rows },
    targets: [
      {
        target: `cached getToken ≥ ${TARGET_RATIO}× faster than ClientCertificateCredential`,
        met: worstOurs.p50Ratio >= TARGET_RATIO && worstOurs.opsRatio >= TARGET_RATIO,
        measured: `slowest of ours (${worstOurs.kind}): ${formatRatio(worstOurs.p50Ratio)} at p50, ${formatRatio(worstOurs.opsRatio)} in calls/s`,
      },
    ],
    invariants: [
      {
        invariant: "cached calls make no token request",
        held: requestsWhileCached === 0,
        detail: `${requestsWhileCached} token requests during the measured rounds`,
      },
    ],
  };
}
