/**
 * One fresh process of section 9 (serverless cold start): `node bench/freshProcess.ts <mode>`,
 * with the emulator's settings in `BENCH_FRESH_CONFIG`. It prints one JSON line: the time of the
 * `import()` of the package, the time from process start to the first token, and the peak RSS.
 * Ours is imported from `dist/` (what users run), @azure/identity from node_modules.
 */
import { existsSync, readFileSync } from "node:fs";

/**
 * When this script's own code starts: after Node.js's start-up and the type stripping of this
 * file, which are the same for every mode and no library's doing.
 */
const scriptStarted = performance.now();
import type { TokenCredential } from "@azure/core-auth";
import type { EmulatorConfig } from "./emulatorProtocol.ts";

/** What each mode does. */
export type FreshMode = "import-ours" | "import-identity" | "first-bound" | "first-secret" | "first-cc" | "first-csecret";

/** What a fresh process reports. */
export interface FreshResult {
  readonly importMs: number;
  /** From process start (`performance.timeOrigin`) to the token; undefined for import-only modes. */
  readonly firstTokenMs: number | undefined;
  /** From process start to this script's first line: Node.js start-up, the same for every mode. */
  readonly scriptStartMs: number;
  readonly maxRssBytes: number;
}

/** Where ours is imported from. */
export const DIST_ENTRY = new URL("../dist/esm/index.js", import.meta.url);

const SCOPE = "https://storage.azure.com/.default";

async function main(mode: FreshMode): Promise<FreshResult> {
  const config = JSON.parse(process.env["BENCH_FRESH_CONFIG"] ?? "{}") as Omit<EmulatorConfig, "userTokens"> & { pemPath: string };
  const started = performance.now();
  let credential: TokenCredential | undefined;
  let importMs: number;
  if (mode === "import-ours" || mode === "first-bound" || mode === "first-secret") {
    if (!existsSync(DIST_ENTRY)) throw new Error("dist/ is missing: run `npm run build` first.");
    const ours = (await import(DIST_ENTRY.href)) as typeof import("../src/index.ts");
    importMs = performance.now() - started;
    const base = {
      tenantId: config.tenantId,
      clientId: config.clientId,
      authorityHost: config.authorityHost,
      mtlsAuthorityHost: config.mtlsAuthorityHost,
      tls: { ca: config.caCertificatePem },
    };
    if (mode === "first-bound") {
      credential = new ours.BoundClientCredential({
        ...base,
        clientCredentials: [{ sourceType: "Path", certificateDiskPath: config.pemPath, useBoundCredential: true }],
      });
    } else if (mode === "first-secret") {
      credential = new ours.BoundClientCredential({ ...base, clientCredentials: [{ sourceType: "ClientSecret", clientSecret: config.clientSecret }] });
    }
  } else {
    const identity = await import("@azure/identity");
    importMs = performance.now() - started;
    const options = { authorityHost: config.authorityHost, disableInstanceDiscovery: true };
    if (mode === "first-cc") credential = new identity.ClientCertificateCredential(config.tenantId, config.clientId, config.pemPath, options);
    else if (mode === "first-csecret") credential = new identity.ClientSecretCredential(config.tenantId, config.clientId, config.clientSecret, options);
  }
  let firstTokenMs: number | undefined;
  if (credential !== undefined) {
    await credential.getToken(SCOPE);
    firstTokenMs = performance.now();
  }
  return { importMs, firstTokenMs, scriptStartMs: scriptStarted, maxRssBytes: peakRssBytes() };
}

/**
 * This process's own peak RSS. On Linux, `getrusage`'s `ru_maxrss` (`process.resourceUsage().maxRSS`)
 * starts from the parent's peak at `fork` and survives `execve` (see getrusage(2)), so every child
 * of a large benchmark process would report the benchmark's size; `VmHWM` in `/proc/self/status`
 * belongs to the new address space only (proc(5)).
 */
function peakRssBytes(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    if (hwm !== undefined) return Number(hwm) * 1024;
  } catch {
    // Not Linux: ru_maxrss is the process's own there.
  }
  return process.resourceUsage().maxRSS * 1024;
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const mode = process.argv[2] as FreshMode;
  main(mode).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      // Keep-alive sockets must not keep a cold-start process alive after its answer.
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
