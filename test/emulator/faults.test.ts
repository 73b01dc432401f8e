import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import { startEmulator, type Emulator, type EmulatorRoute, type IssuedCertificate, type RegisteredApp } from "../../src/emulator/index.ts";
import { aadsts, agentFor, closeAgents, get, postToken } from "./helpers.ts";

describe("scripted faults", () => {
  let emulator: Emulator;
  let app: RegisteredApp;
  let certificate: IssuedCertificate;

  before(async () => {
    emulator = await startEmulator();
    certificate = await emulator.issueCertificate();
    app = emulator.registerApp({ secrets: ["s"], certificates: [certificate.certificatePem] });
    emulator.registerManagedIdentity({ kind: "system" });
  });
  after(async () => {
    await closeAgents();
    await emulator.close();
  });

  const tokenForm = { grant_type: "client_credentials", client_id: "", client_secret: "s", scope: "https://storage.azure.com/.default" };
  const login = () => postToken(emulator, { ...tokenForm, client_id: app.clientId });
  const imdsToken = () =>
    get(emulator, `${emulator.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com`, {
      metadata: "true",
    });

  test("a status fault answers an Entra-shaped error with Retry-After for the next N calls, then the real answer", async () => {
    emulator.faults.add({ route: "login.token", status: 503, retryAfter: 7, count: 2 });
    assert.equal(emulator.faults.pending("login.token"), 2);
    for (let index = 0; index < 2; index += 1) {
      const response = await login();
      assert.equal(response.status, 503);
      assert.equal(response.headers["retry-after"], "7");
      assert.equal(response.json["error"], "temporarily_unavailable");
      assert.equal(typeof aadsts(response), "number");
    }
    assert.equal((await login()).status, 200);
    assert.equal(emulator.faults.pending(), 0);
    const faulted = emulator.journal.ofRoute("login.token").filter((entry) => entry.fault !== undefined);
    assert.equal(faulted.length, 2);
    assert.equal(faulted[0]?.status, 503);
  });

  test("a 429 fault carries AADSTS50196; error and errorCode can be chosen", async () => {
    emulator.faults.add({ route: "login.token", status: 429 });
    assert.equal(aadsts(await login()), 50196);
    emulator.faults.add({ route: "login.token", status: 400, error: "invalid_client", errorCode: 7000215 });
    const chosen = await login();
    assert.equal(chosen.json["error"], "invalid_client");
    assert.equal(aadsts(chosen), 7000215);
  });

  test("IMDS and Key Vault status faults are shaped as those services answer", async () => {
    emulator.faults.add({ route: "imds.token", status: 410 });
    const gone = await imdsToken();
    assert.equal(gone.status, 410);
    assert.equal(typeof gone.json["error"], "string");
    assert.match(String(gone.headers["server"]), /^IMDS/);
    assert.equal((await imdsToken()).status, 200);
    emulator.faults.add({ route: "keyVault.secret", status: 429, retryAfter: 1 });
    const throttled = await get(emulator, `${emulator.keyVaultUrl}/secrets/x?api-version=7.5`);
    assert.equal(throttled.status, 429);
    assert.equal((throttled.json["error"] as Record<string, string>)["code"], "Throttled");
  });

  test("a delay alone delays the real answer", async () => {
    emulator.faults.add({ route: "imds.token", delayMs: 30 });
    const response = await imdsToken();
    assert.equal(response.status, 200);
    assert.equal(emulator.journal.last("imds.token")?.fault?.delayMs, 30);
  });

  test("reset drops the connection without an answer", async () => {
    emulator.faults.add({ route: "login.token", reset: true });
    await assert.rejects(login(), (error: Error & { code?: string }) => {
      assert.match(String(error.code ?? error.message), /UND_ERR_SOCKET|ECONNRESET|other side closed/);
      return true;
    });
    assert.equal(emulator.journal.last("login.token")?.status, undefined);
    assert.equal((await login()).status, 200);
  });

  test("broken bodies: truncated JSON, an HTML page, an oversize body", async () => {
    const raw = async () => {
      const response = await request(emulator.tokenEndpoint(), {
        method: "POST",
        dispatcher: agentFor(emulator),
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ ...tokenForm, client_id: app.clientId }).toString(),
      });
      return { status: response.statusCode, type: String(response.headers["content-type"]), text: await response.body.text() };
    };
    emulator.faults.add({ route: "login.token", body: "malformed-json" });
    const malformed = await raw();
    assert.equal(malformed.status, 200);
    assert.throws(() => JSON.parse(malformed.text), SyntaxError);
    emulator.faults.add({ route: "login.token", body: "html", status: 502 });
    const html = await raw();
    assert.equal(html.status, 502);
    assert.match(html.type, /text\/html/);
    assert.match(html.text, /<html>/);
    emulator.faults.add({ route: "login.token", body: "oversize", oversizeBytes: 200_000 });
    const oversize = await raw();
    assert.ok(oversize.text.length >= 199_000);
  });

  test("a tls fault drops the next connection before the handshake completes", async () => {
    emulator.faults.add({ route: "mtls.token", tls: "reject" });
    const handshakes = emulator.stats.handshakes.mtls;
    const form = { grant_type: "client_credentials", client_id: app.clientId, scope: "https://storage.azure.com/.default" };
    await assert.rejects(postToken(emulator, form, { host: "mtls", client: certificate }));
    assert.equal(emulator.stats.handshakes.mtls, handshakes);
    const ok = await postToken(emulator, form, { host: "mtls", client: certificate });
    assert.equal(ok.status, 200);
    assert.equal(emulator.stats.handshakes.mtls, handshakes + 1);
  });

  test("faults are validated, counted and cleared", () => {
    assert.throws(() => emulator.faults.add({ route: "nope" as EmulatorRoute, status: 500 }), /Unknown emulator route/);
    assert.throws(() => emulator.faults.add({ route: "login.token", status: 500, count: 0 }), /count/);
    assert.throws(() => emulator.faults.add({ route: "login.token", status: 500, reset: true }), /at most one/);
    assert.throws(() => emulator.faults.add({ route: "mtls.token", status: 500, tls: "reject" }), /at most one/);
    assert.throws(() => emulator.faults.add({ route: "login.token" }), /give one of/);
    assert.throws(() => emulator.faults.add({ route: "imds.token", tls: "reject" }), /HTTPS/);
    emulator.faults.add({ route: "imds.compute", status: 500, count: 3 });
    emulator.faults.add({ route: "imds.token", status: 500 });
    assert.equal(emulator.faults.pending("imds.compute"), 3);
    assert.equal(emulator.faults.pending(), 4);
    emulator.faults.clear();
    assert.equal(emulator.faults.pending(), 0);
  });
});
