/**
 * The machine a run happened on, and the recording of a run in bench/RESULTS.md: the part between
 * the markers is replaced, the notes around it are kept.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";

const START = "<!-- bench:results:start (written by `node bench/run.ts --write-results`) -->";
const END = "<!-- bench:results:end -->";

/** Where and with what a run happened. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly nproc: string;
  /** `free -h`, or the total memory when `free` is not there. */
  readonly memory: string;
  readonly node: string;
  readonly platform: string;
  readonly azureIdentity: string;
  readonly msalNode: string;
  readonly date: string;
}

function command(file: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trimEnd();
  } catch {
    return undefined;
  }
}

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"));
    if (line !== undefined) return line.slice(line.indexOf(":") + 1).trim();
  } catch {
    // not Linux: fall through to what Node knows
  }
  return os.cpus()[0]?.model ?? "unknown";
}

function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    const manifest: unknown = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8"));
    if (typeof manifest === "object" && manifest !== null && "version" in manifest && typeof manifest.version === "string") {
      return manifest.version;
    }
  } catch {
    // a package without an exported package.json
  }
  return "unknown";
}

/** Describes this machine and runtime. */
export function machineInfo(): MachineInfo {
  return {
    cpuModel: cpuModel(),
    nproc: command("nproc", []) ?? String(os.availableParallelism()),
    memory: command("free", ["-h"]) ?? `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB total`,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    azureIdentity: packageVersion("@azure/identity"),
    msalNode: packageVersion("@azure/msal-node"),
    date: new Date().toISOString(),
  };
}

/** One line for the top of the terminal output. */
export function machineLine(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.nproc} CPU(s), Node ${m.node}, @azure/identity ${m.azureIdentity}, msal-node ${m.msalNode}, ${m.date}`;
}

/** Replaces the recorded run in `path` (creating the file when needed) with `body`. */
export function writeResults(path: string, m: MachineInfo, mode: string, body: string): void {
  const recorded = [
    START,
    "",
    `Recorded ${m.date} with \`${mode === "short" ? "npm run bench:short" : "npm run bench"}\` (${mode} mode).`,
    "",
    "| | |",
    "| --- | --- |",
    `| CPU | ${m.cpuModel} |`,
    `| \`nproc\` | ${m.nproc} |`,
    `| Node.js | ${m.node} |`,
    `| OS | ${m.platform} |`,
    `| @azure/identity | ${m.azureIdentity} (msal-node ${m.msalNode}) |`,
    "",
    "`free -h`:",
    "",
    "```",
    m.memory,
    "```",
    "",
    body,
    "",
    END,
  ].join("\n");
  const existing = existsSync(path) ? readFileSync(path, "utf8") : `# Benchmark results\n\n${START}\n${END}\n`;
  const start = existing.indexOf(START);
  const end = existing.indexOf(END);
  const updated =
    start >= 0 && end > start ? existing.slice(0, start) + recorded + existing.slice(end + END.length) : `${existing.trimEnd()}\n\n${recorded}\n`;
  writeFileSync(path, updated);
}
