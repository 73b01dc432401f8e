/**
 * The main job (`npm run demo`): starts the local emulator of Entra ID, IMDS and Key Vault and an
 * Azurite blob service, then obtains Bearer tokens with a **bound certificate** and with a **bound
 * managed identity** and uses each with real Azure SDK clients: a blob is uploaded to Azurite and
 * read back, and a Key Vault secret is read. For each flow it prints which entry served, whether it
 * was bound, the certificate presented in the TLS handshake (as the emulator saw it), the token's
 * claims (never the token) and how long each step took.
 *
 * Nothing leaves 127.0.0.1. Azurite is stopped on every way out, Ctrl+C included.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { SecretClient } from "@azure/keyvault-secrets";
import { BlobServiceClient } from "@azure/storage-blob";
import { BoundClientCredential, type CredentialDescription } from "bound-client-credential";
import type { Emulator, JournalEntry } from "bound-client-credential/emulator";
import { startAzurite, type AzuriteBlob } from "../test/helpers/azurite.ts";
import { startSampleEmulator, temporaryDirectory, trustingEmulator } from "./support/sample.ts";

const STORAGE_SCOPE = "https://storage.azure.com/.default";
const print = (line = ""): void => console.log(line);

/** Runs `work`, prints its label and duration, returns its value. */
async function step<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const value = await work();
  print(`  ${label.padEnd(64)} ${(performance.now() - started).toFixed(1).padStart(8)} ms`);
  return value;
}

function field(name: string, value: string): void {
  print(`  ${name.padEnd(18)} ${value}`);
}

const HOSTS: Record<JournalEntry["host"], string> = { login: "login", mtls: "mtlsauth", imds: "IMDS", keyVault: "Key Vault" };

function describeRequest(entry: JournalEntry, names: ReadonlyMap<string, string>, tenantId: string): string {
  const who = entry.clientId === undefined ? "" : ` for ${names.get(entry.clientId) ?? entry.clientId}`;
  const certificate = entry.clientCertificateThumbprintSha256 === undefined ? "" : `  TLS cert ${entry.clientCertificateThumbprintSha256.slice(0, 16)}…`;
  const token = entry.tokenType === undefined ? "" : `  → ${entry.tokenType}${who}`;
  const route = entry.path.replace(tenantId, "{tenant}").replace(/\/+$/, "");
  return `${HOSTS[entry.host].padEnd(9)} ${entry.method.padEnd(4)} ${route.padEnd(40)} ${String(entry.status ?? "-")}${certificate}${token}`;
}

async function showClaims(emulator: Emulator, token: string): Promise<void> {
  // Verified with the emulator's signing key: these are the claims Azurite and Key Vault saw.
  const claims = await emulator.verifyAccessToken(token);
  print("  token claims (signature verified; the token itself is never printed)");
  for (const name of ["aud", "iss", "tid", "appid", "oid", "idtyp", "nbf", "exp"]) {
    const value = claims[name];
    if (value === undefined) continue;
    const shown = name === "nbf" || name === "exp" ? new Date(Number(value) * 1000).toISOString() : String(value);
    print(`    ${name.padEnd(6)} ${shown}`);
  }
}

interface Flow {
  readonly name: string;
  readonly title: string;
  readonly container: string;
  readonly entry: CredentialDescription;
  /** What the TLS client certificate should be. */
  readonly certificateNote: string;
  /** Its SHA-256 thumbprint, when known before the flow runs. */
  readonly expectedCertificate?: string;
}

