/**
 * Section 7: cold tokens per second — every call asks for a scope the credential has not seen —
 * with 1, 10 and 100 callers at once, against the emulator as it is and with a standing delay on
 * every token request (a network round trip to Entra ID's region). It shows what queueing on a
 * credential's connections costs when a service warms many scopes at once.
 */
import { countsSince, freshScope, type BenchEnvironment, type Contender, type ContenderKind } from "../environment.ts";
import type { BenchSizes } from "../options.ts";
import { formatCount, formatRatio, type SectionResult } from "../report.ts";
import { median, now, rotate } from "../stats.ts";

const CONTENDERS: readonly ContenderKind[] = ["bound", "unbound", "azureIdentity"];

interface Cell {
  readonly tokensPerSecond: number;
  readonly tokenRequests: number;
  readonly tokens: number;
  readonly failures: number;
}

async function run(env: BenchEnvironment, contender: Contender, concurrency: number, tokens: number, tag: string): Promise<Cell> {
  const before = await env.counts();
  let next = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= tokens) return;
      try {
        await contender.credential.getToken(freshScope(`${tag}-${i}`));
      } catch {
        failures++;
      }
    }
  };
  const started = now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = now() - started;
  const delta = countsSince(before, await env.counts());
  return { tokensPerSecond: (tokens * 1000) / elapsed, tokenRequests: delta.tokenRequests, tokens, failures };
}

/** Runs section 7. */
export async function throughput(env: BenchEnvironment, sizes: BenchSizes): Promise<SectionResult> {
  const rounds = new Map<string, Cell[]>();
  const key = (kind: ContenderKind, latency: number, concurrency: number): string => `${kind}/${latency}/${concurrency}`;
  for (const latency of sizes.throughputLatenciesMs) {
    await env.setLatency(latency);
    try {
      for (const concurrency of sizes.throughputConcurrency) {
        const tokens = Math.max(sizes.throughputMinTokens, concurrency * sizes.throughputTokensPerCaller);
        for (let round = 0; round < sizes.throughputRounds; round++) {
          // Rotated, so that no contender always runs right after the latency changes or after the same neighbour.
          for (const kind of rotate(CONTENDERS, round)) {
            // A fresh credential per cell, warmed by one token: material loaded, first connection open.
            const contender = env.create(kind);
            try {
              await contender.credential.getToken(freshScope(`tp-warm-${kind}-${latency}-${concurrency}-${round}`));
              const cell = await run(env, contender, concurrency, tokens, `tp-${kind}-${latency}-${concurrency}-${round}`);
              const list = rounds.get(key(kind, latency, concurrency)) ?? [];
              list.push(cell);
              rounds.set(key(kind, latency, concurrency), list);
            } finally {
              await contender.close();
            }
          }
        }
      }
    } finally {
      await env.setLatency(0);
    }
  }
  const cells = new Map<string, Cell>();
  for (const [k, list] of rounds) {
    cells.set(k, {
      tokensPerSecond: median(list.map((c) => c.tokensPerSecond)),
      tokenRequests: list.reduce((n, c) => n + c.tokenRequests, 0),
      tokens: list.reduce((n, c) => n + c.tokens, 0),
      failures: list.reduce((n, c) => n + c.failures, 0),
    });
  }
  const rows: string[][] = [];
  for (const latency of sizes.throughputLatenciesMs) {
    for (const concurrency of sizes.throughputConcurrency) {
      const unbound = cells.get(key("unbound", latency, concurrency));
      for (const kind of CONTENDERS) {
        const cell = cells.get(key(kind, latency, concurrency));
        if (cell === undefined) continue;
        rows.push([
          labelOf(kind),
          `${latency} ms`,
          formatCount(concurrency),
          formatCount(cell.tokensPerSecond),
          unbound === undefined ? "n/a" : formatRatio(cell.tokensPerSecond / unbound.tokensPerSecond),
          formatCount(cell.failures),
        ]);
      }
    }
  }
  const all = [...cells.values()];
  const latencyCells = sizes.throughputLatenciesMs.filter((l) => l > 0);
  const boundVsUnbound = latencyCells.flatMap((latency) =>
    sizes.throughputConcurrency
      .filter((c) => c >= 10)
      .map((concurrency) => {
        const b = cells.get(key("bound", latency, concurrency));
        const u = cells.get(key("unbound", latency, concurrency));
        return { latency, concurrency, ratio: b === undefined || u === undefined ? Number.NaN : b.tokensPerSecond / u.tokensPerSecond };
      }),
  );
  return {
    id: 7,
    title: "cold tokens per second, concurrent callers, with and without network latency",
    method: `Each call asks for a new scope; ${sizes.throughputTokensPerCaller} tokens per caller (at least ${sizes.throughputMinTokens}) per run on a fresh, warmed credential; ${sizes.throughputRounds} run(s) per cell, the contenders' order rotated, the cell's figure is the median run; latency is a standing delay on each token request in the emulator. Ratio against ours unbound in the same cell.`,
    table: { header: ["credential", "latency", "callers", "tokens/s", "vs unbound", "failed calls"], rows },
    targets: boundVsUnbound.map((c) => ({
      target: `bound tokens/s at least unbound's, ${c.latency} ms latency, ${c.concurrency} callers`,
      met: c.ratio >= 1,
      measured: `${formatRatio(c.ratio)} of unbound`,
    })),
    invariants: [
      {
        invariant: "every cold call is one token request and succeeds",
        held: all.every((c) => c.tokenRequests === c.tokens && c.failures === 0),
        detail: all.map((c) => `${c.tokenRequests}/${c.tokens}${c.failures > 0 ? ` (${c.failures} failed)` : ""}`).join(", "),
      },
    ],
  };
}

const LABELS: Readonly<Partial<Record<ContenderKind, string>>> = {
  bound: "ours, bound certificate",
  unbound: "ours, unbound certificate",
  azureIdentity: "ClientCertificateCredential (PEM)",
};

function labelOf(kind: ContenderKind): string {
  return LABELS[kind] ?? kind;
}
