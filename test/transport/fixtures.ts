/**
 * Local servers and certificates for transport tests: everything on 127.0.0.1, everything closed
 * by the test that started it.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type ServerOptions } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { createCertificateAuthority, type CertificateAuthority, type IssuedCertificate } from "../../src/emulator/pki.ts";
import { LoadedCertificate } from "../../src/sources/loadedCertificate.ts";

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

/** A request as the server saw it. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
  /** SHA-256 fingerprint of the client certificate, uppercase hex without colons; undefined if none. */
  readonly clientThumbprint: string | undefined;
  readonly remotePort: number | undefined;
}

export interface TestServer {
  readonly server: Server;
  readonly origin: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  /** TLS handshakes completed (https only) or TCP connections (http). */
  readonly connections: () => number;
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

function track(server: Server, handler: Handler, secure: boolean, host: string): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  server.on(secure ? "secureConnection" : "connection", (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  if (secure) {
    server.on("connection", (socket: Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
  }
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const socket = req.socket as Socket & { getPeerCertificate?: () => { fingerprint256?: string } };
      const peer = secure && typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined;
      const fingerprint = peer?.fingerprint256;
      requests.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body,
        clientThumbprint: fingerprint === undefined ? undefined : fingerprint.replace(/:/g, "").toUpperCase(),
        remotePort: req.socket.remotePort,
      });
      Promise.resolve(handler(req, res, body)).catch((err: unknown) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        server,
        origin: `${secure ? "https" : "http"}://${host}:${port}`,
        port,
        requests,
        connections: () => connections,
        sockets,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A plain HTTP server on 127.0.0.1. */
export function startHttpServer(handler: Handler): Promise<TestServer> {
  return track(createHttpServer(), handler, false, "127.0.0.1");
}

/** An HTTPS server on 127.0.0.1 (`https://localhost:port`, the certificate has both names). */
export function startHttpsServer(options: ServerOptions, handler: Handler, host = "localhost"): Promise<TestServer> {
  return track(createHttpsServer(options), handler, true, host);
}

/** A port that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createHttpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A certificate issued by the test CA as a {@link LoadedCertificate}. */
export function loaded(issued: IssuedCertificate, extraChain: string[] = []): LoadedCertificate {
  return new LoadedCertificate(
    [new X509Certificate(issued.certificatePem), ...extraChain.map((pem) => new X509Certificate(pem))],
    createPrivateKey(issued.privateKeyPem),
  );
}

export interface Pki {
  readonly ca: CertificateAuthority;
  readonly server: IssuedCertificate;
  readonly clientA: IssuedCertificate;
  readonly clientB: IssuedCertificate;
  /** Another CA nobody trusts, with a server certificate of its own. */
  readonly rogueServer: IssuedCertificate;
  readonly rogueCa: CertificateAuthority;
}

/** A CA, a server certificate for localhost/127.0.0.1 and two client certificates. */
export async function createPki(): Promise<Pki> {
  const ca = await createCertificateAuthority();
  const rogueCa = await createCertificateAuthority({ commonName: "rogue test CA" });
  const serverOptions = {
    subject: "CN=localhost",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    extendedKeyUsage: ["serverAuth" as const],
  };
  const [server, clientA, clientB, rogueServer] = await Promise.all([
    ca.issueCertificate(serverOptions),
    ca.issueCertificate({ subject: "CN=client-a", extendedKeyUsage: ["clientAuth"] }),
    ca.issueCertificate({ subject: "CN=client-b", extendedKeyUsage: ["clientAuth"], keyType: "ec" }),
    rogueCa.issueCertificate(serverOptions),
  ]);
  return { ca, server, clientA, clientB, rogueServer, rogueCa };
}

/** The shared deferred promise and recording sleep. */
export { deferred, recordingSleep } from "../helpers/index.ts";

/** Sends a JSON answer. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}
