import { execFileSync } from "node:child_process";
import { startBenchEnvironment } from "./environment.ts";
const env = await startBenchEnvironment();
const { userTokens: _u, ...config } = env.config;
const childEnv = { ...process.env, BENCH_FRESH_CONFIG: JSON.stringify({ ...config, pemPath: env.pemPath }), NODE_EXTRA_CA_CERTS: env.caPath, NODE_OPTIONS: "" };
const modes = (process.argv[2] ?? "first-bound,first-cc,first-secret,first-csecret").split(",");
const prof = process.argv[3] === "prof";
for (let r = 0; r < 3; r++) for (const m of modes) {
  const out = execFileSync(process.execPath, [...(prof ? ["--cpu-prof", "--cpu-prof-dir=/tmp/perf-prof", "--cpu-prof-interval=100"] : []), "bench/freshProcess.ts", m], { env: childEnv }).toString().trim();
  const j = JSON.parse(out); console.log(m, j.importMs.toFixed(0), j.firstTokenMs?.toFixed(0), (j.maxRssBytes/1048576).toFixed(1));
}
await env.close(); process.exit(0);
