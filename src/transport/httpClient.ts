/**
 * The only code that speaks HTTP. One instance per credential: a keep-alive agent for plain
 * requests and one small pool per client certificate, so that a certificate is only ever presented
 * on connections made for it, and a rotated certificate never shares a connection (or a resumed
 * TLS session) with its predecessor. Through a forward proxy, https requests tunnel with
 * `CONNECT` and the TLS handshake (with the client certificate) runs end to end inside the
 * tunnel: the proxy sees neither the certificate nor the request.
 */
import type { Readable } from "node:stream";
import { createSecureContext, type SecureContext } from "node:tls";
import type { Dispatcher } from "undici";
import { loadUndici, type Undici } from "../dependencies.ts";
import { bodyTimeout, NodePool } from "./nodePool.ts";
import { fromProxyError, fromUndiciError, TransportError } from "./errors.ts";
import { bypassesProxy, type ResolvedProxy } from "./proxy.ts";

/**
 * A client certificate as the transport needs it for a TLS handshake. The sources' loaded
 * certificates satisfy it; the transport knows nothing else about them.
 */
export interface TlsClientCertificate {
  /** Uppercase hex SHA-256 of the leaf: the key of its agent. */
  readonly thumbprintSha256: string;
  /** The leaf certificate. */
  readonly leaf: { toString(): string };
  /** PEM of the leaf followed by its intermediates. */
  readonly certificateChainPem: string;
  /** PKCS#8 PEM of the private key; not read when `engineKey` is set. */
  readonly privateKeyPem: string;
  /**
   * An OpenSSL engine that holds the private key (a PKCS#11 token), instead of `privateKeyPem`.
   * The identifier may carry a PIN: it goes to the TLS context only.
   */
  readonly engineKey?: { readonly engine: string; readonly identifier: string; readonly environment: Readonly<Record<string, string>> } | undefined;
}

export interface HttpClientOptions {
  /**
   * Extra trusted CAs (PEM), added to Node's bundled roots. Verification is never turned off;
   * this is how a test CA, the emulator or a private cloud is trusted.
   */
  ca?: readonly string[];
  /** TCP connect plus TLS handshake. Default 10 s. */
  connectTimeoutMs?: number;
  /** Time to wait for the response headers. Default 30 s. */
  headersTimeoutMs?: number;
  /** Longest silence while the body arrives. Default 30 s. */
  bodyTimeoutMs?: number;
  /** Largest response body accepted. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Idle keep-alive connections are closed after this long. Default 10 s. */
  keepAliveTimeoutMs?: number;
  /**
   * Longest time for the whole body once the headers have arrived, so that a host trickling its
   * body a byte at a time cannot hold a request open. Default 30 s.
   */
  bodyTotalTimeoutMs?: number;
  /**
   * Connections kept per client certificate (HTTP/1.1 keep-alive). Requests beyond that wait for
   * a free connection; the wait does not count against a request's own timeout. Default
   * {@link DEFAULT_CONNECTIONS_PER_CERTIFICATE}.
   */
  connectionsPerCertificate?: number;
  /** Send requests through this forward proxy, except those that bypass it. */
  proxy?: ResolvedProxy | undefined;
}

/**
 * A secure context whose private key an OpenSSL engine loads (`privateKeyEngine`,
 * https://nodejs.org/api/tls.html#tlscreatesecurecontextoptions). The engine reads its settings from
 * the environment when it starts (OpenSSL's `OPENSSL_ENGINES`, libp11's `PKCS11_MODULE_PATH`), so
 * they are set for the synchronous call and put back after it.
 */
