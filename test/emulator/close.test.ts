import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { startEmulator } from "../../src/emulator/index.ts";
import { agentFor, closeAgents, postToken } from "./helpers.ts";

const HANDLE_TYPES = new Set(["TCPServerWrap", "TCPSocketWrap", "Timeout"]);

function handleCount(): number {
  return process.getActiveResourcesInfo().filter((type) => HANDLE_TYPES.has(type)).length;
}

/** One turn of the event loop, so that handles closed by `close()` finish closing. */
const nextLoopTurn = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

describe("close()", () => {
  test("destroys open connections, in-flight requests and fault timers, and leaves no handle behind", async () => {
    const baseline = handleCount();
    const emulator = await startEmulator();
    const certificate = await emulator.issueCertificate();
    const app = emulator.registerApp({ certificates: [certificate.certificatePem], secrets: ["s"] });
    emulator.registerManagedIdentity({ kind: "system" });
    const form = { grant_type: "client_credentials", client_id: app.clientId, scope: "https://storage.azure.com/.default" };
    // Keep-alive connections to the login and mTLS hosts stay open after these answers.
    assert.equal((await postToken(emulator, { ...form, client_secret: "s" })).status, 200);
    assert.equal((await postToken(emulator, form, { host: "mtls", client: certificate })).status, 200);
    // An IMDS request held by a long delay fault: its timer and socket must go at close().
    emulator.faults.add({ route: "imds.token", delayMs: 600_000 });
    const held = request(`${emulator.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com`, {
      headers: { metadata: "true" },
      dispatcher: agentFor(emulator),
    });
    while (emulator.journal.last("imds.token") === undefined) await nextLoopTurn();
    assert.ok(handleCount() > baseline);

    await emulator.close();
    await assert.rejects(held);
    await closeAgents();
    await nextLoopTurn();
    assert.equal(handleCount(), baseline, String(process.getActiveResourcesInfo()));
    await emulator.close();
  });

  test("a process that starts, uses and closes the emulator exits by itself", async () => {
    const emulatorModule = fileURLToPath(new URL("../../src/emulator/index.ts", import.meta.url));
    const script = `
      import { startEmulator } from ${JSON.stringify(emulatorModule)};
      import { Agent, request } from "undici";
      const emulator = await startEmulator();
      const app = emulator.registerApp({ secrets: ["s"] });
      const agent = new Agent({ connect: { ca: emulator.caCertificatePem } });
      const response = await request(emulator.tokenEndpoint(), {
        method: "POST", dispatcher: agent,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", client_id: app.clientId, client_secret: "s", scope: "https://storage.azure.com/.default" }).toString(),
      });
      await response.body.json();
      emulator.faults.add({ route: "imds.compute", delayMs: 600000 });
      request(emulator.imdsEndpoint + "/metadata/instance/compute?api-version=2021-02-01", { headers: { metadata: "true" } }).catch(() => {});
      while (emulator.journal.last("imds.compute") === undefined) await new Promise((r) => setImmediate(r));
      await emulator.close();
      process.stdout.write("closed " + response.statusCode);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    // A guard against a hang, not a timing assertion: a leaked handle would keep the child alive.
    const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once("exit", (exitCode) => resolve(exitCode)));
    clearTimeout(guard);
    assert.equal(code, 0, output);
    assert.match(output, /closed 200/);
  });
});
