/**
 * Load and deadlines against real hosts on loopback: the emulator answering slowly, and a token
 * host that trickles its body. Load makes bound requests wait for a connection of their
 * certificate's pool; it never fails them nor benches the bound entry. Every getToken settles
 * by its deadline, whatever the host does.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { Harness, rejectionOf, type RegisteredApp } from "../credential/support.ts";

let harness: Harness;
before(async () => {
  harness = await Harness.start({ acceptAnyResource: true });
});
after(async () => {
  await harness.close();
});

async function boundApp(): Promise<{ app: RegisteredApp; bound: CredentialDescription; secret: CredentialDescription }> {
  const issued = await harness.emulator.issueCertificate();
  const app = harness.emulator.registerApp({ certificates: [issued.certificatePem], secrets: ["fallback"] });
  return {
    app,
    bound: { sourceType: "Certificate", certificate: issued.certificatePem, privateKey: issued.privateKeyPem, useBoundCredential: true },
    secret: { sourceType: "ClientSecret", clientSecret: "fallback" },
  };
}

describe("load on a bound entry", () => {
  test("20 concurrent cold scopes against a host answering in 1.5 s: none fails, the bound entry is not benched", async () => {
    const emu = harness.emulator;
    const { app, bound, secret } = await boundApp();
    const credential = harness.credential(harness.options(app, [bound, secret]));
    const mtlsBefore = emu.journal.ofRoute("mtls.token").length;
    const loginBefore = emu.journal.ofRoute("login.token").length;
    emu.faults.add({ route: "mtls.token", delayMs: 1500, count: 20 });
    // Each attempt may take 2 s; the calls queue for longer than that behind the pool's connections.
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        credential.getToken(`api://${app.clientId}/load-${i}/.default`, { requestOptions: { timeout: 2000 } }),
      ),
    );
    assert.equal(tokens.length, 20);
    const served = emu.journal.ofRoute("mtls.token").slice(mtlsBefore);
    assert.equal(served.length, 20);
    assert.ok(served.every((entry) => entry.status === 200));
    assert.equal(emu.journal.ofRoute("login.token").length, loginBefore, "no token came from the secret");
    // Not benched: the next cold scope is served by the bound entry again.
    await credential.getToken(`api://${app.clientId}/after-load/.default`);
    assert.equal(credential.lastServed?.bound, true);
    assert.equal(emu.journal.ofRoute("login.token").length, loginBefore);
  });

  test("with one connection per certificate, queueing longer than requestOptions.timeout still succeeds", async () => {
    const emu = harness.emulator;
    const { app, bound, secret } = await boundApp();
    const credential = harness.credential(harness.options(app, [bound, secret], { connectionsPerCertificate: 1 }));
    const loginBefore = emu.journal.ofRoute("login.token").length;
    emu.faults.add({ route: "mtls.token", delayMs: 700, count: 3 });
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 3 }, (_, i) => credential.getToken(`api://${app.clientId}/serial-${i}/.default`, { requestOptions: { timeout: 1000 } })),
    );
    // One connection: the three answers came one after the other, the last after about 2.1 s.
    assert.ok(Date.now() - started >= 2000, `took ${Date.now() - started} ms`);
    assert.equal(emu.journal.ofRoute("login.token").length, loginBefore);
  });
});

/** An https token host that answers headers at once and then one byte of body every 100 ms. */
async function tricklingHost(): Promise<{ origin: string; openSockets: () => number; close: () => Promise<void> }> {
  const issued = await harness.emulator.issueCertificate({ ipAddresses: ["127.0.0.1"], extendedKeyUsage: ["serverAuth"] });
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer({ cert: issued.certificatePem, key: issued.privateKeyPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/json", "content-length": "100000" });
    const timer = setInterval(() => res.write(" "), 100);
    timers.add(timer);
    res.on("close", () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  });
  server.on("secureConnection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `https://127.0.0.1:${port}`,
    openSockets: () => sockets.size,
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("the overall deadline of getToken", () => {
  test("a host trickling its body cannot keep getToken pending past getTokenTimeoutInMs", async () => {
    const host = await tricklingHost();
    try {
      const { app, bound } = await boundApp();
      const credential = harness.credential(harness.options(app, [bound], { mtlsAuthorityHost: host.origin, getTokenTimeoutInMs: 1500 }));
      const started = Date.now();
      const error = await rejectionOf(credential.getToken(`api://${app.clientId}/trickle/.default`));
      const elapsed = Date.now() - started;
      assert.equal(error.name, "TimeoutError");
      assert.match(error.message, /within its deadline of 1500 ms \(getTokenTimeoutInMs\)/);
      assert.ok(elapsed >= 1400 && elapsed < 3000, `settled after ${elapsed} ms`);
      // The request was abandoned, not left trickling: its connection closes.
      const until = Date.now() + 2000;
      while (host.openSockets() > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(host.openSockets(), 0);
    } finally {
      await host.close();
    }
  });

  test("requestOptions.timeout still bounds each attempt within the deadline", async () => {
    const host = await tricklingHost();
    try {
      const { app, bound } = await boundApp();
      const credential = harness.credential(harness.options(app, [bound], { mtlsAuthorityHost: host.origin }));
      const started = Date.now();
      const error = await rejectionOf(credential.getToken(`api://${app.clientId}/attempt/.default`, { requestOptions: { timeout: 400 } }));
      // Two attempts of 400 ms (the STS policy retries a timeout once; retries do not sleep here).
      assert.ok(Date.now() - started < 3000);
      assert.match(error.message, /did not answer in time|timed out/);
    } finally {
      await host.close();
    }
  });
});