export function createEngineContext(
  engineKey: NonNullable<TlsClientCertificate["engineKey"]>,
  options: { readonly cert?: string },
): SecureContext {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(engineKey.environment)) {
    // Only what differs is touched: native code on other threads may read the environment.
    if (process.env[name] === value) continue;
    saved.set(name, process.env[name]);
    process.env[name] = value;
  }
  try {
    return createSecureContext({
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      privateKeyEngine: engineKey.engine,
      privateKeyIdentifier: engineKey.identifier,
    });
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** One HTTP request. */
export interface HttpRequest {
  url: string;
  method: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** The caller's cancellation. */
  signal?: AbortSignal;
  /**
   * A deadline for this request, in ms, from the moment it has a connection to go out on: waiting
   * for a free connection of a client certificate's pool is bounded by `signal` only.
   */
  timeoutMs?: number;
  /**
   * A connect timeout for this request instead of the client's (requests without a client
   * certificate only), for hosts that are either there at once or not at all, such as IMDS.
   */
  connectTimeoutMs?: number;
  /** Present this certificate in the TLS handshake (https only). */
  clientCertificate?: TlsClientCertificate;
  /** Send the intermediates with the leaf. Default false: the leaf alone. */
  sendChain?: boolean;
}

/** An HTTP answer, whatever its status. Header names are lower case. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Counters for tests and diagnostics. */
export interface HttpClientStats {
  /** Client-certificate agents created over the client's life. */
  readonly agentsCreated: number;
  /** Client-certificate agents currently open. */
  readonly openCertificateAgents: number;
  /** Secure contexts built over the client's life: one per trust configuration and certificate. */
  readonly secureContextsCreated: number;
  /** Requests currently waiting for a free connection of a certificate's pool. */
  readonly queuedRequests: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;
const DEFAULT_BODY_TIMEOUT_MS = 30_000;
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 10_000;
const DEFAULT_BODY_TOTAL_TIMEOUT_MS = 30_000;
/**
 * Connections per client certificate. Token requests are cold-path only (one per scope and tenant,
 * then one per refresh), so a pool rarely grows past one; the bound is for a cold burst, such as a
 * service warming many scopes at once. With Entra ID tens of ms away, a pool of 10 held a burst of
 * 100 cold scopes to 0.8× the unbound path's rate, which opens a connection per concurrent request
 * as msal-node and MSAL.NET's HttpClient do (bench section 7); 32 keeps up with it and still bounds
 * the mTLS sessions one certificate opens.
 */
export const DEFAULT_CONNECTIONS_PER_CERTIFICATE = 32;
/** Token responses are a few kilobytes; anything near this is hostile or broken. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** Where a request goes out: Node's own pool when direct, undici's proxy agent through a proxy. */
type Route = { readonly kind: "node"; readonly pool: NodePool } | { readonly kind: "undici"; readonly undici: Undici; readonly dispatcher: Dispatcher };

/** A proxied route's proxy and the undici it was loaded with. */
interface Via {
  readonly proxy: ResolvedProxy;
  readonly undici: Undici;
}

function closeRoute(route: Route): Promise<void> {
  return route.kind === "node" ? route.pool.close() : route.dispatcher.close();
}

interface CertificateAgent {
  readonly thumbprintSha256: string;
  readonly agent: Route;
  readonly slots: Slots;
}

/**
 * A counting semaphore for one pool's connections, so that a request starts its own timer only
 * once a connection is free for it: load makes requests wait, it never makes them time out.
 */
class Slots {
  readonly #limit: number;
  #busy = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  /** Resolves with a release function once a slot is free; rejects when `signal` aborts first. */
  acquire(signal: AbortSignal | undefined): Promise<() => void> {
    if (this.#busy < this.#limit) {
      this.#busy++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve(this.#releaser());
      };
      const onAbort = (): void => {
        const at = this.#waiting.indexOf(grant);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(grant);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, so the count does not change.
      if (next !== undefined) next();
      else this.#busy--;
    };
  }
}

/**
 * An undici-based HTTP client. Requests with a client certificate go through a dedicated pool per
 * certificate (a few HTTP/1.1 keep-alive connections per origin); others share a default
 * keep-alive agent. Each trust configuration and certificate has one TLS secure context, built
 * once, instead of one per connection. Non-2xx answers are returned, not thrown; failures below
 * HTTP throw {@link TransportError}.
 */
export class HttpClient {
  readonly #extraCa: readonly string[];
  readonly #connectTimeoutMs: number;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  readonly #keepAliveTimeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #bodyTotalTimeoutMs: number;
  readonly #connectionsPerCertificate: number;
  readonly #proxy: ResolvedProxy | undefined;
  readonly #certificateAgents = new Map<string, CertificateAgent>();
  /** Plain agents by route and connect timeout; normally just the client's. */
  readonly #defaultAgents = new Map<string, Route>();
  #trustContext: SecureContext | undefined;
  #agentsCreated = 0;
  #secureContextsCreated = 0;

  constructor(options: HttpClientOptions = {}) {
    // Node's `ca` replaces the bundled roots, so extra CAs must be added to them, not given alone.
    this.#extraCa = options.ca === undefined ? [] : [...options.ca];
    this.#connectTimeoutMs = positive(options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, "connectTimeoutMs");
    this.#headersTimeoutMs = positive(options.headersTimeoutMs, DEFAULT_HEADERS_TIMEOUT_MS, "headersTimeoutMs");
    this.#bodyTimeoutMs = positive(options.bodyTimeoutMs, DEFAULT_BODY_TIMEOUT_MS, "bodyTimeoutMs");
    this.#keepAliveTimeoutMs = positive(options.keepAliveTimeoutMs, DEFAULT_KEEP_ALIVE_TIMEOUT_MS, "keepAliveTimeoutMs");
    this.#maxResponseBytes = positive(options.maxResponseBytes, DEFAULT_MAX_RESPONSE_BYTES, "maxResponseBytes");
    this.#bodyTotalTimeoutMs = positive(options.bodyTotalTimeoutMs, DEFAULT_BODY_TOTAL_TIMEOUT_MS, "bodyTotalTimeoutMs");
    const connections = options.connectionsPerCertificate ?? DEFAULT_CONNECTIONS_PER_CERTIFICATE;
    if (!Number.isInteger(connections) || connections < 1) {
      throw new RangeError("HttpClient option connectionsPerCertificate must be a whole number of 1 or more.");
    }
    this.#connectionsPerCertificate = connections;
    this.#proxy = options.proxy;
  }

  /** Counters for tests and diagnostics. */
  get stats(): HttpClientStats {
    let queuedRequests = 0;
    for (const entry of this.#certificateAgents.values()) queuedRequests += entry.slots.queued;
    return {
      agentsCreated: this.#agentsCreated,
      openCertificateAgents: this.#certificateAgents.size,
      secureContextsCreated: this.#secureContextsCreated,
      queuedRequests,
    };
  }

  /** The proxy a request to `url` would go through, or undefined when it goes direct. */
  proxyFor(url: string | URL): ResolvedProxy | undefined {
    const proxy = this.#proxy;
    if (proxy === undefined) return undefined;
    return bypassesProxy(typeof url === "string" ? new URL(url) : url, proxy) ? undefined : proxy;
  }

  /**
   * Sends one request and reads the whole body.
   *
   * @throws TransportError when no usable HTTP answer arrived (see its `kind`)
   */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.url);
    const host = url.host;
    if (req.clientCertificate !== undefined && url.protocol !== "https:") {
      throw new TypeError(`A client certificate can only be presented over https, not to ${url.protocol}//${host}.`);
    }
    if (req.signal !== undefined) throwIfAborted(req.signal, host);
    if (req.connectTimeoutMs !== undefined) positive(req.connectTimeoutMs, 0, "connectTimeoutMs");

    const proxy = this.proxyFor(url);
    // undici is loaded by the first proxied request only (see nodePool.ts and dependencies.ts).
    const via: Via | undefined = proxy === undefined ? undefined : { proxy, undici: await loadUndici() };
    const protocol = url.protocol === "https:" ? "https:" : "http:";
    let route: Route;
    let release: (() => void) | undefined;
    if (req.clientCertificate === undefined) {
      route = this.#getDefaultAgent(protocol, req.connectTimeoutMs ?? this.#connectTimeoutMs, via);
    } else {
      const entry = this.#getCertificateAgent(req.clientCertificate, req.sendChain === true, via);
      route = entry.agent;
      try {
        release = await entry.slots.acquire(req.signal);
      } catch (err) {
        throw new TransportError("aborted", host, `The request to ${host} was aborted while it waited for a connection.`, {
          cause: err,
          code: "AbortError",
        });
      }
    }

    // The request's own clock starts now that it has a connection to go out on.
    const timeoutSignal = req.timeoutMs === undefined ? undefined : AbortSignal.timeout(req.timeoutMs);
    const bodyDeadline = new AbortController();
    const signal = combine(combine(req.signal, timeoutSignal), bodyDeadline.signal) ?? bodyDeadline.signal;
    let bodyTimer: NodeJS.Timeout | undefined;
    try {
      const message = {
        method: req.method,
        ...(req.headers === undefined ? {} : { headers: req.headers }),
        ...(req.body === undefined ? {} : { body: req.body }),
        signal,
      };
      const pending = route.kind === "node" ? route.pool.request(url, message) : route.undici.request(url, { ...message, dispatcher: route.dispatcher });
      const response = await untilAborted<{ statusCode: number; headers: Record<string, string | string[] | undefined>; body: Readable }>(pending, signal);
      bodyTimer = setTimeout(() => bodyDeadline.abort(), this.#bodyTotalTimeoutMs);
      bodyTimer.unref();
      const headers = flattenHeaders(response.headers);
      // undici times the body's silence itself; Node's pool leaves it to the reader.
      const silenceMs = route.kind === "node" ? route.pool.bodyTimeoutMs : undefined;
      const body = await this.#readBody(response.body, headers["content-length"], host, silenceMs);
      // undici marks the connection free a turn after the body ends; waiting for that lets the
      // next request of this certificate reuse it instead of opening another (keep-alive).
      if (release !== undefined) await new Promise<void>((resolve) => setImmediate(resolve));
      return { status: response.statusCode, headers, body };
    } catch (err) {
      throw this.#mapError(err, url, req.signal, timeoutSignal, bodyDeadline.signal, proxy);
    } finally {
      if (bodyTimer !== undefined) clearTimeout(bodyTimer);
      release?.();
    }
  }

  /**
   * Forgets the agent of a certificate that was replaced and closes it once its in-flight requests
   * have finished. Requests that present the same certificate later get a new agent.
   */
  retireCertificate(thumbprintSha256: string): void {
    const wanted = thumbprintSha256.toUpperCase();
    for (const [key, entry] of this.#certificateAgents) {
      if (entry.thumbprintSha256 === wanted) {
        this.#certificateAgents.delete(key);
        // close() lets queued and running requests complete; a failure here has nobody to tell.
        closeRoute(entry.agent).catch(() => undefined);
      }
    }
  }

  /**
   * Closes every agent after its in-flight requests, releasing every connection. A later request
   * opens new connections, so a long-lived credential can drop idle sockets and go on.
   */
  async close(): Promise<void> {
    const agents = [...this.#certificateAgents.values()].map((entry) => entry.agent);
    this.#certificateAgents.clear();
    agents.push(...this.#defaultAgents.values());
    this.#defaultAgents.clear();
    await Promise.all(agents.map((agent) => closeRoute(agent).catch(() => undefined)));
  }

  /** The secure context of the plain agents: the trusted CAs, built once. */
  #plainContext(): SecureContext {
    if (this.#trustContext === undefined) {
      this.#trustContext = trustContext(this.#extraCa);
      this.#secureContextsCreated++;
    }
    return this.#trustContext;
  }

  #getDefaultAgent(protocol: "http:" | "https:", connectTimeoutMs: number, via: Via | undefined): Route {
    // undici's agents serve both protocols; Node's are one per protocol.
    const key = `${via === undefined ? `direct|${protocol}` : "proxy"}|${connectTimeoutMs}`;
    const existing = this.#defaultAgents.get(key);
    if (existing !== undefined) return existing;
    const tls = { secureContext: this.#plainContext() };
    const agent = this.#route(via, protocol, connectTimeoutMs, tls, undefined);
    this.#defaultAgents.set(key, agent);
    return agent;
  }

  #getCertificateAgent(certificate: TlsClientCertificate, sendChain: boolean, via: Via | undefined): CertificateAgent {
    const key = `${certificate.thumbprintSha256}|${sendChain ? "chain" : "leaf"}|${via === undefined ? "direct" : "proxy"}`;
    const existing = this.#certificateAgents.get(key);
    if (existing !== undefined) return existing;
    // One context per certificate: the key and chain are parsed once, not on every connection.
    const cert = sendChain ? certificate.certificateChainPem : certificate.leaf.toString();
    const engineKey = certificate.engineKey;
    const secureContext = withExtraCa(
      engineKey === undefined ? createSecureContext({ cert, key: certificate.privateKeyPem }) : createEngineContext(engineKey, { cert }),
      this.#extraCa,
    );
    this.#secureContextsCreated++;
    const connections = this.#connectionsPerCertificate;
    const agent = this.#route(via, "https:", this.#connectTimeoutMs, { secureContext }, connections);
    this.#agentsCreated++;
    const entry: CertificateAgent = { thumbprintSha256: certificate.thumbprintSha256.toUpperCase(), agent, slots: new Slots(connections) };
    this.#certificateAgents.set(key, entry);
    return entry;
  }

  /**
   * A direct agent, or a proxy agent whose tunnelled TLS (`requestTls`) carries `tls`: the client
   * certificate is presented to the target inside the tunnel, never to the proxy.
   */
  #route(
    via: Via | undefined,
    protocol: "http:" | "https:",
    connectTimeoutMs: number,
    tls: { secureContext: SecureContext },
    connections: number | undefined,
  ): Route {
    if (via === undefined) {
      const pool = new NodePool({
        protocol,
        ...(protocol === "https:" ? { secureContext: tls.secureContext } : {}),
        connections,
        keepAliveTimeoutMs: this.#keepAliveTimeoutMs,
        connectTimeoutMs,
        headersTimeoutMs: this.#headersTimeoutMs,
        bodyTimeoutMs: this.#bodyTimeoutMs,
      });
      return { kind: "node", pool };
    }
    const { proxy, undici } = via;
    const common = {
      allowH2: false,
      keepAliveTimeout: this.#keepAliveTimeoutMs,
      headersTimeout: this.#headersTimeoutMs,
      bodyTimeout: this.#bodyTimeoutMs,
      ...(connections === undefined ? {} : { connections }),
    };
    const dispatcher = new undici.ProxyAgent({
      ...common,
      uri: proxy.url.href,
      ...(proxy.authorization === undefined ? {} : { token: proxy.authorization }),
      connectTimeout: connectTimeoutMs,
      requestTls: tls,
      // An https proxy is verified like any host: with the system roots and the extra CAs.
      ...(proxy.url.protocol === "https:" ? { proxyTls: { secureContext: this.#plainContext() } } : {}),
    });
    return { kind: "undici", undici, dispatcher };
  }

  async #readBody(body: Readable, contentLength: string | undefined, host: string, silenceMs: number | undefined): Promise<string> {
    const limit = this.#maxResponseBytes;
    const tooLarge = (): TransportError =>
      new TransportError("body-too-large", host, `The response from ${host} is larger than ${limit} bytes.`, {
        code: "BODY_TOO_LARGE",
      });
    if (contentLength !== undefined && /^\d+$/.test(contentLength) && Number(contentLength) > limit) {
      discard(body);
      throw tooLarge();
    }
    // Restarted by every chunk (`refresh()` keeps the one timer).
    const silence = silenceMs === undefined ? undefined : setTimeout(() => body.destroy(bodyTimeout(silenceMs)), silenceMs);
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of body) {
        silence?.refresh();
        const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
        total += buffer.length;
        if (total > limit) {
          discard(body);
          throw tooLarge();
        }
        chunks.push(buffer);
      }
    } finally {
      if (silence !== undefined) clearTimeout(silence);
    }
    return Buffer.concat(chunks, total).toString("utf8");
  }

  #mapError(
    err: unknown,
    url: URL,
    callerSignal: AbortSignal | undefined,
    timeoutSignal: AbortSignal | undefined,
    bodySignal: AbortSignal,
    proxy: ResolvedProxy | undefined,
  ): TransportError {
    if (err instanceof TransportError) return err;
    const host = url.host;
    // Which signal fired decides between "the caller gave up" and "too slow", whatever undici says.
    if (callerSignal?.aborted === true) {
      return new TransportError("aborted", host, `The request to ${host} was aborted.`, { cause: err, code: "AbortError" });
    }
    if (timeoutSignal?.aborted === true) {
      return new TransportError("timeout", host, `The request to ${host} timed out.`, { cause: err, code: "TimeoutError" });
    }
    if (bodySignal.aborted) {
      return new TransportError(
        "timeout",
        host,
        `The request to ${host} timed out: the response body did not arrive within ${this.#bodyTotalTimeoutMs} ms.`,
        { cause: err, code: "BODY_TOTAL_TIMEOUT" },
      );
    }
    if (proxy !== undefined) return fromProxyError(err, url, proxy);
    return fromUndiciError(err, url);
  }
}

