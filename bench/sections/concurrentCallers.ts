/**
 * Section 3: many concurrent `getToken` calls for one scope that is not cached yet.
 */
import { countsSince, freshScope, handshakes, type BenchEnvironment, type ContenderKind, type WireCounts } from "../environment.ts";
import type { BenchSizes } from "../options.ts";
import { formatCount, formatMillis, formatRatio, type SectionResult } from "../report.ts";
import { median, rotate, timed } from "../stats.ts";

const OURS: readonly ContenderKind[] = ["bound", "unbound"];
const CONTENDERS: readonly ContenderKind[] = [...OURS, "azureIdentity"];

interface Burst {
  readonly ms: number;
  readonly wire: WireCounts;
  /** Distinct token strings handed to the callers. */
  readonly distinctTokens: number;
}

/** Runs section 3. */
export async function concurrentCallers(env: BenchEnvironment, sizes: BenchSizes): Promise<SectionResult> {
  const contenders = CONTENDERS.map((kind) => env.create(kind));
  const bursts = new Map<ContenderKind, Burst[]>(contenders.map((c) => [c.kind, []]));
  try {
    // Warm credentials (material loaded, connection open): what is cold is the scope.
    for (const c of contenders) await c.credential.getToken(freshScope("burst-warmup"));
    for (let r = 0; r < sizes.burstRounds; r++) {
      for (const c of rotate(contenders, r)) {
        const scope = freshScope(`burst-${r}`);
        const before = await env.counts();
        const { ms, value } = await timed(() =>
          Promise.all(Array.from({ length: sizes.burstCallers }, () => c.credential.getToken(scope))),
        );
        const distinctTokens = new Set(value.map((t) => t?.token)).size;
        bursts.get(c.kind)?.push({ ms, wire: countsSince(before, await env.counts()), distinctTokens });
      }
    }
  } finally {
    await Promise.all(contenders.map((c) => c.close()));
  }

  const of = (kind: ContenderKind): Burst[] => bursts.get(kind) ?? [];
  const baselineMs = median(of("azureIdentity").map((b) => b.ms));
  const rows = contenders.map((c) => {
    const list = of(c.kind);
    const ms = median(list.map((b) => b.ms));
    return [
      c.label,
      formatCount(Math.max(...list.map((b) => b.wire.tokenRequests))),
      formatCount(Math.max(...list.map((b) => handshakes(b.wire)))),
      formatMillis(ms),
      formatRatio(baselineMs / ms),
    ];
  });
  const oursBursts = OURS.flatMap((kind) => of(kind).map((b) => ({ kind, ...b })));
  const maxOursRequests = Math.max(...oursBursts.map((b) => b.wire.tokenRequests));
  return {
    id: 3,
    title: `${formatCount(sizes.burstCallers)} concurrent getToken for one cold scope`,
    method: `${sizes.burstRounds} alternating round(s), each with a new scope on warm credentials; requests and handshakes are the most seen in a round (emulator journal and stats), time is the median for all callers to resolve. A handshake of ours is a reconnection after the emulator closed the idle connection (5 s keep-alive) during another credential's burst.`,
    table: { header: ["credential", "token requests", "TLS handshakes", "total ms", "speed ratio"], rows },
    targets: [
      {
        target: `one token request for ${formatCount(sizes.burstCallers)} concurrent callers of one scope`,
        met: maxOursRequests === 1,
        measured: `ours made at most ${maxOursRequests} request(s); ClientCertificateCredential ${formatCount(
          Math.max(...of("azureIdentity").map((b) => b.wire.tokenRequests)),
        )}`,
      },
    ],
    invariants: [
      {
        invariant: `ours makes one token request for ${formatCount(sizes.burstCallers)} concurrent callers, and every caller gets that token`,
        held: oursBursts.every((b) => b.wire.tokenRequests === 1 && b.distinctTokens === 1),
        detail: OURS.map(
          (kind) =>
            `${kind}: token requests per round [${of(kind).map((b) => b.wire.tokenRequests).join(", ")}], distinct tokens per round [${of(kind)
              .map((b) => b.distinctTokens)
              .join(", ")}]`,
        ).join("; "),
      },
    ],
  };
}
