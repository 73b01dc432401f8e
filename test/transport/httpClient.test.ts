import assert from "node:assert/strict";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { TransportError } from "../../src/transport/errors.ts";
import { HttpClient } from "../../src/transport/httpClient.ts";
import {
  closedPort,
  createPki,
  deferred,
  loaded,
  type Pki,
  startHttpServer,
  startHttpsServer,
  type TestServer,
} from "./fixtures.ts";

let pki: Pki;
/** Requires a client certificate from the test CA. */
let mtls: TestServer;
/** Plain TLS, no client certificate asked. */
let tlsServer: TestServer;
/** Server certificate from a CA nobody trusts. */
let rogue: TestServer;
let plain: TestServer;
/** Holds /slow answers until released. */
let release = deferred();

before(async () => {
  pki = await createPki();
  mtls = await startHttpsServer(
    { key: pki.server.privateKeyPem, cert: pki.server.certificatePem, ca: [pki.ca.certificatePem], requestCert: true, rejectUnauthorized: true },
    async (req, res) => {
      if (req.url === "/slow") await release.promise;
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`hello ${req.method}`);
    },
  );
  tlsServer = await startHttpsServer({ key: pki.server.privateKeyPem, cert: pki.server.certificatePem }, (_req, res) => {
    res.end("tls ok");
  });
  rogue = await startHttpsServer({ key: pki.rogueServer.privateKeyPem, cert: pki.rogueServer.certificatePem }, (_req, res) => {
    res.end("should not be reached");
  });
  plain = await startHttpServer(async (req, res) => {
    switch (req.url) {
      case "/hang":
        return; // never answers: headers timeout
      case "/big": {
        const body = Buffer.alloc(4096, 0x61);
        res.writeHead(200, { "content-length": body.length });
        res.end(body);
        return;
      }
      case "/big-chunked": {
        res.writeHead(200, { "content-type": "text/plain" });
        for (let i = 0; i < 8; i++) res.write(Buffer.alloc(512, 0x62));
        res.end();
        return;
      }
      case "/reset":
        req.socket.destroy();
        return;
      case "/stall-body":
        res.writeHead(200, { "content-length": "100" });
        res.write("partial");
        return; // body never completes
      default:
        res.writeHead(201, { "x-multi": ["a", "b"], "content-type": "application/json" });
        res.end(JSON.stringify({ method: req.method, headers: req.headers }));
    }
  });
});

after(async () => {
  release.resolve();
  await Promise.all([mtls.close(), tlsServer.close(), rogue.close(), plain.close()]);
});

