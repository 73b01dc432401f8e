/**
 * Shared checks of the reliability tests: an unhandled-rejection collector, a sleep that records
 * the delays the retry policies ask for, a bound on how long a promise may stay pending, an open
 * socket count, and a scripted HTTPS token endpoint for answers the emulator cannot script
 * (missing fields, a wrong `token_type`). Everything listens on 127.0.0.1 and is closed by the
 * test file that started it.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Emulator } from "../../src/emulator/index.ts";

/** Unhandled rejections seen since {@link collectUnhandledRejections} was called. */
export interface RejectionCollector {
  readonly rejections: unknown[];
  /** Stops collecting. */
  dispose(): void;
}

/**
 * Collects every unhandled rejection of the process, so a test file can assert at its end that
 * no promise was rejected without anybody listening.
 */
export function collectUnhandledRejections(): RejectionCollector {
  const rejections: unknown[] = [];
  const listener = (reason: unknown): void => {
    rejections.push(reason);
  };
  process.on("unhandledRejection", listener);
  return {
    rejections,
    dispose() {
      process.off("unhandledRejection", listener);
    },
  };
}

/** The shared recording sleep: returns at once, records each delay, honours an aborted signal. */
export { recordingSleep, type RecordingSleep } from "../helpers/index.ts";

/**
 * `promise`, or a test failure when it is still pending after `ms`: a fault must end in an
 * answer or an error, never in a promise that nobody will ever settle.
 */
export async function settlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} was still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

/** The outcome of a promise: its value or its error, never a rejection. */
export async function outcomeOf<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

/** The error of an outcome, failing the test when there was none. */
export function errorOf(outcome: { value: unknown } | { error: unknown }): Error {
  assert.ok("error" in outcome, "expected a failure, got a token");
  assert.ok(outcome.error instanceof Error, `expected an Error, got ${String(outcome.error)}`);
  return outcome.error;
}

const SOCKET_RESOURCES = new Set(["TCPSocketWrap", "TLSWrap"]);

/** Open TCP and TLS sockets of this process, from `process.getActiveResourcesInfo()`. */
export function openSockets(): string[] {
  return process.getActiveResourcesInfo().filter((name) => SOCKET_RESOURCES.has(name));
}

/**
 * Waits (a bounded number of turns of the event loop) until no TCP or TLS socket is open, and
 * returns what is still open then. Closing a socket takes a few ticks; this is not a timing
 * assertion, only the time the close callbacks need to run.
 */
export async function socketsLeftAfterClose(maxWaitMs = 2000): Promise<string[]> {
  const deadline = Date.now() + maxWaitMs;
  while (openSockets().length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return openSockets();
}

/** A request as the scripted server saw it. */
export interface ScriptedRequest {
  readonly method: string;
  readonly path: string;
  readonly body: string;
  /** Uppercase hex SHA-256 of the TLS client certificate, when one was presented. */
  readonly clientCertificateThumbprintSha256: string | undefined;
}

/** What the scripted server answers. */
export interface ScriptedAnswer {
  readonly status: number;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A local server whose answers a test scripts one by one. */
export interface ScriptedServer {
  /** `https://127.0.0.1:port` (or `http://` for a plain server). */
  readonly origin: string;
  readonly requests: ScriptedRequest[];
  /** Answers every later request with `answer` (a function sees the request). */
  answer(answer: ScriptedAnswer | ((request: ScriptedRequest) => ScriptedAnswer)): void;
  close(): Promise<void>;
}

/**
 * An HTTPS server with a certificate issued by the emulator's CA (so a credential that trusts the
 * emulator trusts it), asking for a client certificate like the `mtlsauth` host does, and
 * answering whatever the test scripted. It stands in for a token endpoint that sends answers the
 * emulator cannot produce: a token without `access_token`, with a `token_type` of `mtls_pop`, …
 */
export async function startScriptedTokenServer(emulator: Emulator): Promise<ScriptedServer> {
  const certificate = await emulator.issueCertificate({
    subject: "CN=localhost",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    extendedKeyUsage: ["serverAuth"],
  });
  // Server side only: the client certificate is recorded, not verified, as the emulator's mTLS host does.
  const server = createHttpsServer({
    key: certificate.privateKeyPem,
    cert: certificate.certificatePem,
    requestCert: true,
    rejectUnauthorized: false,
  });
  return serve(server, "https");
}

/** A plain HTTP server answering whatever the test scripted (an IMDS stand-in). */
export async function startScriptedHttpServer(): Promise<ScriptedServer> {
  return serve(createHttpServer(), "http");
}

async function serve(server: HttpServer, scheme: "http" | "https"): Promise<ScriptedServer> {
  const requests: ScriptedRequest[] = [];
  const sockets = new Set<Socket>();
  let script: ScriptedAnswer | ((request: ScriptedRequest) => ScriptedAnswer) = { status: 500, body: "{}" };
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("tlsClientError", () => undefined);
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const socket = req.socket as TLSSocket;
      const peer = scheme === "https" ? socket.getPeerX509Certificate?.() : undefined;
      const request: ScriptedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        body: Buffer.concat(chunks).toString("utf8"),
        clientCertificateThumbprintSha256: peer === undefined ? undefined : thumbprintOf(peer),
      };
      requests.push(request);
      const answer = typeof script === "function" ? script(request) : script;
      res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8", ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `${scheme}://127.0.0.1:${port}`,
    requests,
    answer(answer) {
      script = answer;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function thumbprintOf(certificate: X509Certificate): string {
  return certificate.fingerprint256.replaceAll(":", "").toUpperCase();
}

/** A JSON body. */
export function jsonBody(value: unknown): string {
  return JSON.stringify(value);
}
