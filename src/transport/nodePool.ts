/**
 * Direct requests over Node's own `http`/`https` modules. Loading undici costs a fresh process
 * 50–170 ms (measured on 2 vCPUs; it compiles its HTTP parser and loads 110 modules), more than
 * the rest of a first token, so only requests through a forward proxy (undici's `ProxyAgent`,
 * which tunnels TLS end to end) load it. The same limits hold on both paths: a connect timeout
 * covering TCP and the TLS handshake, a timeout for the response headers, one for silence while
 * the body arrives, keep-alive connections bounded per pool, and a graceful close.
 */
import type { Agent as HttpAgentType, IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { SecureContext } from "node:tls";

// `process.getBuiltinModule`, not `import … from "node:http"`: Node's ES module facade of a builtin
// reads every export, and `node:http`'s lazy ones load Node's internal copy of undici, ~20 ms of a
// fresh process (22 ms against 2.7 ms measured on 2 vCPUs, Node 24.21). The CommonJS build gets
// the same module objects.
const { Agent: HttpAgent, request: httpRequest } = process.getBuiltinModule("node:http");
const { Agent: HttpsAgent, request: httpsRequest } = process.getBuiltinModule("node:https");

/** Codes of the errors this module raises itself; `errors.ts` maps them to transport kinds. */
export const NODE_CONNECT_TIMEOUT = "CONNECT_TIMEOUT";
/** No response headers arrived in time. */
export const NODE_HEADERS_TIMEOUT = "HEADERS_TIMEOUT";
/** The response body stopped arriving. */
export const NODE_BODY_TIMEOUT = "BODY_TIMEOUT";

/** An error with one of the codes above. */
export class NodeRequestError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "NodeRequestError";
    this.code = code;
  }
}

/** The error a reader destroys a silent body with. */
export function bodyTimeout(ms: number): NodeRequestError {
  return new NodeRequestError(NODE_BODY_TIMEOUT, `the response body stopped arriving for ${ms} ms`);
}

/** The settings of one pool. */
export interface NodePoolOptions {
  readonly protocol: "http:" | "https:";
  /** The trusted CAs, and for a certificate's pool its key and chain. */
  readonly secureContext?: SecureContext;
  /** Connections at most; unbounded when undefined. */
  readonly connections?: number | undefined;
  readonly keepAliveTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
}

/** One request of {@link NodePool.request}. */
export interface NodeRequest {
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal: AbortSignal;
}

/** The answer: status, headers, and the body still to be read. */
export interface NodeAnswer {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: IncomingMessage;
}

/**
 * A keep-alive pool of `http.Agent` or `https.Agent`. `close()` lets the requests in flight
 * finish, then destroys the pool's sockets.
 */
export class NodePool {
  readonly #options: NodePoolOptions;
  readonly #agent: HttpAgentType;
  #inFlight = 0;
  #closing: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: NodePoolOptions) {
    this.#options = options;
    const agentOptions = {
      keepAlive: true,
      // Idle keep-alive sockets are closed after this (`Agent.keepSocketAlive`, Node's `_http_agent.js`).
      timeout: options.keepAliveTimeoutMs,
      scheduling: "lifo" as const,
      ...(options.connections === undefined ? {} : { maxSockets: options.connections }),
    };
    this.#agent =
      options.protocol === "https:"
        ? new HttpsAgent({ ...agentOptions, ...(options.secureContext === undefined ? {} : { secureContext: options.secureContext }) })
        : new HttpAgent(agentOptions);
  }

  /** The longest silence while a body arrives; its reader destroys the body with {@link bodyTimeout}. */
  get bodyTimeoutMs(): number {
    return this.#options.bodyTimeoutMs;
  }

  /**
   * Sends `req` to `url` and resolves with the answer once its headers are in.
   *
   * @throws NodeRequestError on a connect, headers or (later, from the body) body timeout; Node's
   *   own errors (`ECONNREFUSED`, `ECONNRESET`, OpenSSL's codes, `AbortError`) otherwise
   */
  request(url: URL, req: NodeRequest): Promise<NodeAnswer> {
    const options = this.#options;
    this.#inFlight++;
    return new Promise<NodeAnswer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = (ms: number, code: string, message: string): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = setTimeout(() => outgoing.destroy(new NodeRequestError(code, message)), ms);
      };
      const disarm = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
      };
      const headers: Record<string, string> = { ...req.headers };
      if (req.body !== undefined) headers["content-length"] = String(Buffer.byteLength(req.body));
      const send = options.protocol === "https:" ? httpsRequest : httpRequest;
      const outgoing = send(url, { method: req.method, headers, agent: this.#agent, signal: req.signal });
      outgoing.once("close", () => {
        disarm();
        this.#done();
      });
      // `on`, not `once`: a second error (a socket failing again while it is torn down) must not
      // become an uncaught exception; after the first, rejecting again does nothing.
      outgoing.on("error", (error) => {
        disarm();
        reject(error);
      });
      const awaitHeaders = (): void =>
        arm(options.headersTimeoutMs, NODE_HEADERS_TIMEOUT, `no response headers arrived within ${options.headersTimeoutMs} ms`);
      outgoing.once("socket", (socket) => {
        // A new TLS socket is never secure yet when it is handed over (a tick after it was made);
        // its connect timeout covers TCP and the handshake, as undici's does.
        if (outgoing.reusedSocket || (options.protocol === "http:" && !socket.connecting)) {
          awaitHeaders();
          return;
        }
        arm(options.connectTimeoutMs, NODE_CONNECT_TIMEOUT, `the connection was not established within ${options.connectTimeoutMs} ms`);
        socket.once(options.protocol === "https:" ? "secureConnect" : "connect", awaitHeaders);
      });
      outgoing.once("response", (response) => {
        // The body's silence is timed by its reader (see bodyTimeoutMs), chunk by chunk.
        disarm();
        resolve({ statusCode: response.statusCode ?? 0, headers: response.headers, body: response });
      });
      outgoing.end(req.body);
    });
  }

  /** Closes the pool once its requests in flight have finished. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#closing = () => {
        this.#agent.destroy();
        resolve();
      };
      if (this.#inFlight === 0) this.#closing();
    });
    return this.#closed;
  }

  #done(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) this.#closing?.();
  }
}
