/**
 * Azurite's blob service as a child process on 127.0.0.1, over HTTPS with a server certificate
 * issued by the emulator's CA, with OAuth in `basic` mode (a Bearer token is required; its
 * issuer, audience and times are checked, its signature is not) and in-memory storage.
 *
 * Used by the ecosystem tests and by `npm run demo`. An Azurite must never outlive its parent
 * (an orphan once kept a CI job's stderr pipe open and hung it), so there are three layers:
 * `stop()`, a synchronous kill on the parent's `exit`, and a watchdog preloaded into the child
 * that exits when its stdin pipe closes, which happens however the parent dies.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { rootCertificates } from "node:tls";
import type { StoragePipelineOptions } from "@azure/storage-blob";

/** The one account Azurite serves. */
export const AZURITE_ACCOUNT = "devstoreaccount1";

/** What {@link startAzurite} needs from the certificate authority: the local emulator fits. */
export interface AzuriteCertificateAuthority {
  /** The CA certificate, PEM: clients trust Azurite through it. */
  readonly caCertificatePem: string;
  issueCertificate(options: {
    subject: string;
    dnsNames: string[];
    ipAddresses: string[];
    extendedKeyUsage: ("serverAuth" | "clientAuth")[];
  }): Promise<{ readonly certificatePem: string; readonly privateKeyPem: string }>;
}

/** Options of {@link startAzurite}. */
export interface StartAzuriteOptions {
  /** How long to wait for "listens on"; default 60 s (Azurite starts in about 1.5 s). */
  readonly startTimeoutMs?: number;
}

/** A running Azurite blob service. */
export interface AzuriteBlob {
  /** `https://127.0.0.1:{port}`. */
  readonly url: string;
  /** `https://127.0.0.1:{port}/devstoreaccount1`: what `BlobServiceClient` takes. */
  readonly accountUrl: string;
  /** The child's process id. */
  readonly pid: number;
  /** The temporary directory of Azurite's certificate, key and working files; removed by `stop()`. */
  readonly directory: string;
  /**
   * Options for `BlobServiceClient` that trust the CA of Azurite's certificate (added to Node's
   * roots; verification stays on) and make one attempt per request, so a refusal shows at once.
   */
  clientOptions(extra?: StoragePipelineOptions): StoragePipelineOptions;
  /** Stops the child (SIGTERM, then SIGKILL after 5 s), waits for it to exit, removes its files. Idempotent. */
  stop(): Promise<void>;
}

/**
 * `tlsOptions` is not declared by `StoragePipelineOptions`, but storage-blob hands every pipeline
 * option to core-client's `createClientPipeline`, whose TLS policy builds an HTTPS agent with `ca`
 * for each request. Unlike `tls.setDefaultCACertificates`, it changes nothing else in the process,
 * and unlike a policy that sets `request.agent`, it needs no access to protected members.
 */
interface StoragePipelineOptionsWithTls extends StoragePipelineOptions {
  tlsOptions: { ca: string };
}

const require = createRequire(import.meta.url);

/** Preloaded into the child: when the parent goes, however it goes, stdin reaches its end. */
const WATCHDOG = `"use strict";
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
// The watchdog must not keep Azurite alive after it has shut down.
if (typeof process.stdin.unref === "function") process.stdin.unref();
`;

/** Running children and their directories, for the exit hook. */
const running = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Only synchronous work is possible here; the watchdog covers deaths that skip this hook.
  process.on("exit", () => {
    for (const [child, directory] of running) {
      child.kill("SIGKILL");
      rmSync(directory, { recursive: true, force: true });
    }
  });
}

function azuriteBlobMain(): string {
  return path.join(path.dirname(require.resolve("azurite/package.json")), "dist", "src", "blob", "main.js");
}

/**
 * Starts Azurite's blob service on a free port of 127.0.0.1.
 *
 * @param authority - issues Azurite's server certificate (for `localhost` and `127.0.0.1`)
 * @throws Error when Azurite exits or does not announce its address in time; nothing is left running
 */
