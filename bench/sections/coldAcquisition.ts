/**
 * Section 2: the first `getToken` for a scope the credential has not seen, on a credential that is
 * otherwise warm (material loaded, connections open).
 */
import { countsSince, freshScope, handshakes, type BenchEnvironment, type Contender, type ContenderKind } from "../environment.ts";
import type { BenchSizes } from "../options.ts";
import { formatCount, formatMillis, formatRatio, type SectionResult } from "../report.ts";
import { median, percentile, rotate, timed } from "../stats.ts";

const CONTENDERS: readonly ContenderKind[] = ["unbound", "bound", "azureIdentity"];

interface Tally {
  readonly ms: number[];
  handshakes: number;
  tokenRequests: number;
}

/** Runs section 2. */
export async function coldAcquisition(env: BenchEnvironment, sizes: BenchSizes): Promise<SectionResult> {
  const contenders = CONTENDERS.map((kind) => env.create(kind));
  const tallies = new Map<ContenderKind, Tally>(contenders.map((c) => [c.kind, { ms: [], handshakes: 0, tokenRequests: 0 }]));
  const acquire = async (c: Contender, tag: string): Promise<{ ms: number; handshakes: number; tokenRequests: number }> => {
    const before = await env.counts();
    const { ms } = await timed(() => c.credential.getToken(freshScope(tag)));
    const delta = countsSince(before, await env.counts());
    return { ms, handshakes: handshakes(delta), tokenRequests: delta.tokenRequests };
  };
  try {
    for (let i = 0; i < sizes.coldWarmup; i++) {
      for (const c of rotate(contenders, i)) await acquire(c, `cold-warmup-${i}`);
    }
    for (let i = 0; i < sizes.coldIterations; i++) {
      for (const c of rotate(contenders, i)) {
        const result = await acquire(c, `cold-${i}`);
        const tally = tallies.get(c.kind) as Tally;
        tally.ms.push(result.ms);
        tally.handshakes += result.handshakes;
        tally.tokenRequests += result.tokenRequests;
      }
    }
  } finally {
    await Promise.all(contenders.map((c) => c.close()));
  }

  const baseline = median((tallies.get("azureIdentity") as Tally).ms);
  const label: Record<string, string> = {
    unbound: "ours, unbound certificate (login host)",
    bound: "ours, bound certificate, reused mTLS connection",
    azureIdentity: "ClientCertificateCredential (PEM)",
  };
  const rows = contenders.map((c) => {
    const t = tallies.get(c.kind) as Tally;
    return [
      label[c.kind] ?? c.label,
      formatMillis(median(t.ms)),
      formatMillis(percentile(t.ms, 90)),
      formatRatio(baseline / median(t.ms)),
      formatCount(t.tokenRequests),
      formatCount(t.handshakes),
    ];
  });
  const bound = tallies.get("bound") as Tally;
  const boundMedian = median(bound.ms);
  return {
    id: 2,
    title: "cold acquisition of a new scope (warm credential)",
    method: `${sizes.coldWarmup} warm-up and ${sizes.coldIterations} measured new scopes per credential, alternating; median and p90 in ms. Speed ratio = ClientCertificateCredential's median / this median (above 1 is faster).`,
    table: { header: ["credential", "median ms", "p90 ms", "speed ratio", "token requests", "TLS handshakes"], rows },
    targets: [
      {
        target: "bound certificate over a warm connection no slower than ClientCertificateCredential's cold acquisition",
        met: boundMedian <= baseline,
        measured: `${formatMillis(boundMedian)} ms vs ${formatMillis(baseline)} ms (median)`,
      },
    ],
    invariants: [
      {
        invariant: "each bound cold acquisition is one token request over the already open mTLS connection",
        held: bound.tokenRequests === sizes.coldIterations && bound.handshakes === 0,
        detail: `${bound.tokenRequests} token requests and ${bound.handshakes} TLS handshakes for ${sizes.coldIterations} new scopes`,
      },
    ],
  };
}
