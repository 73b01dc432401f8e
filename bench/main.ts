/**
 * The benchmark proper (bench/run.ts starts it with --expose-gc): BoundClientCredential against
 * @azure/identity's ClientCertificateCredential, same certificate, same emulator (in a process of its own).
 */
import { startBenchEnvironment, type BenchEnvironment } from "./environment.ts";
import { parseOptions, type BenchOptions, type BenchSizes } from "./options.ts";
import { allInvariants, renderMarkdown, renderTextSection, renderTextSummary, type SectionResult } from "./report.ts";
import { machineInfo, machineLine, writeResults } from "./results.ts";
import { boundManagedIdentity } from "./sections/boundManagedIdentity.ts";
import { cachedGetToken } from "./sections/cachedGetToken.ts";
import { coldAcquisition } from "./sections/coldAcquisition.ts";
import { concurrentCallers } from "./sections/concurrentCallers.ts";
import { cpuPerToken } from "./sections/cpuPerToken.ts";
import { distinctScopes } from "./sections/distinctScopes.ts";
import { freshProcess } from "./sections/freshProcess.ts";
import { onBehalfOf } from "./sections/onBehalfOf.ts";
import { sdkShapedCachedCall } from "./sections/sdkShapedCachedCall.ts";
import { throughput } from "./sections/throughput.ts";
import { tokenKey } from "./sections/tokenKey.ts";
import { now } from "./stats.ts";

type Section = (env: BenchEnvironment, sizes: BenchSizes) => Promise<SectionResult>;

const SECTIONS: readonly (readonly [number, Section])[] = [
  [1, cachedGetToken],
  [2, coldAcquisition],
  [3, concurrentCallers],
  [4, distinctScopes],
  [5, boundManagedIdentity],
  [6, sdkShapedCachedCall],
  [7, throughput],
  [8, cpuPerToken],
  [9, freshProcess],
  [10, onBehalfOf],
  [11, tokenKey],
];

let options: BenchOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(2);
}
const mode = options.short ? "short" : "full";
const machine = machineInfo();
console.log(`bound-client-credential benchmark, ${mode} mode`);
console.log(machineLine(machine));
console.log(
  "Emulator on 127.0.0.1 in a process of its own; it accepts msal-node's reused client assertions, as Entra ID does (see bench/emulatorProcess.ts).\n",
);

const results: SectionResult[] = [];
const errors: unknown[] = [];
const started = now();
const env = await startBenchEnvironment();
try {
  for (const [id, run] of SECTIONS) {
    if (options.only !== undefined && !options.only.has(id)) continue;
    const sectionStarted = now();
    try {
      const result = await run(env, options.sizes);
      results.push(result);
      console.log(renderTextSection(result));
      console.log(`   (${((now() - sectionStarted) / 1000).toFixed(1)} s)\n`);
    } catch (error) {
      errors.push(error);
      console.error(`section ${id} failed:`, error);
    }
    await env.clearJournal();
  }
} finally {
  await env.close();
}

console.log(renderTextSummary(results));
if (options.short) console.log("(short mode: too few samples to judge the timing targets; run `npm run bench` for them)");
console.log(`\nTotal ${((now() - started) / 1000).toFixed(1)} s.`);
if (options.writeResults !== undefined) {
  writeResults(options.writeResults, machine, mode, renderMarkdown(results));
  console.log(`Recorded in ${options.writeResults}.`);
}
const broken = allInvariants(results).filter((i) => !i.held);
if (errors.length > 0 || broken.length > 0) {
  console.error(`\nBROKEN: ${errors.length} section(s) failed, ${broken.length} invariant(s) broken.`);
  process.exitCode = 1;
}
