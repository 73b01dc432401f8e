/**
 * Command line of `node bench/run.ts`: `--short` for CI, `--only 1,3` to run some sections (for
 * profiling one of them), `--write-results [file]` to record the run in bench/RESULTS.md.
 */

/** How many calls, rounds and scopes each section uses. */
export interface BenchSizes {
  /** Section 1: rounds, and sequential calls per round and contender. */
  readonly cachedRounds: number;
  readonly cachedCallsOurs: number;
  readonly cachedCallsTheirs: number;
  /** Section 2: new scopes acquired per contender before and during measurement. */
  readonly coldWarmup: number;
  readonly coldIterations: number;
  /** Section 10: new users per credential (each needs one of the emulator process's user tokens). */
  readonly onBehalfOfUsers: number;
  /** Section 3: concurrent callers, and rounds (each with a new scope). */
  readonly burstCallers: number;
  readonly burstRounds: number;
  /**
   * Section 4: distinct scopes acquired before the first heap reading (so that code compiled on
   * the way is not counted as cache), then the distinct scopes measured.
   */
  readonly distinctWarmup: number;
  readonly distinctScopes: number;
  /** Section 5: fresh credentials (first tokens), and new scopes per credential afterwards. */
  readonly managedIdentityRounds: number;
  readonly managedIdentityLaterScopes: number;
  /** Section 6 reuses the section 1 sizes. Section 7: latencies and caller counts, tokens per caller (at least the minimum). */
  readonly throughputLatenciesMs: readonly number[];
  readonly throughputConcurrency: readonly number[];
  readonly throughputTokensPerCaller: number;
  readonly throughputMinTokens: number;
  /** Rounds per cell, the contenders' order rotated each round; the cell is the median round. */
  readonly throughputRounds: number;
  /** Runs per credential of ours in section 4; its heap figure is their median. */
  readonly distinctRoundsOurs: number;
  /** Section 8: cold tokens per credential. */
  readonly cpuTokens: number;
  /** Section 9: fresh processes per row. */
  readonly freshProcessRounds: number;
}

/** The parsed command line. */
export interface BenchOptions {
  readonly short: boolean;
  /** Sections to run; all when undefined. */
  readonly only: ReadonlySet<number> | undefined;
  /** Where to record the results (between markers), if asked. */
  readonly writeResults: string | undefined;
  readonly sizes: BenchSizes;
}

const FULL: BenchSizes = {
  cachedRounds: 7,
  cachedCallsOurs: 20_000,
  cachedCallsTheirs: 2_000,
  coldWarmup: 5,
  coldIterations: 100,
  onBehalfOfUsers: 40,
  burstCallers: 1_000,
  burstRounds: 3,
  distinctWarmup: 200,
  distinctScopes: 1_000,
  managedIdentityRounds: 30,
  managedIdentityLaterScopes: 10,
  throughputLatenciesMs: [0, 10],
  throughputConcurrency: [1, 10, 100],
  throughputTokensPerCaller: 3,
  throughputMinTokens: 60,
  throughputRounds: 5,
  distinctRoundsOurs: 3,
  cpuTokens: 200,
  freshProcessRounds: 10,
};

/** CI: proves every path still runs and every invariant holds, in a few seconds. */
const SHORT: BenchSizes = {
  cachedRounds: 2,
  cachedCallsOurs: 2_000,
  cachedCallsTheirs: 100,
  coldWarmup: 1,
  coldIterations: 3,
  onBehalfOfUsers: 3,
  burstCallers: 1_000,
  burstRounds: 1,
  distinctWarmup: 50,
  distinctScopes: 100,
  managedIdentityRounds: 1,
  managedIdentityLaterScopes: 3,
  throughputLatenciesMs: [10],
  throughputConcurrency: [10],
  throughputTokensPerCaller: 2,
  throughputMinTokens: 20,
  throughputRounds: 1,
  distinctRoundsOurs: 1,
  cpuTokens: 10,
  freshProcessRounds: 1,
};

const USAGE = `usage: node bench/run.ts [--short] [--only 1,2,...,11] [--write-results [bench/RESULTS.md]]`;

/** Parses `argv` (without node and the script); throws a usage error on anything unknown. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  let short = false;
  let only: Set<number> | undefined;
  let writeResults: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--short") short = true;
    else if (arg === "--only") {
      const list = argv[++i];
      const ids = (list ?? "").split(",").map((s) => Number(s.trim()));
      if (list === undefined || ids.some((id) => !Number.isInteger(id) || id < 1 || id > 11)) {
        throw new TypeError(`--only takes section numbers from 1 to 11, such as --only 1,3.\n${USAGE}`);
      }
      only = new Set(ids);
    } else if (arg === "--write-results") {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith("--")) {
        writeResults = next;
        i++;
      } else writeResults = "bench/RESULTS.md";
    } else if (arg === "--help" || arg === "-h") {
      throw new TypeError(USAGE);
    } else {
      throw new TypeError(`Unknown argument "${arg}".\n${USAGE}`);
    }
  }
  return { short, only, writeResults, sizes: short ? SHORT : FULL };
}
