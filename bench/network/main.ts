/**
 * `npm run bench:network` (`-- --short` for a quick pass): throughput of cold token requests under
 * injected network latency, bound (mutual TLS, a pool of connections per certificate) against
 * unbound (msal-node), at concurrency 10 and 100; and the cost of a new mutual TLS connection when
 * extra CAs are trusted, with a secure context per connection against one shared context. The token
 * host runs in a child process (`tokenHost.ts`). Writes `bench/network/RESULTS.md`.
 */
import { fork, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { DEFAULT_CONNECTIONS_PER_CERTIFICATE } from "../../src/transport/httpClient.ts";
import { cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { connect, createSecureContext, rootCertificates, type ConnectionOptions } from "node:tls";
import { fileURLToPath } from "node:url";
import { BoundClientCredential } from "../../src/index.ts";
import type { TokenHostSetup } from "./tokenHost.ts";

const short = process.argv.includes("--short");
const LATENCY_MS = 10;
const CONCURRENCY = [10, 100] as const;
const ROUNDS = short ? 1 : 5;
const TOKENS = short ? 100 : 500;
const CONNECTIONS = short ? 10 : 40;

interface Contender {
  readonly label: string;
  readonly make: (setup: TokenHostSetup) => BoundClientCredential;
}

function options(setup: TokenHostSetup, bound: boolean, extra: Record<string, unknown> = {}) {
  return {
    tenantId: setup.tenantId,
    clientId: setup.clientId,
    authorityHost: setup.authorityHost,
    mtlsAuthorityHost: setup.mtlsAuthorityHost,
    tls: { ca: setup.caCertificatePem },
    clientCredentials: [
      { sourceType: "Certificate" as const, certificate: setup.certificatePem, privateKey: setup.privateKeyPem, useBoundCredential: bound },
    ],
    ...extra,
  };
}

const CONTENDERS: readonly Contender[] = [
  { label: `bound certificate (pool of ${DEFAULT_CONNECTIONS_PER_CERTIFICATE}, the default)`, make: (s) => new BoundClientCredential(options(s, true)) },
  { label: "bound certificate, connectionsPerCertificate: 1 (as before)", make: (s) => new BoundClientCredential(options(s, true, { connectionsPerCertificate: 1 })) },
  { label: "unbound certificate (msal-node)", make: (s) => new BoundClientCredential(options(s, false)) },
];

function startHost(): Promise<{ child: ChildProcess; setup: TokenHostSetup }> {
  const child = fork(fileURLToPath(new URL("./tokenHost.ts", import.meta.url)), [String(LATENCY_MS)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the token host exited with ${String(code)}`)));
    child.on("message", (message: { type?: string; setup?: TokenHostSetup }) => {
      if (message.type === "ready" && message.setup !== undefined) resolve({ child, setup: message.setup });
    });
  });
}

/** Empties the host's journal; the token requests it had seen, and its CPU time since the last call. */
function clearHost(child: ChildProcess): Promise<{ tokenRequests: number; cpuMs: number }> {
  return new Promise((resolve) => {
    const onMessage = (message: { type?: string; tokenRequests?: number; cpuMs?: number }): void => {
      if (message.type !== "cleared") return;
      child.off("message", onMessage);
      resolve({ tokenRequests: message.tokenRequests ?? 0, cpuMs: message.cpuMs ?? 0 });
    };
    child.on("message", onMessage);
    child.send({ type: "clear" });
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Cold tokens per second: `TOKENS` distinct scopes asked by `concurrency` callers. */
async function throughput(credential: BoundClientCredential, clientId: string, tag: string, concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < TOKENS) {
        const i = next++;
        await credential.getToken(`api://${clientId}/${tag}-${i}/.default`);
      }
    }),
  );
  return TOKENS / ((performance.now() - started) / 1000);
}

function newConnectionMs(port: number, options: () => ConnectionOptions): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername: "localhost", ...options() }, () => {
      const ms = performance.now() - started;
      socket.destroy();
      resolve(ms);
    });
    socket.once("error", reject);
  });
}

