/**
 * The only code that speaks HTTP. One instance per credential: a keep-alive agent for plain
 * requests and one agent per client certificate, so that a certificate is only ever presented on
 * connections made for it, and a rotated certificate never shares a connection (or a resumed TLS
 * session) with its predecessor.
 */
import type { Readable } from "node:stream";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import { Agent, request as undiciRequest } from "undici";
import { fromUndiciError, TransportError } from "./errors.ts";

/** Settings shared by every request of one {@link HttpClient}. */
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
  /** PKCS#8 PEM of the private key. */
  readonly privateKeyPem: string;
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
}

/** One HTTP request. */
export interface HttpRequest {
  url: string;
  method: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** The caller's cancellation. */
  signal?: AbortSignal;
  /** A deadline for this request as a whole, in ms. */
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
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;
const DEFAULT_BODY_TIMEOUT_MS = 30_000;
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 10_000;
/** Token responses are a few kilobytes; anything near this is hostile or broken. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

interface CertificateAgent {
  readonly thumbprintSha256: string;
  readonly agent: Agent;
}

/**
 * An undici-based HTTP client. Requests with a client certificate go through a dedicated agent
 * per certificate (one connection per origin, HTTP/1.1); others share a default keep-alive agent.
 * Non-2xx answers are returned, not thrown; failures below HTTP throw {@link TransportError}.
 */
export class HttpClient {
  readonly #ca: string[] | undefined;
  /**
   * The trusted CAs parsed once: given as `ca` to every connection, Node parses the whole bundle
   * (about 150 roots) at each TLS handshake, tens of milliseconds each.
   */
  readonly #caContext: SecureContext | undefined;
  readonly #connectTimeoutMs: number;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  readonly #keepAliveTimeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #certificateAgents = new Map<string, CertificateAgent>();
  /** Plain agents by connect timeout; normally just the client's. */
  readonly #defaultAgents = new Map<number, Agent>();
  #agentsCreated = 0;

  constructor(options: HttpClientOptions = {}) {
    // Node's `ca` replaces the bundled roots, so extra CAs must be added to them, not given alone.
    this.#ca = options.ca !== undefined && options.ca.length > 0 ? [...rootCertificates, ...options.ca] : undefined;
    this.#caContext = this.#ca === undefined ? undefined : createSecureContext({ ca: this.#ca });
    this.#connectTimeoutMs = positive(options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, "connectTimeoutMs");
    this.#headersTimeoutMs = positive(options.headersTimeoutMs, DEFAULT_HEADERS_TIMEOUT_MS, "headersTimeoutMs");
    this.#bodyTimeoutMs = positive(options.bodyTimeoutMs, DEFAULT_BODY_TIMEOUT_MS, "bodyTimeoutMs");
    this.#keepAliveTimeoutMs = positive(options.keepAliveTimeoutMs, DEFAULT_KEEP_ALIVE_TIMEOUT_MS, "keepAliveTimeoutMs");
    this.#maxResponseBytes = positive(options.maxResponseBytes, DEFAULT_MAX_RESPONSE_BYTES, "maxResponseBytes");
  }

