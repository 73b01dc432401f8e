/**
 * Section 9: serverless cold start. Each sample is a new Node.js process (bench/freshProcess.ts):
 * the `import()` of the package alone, and the first token from the script's first line and from
 * process start, with the peak RSS of that process. Ours is loaded from `dist/`, as users load it.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { BenchEnvironment } from "../environment.ts";
import { DIST_ENTRY, type FreshMode, type FreshResult } from "../freshProcess.ts";
import type { BenchSizes } from "../options.ts";
import { formatMillis, formatRatio, type SectionResult } from "../report.ts";
import { median, rotate } from "../stats.ts";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("../freshProcess.ts", import.meta.url));
const MODES: readonly FreshMode[] = ["import-ours", "import-identity", "first-bound", "first-secret", "first-cc", "first-csecret"];
const LABELS: Readonly<Record<FreshMode, string>> = {
  "import-ours": "import() bound-client-credential",
  "import-identity": "import() @azure/identity",
  "first-bound": "first token, ours, bound certificate (PEM file)",
  "first-secret": "first token, ours, secret",
  "first-cc": "first token, ClientCertificateCredential (PEM file)",
  "first-csecret": "first token, ClientSecretCredential",
};
const IMPORT_TARGET = 0.5;
const FIRST_TOKEN_TARGET = 0.6;

async function sample(env: BenchEnvironment, mode: FreshMode): Promise<FreshResult> {
  // The users' tokens are not needed there and would pass the size limit of one environment variable.
  const { userTokens: _userTokens, ...config } = env.config;
  const { stdout } = await run(process.execPath, [SCRIPT, mode], {
    env: { ...process.env, BENCH_FRESH_CONFIG: JSON.stringify({ ...config, pemPath: env.pemPath }), NODE_EXTRA_CA_CERTS: env.caPath, NODE_OPTIONS: "" },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as FreshResult;
}

/** Runs section 9. */
export async function freshProcess(env: BenchEnvironment, sizes: BenchSizes): Promise<SectionResult> {
  if (!existsSync(DIST_ENTRY)) {
    return {
      id: 9,
      title: "serverless cold start: a fresh process",
      method: "skipped: dist/ is missing (run `npm run build` first).",
      table: { header: ["process"], rows: [] },
      targets: [],
      invariants: [{ invariant: "the fresh-process section runs on a built package", held: false, detail: "dist/ is missing" }],
    };
  }
  const samples = new Map<FreshMode, FreshResult[]>(MODES.map((m) => [m, []]));
  for (let r = 0; r < sizes.freshProcessRounds; r++) {
    for (const mode of rotate(MODES, r)) samples.get(mode)?.push(await sample(env, mode));
  }
  const med = (mode: FreshMode, pick: (r: FreshResult) => number): number => median((samples.get(mode) ?? []).map(pick));
  const importOurs = med("import-ours", (r) => r.importMs);
  const importTheirs = med("import-identity", (r) => r.importMs);
  const whole = (mode: FreshMode): number => med(mode, (r) => r.firstTokenMs ?? Number.NaN);
  // What the library does: from the script's first line (import, construction, first token).
  const first = (mode: FreshMode): number => med(mode, (r) => (r.firstTokenMs ?? Number.NaN) - r.scriptStartMs);
  const startUp = median(MODES.flatMap((mode) => (samples.get(mode) ?? []).map((r) => r.scriptStartMs)));
  const rss = (mode: FreshMode): number => med(mode, (r) => r.maxRssBytes);
  const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  const peerOf = (mode: FreshMode): FreshMode | undefined =>
    mode === "import-ours" ? "import-identity" : mode === "first-bound" ? "first-cc" : mode === "first-secret" ? "first-csecret" : undefined;
  const rows = MODES.map((mode) => {
    const isImport = mode.startsWith("import");
    const peer = peerOf(mode);
    if (isImport) {
      const ms = med(mode, (r) => r.importMs);
      return [LABELS[mode], formatMillis(ms), peer === undefined ? "" : formatRatio(ms / importTheirs), "", "", mib(rss(mode))];
    }
    return [
      LABELS[mode],
      formatMillis(first(mode)),
      peer === undefined ? "" : formatRatio(first(mode) / first(peer)),
      formatMillis(whole(mode)),
      peer === undefined ? "" : formatRatio(whole(mode) / whole(peer)),
      mib(rss(mode)),
    ];
  });
  const pairs: readonly (readonly [FreshMode, FreshMode, string])[] = [
    ["first-bound", "first-cc", "bound certificate vs ClientCertificateCredential"],
    ["first-secret", "first-csecret", "secret vs ClientSecretCredential"],
  ];
  return {
    id: 9,
    title: "serverless cold start: a fresh process",
    method: `${sizes.freshProcessRounds} alternating fresh processes per row; medians. import() is timed inside the process; the first token from the script's first line (what the library does: import, construction, token), and from process start (Node.js start-up included, ${formatMillis(startUp)} ms median here, the same for both). Ratio = ours / @azure/identity's (below 1 is faster).`,
    table: { header: ["process", "median ms", "ratio", "from process start, ms", "ratio", "peak RSS"], rows },
    targets: [
      {
        target: `import() at most ${IMPORT_TARGET}× @azure/identity's`,
        met: importOurs / importTheirs <= IMPORT_TARGET,
        measured: `${formatMillis(importOurs)} ms vs ${formatMillis(importTheirs)} ms (${formatRatio(importOurs / importTheirs)})`,
      },
      ...pairs.map(([ours, theirs, what]) => ({
        target: `first token in a fresh process at most ${FIRST_TOKEN_TARGET}× the peer's (from the script's first line), ${what}`,
        met: first(ours) / first(theirs) <= FIRST_TOKEN_TARGET,
        measured: `${formatMillis(first(ours))} ms vs ${formatMillis(first(theirs))} ms (${formatRatio(first(ours) / first(theirs))}; from process start ${formatRatio(whole(ours) / whole(theirs))})`,
      })),
      ...pairs.map(([ours, theirs, what]) => ({
        target: `peak RSS of that process below the peer's, ${what}`,
        met: rss(ours) < rss(theirs),
        measured: `${mib(rss(ours))} vs ${mib(rss(theirs))}`,
      })),
    ],
    invariants: [
      {
        invariant: "every fresh process got its token",
        held: (["first-bound", "first-secret", "first-cc", "first-csecret"] as const).every((m) => (samples.get(m) ?? []).every((r) => typeof r.firstTokenMs === "number")),
        detail: `${sizes.freshProcessRounds} process(es) per row`,
      },
    ],
  };
}
