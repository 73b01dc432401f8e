/**
 * One listening server of the emulator (login, mTLS, IMDS or Key Vault): socket and timer
 * bookkeeping so that `close()` ends everything at once, TLS handshake counting, body reading,
 * scripted faults and journaling around a router.
 */
import { createHash, X509Certificate } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import type { FaultQueue } from "./faults.ts";
import { journalHash, type MutableJournalEntry, type RequestJournal } from "./journal.ts";
import type { EmulatorHostKind, EmulatorRoute, FaultSpec } from "./types.ts";

/** Largest request body read; larger ones get 413. */
const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

/** A request as a route handler sees it. */
export interface IncomingCall {
  readonly host: EmulatorHostKind;
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The TLS client certificate, when one was presented. */
  readonly clientCertificate: X509Certificate | undefined;
  /** The certificates the client sent, leaf first. */
  readonly clientChain: readonly X509Certificate[];
  /** The journal entry of this request, for the handler to fill in (form, outcome). */
  readonly journal: MutableJournalEntry;
}

/** What a handler answers. Objects are sent as JSON. */
export interface Reply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Buffer | Record<string, unknown>;
}

/** A route match: its name (for faults and the journal) and its handler. */
export interface RouteMatch {
  readonly route: EmulatorRoute | undefined;
  handle(call: IncomingCall): Promise<Reply>;
}

/** Configuration of one {@link EmulatorHost}. */
export interface EmulatorHostOptions {
  readonly kind: EmulatorHostKind;
  /** PEM key and certificate for HTTPS; plain HTTP when omitted. */
  readonly tls?: { readonly key: string; readonly cert: string; readonly requestCert: boolean };
  /** The routes this server serves, for connection-level (`tls`) faults. */
  readonly routes: readonly EmulatorRoute[];
  route(method: string, path: string): RouteMatch;
  /** The error reply for a `status` fault, shaped as this host answers errors. */
  faultReply(fault: FaultSpec & { status: number }, call: IncomingCall): Reply;
  readonly journal: RequestJournal;
  readonly faults: FaultQueue;
  readonly clock: () => number;
}

/** A server of the emulator. */
export class EmulatorHost {
  readonly kind: EmulatorHostKind;
  /** Completed TLS handshakes. */
  handshakes = 0;
  /** Accepted TCP connections. */
  connections = 0;
  readonly #options: EmulatorHostOptions;
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Connection ids by client port: the TLS socket of a request wraps the TCP socket counted here. */
  readonly #connectionIds = new Map<number, number>();
  #closed = false;

