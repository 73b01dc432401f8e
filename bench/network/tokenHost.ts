/**
 * The token host of the network benchmark, in a process of its own so that its signing does not
 * share the measured process's event loop: the emulator, with every token request held for a
 * fixed latency before it is answered (argument 1, in ms) to stand for the network between a
 * service and Entra ID. Talks over IPC: sends `{ type: "ready", setup }` once; `{ type: "clear" }`
 * empties the journal (so it does not grow) and answers `{ type: "cleared", tokenRequests }`;
 * `{ type: "stop" }` closes it. It exits when the parent goes away.
 */
import { startEmulator } from "../../src/emulator/index.ts";

/** What the benchmark's credentials need. */
export interface TokenHostSetup {
  readonly authorityHost: string;
  readonly mtlsAuthorityHost: string;
  readonly caCertificatePem: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

const LATENCY_FAULTS = 10_000_000;

if (process.send !== undefined) {
  const latencyMs = Number(process.argv[2] ?? "10");
  const emu = await startEmulator({ acceptAnyResource: true, rejectReplayedAssertions: false });
  const certificate = await emu.issueCertificate({ subject: "CN=network-bench" });
  const app = emu.registerApp({ certificates: [certificate.certificatePem] });
  if (latencyMs > 0) {
    emu.faults.add({ route: "login.token", delayMs: latencyMs, count: LATENCY_FAULTS });
    emu.faults.add({ route: "mtls.token", delayMs: latencyMs, count: LATENCY_FAULTS });
  }
  let lastCpu = process.cpuUsage();
  const stop = async (): Promise<void> => {
    await emu.close();
    process.disconnect?.();
    process.exit(0);
  };
  process.on("disconnect", () => void stop());
  process.on("message", (message: { type?: string }) => {
    if (message.type === "stop") void stop();
    if (message.type === "clear") {
      let tokenRequests = 0;
      for (const entry of emu.journal) if (entry.route === "login.token" || entry.route === "mtls.token") tokenRequests++;
      emu.journal.clear();
      const cpu = process.cpuUsage(lastCpu);
      lastCpu = process.cpuUsage();
      process.send?.({ type: "cleared", tokenRequests, cpuMs: (cpu.user + cpu.system) / 1000 });
    }
  });
  const setup: TokenHostSetup = {
    authorityHost: emu.authorityHost,
    mtlsAuthorityHost: emu.mtlsAuthorityHost,
    caCertificatePem: emu.caCertificatePem,
    tenantId: emu.tenantId,
    clientId: app.clientId,
    certificatePem: certificate.certificatePem,
    privateKeyPem: certificate.privateKeyPem,
  };
  process.send({ type: "ready", setup });
}
