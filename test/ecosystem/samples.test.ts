/**
 * Every sample runs against the emulator (an empty environment selects it) and returns what it
 * claims to show; `npm run demo` runs end to end as a program, prints no token and leaves no
 * Azurite behind. The samples start and close their own emulators.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { registerHooks } from "node:module";

/** The export condition under which the package's own name resolves to its TypeScript sources. */
const SOURCE_CONDITION = "bound-client-credential-source";
// The samples import "bound-client-credential" as an application does; `npm run sample` runs them
// with --conditions=bound-client-credential-source, and this process resolves that name the same way.
registerHooks({
  resolve: (specifier, context, nextResolve) => nextResolve(specifier, { ...context, conditions: [...context.conditions, SOURCE_CONDITION] }),
});
const { main: certBound } = await import("../../samples/daemon-app-cert-bound.ts");
const { main: ficBound } = await import("../../samples/daemon-app-fic-bound.ts");
const { main: mixedList } = await import("../../samples/mixed-list-fallback.ts");
const { main: dropIn } = await import("../../samples/drop-in-client-certificate.ts");
const { main: chained } = await import("../../samples/chained-credential.ts");
const { main: fromAppSettings, SAMPLE_APPSETTINGS } = await import("../../samples/from-appsettings.ts");

const ROOT = path.join(import.meta.dirname, "..", "..");
const JWT = /eyJ[\w-]+\.eyJ[\w-]+\./;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Runs a sample's main against the emulator, collecting what it prints. */
async function run<T>(main: (options: { env: Record<string, string>; print: (line: string) => void }) => Promise<T>): Promise<{ result: T; output: string }> {
  const lines: string[] = [];
  const result = await main({ env: {}, print: (line) => lines.push(line) });
  const output = lines.join("\n");
  assert.doesNotMatch(output, JWT, "a sample never prints a token");
  assert.doesNotMatch(JSON.stringify(result), JWT, "a sample never returns a token");
  return { result, output };
}

