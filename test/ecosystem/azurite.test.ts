/**
 * `@azure/storage-blob` against Azurite (HTTPS, `--oauth basic`) with tokens that
 * BoundClientCredential obtains from the emulator: bound certificate, bound managed identity,
 * unbound certificate and secret. Each creates a container, uploads a blob and reads it back; the
 * emulator's journal shows which token endpoint served and which certificate was in the TLS
 * handshake. Azurite refuses a request without a token and one with a token for another audience,
 * so the successes above are not Azurite letting anything through.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { AnonymousCredential, BlobServiceClient, RestError } from "@azure/storage-blob";
import { decodeJwt } from "jose";
import { BoundClientCredential, type CredentialDescription } from "../../src/index.ts";
import {
  createCertificateAuthority,
  startEmulator,
  type Emulator,
  type IssuedCertificate,
  type RegisteredApp,
  type RegisteredManagedIdentity,
} from "../../src/emulator/index.ts";
import { startAzurite, type AzuriteBlob } from "../helpers/azurite.ts";

const STORAGE_SCOPE = "https://storage.azure.com/.default";

describe("BlobServiceClient against Azurite with BoundClientCredential", () => {
  let emulator: Emulator;
  let azurite: AzuriteBlob;
  let app: RegisteredApp;
  let identity: RegisteredManagedIdentity;
  let certificate: IssuedCertificate;
  let directory: string;
  let pfxPath: string;
  const secret = "azurite-test-secret-value";
  const pfxPassword = "pfx-password";
  const credentials: BoundClientCredential[] = [];

  before(async () => {
    emulator = await startEmulator();
    [azurite, certificate, directory] = await Promise.all([
      startAzurite(emulator),
      emulator.issueCertificate({ subject: "CN=azurite-test-app" }),
      mkdtemp(path.join(tmpdir(), "bcc-azurite-test-")),
    ]);
    pfxPath = path.join(directory, "app.pfx");
    await writeFile(pfxPath, certificate.toPfx(pfxPassword), { mode: 0o600 });
    identity = emulator.registerManagedIdentity({ kind: "user" });
    app = emulator.registerApp({
      certificates: [certificate.certificatePem],
      secrets: [secret],
      federatedCredentials: [emulator.federatedCredentialFor(identity)],
    });
  });

  after(async () => {
    await Promise.all(credentials.map((c) => c.close()));
    await Promise.allSettled([azurite?.stop(), emulator?.close()]);
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  });

  function credentialWith(entry: CredentialDescription): BoundClientCredential {
    const credential = new BoundClientCredential({
      tenantId: emulator.tenantId,
      clientId: app.clientId,
      authorityHost: emulator.authorityHost,
      mtlsAuthorityHost: emulator.mtlsAuthorityHost,
      imdsEndpoint: emulator.imdsEndpoint,
      tls: { ca: emulator.caCertificatePem },
      clientCredentials: [entry],
    });
    credentials.push(credential);
    return credential;
  }

  /** Creates a container, uploads a blob, reads it back; returns the content read. */
  async function roundTrip(client: BlobServiceClient, container: string, content: string): Promise<string> {
    const containerClient = client.getContainerClient(container);
    await containerClient.create();
    const blob = containerClient.getBlockBlobClient("greeting.txt");
    await blob.upload(content, Buffer.byteLength(content), { blobHTTPHeaders: { blobContentType: "text/plain" } });
    const names: string[] = [];
    for await (const item of containerClient.listBlobsFlat()) names.push(item.name);
    assert.deepEqual(names, ["greeting.txt"]);
    return (await blob.downloadToBuffer()).toString("utf8");
  }

  const flows: {
    name: string;
    container: string;
    entry: () => CredentialDescription;
    bound: boolean;
    route: "mtls.token" | "login.token";
    tlsCertificate: () => string | undefined;
    clientId: () => string;
  }[] = [
    {
      name: "bound certificate (PFX on disk, presented to mtlsauth)",
      container: "bound-certificate",
      entry: () => ({ sourceType: "Path", certificateDiskPath: pfxPath, certificatePassword: pfxPassword, useBoundCredential: true }),
      bound: true,
      route: "mtls.token",
      tlsCertificate: () => certificate.thumbprintSha256,
      clientId: () => app.clientId,
    },
    {
      name: "bound managed identity (IMDS v2 binding certificate, jwt-pop)",
      container: "bound-managed-identity",
      entry: () => ({ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId, useBoundCredential: true }),
      bound: true,
      route: "mtls.token",
      // The binding certificate is minted at run time; only its presence can be known here.
      tlsCertificate: () => "any",
      clientId: () => app.clientId,
    },
    {
      name: "unbound certificate (jwt-bearer to the login host)",
      container: "unbound-certificate",
      entry: () => ({ sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem }),
      bound: false,
      route: "login.token",
      tlsCertificate: () => undefined,
      clientId: () => app.clientId,
    },
    {
      name: "client secret",
      container: "client-secret",
      entry: () => ({ sourceType: "ClientSecret", clientSecret: secret }),
      bound: false,
      route: "login.token",
      tlsCertificate: () => undefined,
      clientId: () => app.clientId,
    },
  ];

  for (const flow of flows) {
    test(`${flow.name}: create a container, upload and download a blob`, async () => {
      const credential = credentialWith(flow.entry());
      const client = new BlobServiceClient(azurite.accountUrl, credential, azurite.clientOptions());
      const content = `written with ${flow.name}`;
      assert.equal(await roundTrip(client, flow.container, content), content);

      const served = credential.lastServed;
      assert.ok(served !== undefined, "the credential served a token");
      assert.equal(served.bound, flow.bound);
      assert.match(served.entryId, /^clientCredentials\[0\]/);
      const issued = emulator.journal.filter((e) => e.route === flow.route && e.clientId === flow.clientId() && e.status === 200).at(-1);
      assert.ok(issued !== undefined, `the emulator issued the app's token on ${flow.route}`);
      assert.equal(served.tokenEndpoint, flow.route === "mtls.token" ? emulator.mtlsTokenEndpoint() : emulator.tokenEndpoint());
      const expected = flow.tlsCertificate();
      if (expected === undefined) assert.equal(issued.clientCertificateThumbprintSha256, undefined);
      else if (expected === "any") assert.match(issued.clientCertificateThumbprintSha256 ?? "", /^[0-9A-F]{64}$/);
      else assert.equal(issued.clientCertificateThumbprintSha256, expected);

      // The token Azurite accepted: a v1 Storage token for this app, valid by the emulator's key.
      const token = await credential.getToken(STORAGE_SCOPE);
      const claims = await emulator.verifyAccessToken(token.token);
      assert.equal(claims["aud"], "https://storage.azure.com");
      assert.equal(claims["appid"], app.clientId);
      assert.match(String(claims["iss"]), /^https:\/\/sts\.windows\.net\//);
    });
  }

  test("the bound managed identity's TLS certificate is the IMDS-issued binding certificate, not the app's", () => {
    const bindingTls = emulator.journal.filter((e) => e.route === "mtls.token" && e.clientId === app.clientId && e.status === 200);
    const thumbprints = new Set(bindingTls.map((e) => e.clientCertificateThumbprintSha256));
    assert.ok(thumbprints.has(certificate.thumbprintSha256));
    assert.equal(thumbprints.size, 2, "two different TLS client certificates: the app's and the binding certificate");
    assert.ok(emulator.journal.ofRoute("imds.issueCredential").some((e) => e.status === 200));
  });

  test("without the emulator's CA the SDK refuses Azurite's certificate: TLS verification stays on", async () => {
    const credential = credentialWith({ sourceType: "ClientSecret", clientSecret: secret });
    const client = new BlobServiceClient(azurite.accountUrl, credential, { retryOptions: { maxTries: 1 } });
    await assert.rejects(client.getContainerClient("untrusted").create(), (error: unknown) => {
      assert.match(String((error as { code?: unknown }).code ?? (error as Error).message), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/i);
      return true;
    });
  });

  test("Azurite refuses a request without a token", async () => {
    const client = new BlobServiceClient(azurite.accountUrl, new AnonymousCredential(), azurite.clientOptions());
    const error = await client
      .getContainerClient("no-token")
      .create()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(error instanceof RestError, `expected a RestError, got ${String(error)}`);
    assert.ok(error.statusCode === 401 || error.statusCode === 403, `status ${error.statusCode}`);
  });

  test("Azurite refuses a token for another audience (it does check the token)", async () => {
    const credential = credentialWith({ sourceType: "ClientSecret", clientSecret: secret });
    const client = new BlobServiceClient(
      azurite.accountUrl,
      credential,
      azurite.clientOptions({ audience: "https://vault.azure.net/.default" }),
    );
    const error = await client
      .getContainerClient("wrong-audience")
      .create()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(error instanceof RestError, `expected a RestError, got ${String(error)}`);
    assert.equal(error.statusCode, 403);
    const token = await credential.getToken("https://vault.azure.net/.default");
    assert.equal(decodeJwt(token.token).aud, "https://vault.azure.net");
  });

});

