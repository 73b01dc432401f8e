// Smoke tests of the package as published: `npm pack`, install the tarball into a new consumer
// project, then on each Node.js given run an ES module and a CommonJS program that each get a bound
// and an unbound token from the package's emulator, and the `bound-credential` bin. Node.js binaries
// below the supported range (SMOKE_BELOW_NODES) must refuse the import with the one-sentence
// version message. Needs a build (npm run build).
//
//   SMOKE_NODES=/path/to/node-22.12/bin/node:/path/to/node-24/bin/node node scripts/packed-smoke.ts
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const nodes = (process.env["SMOKE_NODES"] ?? process.execPath).split(path.delimiter).filter((node) => node !== "");
const below = (process.env["SMOKE_BELOW_NODES"] ?? "").split(path.delimiter).filter((node) => node !== "");

if (!existsSync(path.join(root, "dist/esm/index.js"))) {
  console.error("packed-smoke: the package is not built; run npm run build first.");
  process.exit(1);
}

const started = performance.now();
const work = mkdtempSync(path.join(tmpdir(), "bcc-packed-"));
let failures = 0;
try {
  execFileSync(npm, ["pack", "--ignore-scripts", "--silent", "--pack-destination", work], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  const tarball = readdirSync(work).find((file) => file.endsWith(".tgz"));
  if (tarball === undefined) throw new Error("npm pack wrote no tarball");
  const consumer = path.join(work, "consumer");
  execFileSync("mkdir", ["-p", consumer]);
  writeFileSync(path.join(consumer, "package.json"), `${JSON.stringify({ name: "consumer", private: true, version: "1.0.0" }, null, 2)}\n`);
  // The registry's packages as any consumer gets them (from the npm cache when it has them).
  execFileSync(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", path.join(work, tarball)], {
    cwd: consumer,
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (const file of ["consumer.mjs", "consumer.cjs"]) copyFileSync(path.join(root, "scripts/smoke", file), path.join(consumer, file));
  const bin = path.join(consumer, "node_modules/bound-client-credential/dist/esm/cli/main.js");
  console.log(`packed-smoke: ${tarball} installed in ${Math.round(performance.now() - started)} ms`);

  const run = (node: string, args: string[]): { code: number | null; output: string } => {
    const result = spawnSync(node, args, { cwd: consumer, encoding: "utf8", timeout: 60_000, env: { ...process.env, NODE_OPTIONS: "" } });
    return { code: result.status, output: `${result.stdout}${result.stderr}` };
  };
  for (const node of nodes) {
    const version = run(node, ["-p", "process.versions.node"]).output.trim();
    for (const [what, args, expected] of [
      ["ESM", ["consumer.mjs"], /^ESM: a bound and an unbound token/m],
      ["CommonJS", ["consumer.cjs"], /^CommonJS: a bound and an unbound token/m],
      ["bin", [bin, "--help"], /^Usage: bound-credential <command>/m],
    ] as const) {
      const t = performance.now();
      const result = run(node, [...args]);
      const ok = result.code === 0 && expected.test(result.output);
      if (!ok) failures++;
      console.log(`  ${ok ? "ok  " : "FAIL"} Node.js ${version} ${what} (${Math.round(performance.now() - t)} ms)${ok ? "" : `\n${result.output}`}`);
    }
  }
  for (const node of below) {
    const version = run(node, ["-p", "process.versions.node"]).output.trim();
    for (const [what, args] of [
      ["import", ["--input-type=module", "-e", 'import "bound-client-credential";']],
      ["require", ["-e", 'require("bound-client-credential");']],
    ] as const) {
      const result = run(node, [...args]);
      const ok = result.code !== 0 && result.output.includes(`bound-client-credential requires Node.js 22.12.0 or later, but this is Node.js ${version}.`);
      if (!ok) failures++;
      console.log(`  ${ok ? "ok  " : "FAIL"} Node.js ${version} ${what} is refused with the version needed${ok ? "" : `\n${result.output}`}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`packed-smoke: ${failures === 0 ? "passed" : `${failures} failed`} in ${Math.round((performance.now() - started) / 1000)} s`);
process.exitCode = failures === 0 ? 0 : 1;
