/**
 * The soak's emulator, in a process of its own so that the soak measures the credential's heap and
 * sockets, not the emulator's (whose journal and assertion replay cache grow with every request).
 * Started by `soak.ts` with `fork` (arguments: the token lifetime in seconds, and
 * `reject-replayed-assertions` to refuse a client assertion sent twice, which Entra ID does not do in
 * practice and the emulator does by default); talks over the IPC channel:
 *
 * - to the parent, once: `{ type: "ready", setup }` with what the credentials need;
 * - `{ type: "stats" }` → `{ type: "stats", requests, refused, heapUsedMiB }`: requests per route
 *   since the last call, and those answered with an error status (the journal is cleared each
 *   time, so it does not grow);
 * - `{ type: "stop" }` → closes the emulator and exits.
 *
 * It exits by itself when the parent goes away.
 */
import "../helpers/imdsOnly.ts";
import { randomUUID } from "node:crypto";
import { request } from "node:https";

const { startEmulator } = await import("../../src/emulator/index.ts");

/** What the soak's credentials need from the emulator. */
export interface SoakSetup {
  readonly authorityHost: string;
  readonly mtlsAuthorityHost: string;
  readonly imdsEndpoint: string;
  readonly caCertificatePem: string;
  /** The app's home tenant first, then the tenants it is consented in. */
  readonly tenants: readonly string[];
  readonly clientId: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly clientSecret: string;
  readonly managedIdentityClientId: string;
  /** The token signing keys (JWKS), to verify tokens. */
  readonly jwks: { keys: Record<string, unknown>[] };
}

/** Messages from the emulator process. */
export type EmulatorProcessMessage =
  | { readonly type: "ready"; readonly setup: SoakSetup }
  | { readonly type: "stats"; readonly requests: Record<string, number>; readonly refused: Record<string, number>; readonly heapUsedMiB: number };

function getJson(url: string, ca: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on("error", reject);
    req.end();
  });
}

if (process.send !== undefined) {
  const send = (message: EmulatorProcessMessage): void => {
    process.send?.(message);
  };
  const lifetime = Number(process.argv[2] ?? "10");
  const rejectReplayedAssertions = process.argv[3] === "reject-replayed-assertions";
  const emu = await startEmulator({ tokenLifetimeSeconds: lifetime, rejectReplayedAssertions });
  const tenants = [emu.tenantId, randomUUID(), randomUUID()];
  const certificate = await emu.issueCertificate({ subject: "CN=soak" });
  const identity = emu.registerManagedIdentity({ kind: "user" });
  const clientSecret = `soak-secret-${randomUUID()}`;
  const app = emu.registerApp({
    certificates: [certificate.certificatePem],
    secrets: [clientSecret],
    federatedCredentials: [emu.federatedCredentialFor(identity)],
    additionalTenantIds: tenants.slice(1),
  });
  const jwks = (await getJson(`${emu.authorityHost}/common/discovery/keys`, emu.caCertificatePem)) as SoakSetup["jwks"];
  emu.journal.clear();

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await emu.close();
    process.disconnect?.();
    process.exit(0);
  };
  process.on("disconnect", () => void stop());
  process.on("message", (message: { type?: string }) => {
    if (message.type === "stop") {
      void stop();
      return;
    }
    if (message.type === "stats") {
      const requests: Record<string, number> = {};
      const refused: Record<string, number> = {};
      for (const entry of emu.journal) {
        if (entry.route === undefined) continue;
        requests[entry.route] = (requests[entry.route] ?? 0) + 1;
        if (entry.status !== undefined && entry.status >= 400) refused[entry.route] = (refused[entry.route] ?? 0) + 1;
      }
      emu.journal.clear();
      send({ type: "stats", requests, refused, heapUsedMiB: Number((process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)) });
    }
  });
  send({
    type: "ready",
    setup: {
      authorityHost: emu.authorityHost,
      mtlsAuthorityHost: emu.mtlsAuthorityHost,
      imdsEndpoint: emu.imdsEndpoint,
      caCertificatePem: emu.caCertificatePem,
      tenants,
      clientId: app.clientId,
      certificatePem: certificate.certificatePem,
      privateKeyPem: certificate.privateKeyPem,
      clientSecret,
      managedIdentityClientId: identity.clientId,
      jwks,
    },
  });
}