  /** Counters for tests and diagnostics. */
  get stats(): HttpClientStats {
    return { agentsCreated: this.#agentsCreated, openCertificateAgents: this.#certificateAgents.size };
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

    const timeoutSignal = req.timeoutMs === undefined ? undefined : AbortSignal.timeout(req.timeoutMs);
    const signal = combine(req.signal, timeoutSignal);
    const dispatcher =
      req.clientCertificate === undefined
        ? this.#getDefaultAgent(req.connectTimeoutMs ?? this.#connectTimeoutMs)
        : this.#getCertificateAgent(req.clientCertificate, req.sendChain === true);

    try {
      const pending = undiciRequest(url, {
        method: req.method,
        dispatcher,
        ...(req.headers === undefined ? {} : { headers: req.headers }),
        ...(req.body === undefined ? {} : { body: req.body }),
        ...(signal === undefined ? {} : { signal }),
      });
      const response = signal === undefined ? await pending : await untilAborted(pending, signal);
      const headers = flattenHeaders(response.headers);
      const body = await this.#readBody(response.body, headers["content-length"], host);
      return { status: response.statusCode, headers, body };
    } catch (err) {
      throw this.#mapError(err, url, req.signal, timeoutSignal);
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
        entry.agent.close().catch(() => undefined);
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
    await Promise.all(agents.map((agent) => agent.close().catch(() => undefined)));
  }

  #getDefaultAgent(connectTimeoutMs: number): Agent {
    const existing = this.#defaultAgents.get(connectTimeoutMs);
    if (existing !== undefined) return existing;
    const agent = new Agent({
      allowH2: false,
      keepAliveTimeout: this.#keepAliveTimeoutMs,
      headersTimeout: this.#headersTimeoutMs,
      bodyTimeout: this.#bodyTimeoutMs,
      connect: {
        timeout: connectTimeoutMs,
        ...(this.#caContext === undefined ? {} : { secureContext: this.#caContext }),
      },
    });
    this.#defaultAgents.set(connectTimeoutMs, agent);
    return agent;
  }

  #getCertificateAgent(certificate: TlsClientCertificate, sendChain: boolean): Agent {
    const key = `${certificate.thumbprintSha256}|${sendChain ? "chain" : "leaf"}`;
    const existing = this.#certificateAgents.get(key);
    if (existing !== undefined) return existing.agent;
    const agent = new Agent({
      // One connection per origin: token calls are rare, and a single connection makes the
      // certificate-to-connection relation obvious on the server side.
      connections: 1,
      allowH2: false,
      keepAliveTimeout: this.#keepAliveTimeoutMs,
      headersTimeout: this.#headersTimeoutMs,
      bodyTimeout: this.#bodyTimeoutMs,
      connect: {
        // One context per agent: the certificate, its key and the CAs are parsed once, not at every handshake.
        secureContext: createSecureContext({
          cert: sendChain ? certificate.certificateChainPem : certificate.leaf.toString(),
          key: certificate.privateKeyPem,
          ...(this.#ca === undefined ? {} : { ca: this.#ca }),
        }),
        timeout: this.#connectTimeoutMs,
      },
    });
    this.#agentsCreated++;
    this.#certificateAgents.set(key, { thumbprintSha256: certificate.thumbprintSha256.toUpperCase(), agent });
    return agent;
  }

  async #readBody(body: Readable, contentLength: string | undefined, host: string): Promise<string> {
    const limit = this.#maxResponseBytes;
    const tooLarge = (): TransportError =>
      new TransportError("body-too-large", host, `The response from ${host} is larger than ${limit} bytes.`, {
        code: "BODY_TOO_LARGE",
      });
    if (contentLength !== undefined && /^\d+$/.test(contentLength) && Number(contentLength) > limit) {
      discard(body);
      throw tooLarge();
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of body) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      total += buffer.length;
      if (total > limit) {
        discard(body);
        throw tooLarge();
      }
      chunks.push(buffer);
    }
    return Buffer.concat(chunks, total).toString("utf8");
  }

  #mapError(err: unknown, url: URL, callerSignal: AbortSignal | undefined, timeoutSignal: AbortSignal | undefined): TransportError {
    if (err instanceof TransportError) return err;
    const host = url.host;
    // Which signal fired decides between "the caller gave up" and "too slow", whatever undici says.
    if (callerSignal?.aborted === true) {
      return new TransportError("aborted", host, `The request to ${host} was aborted.`, { cause: err, code: "AbortError" });
    }
    if (timeoutSignal?.aborted === true) {
      return new TransportError("timeout", host, `The request to ${host} timed out.`, { cause: err, code: "TimeoutError" });
    }
    return fromUndiciError(err, url);
  }
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