describe("HttpClient over plain HTTP", () => {
  test("returns status, lower-case headers and body; sends headers and body", async () => {
    const http = new HttpClient();
    try {
      const res = await http.request({
        url: `${plain.origin}/echo`,
        method: "POST",
        headers: { "X-Test": "1", "content-type": "text/plain" },
        body: "payload",
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers["x-multi"], "a, b");
      const echoed = JSON.parse(res.body) as { method: string; headers: Record<string, string> };
      assert.equal(echoed.method, "POST");
      assert.equal(echoed.headers["x-test"], "1");
      assert.equal(plain.requests.at(-1)?.body, "payload");
    } finally {
      await http.close();
    }
  });

  test("connection refused is kind connect and names the host", async () => {
    const http = new HttpClient();
    const port = await closedPort();
    try {
      await assert.rejects(http.request({ url: `http://127.0.0.1:${port}/`, method: "GET" }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.kind, "connect");
        assert.equal(err.code, "ECONNREFUSED");
        assert.equal(err.host, `127.0.0.1:${port}`);
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        return true;
      });
    } finally {
      await http.close();
    }
  });

  test("headers timeout is kind timeout", async () => {
    const http = new HttpClient({ headersTimeoutMs: 150 });
    try {
      await assert.rejects(http.request({ url: `${plain.origin}/hang`, method: "GET" }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.kind, "timeout");
        assert.equal(err.code, "HEADERS_TIMEOUT");
        return true;
      });
    } finally {
      await http.close();
    }
  });

  test("body timeout is kind timeout", async () => {
    const http = new HttpClient({ bodyTimeoutMs: 150 });
    try {
      await assert.rejects(http.request({ url: `${plain.origin}/stall-body`, method: "GET" }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.kind, "timeout");
        assert.equal(err.code, "BODY_TIMEOUT");
        return true;
      });
    } finally {
      await http.close();
    }
  });

  test("the per-request deadline is kind timeout", async () => {
    const http = new HttpClient();
    try {
      await assert.rejects(http.request({ url: `${plain.origin}/hang`, method: "GET", timeoutMs: 100 }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.kind, "timeout");
        return true;
      });
    } finally {
      await http.close();
    }
  });

  test("the caller's abort is kind aborted, before and during the request", async () => {
    const http = new HttpClient();
    try {
      const controller = new AbortController();
      const pending = http.request({ url: `${plain.origin}/hang`, method: "GET", signal: controller.signal, timeoutMs: 10_000 });
      setTimeout(() => controller.abort(), 50);
      await assert.rejects(pending, (err: unknown) => err instanceof TransportError && err.kind === "aborted");
      await assert.rejects(
        http.request({ url: `${plain.origin}/echo`, method: "GET", signal: AbortSignal.abort() }),
        (err: unknown) => err instanceof TransportError && err.kind === "aborted",
      );
    } finally {
      await http.close();
    }
  });

  test("a body over the limit is refused, with or without Content-Length", async () => {
    const http = new HttpClient({ maxResponseBytes: 1000 });
    try {
      for (const path of ["/big", "/big-chunked"]) {
        await assert.rejects(http.request({ url: `${plain.origin}${path}`, method: "GET" }), (err: unknown) => {
          assert.ok(err instanceof TransportError);
          assert.equal(err.kind, "body-too-large");
          return true;
        });
      }
      // The connection is still usable afterwards.
      assert.equal((await http.request({ url: `${plain.origin}/echo`, method: "GET" })).status, 201);
    } finally {
      await http.close();
    }
  });

  test("a connection closed mid-request is kind reset", async () => {
    const http = new HttpClient();
    try {
      await assert.rejects(http.request({ url: `${plain.origin}/reset`, method: "GET" }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.kind, "reset");
        return true;
      });
    } finally {
      await http.close();
    }
  });

  test("a client certificate is never sent over plain HTTP", async () => {
    const http = new HttpClient();
    try {
      await assert.rejects(
        http.request({ url: `${plain.origin}/echo`, method: "GET", clientCertificate: loaded(pki.clientA) }),
        TypeError,
      );
      assert.equal(http.stats.agentsCreated, 0);
    } finally {
      await http.close();
    }
  });

  test("a closed client releases its agents and opens new ones for later requests", async () => {
    const http = new HttpClient();
    try {
      const before = await http.request({ url: `${plain.origin}/echo`, method: "GET" });
      await http.close();
      const after = await http.request({ url: `${plain.origin}/echo`, method: "GET" });
      assert.equal(after.status, before.status);
    } finally {
      await http.close();
    }
  });

  test("invalid options are refused", () => {
    assert.throws(() => new HttpClient({ maxResponseBytes: 0 }), RangeError);
    assert.throws(() => new HttpClient({ connectTimeoutMs: Number.NaN }), RangeError);
  });
});

describe("HttpClient over TLS", () => {
  test("an extra CA is trusted without losing verification", async () => {
    const http = new HttpClient({ ca: [pki.ca.certificatePem] });
    try {
      const res = await http.request({ url: `${tlsServer.origin}/`, method: "GET" });
      assert.equal(res.body, "tls ok");
    } finally {
      await http.close();
    }
  });

  test("a server certificate from an untrusted CA is refused (kind tls)", async () => {
    for (const ca of [undefined, [pki.ca.certificatePem]]) {
      const http = new HttpClient(ca === undefined ? {} : { ca });
      try {
        await assert.rejects(http.request({ url: `${rogue.origin}/`, method: "GET" }), (err: unknown) => {
          assert.ok(err instanceof TransportError);
          assert.equal(err.kind, "tls");
          assert.match(err.message, /not trusted/);
          return true;
        });
      } finally {
        await http.close();
      }
    }
    assert.equal(rogue.requests.length, 0);
  });

  test("a host name that the certificate does not cover is refused (kind tls)", async () => {
    const elsewhere = await pki.ca.issueCertificate({ subject: "CN=elsewhere", dnsNames: ["elsewhere.test"], extendedKeyUsage: ["serverAuth"] });
    const server = await startHttpsServer({ key: elsewhere.privateKeyPem, cert: elsewhere.certificatePem }, (_req, res) => void res.end("no"));
    const http = new HttpClient({ ca: [pki.ca.certificatePem] });
    try {
      await assert.rejects(http.request({ url: `${server.origin}/`, method: "GET" }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.kind, "tls");
        assert.equal(err.code, "ERR_TLS_CERT_ALTNAME_INVALID");
        assert.match(err.message, /does not match the host name/);
        return true;
      });
      assert.equal(server.requests.length, 0);
    } finally {
      await http.close();
      await server.close();
    }
  });
});

