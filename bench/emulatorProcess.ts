/**
 * The emulator of the benchmark, in a process of its own (forked by bench/remoteEmulator.ts): in
 * the benchmark's own process, the emulator's signing and TLS work would share the event loop and
 * the cores' time slices with the credentials under measurement and squeeze every cold-path ratio
 * towards 1. The parent drives it over the IPC channel: counters, journal, injected latency.
 */
import { startEmulator } from "../src/emulator/index.ts";
import type { EmulatorCommand, EmulatorConfig, EmulatorReply, WireCounts } from "./emulatorProtocol.ts";

// A huge count makes a delay-only fault a standing latency until it is cleared.
const STANDING = 1_000_000_000;

const emulator = await startEmulator({ acceptAnyResource: true, rejectReplayedAssertions: false });
const certificate = await emulator.issueCertificate({ subject: "CN=bound-client-credential bench" });
const identity = emulator.registerManagedIdentity({ kind: "user" });
const secret = "bench-secret-0123456789";
const app = emulator.registerApp({
  certificates: [certificate.certificatePem],
  secrets: [{ value: secret }],
  federatedCredentials: [emulator.federatedCredentialFor(identity)],
});

function counts(): WireCounts {
  const journal = emulator.journal;
  return {
    tokenRequests: journal.ofRoute("login.token").length + journal.ofRoute("mtls.token").length,
    loginHandshakes: emulator.stats.handshakes.login,
    mtlsHandshakes: emulator.stats.handshakes.mtls,
    imdsV2Calls: journal.ofRoute("imds.platformMetadata").length + journal.ofRoute("imds.issueCredential").length,
  };
}

function handle(command: EmulatorCommand): EmulatorReply["result"] {
  switch (command.type) {
    case "counts":
      return counts();
    case "clearJournal":
      emulator.journal.clear();
      return null;
    case "latency":
      emulator.faults.clear();
      if (command.ms > 0) {
        for (const route of ["login.token", "mtls.token"] as const) emulator.faults.add({ route, delayMs: command.ms, count: STANDING });
      }
      return null;
  }
}

const send = (message: EmulatorReply | { type: "ready"; config: EmulatorConfig }): void => {
  process.send?.(message);
};

process.on("message", (message: EmulatorCommand | { type: "close" }) => {
  if (message.type === "close") {
    void emulator.close().then(() => process.disconnect());
    return;
  }
  try {
    send({ type: "reply", id: message.id, result: handle(message), error: null });
  } catch (error) {
    send({ type: "reply", id: message.id, result: null, error: error instanceof Error ? error.message : String(error) });
  }
});
// The parent going away (a crash, Ctrl-C) must not leave the emulator listening.
process.on("disconnect", () => void emulator.close().then(() => process.exit(0)));

send({
  type: "ready",
  config: {
    tenantId: emulator.tenantId,
    authorityHost: emulator.authorityHost,
    mtlsAuthorityHost: emulator.mtlsAuthorityHost,
    imdsEndpoint: emulator.imdsEndpoint,
    caCertificatePem: emulator.caCertificatePem,
    certificatePem: certificate.certificatePem,
    privateKeyPem: certificate.privateKeyPem,
    clientId: app.clientId,
    clientSecret: secret,
    managedIdentityClientId: identity.clientId,
  },
});