async function runFlow(flow: Flow, emulator: Emulator, azurite: AzuriteBlob, app: { clientId: string; tenantId: string }, names: ReadonlyMap<string, string>): Promise<void> {
  print();
  print(flow.title);
  const journalStart = emulator.journal.length;
  // The emulator's hosts and CA (trusted explicitly; verification stays on), the tenant and the app.
  const credential = new BoundClientCredential({ ...emulator.credentialOptions(app), clientCredentials: [flow.entry] });
  try {
    // Azure SDK clients ask for CAE tokens (`enableCae: true`), cached apart from others: so does
    // the demo, and the blob client below is then served from the cache.
    const token = await step("first token (cold: load, bind, mTLS token request)", () => credential.getToken(STORAGE_SCOPE, { enableCae: true }));
    await step("second token (from the cache)", () => credential.getToken(STORAGE_SCOPE, { enableCae: true }));

    const blobs = new BlobServiceClient(azurite.accountUrl, credential, azurite.clientOptions());
    const container = blobs.getContainerClient(flow.container);
    await step(`Azurite: create container "${flow.container}"`, () => container.create());
    const content = `Hello from the ${flow.name}, written with a token obtained over mutual TLS.`;
    const blob = container.getBlockBlobClient("hello.txt");
    await step(`Azurite: upload ${flow.container}/hello.txt (${Buffer.byteLength(content)} bytes)`, () => blob.upload(content, Buffer.byteLength(content)));
    const read = await step(`Azurite: download ${flow.container}/hello.txt`, async () => (await blob.downloadToBuffer()).toString("utf8"));
    if (read !== content) throw new Error(`The blob read back differs from the one uploaded: "${read}"`);

    const vault = new SecretClient(emulator.keyVaultUrl, credential, {
      disableChallengeResourceVerification: true,
      tlsOptions: trustingEmulator(emulator),
    });
    const secret = await step("Key Vault: SecretClient.getSecret(\"demo-secret\")", () => vault.getSecret("demo-secret"));

    print();
    const served = credential.lastServed;
    field("served by", served?.entryId ?? "?");
    field("bound", served?.bound === true ? "yes: the token was obtained over mutual TLS" : "no");
    field("token endpoint", served?.tokenEndpoint ?? "?");
    const appToken = emulator.journal.entries
      .slice(journalStart)
      .find((e) => e.route === "mtls.token" && e.clientId === app.clientId && e.status === 200);
    const presented = appToken?.clientCertificateThumbprintSha256;
    field("TLS client cert", `SHA-256 ${presented ?? "none"}`);
    if (flow.expectedCertificate === undefined) field("", flow.certificateNote);
    else if (presented === flow.expectedCertificate) field("", `${flow.certificateNote}: matches`);
    else throw new Error(`The emulator saw TLS client certificate ${presented ?? "none"}, not ${flow.certificateNote}.`);
    field("blob read back", `"${read}"`);
    field("Key Vault secret", `"${secret.value}"`);
    await showClaims(emulator, token.token);
    print("  requests the emulator saw");
    for (const entry of emulator.journal.entries.slice(journalStart)) print(`    ${describeRequest(entry, names, app.tenantId)}`);
  } finally {
    await credential.close();
  }
}

async function main(): Promise<void> {
  print("bound-client-credential demo: Bearer tokens over mutual TLS, used by Azure SDK clients");
  print();
  const cleanup: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      for (const work of cleanup.reverse()) await work().catch(() => undefined);
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: stopping Azurite and the emulator…`);
    void shutdown().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const { emulator } = await step("start the emulator (login, mtlsauth, IMDS v2, Key Vault)", () => startSampleEmulator());
    cleanup.push(() => emulator.close());
    const azurite = await step("start Azurite blob (HTTPS, --oauth basic, in memory)", () => startAzurite(emulator));
    cleanup.push(() => azurite.stop());
    const certificate = await step("issue the app's certificate (emulator CA)", () => emulator.issueCertificate({ subject: "CN=demo-app" }));
    const directory = await temporaryDirectory("bcc-demo-");
    cleanup.push(() => directory.remove());
    const pfxPath = path.join(directory.path, "demo-app.pfx");
    await writeFile(pfxPath, certificate.toPfx("demo-password"), { mode: 0o600 });
    const identity = emulator.registerManagedIdentity({ kind: "user" });
    const app = emulator.registerApp({
      certificates: [certificate.certificatePem],
      federatedCredentials: [emulator.federatedCredentialFor(identity)],
    });
    emulator.keyVault.setSecret("demo-secret", "a value read with a token obtained over mutual TLS");
    const names = new Map([
      [app.clientId, "the app"],
      [identity.clientId, "the managed identity"],
    ]);

    print();
    field("tenant", emulator.tenantId);
    field("application", app.clientId);
    field("managed identity", `${identity.clientId} (user-assigned, trusted by the app as a federated credential)`);
    field("app certificate", `SHA-256 ${certificate.thumbprintSha256} (${pfxPath})`);
    field("Azurite", `${azurite.accountUrl} (pid ${azurite.pid})`);

    await runFlow(
      {
        name: "bound certificate",
        title: "1. bound certificate: the app's certificate in the TLS handshake to mtlsauth",
        container: "bound-certificate",
        entry: { sourceType: "Path", certificateDiskPath: pfxPath, certificatePassword: "demo-password", useBoundCredential: true },
        certificateNote: "the app's certificate",
        expectedCertificate: certificate.thumbprintSha256,
      },
      emulator,
      azurite,
      app,
      names,
    );
    await runFlow(
      {
        name: "bound managed identity",
        title: "2. bound managed identity: IMDS v2 binding certificate, then a jwt-pop assertion",
        container: "bound-managed-identity",
        entry: { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId, useBoundCredential: true },
        certificateNote: "the binding certificate IMDS issued for a key made in this process",
      },
      emulator,
      azurite,
      app,
      names,
    );

    print();
    print(`mTLS handshakes seen by the emulator: ${emulator.stats.handshakes.mtls}`);
    print("Done: both bound flows served real Azure SDK clients with plain Bearer tokens.");
  } finally {
    await shutdown();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