describe("HttpClient connect timeouts", () => {
  test("a host that accepts TCP but never completes TLS hits the connect timeout (kind connect)", async () => {
    const silent = createNetServer((socket) => socket.on("error", () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve()));
    const port = (silent.address() as AddressInfo).port;
    const http = new HttpClient({ connectTimeoutMs: 150 });
    try {
      await assert.rejects(http.request({ url: `https://127.0.0.1:${port}/`, method: "GET" }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.kind, "connect");
        assert.equal(err.code, "CONNECT_TIMEOUT");
        assert.match(err.message, /timed out/);
        return true;
      });
      // A per-request connect timeout overrides the client's.
      const slowClient = new HttpClient({ connectTimeoutMs: 60_000 });
      try {
        await assert.rejects(
          slowClient.request({ url: `https://127.0.0.1:${port}/`, method: "GET", connectTimeoutMs: 150 }),
          (err: unknown) => err instanceof TransportError && err.code === "CONNECT_TIMEOUT",
        );
        await assert.rejects(slowClient.request({ url: `https://127.0.0.1:${port}/`, method: "GET", connectTimeoutMs: -1 }), RangeError);
      } finally {
        await slowClient.close();
      }
    } finally {
      await http.close();
      silent.close();
    }
  });
});

describe("HttpClient with client certificates", () => {
  test("presents the certificate: the server sees its SHA-256 thumbprint", async () => {
    const http = new HttpClient({ ca: [pki.ca.certificatePem] });
    const certificate = loaded(pki.clientA);
    try {
      const res = await http.request({ url: `${mtls.origin}/`, method: "POST", body: "x", clientCertificate: certificate });
      assert.equal(res.status, 200);
      assert.equal(mtls.requests.at(-1)?.clientThumbprint, certificate.thumbprintSha256);
      assert.equal(certificate.thumbprintSha256, pki.clientA.thumbprintSha256);
    } finally {
      await http.close();
    }
  });

  test("concurrent requests with one certificate use a few connections of its pool, sequential ones reuse one", async () => {
    const http = new HttpClient({ ca: [pki.ca.certificatePem], connectionsPerCertificate: 3 });
    const a = loaded(pki.clientA);
    const before = mtls.connections();
    try {
      for (let i = 0; i < 5; i++) {
        await http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: a });
      }
      assert.equal(mtls.connections() - before, 1, "sequential requests keep one connection alive");
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: a })),
      );
      assert.ok(answers.every((answer) => answer.status === 200));
      // Twelve at once open the pool's three connections, never more.
      assert.equal(mtls.connections() - before, 3);
      assert.ok(mtls.requests.slice(-12).every((seen) => seen.clientThumbprint === a.thumbprintSha256));
      assert.equal(http.stats.queuedRequests, 0);
      // One secure context for the certificate, however many connections it opened.
      assert.equal(http.stats.secureContextsCreated, 1);
    } finally {
      await http.close();
    }
  });

  test("many requests with one certificate use one TLS connection; a second certificate gets a second agent", async () => {
    const http = new HttpClient({ ca: [pki.ca.certificatePem], connectionsPerCertificate: 1 });
    const a = loaded(pki.clientA);
    const b = loaded(pki.clientB);
    const before = mtls.connections();
    try {
      for (let i = 0; i < 10; i++) {
        await http.request({ url: `${mtls.origin}/`, method: "POST", body: String(i), clientCertificate: a });
      }
      // Concurrent requests queue on the single connection instead of opening more.
      await Promise.all(
        Array.from({ length: 5 }, () => http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: a })),
      );
      assert.equal(mtls.connections() - before, 1);
      assert.equal(http.stats.agentsCreated, 1);

      await http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: b });
      await http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: b });
      assert.equal(mtls.connections() - before, 2);
      assert.equal(mtls.requests.at(-1)?.clientThumbprint, b.thumbprintSha256);
      // The first certificate's connection still carries the first certificate.
      await http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: a });
      assert.equal(mtls.requests.at(-1)?.clientThumbprint, a.thumbprintSha256);
      assert.equal(mtls.connections() - before, 2);
    } finally {
      await http.close();
    }
  });

  test("sending the chain is a separate agent", async () => {
    const http = new HttpClient({ ca: [pki.ca.certificatePem] });
    const withChain = loaded(pki.clientA, [pki.ca.certificatePem]);
    try {
      await http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: withChain });
      await http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: withChain, sendChain: true });
      assert.equal(mtls.requests.at(-1)?.clientThumbprint, withChain.thumbprintSha256);
    } finally {
      await http.close();
    }
  });

  test("retiring a certificate closes its agent after the in-flight request completes", async () => {
    const http = new HttpClient({ ca: [pki.ca.certificatePem] });
    const a = loaded(pki.clientA);
    release = deferred();
    try {
      await http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: a });
      const socketsBefore = new Set(mtls.sockets);
      const inFlight = http.request({ url: `${mtls.origin}/slow`, method: "GET", clientCertificate: a });
      // Wait until the server holds the request.
      while (mtls.requests.at(-1)?.url !== "/slow") await new Promise((r) => setTimeout(r, 5));
      const openSocket = [...mtls.sockets].find((socket) => socketsBefore.has(socket) && socket.remotePort === mtls.requests.at(-1)?.remotePort);
      assert.ok(openSocket !== undefined, "the retired agent's connection is open");
      const closed = new Promise<void>((resolve) => openSocket.once("close", () => resolve()));

      http.retireCertificate(a.thumbprintSha256.toLowerCase());
      assert.equal(http.stats.openCertificateAgents, 0);
      assert.equal(openSocket.destroyed, false, "not closed while its request is in flight");

      release.resolve();
      const res = await inFlight;
      assert.equal(res.status, 200);
      assert.equal(res.body, "hello GET");
      await closed; // the old agent closes its connection once the request is done

      const connectionsBefore = mtls.connections();
      await http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: a });
      assert.equal(http.stats.agentsCreated, 2, "a new agent for a certificate presented again");
      assert.equal(mtls.connections() - connectionsBefore, 1);
    } finally {
      release.resolve();
      await http.close();
    }
  });

  test("a server that requires a certificate refuses a request without one", async () => {
    const http = new HttpClient({ ca: [pki.ca.certificatePem] });
    try {
      await assert.rejects(http.request({ url: `${mtls.origin}/`, method: "GET" }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        // TLS 1.3 reports the missing certificate after the handshake, as a closed connection.
        assert.ok(err.kind === "tls" || err.kind === "reset", `kind ${err.kind}`);
        return true;
      });
    } finally {
      await http.close();
    }
  });

  test("a TLS 1.2 server's handshake alert for a missing certificate is kind tls", async () => {
    const strict = await startHttpsServer(
      {
        key: pki.server.privateKeyPem,
        cert: pki.server.certificatePem,
        ca: [pki.ca.certificatePem],
        requestCert: true,
        rejectUnauthorized: true,
        maxVersion: "TLSv1.2",
      },
      (_req, res) => void res.end("no"),
    );
    const http = new HttpClient({ ca: [pki.ca.certificatePem] });
    try {
      await assert.rejects(http.request({ url: `${strict.origin}/`, method: "GET" }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.kind, "tls");
        // OpenSSL's alert code, or EPROTO when Node reports the failed write of the request instead.
        assert.match(err.code ?? "", /^(ERR_SSL_|EPROTO$)/);
        return true;
      });
    } finally {
      await http.close();
      await strict.close();
    }
  });

  test("a client certificate from an unknown CA is refused by the server", async () => {
    const http = new HttpClient({ ca: [pki.ca.certificatePem] });
    const stranger = await pki.rogueCa.issueCertificate({ subject: "CN=stranger", extendedKeyUsage: ["clientAuth"] });
    try {
      await assert.rejects(
        http.request({ url: `${mtls.origin}/`, method: "GET", clientCertificate: loaded(stranger) }),
        (err: unknown) => err instanceof TransportError && (err.kind === "tls" || err.kind === "reset"),
      );
    } finally {
      await http.close();
    }
  });
});

describe("HttpClient body total limit", () => {
  test("a body trickling a byte at a time is cut at bodyTotalTimeoutMs although it never goes silent", async () => {
    const { createServer } = await import("node:http");
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-length": "100000" });
      const timer = setInterval(() => res.write("x"), 50);
      res.on("close", () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const http = new HttpClient({ bodyTotalTimeoutMs: 400, bodyTimeoutMs: 10_000 });
    try {
      const started = Date.now();
      await assert.rejects(http.request({ url: `http://127.0.0.1:${port}/`, method: "GET" }), (error: unknown) => {
        assert.ok(error instanceof TransportError);
        assert.equal(error.kind, "timeout");
        assert.equal(error.code, "BODY_TOTAL_TIMEOUT");
        assert.match(error.message, /did not arrive within 400 ms/);
        return true;
      });
      assert.ok(Date.now() - started < 2000);
    } finally {
      await http.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