/** The native half of a `SecureContext`, where extra CAs are added to its own copy of the roots. */
interface NativeSecureContext {
  addCACert(pem: string): void;
}

/**
 * Adds `extraCa` to a context made with Node's bundled roots. Node's `ca` option replaces the
 * roots, so they would have to be passed with it, and then all of them (about 140) are parsed
 * again from PEM for every context: 20–50 ms on 2 vCPUs. Adding to a context that has the roots
 * copies the store of roots Node parsed once (`SecureContext::AddCACert` takes a store owned by
 * the context, `crypto_context.cc`), 1–3 ms. Verification is the same: the roots plus `extraCa`.
 */
function withExtraCa(context: SecureContext, extraCa: readonly string[]): SecureContext {
  const native = (context as { context: NativeSecureContext }).context;
  for (const pem of extraCa) native.addCACert(pem);
  return context;
}

/** Trust-only contexts by their extra CAs: one per trust configuration in the process. */
const trustContexts = new Map<string, SecureContext>();

function trustContext(extraCa: readonly string[]): SecureContext {
  const key = extraCa.join("\n");
  let context = trustContexts.get(key);
  if (context === undefined) {
    // A handful of trust configurations is all a process has; the bound keeps odd callers in check.
    if (trustContexts.size >= 16) trustContexts.clear();
    context = withExtraCa(createSecureContext({}), extraCa);
    trustContexts.set(key, context);
  }
  return context;
}

/**
 * The request's answer, or the signal's reason as soon as it aborts. undici 7 leaves a request
 * whose connection is still in its TLS handshake waiting until the connect timeout, whatever the
 * signal says; the handshake goes on failing or succeeding on its own, and a late answer's body
 * is dropped.
 */
function untilAborted<T extends { body: Readable }>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    pending.then((late) => discard(late.body), () => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      pending.then((late) => discard(late.body), () => undefined);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(
      (response) => {
        signal.removeEventListener("abort", onAbort);
        resolve(response);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** Drops a body we will not read; the abort error that destroying it emits has no one to tell. */
function discard(body: Readable): void {
  body.on("error", () => undefined);
  body.destroy();
}

function throwIfAborted(signal: AbortSignal, host: string): void {
  if (signal.aborted) {
    throw new TransportError("aborted", host, `The request to ${host} was aborted before it was sent.`, {
      cause: signal.reason,
      code: "AbortError",
    });
  }
}

function combine(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return AbortSignal.any([a, b]);
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return flat;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`HttpClient option ${name} must be a positive number of ms or bytes.`);
  return value;
}
