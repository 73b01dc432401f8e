/**
 * A real forwarding proxy on loopback for the network tests: the npm `proxy` package (an HTTP
 * proxy that tunnels `CONNECT`), with a log of what it was asked, optional Basic authentication, a
 * list of hosts it refuses (403), and a name map so that tests can use host names such as
 * `mtlsauth.emulator.test` that only this proxy resolves (to 127.0.0.1) — no real DNS, no real host.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { createProxy } from "proxy";

/** One request the proxy received. */
export interface ProxyLogEntry {
  /** `CONNECT` for a tunnel, otherwise the method of a forwarded plain request. */
  readonly method: string;
  /** `host:port` of a tunnel, or the absolute URL of a plain request, as the client asked. */
  readonly target: string;
  /** The `Proxy-Authorization` header, decoded user name only (never the password). */
  readonly user: string | undefined;
}

/** Options of {@link startForwardingProxy}. */
export interface ForwardingProxyOptions {
  /** Require Basic authentication with these credentials (answer 407 otherwise). */
  readonly credentials?: { readonly username: string; readonly password: string };
  /** Host names (without port) whose tunnels are refused with 403. */
  readonly refuse?: readonly string[];
  /** Host names that the proxy resolves to 127.0.0.1. */
  readonly names?: readonly string[];
  /**
   * Act as a TLS-inspecting proxy: answer the tunnel itself with this server certificate, read
   * the requests and send them on over a TLS connection of its own — without the client's
   * certificate, which it never sees. `ca` verifies the real host.
   */
  readonly terminateTls?: { readonly cert: string; readonly key: string; readonly ca: string };
}

/** A running forwarding proxy. */
export interface ForwardingProxy {
  /** `http://127.0.0.1:port`. */
  readonly url: string;
  readonly port: number;
  /** Everything the proxy was asked, in order. */
  readonly log: ProxyLogEntry[];
  /** Tunnels currently open. */
  openTunnels(): number;
  close(): Promise<void>;
}

function userOf(req: IncomingMessage): string | undefined {
  const header = req.headers["proxy-authorization"];
  if (typeof header !== "string" || !header.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  return decoded.slice(0, Math.max(0, decoded.indexOf(":")));
}

/** Terminates the client's TLS inside the tunnel and forwards each request over a new TLS connection. */
function inspect(socket: Socket, host: string, address: string, port: number, tls: { cert: string; key: string; ca: string }): void {
  socket.write("HTTP/1.1 200 Connection established\r\n\r\n");
  const secure = new TLSSocket(socket, { isServer: true, cert: tls.cert, key: tls.key, requestCert: false });
  const inner = createServer((req, res) => {
    const upstream = httpsRequest(
      { host: address, port, servername: host, ca: tls.ca, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  secure.on("error", () => secure.destroy());
  inner.emit("connection", secure);
}

/** Starts a forwarding proxy on 127.0.0.1. */
export async function startForwardingProxy(options: ForwardingProxyOptions = {}): Promise<ForwardingProxy> {
  const server: Server = createProxy(createServer());
  const log: ProxyLogEntry[] = [];
  const names = new Set((options.names ?? []).map((name) => name.toLowerCase()));
  const refuse = new Set((options.refuse ?? []).map((name) => name.toLowerCase()));
  const sockets = new Set<Socket>();
  let tunnels = 0;
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  if (options.credentials !== undefined) {
    const expected = `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString("base64")}`;
    // The `proxy` package calls this for every request and CONNECT, and answers 407 on false.
    (server as Server & { authenticate?: (req: IncomingMessage) => boolean }).authenticate = (req) =>
      req.headers["proxy-authorization"] === expected;
  }

  // Wrap the package's CONNECT handler: log, refuse, and map the test names to this machine.
  const [onConnect] = server.listeners("connect") as ((req: IncomingMessage, socket: Socket, head: Buffer) => void)[];
  if (onConnect === undefined) throw new Error("the proxy package registered no CONNECT handler");
  server.removeAllListeners("connect");
  server.on("connect", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const target = req.url ?? "";
    log.push({ method: "CONNECT", target, user: userOf(req) });
    const separator = target.lastIndexOf(":");
    const host = (separator < 0 ? target : target.slice(0, separator)).toLowerCase();
    const port = separator < 0 ? "443" : target.slice(separator + 1);
    if (refuse.has(host)) {
      socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const address = names.has(host) ? "127.0.0.1" : host;
    if (names.has(host)) req.url = `127.0.0.1:${port}`;
    if (options.terminateTls !== undefined) {
      inspect(socket, host, address, Number(port), options.terminateTls);
      return;
    }
    tunnels++;
    socket.once("close", () => tunnels--);
    onConnect.call(server, req, socket, head);
  });
  const [onRequest] = server.listeners("request") as ((req: IncomingMessage, res: unknown) => void)[];
  if (onRequest !== undefined) {
    server.removeAllListeners("request");
    server.on("request", (req: IncomingMessage, res: unknown) => {
      log.push({ method: req.method ?? "", target: req.url ?? "", user: userOf(req) });
      onRequest.call(server, req, res);
    });
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    openTunnels: () => tunnels,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