const { child, setup } = await startHost();
const lines: string[] = [];
try {
  // Throughput.
  const results = new Map<string, number[]>();
  const cpuPerToken = new Map<string, number[]>();
  const hostCpuPerToken = new Map<string, number[]>();
  for (const concurrency of CONCURRENCY) {
    const credentials = CONTENDERS.map((contender) => ({ contender, credential: contender.make(setup) }));
    for (const { credential } of credentials) await credential.getToken(`api://${setup.clientId}/warm/.default`);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < credentials.length; k++) {
        const { contender, credential } = credentials[(k + round) % credentials.length]!;
        await clearHost(child);
        const cpuBefore = process.cpuUsage();
        const tokensPerSecond = await throughput(credential, setup.clientId, `c${concurrency}-r${round}-${k}`, concurrency);
        const cpu = process.cpuUsage(cpuBefore);
        const host = await clearHost(child);
        if (host.tokenRequests < TOKENS) throw new Error(`${contender.label}: ${host.tokenRequests} token requests for ${TOKENS} cold scopes`);
        const key = `${contender.label}|${concurrency}`;
        results.set(key, [...(results.get(key) ?? []), tokensPerSecond]);
        cpuPerToken.set(key, [...(cpuPerToken.get(key) ?? []), (cpu.user + cpu.system) / 1000 / TOKENS]);
        hostCpuPerToken.set(key, [...(hostCpuPerToken.get(key) ?? []), host.cpuMs / TOKENS]);
      }
    }
    await Promise.all(credentials.map(({ credential }) => credential.close()));
  }

  // A new mutual TLS connection with extra trusted CAs.
  const port = Number(new URL(setup.mtlsAuthorityHost).port);
  const ca = [...rootCertificates, setup.caCertificatePem];
  const client = { cert: setup.certificatePem, key: setup.privateKeyPem };
  const shared = createSecureContext({ ca, ...client });
  const perConnection: number[] = [];
  const oneContext: number[] = [];
  const contextAlone: number[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    perConnection.push(await newConnectionMs(port, () => ({ ca, ...client })));
    oneContext.push(await newConnectionMs(port, () => ({ secureContext: shared })));
    const started = performance.now();
    createSecureContext({ ca, ...client });
    contextAlone.push(performance.now() - started);
  }

  const cpu = cpus()[0]?.model ?? "unknown CPU";
  lines.push(
    "# Network benchmark",
    "",
    `${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${cpus().length} × ${cpu} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB${short ? " · short mode (figures indicative only)" : ""}`,
    "",
    `Cold token requests per second (${TOKENS} distinct scopes per run, median of ${ROUNDS} alternating run(s)), the token host (emulator) in a child process holding every token request ${LATENCY_MS} ms before answering. Every run is checked to have reached the host once per scope.`,
    "",
    "| credential | concurrency 10 | concurrency 100 |",
    "| --- | ---: | ---: |",
    ...CONTENDERS.map((c) => `| ${c.label} | ${CONCURRENCY.map((n) => median(results.get(`${c.label}|${n}`) ?? [0]).toFixed(0)).join(" | ")} |`),
    "",
    "CPU per cold token at concurrency 100, in ms (this process / the token host's process):",
    "",
    "| credential | this process | token host |",
    "| --- | ---: | ---: |",
    ...CONTENDERS.map((c) => `| ${c.label} | ${median(cpuPerToken.get(`${c.label}|100`) ?? [0]).toFixed(2)} | ${median(hostCpuPerToken.get(`${c.label}|100`) ?? [0]).toFixed(2)} |`),
    "",
    `A new mutual TLS connection to the token host with \`tls.ca\` (system roots plus one CA), median of ${CONNECTIONS}, in ms:`,
    "",
    "| | ms |",
    "| --- | ---: |",
    `| a secure context built for each connection (\`ca\`, \`cert\`, \`key\` given to every connect) | ${median(perConnection).toFixed(2)} |`,
    `| one secure context per trust configuration and certificate (what the transport does) | ${median(oneContext).toFixed(2)} |`,
    `| building that secure context alone | ${median(contextAlone).toFixed(2)} |`,
    "",
  );
  const text = lines.join("\n");
  console.log(text);
  if (!short) await writeFile(new URL("./RESULTS.md", import.meta.url), text);
} finally {
  child.send({ type: "stop" });
}
