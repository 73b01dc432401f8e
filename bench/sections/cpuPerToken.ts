/**
 * Section 8: CPU time this process spends per cold token (user + system, `process.cpuUsage`),
 * sequentially, on warm credentials. The emulator runs in another process, so none of its signing
 * or TLS work is counted: this is the client's own cost — assertion signing, TLS, parsing.
 */
import { freshScope, type BenchEnvironment, type ContenderKind } from "../environment.ts";
import type { BenchSizes } from "../options.ts";
import { formatMillis, formatRatio, type SectionResult } from "../report.ts";
import { rotate } from "../stats.ts";

const CONTENDERS: readonly ContenderKind[] = ["bound", "unbound", "secret", "azureIdentity", "azureIdentitySecret"];
const BOUND_TARGET_MS = 1.2;

/** Runs section 8. */
export async function cpuPerToken(env: BenchEnvironment, sizes: BenchSizes): Promise<SectionResult> {
  const contenders = CONTENDERS.map((kind) => env.create(kind));
  const cpuMs = new Map<ContenderKind, number>(CONTENDERS.map((k) => [k, 0]));
  const counted = new Map<ContenderKind, number>(CONTENDERS.map((k) => [k, 0]));
  try {
    for (const c of contenders) await c.credential.getToken(freshScope(`cpu-warm-${c.kind}`));
    // Alternate in small batches so that each contender sees the same machine conditions.
    const batch = 10;
    for (let r = 0; r * batch < sizes.cpuTokens; r++) {
      for (const c of rotate(contenders, r)) {
        const before = process.cpuUsage();
        for (let i = 0; i < batch; i++) await c.credential.getToken(freshScope(`cpu-${c.kind}-${r}-${i}`));
        const used = process.cpuUsage(before);
        cpuMs.set(c.kind, (cpuMs.get(c.kind) ?? 0) + (used.user + used.system) / 1000);
        counted.set(c.kind, (counted.get(c.kind) ?? 0) + batch);
      }
    }
  } finally {
    await Promise.all(contenders.map((c) => c.close()));
  }
  const perToken = (kind: ContenderKind): number => (cpuMs.get(kind) ?? 0) / Math.max(1, counted.get(kind) ?? 0);
  const baseline = perToken("azureIdentity");
  const rows = contenders.map((c) => [c.label, formatMillis(perToken(c.kind)), formatRatio(perToken(c.kind) / baseline)]);
  return {
    id: 8,
    title: "CPU per cold token in the credential's process",
    method: `${sizes.cpuTokens} new scopes per credential in alternating batches of 10; user + system CPU of this process divided by tokens. Ratio against ClientCertificateCredential (below 1 is cheaper).`,
    table: { header: ["credential", "CPU ms per token", "vs ClientCertificateCredential"], rows },
    targets: [
      {
        target: `bound certificate: at most ${BOUND_TARGET_MS} ms of CPU per cold token`,
        met: perToken("bound") <= BOUND_TARGET_MS,
        measured: `${formatMillis(perToken("bound"))} ms`,
      },
    ],
    invariants: [],
  };
}
