/**
 * `npm run bench` / `npm run bench:short` (`--short`). The heap measurements need `global.gc`:
 * without --expose-gc, this starts itself again with it (keeping the caller's flags, so that
 * `node --cpu-prof bench/run.ts` profiles the benchmark) and exits with its status.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

if (typeof globalThis.gc !== "function") {
  const child = spawnSync(process.execPath, [...process.execArgv, "--expose-gc", fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  if (child.error !== undefined) console.error(`Could not start the benchmark with --expose-gc: ${child.error.message}`);
  process.exitCode = child.status ?? 1;
} else {
  await import("./main.ts");
}