/** Runs a Node.js program from the repository root, as `npm run sample` does. */
async function runProgram(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [`--conditions=${SOURCE_CONDITION}`, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

describe("samples against the emulator", () => {
  test("daemon-app-cert-bound: a PFX file, bound, served over mutual TLS", async () => {
    const { result, output } = await run(certBound);
    assert.equal(result.mode, "emulator");
    assert.equal(result.bound, true);
    assert.match(result.servedBy ?? "", /^clientCredentials\[0\] \(Path .*contoso-daemon\.pfx, bound\)$/);
    assert.equal(result.claims.aud, "https://storage.azure.com");
    assert.match(result.claims.appid ?? "", GUID);
    assert.match(output, /daemon app, bound certificate \(emulator\)/);
  });

  test("daemon-app-fic-bound: a bound managed identity federated credential", async () => {
    const { result } = await run(ficBound);
    assert.equal(result.mode, "emulator");
    assert.equal(result.bound, true);
    assert.match(result.servedBy ?? "", /^clientCredentials\[0\] \(SignedAssertionFromManagedIdentity client id [0-9a-f-]+, bound\)$/);
    assert.match(result.managedIdentity, GUID);
    assert.notEqual(result.claims.appid, result.managedIdentity, "the token is the app's, not the identity's");
  });

  test("mixed-list-fallback: without IMDS v2 the managed identity is skipped and the bound certificate serves", async () => {
    const { result } = await run(mixedList);
    assert.equal(result.list.length, 3);
    assert.match(result.servedBy ?? "", /^clientCredentials\[1\] \(Path .*, bound\)$/);
    assert.equal(result.bound, true);
    assert.equal(result.skipped.length, 1);
    assert.match(result.skipped[0]!, /clientCredentials\[0\].*unavailable.*IMDS v1 only/);
  });

  test("drop-in-client-certificate: the ClientCertificateCredential arguments, bound, with SecretClient", async () => {
    const { result } = await run(dropIn);
    assert.equal(result.bound, true);
    assert.match(result.servedBy ?? "", /^clientCredentials\[0\] \(Path .*contoso-reporting\.pem, bound\)$/);
    assert.deepEqual(result.secret, { name: "reporting-database-password", length: "correct horse battery staple".length });
    assert.equal(result.claims.aud, "https://vault.azure.net");
  });

  test("chained-credential: the chain moves on to ClientSecretCredential through getBearerTokenProvider", async () => {
    const { result } = await run(chained);
    assert.equal(result.chainServedBy, "ClientSecretCredential");
    assert.equal(result.servedBy, undefined);
    assert.equal(result.claims.aud, "https://storage.azure.com");
    assert.match(result.claims.appid ?? "", GUID);
  });

  test("from-appsettings: samples/appsettings.json used unchanged; the bound managed identity serves", async () => {
    const { result } = await run(fromAppSettings);
    assert.equal(result.appsettings, SAMPLE_APPSETTINGS);
    assert.deepEqual(
      result.list.map((id) => id.replace(/ \(.*$/, "")),
      ["clientCredentials[0]", "clientCredentials[1]", "clientCredentials[2]"],
    );
    assert.match(result.servedBy ?? "", /^clientCredentials\[0\] \(SignedAssertionFromManagedIdentity system-assigned, bound\)$/);
    assert.equal(result.claims.tid, "3f9e7a52-6c1d-4b8e-9a0f-2d5c8e1b7a46");
    assert.equal(result.claims.appid, "b4c2e8d1-7a3f-4e9b-8c6d-1f0a5e2b9c73");
  });

  test("every sample imports the package by its name, never the sources by path", () => {
    const files = readdirSync(path.join(ROOT, "samples"), { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".ts"));
    assert.ok(files.length >= 8, files.join(", "));
    for (const file of files) {
      const text = readFileSync(path.join(ROOT, "samples", file), "utf8");
      assert.doesNotMatch(text, /from "(\.\.\/)+src\//, `${file} imports the sources by path`);
    }
    const samples = files.filter((file) => !file.includes("/"));
    for (const file of samples) {
      assert.match(readFileSync(path.join(ROOT, "samples", file), "utf8"), /from "bound-client-credential(\/emulator)?"/, file);
    }
  });

  test("a sample run as a program says which Azure variables are missing, and exits 1", async () => {
    const { code, stdout, stderr } = await runProgram(["samples/daemon-app-cert-bound.ts"], { PATH: process.env["PATH"] ?? "", AZURE_TENANT_ID: "contoso.onmicrosoft.com" });
    assert.equal(code, 1, stdout);
    assert.match(stderr, /set AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH as well \(AZURE_TENANT_ID is set\)/);
  });

  test("npm run demo: both bound flows into Azurite, a readable account, no token, no Azurite left", async () => {
    const { code, stdout, stderr } = await runProgram(["samples/demo.ts"]);
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.doesNotMatch(stdout + stderr, JWT);
    for (const expected of [
      /start Azurite blob/,
      /1\. bound certificate/,
      /2\. bound managed identity/,
      /served by +clientCredentials\[0\] \(Path .*demo-app\.pfx, bound\)/,
      /served by +clientCredentials\[0\] \(SignedAssertionFromManagedIdentity .*, bound\)/,
      /the app's certificate: matches/,
      /blob read back +"Hello from the bound certificate/,
      /blob read back +"Hello from the bound managed identity/,
      /→ mtls_pop for the managed identity/,
      /aud +https:\/\/storage\.azure\.com/,
      /Done: both bound flows/,
    ]) {
      assert.match(stdout, expected);
    }
    assert.equal((stdout.match(/TLS client cert +SHA-256 [0-9A-F]{64}/g) ?? []).length, 2);
    assert.match(stdout, /first token .* ms\n/);
    const pid = Number(/Azurite +https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1 \(pid (\d+)\)/.exec(stdout)?.[1]);
    assert.ok(pid > 0, "the demo names Azurite's pid");
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, "Azurite is gone when the demo has exited");
  });
});
