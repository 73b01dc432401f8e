/**
 * Prints the hottest functions of a `.cpuprofile` (from `node --cpu-prof bench/run.ts --only 1`):
 * self time and inclusive time per function, optionally only below a frame whose function name
 * matches `--under NAME` (for example `--under getToken`).
 *
 *   node bench/cpuProfileTop.ts CPU.xxx.cpuprofile [--top 25] [--under NAME]
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function isCpuProfile(value: unknown): value is CpuProfile {
  return typeof value === "object" && value !== null && "nodes" in value && "samples" in value && "timeDeltas" in value;
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--") && args[args.indexOf(a) - 1] !== "--top" && args[args.indexOf(a) - 1] !== "--under");
const top = Number(args[args.indexOf("--top") + 1] ?? 25) || 25;
const under = args.includes("--under") ? args[args.indexOf("--under") + 1] : undefined;
if (file === undefined) {
  console.error("usage: node bench/cpuProfileTop.ts FILE.cpuprofile [--top 25] [--under NAME]");
  process.exit(2);
}
const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
if (!isCpuProfile(parsed)) throw new TypeError(`${file} is not a .cpuprofile`);

const byId = new Map(parsed.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of parsed.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (f: CallFrame): string => {
  const where = f.url === "" ? "" : ` ${f.url.startsWith("file://") ? relative(process.cwd(), new URL(f.url).pathname) : f.url}:${f.lineNumber + 1}`;
  return `${f.functionName === "" ? "(anonymous)" : f.functionName}${where}`;
};
const ancestry = (id: number): number[] => {
  const chain: number[] = [];
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) chain.push(cur);
  return chain;
};

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
parsed.samples.forEach((id, i) => {
  const dt = parsed.timeDeltas[i] ?? 0;
  const chain = ancestry(id);
  if (under !== undefined && !chain.some((c) => byId.get(c)?.callFrame.functionName.includes(under))) return;
  total += dt;
  const node = byId.get(id);
  if (node === undefined) return;
  const own = label(node.callFrame);
  self.set(own, (self.get(own) ?? 0) + dt);
  for (const name of new Set(chain.map((c) => label((byId.get(c) as ProfileNode).callFrame)))) {
    inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
  }
});

const print = (title: string, table: Map<string, number>): void => {
  console.log(`\n${title} (of ${(total / 1000).toFixed(0)} ms${under === undefined ? "" : ` under ${under}`})`);
  for (const [name, us] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((us / total) * 100).toFixed(1).padStart(6)}%  ${(us / 1000).toFixed(1).padStart(9)} ms  ${name}`);
  }
};
print("self time", self);
print("inclusive time", inclusive);