  constructor(options: EmulatorHostOptions) {
    this.kind = options.kind;
    this.#options = options;
    const listener = (req: IncomingMessage, res: ServerResponse) => void this.#serve(req, res);
    this.#server = options.tls
      ? https.createServer(
          {
            key: options.tls.key,
            cert: options.tls.cert,
            requestCert: options.tls.requestCert,
            // Like Entra, the mTLS host authenticates the client certificate itself (against the
            // app's registered certificates), so the TLS layer accepts any certificate.
            rejectUnauthorized: false,
          },
          listener,
        )
      : http.createServer(listener);
    this.#server.on("connection", (socket: Socket) => this.#onConnection(socket));
    this.#server.on("secureConnection", () => {
      this.handshakes += 1;
    });
    // A client that drops mid-handshake must not surface as an unhandled error.
    this.#server.on("tlsClientError", () => undefined);
    this.#server.on("clientError", (_error, socket: Socket) => socket.destroy());
  }

  /** Starts listening on 127.0.0.1 and returns the origin (`https://127.0.0.1:port`). */
  async listen(port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, "127.0.0.1", () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    return `${this.#options.tls ? "https" : "http"}://127.0.0.1:${address.port}`;
  }

  /** Stops listening, destroys every connection and clears every timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    const sockets = [...this.#sockets].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.closed) {
            resolve();
            return;
          }
          socket.once("close", () => resolve());
          socket.destroy();
        }),
    );
    this.#sockets.clear();
    await Promise.all([closed, ...sockets]);
  }

  #onConnection(socket: Socket): void {
    this.connections += 1;
    this.#sockets.add(socket);
    const port = socket.remotePort ?? 0;
    this.#connectionIds.set(port, this.connections);
    socket.once("close", () => {
      this.#sockets.delete(socket);
      this.#connectionIds.delete(port);
    });
    if (this.#options.tls) {
      const fault = this.#options.faults.takeConnectionFault(this.#options.routes);
      if (fault !== undefined) {
        const drop = () => socket.destroy();
        if (fault.delayMs === undefined) drop();
        else this.#after(fault.delayMs, drop);
      }
    }
  }

  #after(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, ms);
    this.#timers.add(timer);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#after(ms, resolve));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator");
    const method = req.method ?? "GET";
    const match = this.#options.route(method, url.pathname);
    const tlsSocket = this.#options.tls ? (req.socket as TLSSocket) : undefined;
    const clientChain = tlsSocket ? peerChain(tlsSocket) : [];
    const clientCertificate = clientChain[0];
    const journal = this.#options.journal.start({
      host: this.kind,
      connectionId: this.#connectionIds.get(req.socket.remotePort ?? 0) ?? 0,
      route: match.route,
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: journalHeaders(req.headers),
      clientCertificateThumbprintSha256: clientCertificate
        ? createHash("sha256").update(clientCertificate.raw).digest("hex").toUpperCase()
        : undefined,
      tlsSessionReused: tlsSocket?.isSessionReused(),
      time: new Date(this.#options.clock()),
    });
    try {
      const body = await readBody(req);
      if (body === undefined) {
        journal.status = 413;
        res.writeHead(413, { "content-type": "text/plain", connection: "close" }).end("Request body too large.");
        return;
      }
      const call: IncomingCall = {
        host: this.kind,
        method,
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        clientCertificate,
        clientChain,
        journal,
      };
      const fault = match.route === undefined ? undefined : this.#options.faults.takeRequestFault(match.route);
      if (fault !== undefined) {
        journal.fault = fault;
        if (fault.delayMs !== undefined) await this.#sleep(fault.delayMs);
        if (this.#closed || res.destroyed) return;
        if (fault.reset === true) {
          resetSocket(req.socket);
          return;
        }
        const faulty = faultyReply(fault, call, this.#options.faultReply);
        if (faulty !== undefined) {
          this.#send(res, faulty, journal);
          return;
        }
      }
      const reply = await match.handle(call);
      if (this.#closed || res.destroyed) return;
      this.#send(res, reply, journal);
    } catch (error) {
      if (res.headersSent || res.destroyed) return;
      journal.error = "server_error";
      this.#send(
        res,
        { status: 500, body: { error: "server_error", error_description: `Emulator failure: ${describe(error)}` } },
        journal,
      );
    }
  }

  #send(res: ServerResponse, reply: Reply, journal: MutableJournalEntry): void {
    journal.status = reply.status;
    const isJson = typeof reply.body === "object" && !Buffer.isBuffer(reply.body);
    const payload = isJson ? JSON.stringify(reply.body) : reply.body;
    const headers: Record<string, string> = {
      ...(isJson ? { "content-type": "application/json; charset=utf-8" } : {}),
      ...reply.headers,
    };
    res.writeHead(reply.status, headers).end(payload);
  }
}

/** The reply of a non-delay fault, or undefined when the fault only delays. */
function faultyReply(
  fault: FaultSpec,
  call: IncomingCall,
  errorReply: EmulatorHostOptions["faultReply"],
): Reply | undefined {
  const retryAfter: Record<string, string> =
    fault.retryAfter === undefined ? {} : { "retry-after": String(fault.retryAfter) };
  if (fault.status !== undefined && fault.body === undefined) {
    const reply = errorReply({ ...fault, status: fault.status }, call);
    return { ...reply, headers: { ...reply.headers, ...retryAfter } };
  }
  const status = fault.status ?? 200;
  switch (fault.body) {
    case "malformed-json":
      return {
        status,
        headers: { "content-type": "application/json; charset=utf-8", ...retryAfter },
        body: '{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAiOiJKV1Qi',
      };
    case "html":
      return {
        status,
        headers: { "content-type": "text/html; charset=utf-8", ...retryAfter },
        body: "<!DOCTYPE html><html><head><title>Service unavailable</title></head><body><h1>The service is temporarily unavailable.</h1></body></html>",
      };
    case "oversize": {
      const size = fault.oversizeBytes ?? 4 * 1024 * 1024;
      const padding = Buffer.alloc(Math.max(0, size - 16), "a");
      return {
        status,
        headers: { "content-type": "application/json; charset=utf-8", ...retryAfter },
        body: Buffer.concat([Buffer.from('{"padding":"'), padding, Buffer.from('"}')]),
      };
    }
    default:
      return undefined;
  }
}

function resetSocket(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** The client's certificates, leaf first, from the TLS session. */
function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let peer: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (peer?.raw !== undefined && peer.raw.length > 0 && !seen.has(peer.fingerprint256)) {
    seen.add(peer.fingerprint256);
    chain.push(new X509Certificate(peer.raw));
    peer = peer.issuerCertificate;
  }
  return chain;
}

function journalHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(", ") : value;
    result[name] = name === "authorization" ? redactAuthorization(text) : text;
  }
  return result;
}

function redactAuthorization(value: string): string {
  const space = value.indexOf(" ");
  const scheme = space < 0 ? "" : value.slice(0, space);
  const credential = space < 0 ? value : value.slice(space + 1);
  return `${scheme} ${journalHash(credential)}`.trim();
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_REQUEST_BODY_BYTES) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