export async function startAzurite(authority: AzuriteCertificateAuthority, options: StartAzuriteOptions = {}): Promise<AzuriteBlob> {
  const server = await authority.issueCertificate({
    subject: "CN=localhost",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    extendedKeyUsage: ["serverAuth"],
  });
  const directory = await mkdtemp(path.join(tmpdir(), "azurite-"));
  const certFile = path.join(directory, "server.pem");
  const keyFile = path.join(directory, "server-key.pem");
  const watchdogFile = path.join(directory, "watchdog.cjs");
  await Promise.all([
    writeFile(certFile, server.certificatePem),
    writeFile(keyFile, server.privateKeyPem, { mode: 0o600 }),
    writeFile(watchdogFile, WATCHDOG),
  ]);

  installExitHook();
  // The child's working directory is the temporary one: whatever Azurite writes goes with it.
  const child = spawn(
    process.execPath,
    [
      "--require",
      watchdogFile,
      azuriteBlobMain(),
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      "0",
      "--cert",
      certFile,
      "--key",
      keyFile,
      "--oauth",
      "basic",
      "--inMemoryPersistence",
      "--disableTelemetry",
      "--skipApiVersionCheck",
      "--silent",
    ],
    { cwd: directory, stdio: ["pipe", "pipe", "pipe"] },
  );
  running.set(child, directory);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    // A child that could not be spawned emits "error" and never "exit".
    child.once("error", () => resolve());
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        // Closing stdin ends the child through its watchdog; SIGTERM is Azurite's own shutdown.
        child.stdin?.end();
        child.kill("SIGTERM");
        const forced = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(forced);
      }
      child.stdin?.destroy();
      await rm(directory, { recursive: true, force: true });
      running.delete(child);
    })();
    return stopping;
  };

  let url: string;
  try {
    url = await announcedUrl(child, options.startTimeoutMs ?? 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  // A test that forgets stop() must not hang its process: the exit hook and the watchdog kill it.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }
  const ca = [...rootCertificates, authority.caCertificatePem].join("\n");
  return {
    url,
    accountUrl: `${url}/${AZURITE_ACCOUNT}`,
    pid: child.pid ?? -1,
    directory,
    clientOptions(extra: StoragePipelineOptions = {}): StoragePipelineOptions {
      const options: StoragePipelineOptionsWithTls = { retryOptions: { maxTries: 1 }, ...extra, tlsOptions: { ca } };
      return options;
    },
    stop,
  };
}

/** Reads "… listens on https://127.0.0.1:N" from the child's stdout. */
function announcedUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    const finish = (error: Error | undefined, value?: string): void => {
      clearTimeout(timer);
      child.stdout?.off("data", onStdout);
      child.off("exit", onExit);
      child.off("error", onError);
      // Keep draining, so that a chatty child never blocks on a full pipe.
      child.stdout?.resume();
      if (error === undefined) resolve(value!);
      else reject(error);
    };
    const onStdout = (chunk: Buffer): void => {
      stdout += chunk.toString("utf8");
      const match = /listens on (https:\/\/\S+)/.exec(stdout);
      if (match !== null) finish(undefined, match[1]!.replace(/\/+$/, ""));
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      finish(new Error(`Azurite exited before it was ready (${signal ?? `exit code ${code}`}).\n${tail(stdout, stderr)}`));
    };
    const onError = (error: Error): void => {
      finish(new Error(`Azurite could not be started: ${error.message}`, { cause: error }));
    };
    const timer = setTimeout(() => {
      finish(new Error(`Azurite did not announce its address within ${timeoutMs} ms.\n${tail(stdout, stderr)}`));
    }, timeoutMs);
    child.stdout?.on("data", onStdout);
    child.stderr?.on("data", (chunk: Buffer) => {
      if (stderr.length < 8192) stderr += chunk.toString("utf8");
    });
    child.once("exit", onExit);
    child.once("error", onError);
  });
}

function tail(stdout: string, stderr: string): string {
  return `stdout: ${stdout.slice(-2000).trim() || "(empty)"}\nstderr: ${stderr.slice(-2000).trim() || "(empty)"}`;
}