describe("Azurite cleanup", () => {
  const helper = pathToFileURL(path.join(import.meta.dirname, "..", "helpers", "azurite.ts")).href;
  const pki = pathToFileURL(path.join(import.meta.dirname, "..", "..", "src", "emulator", "pki.ts")).href;

  /** Runs a Node.js process that starts an Azurite, prints its pid and directory, then ends as `ending` says. */
  async function orphanCandidate(ending: string): Promise<{ pid: number; directory: string; exit: number | null; signal: string | null }> {
    const script = `
      import { createCertificateAuthority } from ${JSON.stringify(pki)};
      import { startAzurite } from ${JSON.stringify(helper)};
      const ca = await createCertificateAuthority();
      const azurite = await startAzurite({ caCertificatePem: ca.certificatePem, issueCertificate: (o) => ca.issueCertificate(o) });
      process.stdout.write(JSON.stringify({ pid: azurite.pid, directory: azurite.directory }) + "\\n");
      ${ending}
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const [exit, signal] = (await once(child, "exit")) as [number | null, string | null];
    const line = stdout.split("\n").find((l) => l.startsWith("{"));
    assert.ok(line !== undefined, `the child printed Azurite's pid; stderr: ${stderr}`);
    const { pid, directory } = JSON.parse(line) as { pid: number; directory: string };
    return { pid, directory, exit, signal };
  }

  /** Whether a process runs (a zombie waiting for a reaper counts as gone). */
  function isRunning(pid: number): boolean {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return !/^\d+ \(.*\) [ZX] /.test(stat);
    } catch {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    }
  }

  async function gone(pid: number): Promise<boolean> {
    // Azurite's shutdown is asynchronous; a generous bound, not a timing assertion.
    for (let i = 0; i < 200 && isRunning(pid); i++) await new Promise((r) => setTimeout(r, 50));
    return !isRunning(pid);
  }

  test("stop() ends the child and removes its directory", async () => {
    const ca = await createCertificateAuthority();
    const azurite = await startAzurite({ caCertificatePem: ca.certificatePem, issueCertificate: (o) => ca.issueCertificate(o) });
    assert.ok(isRunning(azurite.pid));
    assert.ok(existsSync(azurite.directory));
    await azurite.stop();
    assert.equal(isRunning(azurite.pid), false);
    assert.equal(existsSync(azurite.directory), false);
    await azurite.stop();
  });

  test("a parent that exits without stop() takes its Azurite and its files along (exit hook)", async () => {
    const result = await orphanCandidate("process.exit(3);");
    assert.equal(result.exit, 3);
    assert.ok(await gone(result.pid), `Azurite ${result.pid} outlived its parent`);
    assert.equal(existsSync(result.directory), false);
  });

  test("a parent killed with SIGKILL takes its Azurite along (stdin watchdog)", async () => {
    const result = await orphanCandidate('process.kill(process.pid, "SIGKILL");');
    assert.equal(result.signal, "SIGKILL");
    assert.ok(await gone(result.pid), `Azurite ${result.pid} outlived its parent`);
    // Nothing runs in a process killed with SIGKILL: its temporary directory is left for the OS.
    await rm(result.directory, { recursive: true, force: true });
  });
});
