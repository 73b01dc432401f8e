/**
 * Transport failures as one typed error. Callers decide what a failure means (an unavailable entry,
 * a retry, a request error) from `kind` alone, without knowing undici's or OpenSSL's codes.
 */
import { messageOf } from "../text.ts";

/**
 * What went wrong below HTTP:
 * - `connect`: the host could not be reached (refused, DNS failure, unreachable, connect timeout);
 * - `tls`: the TLS handshake failed (untrusted or mismatched server certificate, client
 *   certificate rejected by an alert);
 * - `timeout`: the host was reached but did not answer in time (headers, body or request timeout);
 * - `aborted`: the caller's `AbortSignal` fired;
 * - `reset`: the connection was closed or reset mid-request;
 * - `body-too-large`: the response body exceeded the size limit;
 * - `protocol`: the answer was not valid HTTP, or the request could not be sent as given.
 */
export type TransportErrorKind = "connect" | "tls" | "timeout" | "aborted" | "reset" | "body-too-large" | "protocol";

/**
 * A request that got no usable HTTP response. The message names the host and what happened; it
 * never holds a request body, header value or token.
 */
export class TransportError extends Error {
  /** What went wrong; see {@link TransportErrorKind}. */
  readonly kind: TransportErrorKind;
  /** `hostname[:port]` of the request. */
  readonly host: string;
  /** The underlying error code (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`, …), when there was one. */
  readonly code: string | undefined;

  constructor(kind: TransportErrorKind, host: string, message: string, options?: { code?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TransportError";
    this.kind = kind;
    this.host = host;
    this.code = options?.code;
  }
}

/** `hostname[:port]` of a URL, or the text itself when it is not a URL. */
export function hostOf(url: string | URL): string {
  try {
    return (typeof url === "string" ? new URL(url) : url).host;
  } catch {
    return String(url);
  }
}

const CONNECT_CODES: ReadonlyMap<string, string> = new Map([
  ["ECONNREFUSED", "the connection was refused"],
  ["ENOTFOUND", "the host name could not be resolved"],
  ["EAI_AGAIN", "the host name could not be resolved (temporary DNS failure)"],
  ["EAI_FAIL", "the host name could not be resolved"],
  ["EHOSTUNREACH", "the host is unreachable"],
  ["ENETUNREACH", "the network is unreachable"],
  ["EHOSTDOWN", "the host is down"],
  ["ENETDOWN", "the network is down"],
  ["EADDRNOTAVAIL", "the address is not available"],
  ["ETIMEDOUT", "the connection attempt timed out"],
  ["UND_ERR_CONNECT_TIMEOUT", "the connection attempt timed out"],
  ["CONNECT_TIMEOUT", "the connection attempt timed out"],
]);

const RESET_CODES: ReadonlyMap<string, string> = new Map([
  ["ECONNRESET", "the connection was reset"],
  ["EPIPE", "the connection was closed while sending"],
  ["ECONNABORTED", "the connection was aborted"],
  ["UND_ERR_SOCKET", "the connection was closed by the other side"],
  ["UND_ERR_CLOSED", "the connection was closed"],
  ["UND_ERR_DESTROYED", "the connection was destroyed"],
]);

const TIMEOUT_CODES: ReadonlyMap<string, string> = new Map([
  ["UND_ERR_HEADERS_TIMEOUT", "no response headers arrived in time"],
  ["UND_ERR_BODY_TIMEOUT", "the response body stopped arriving"],
  ["HEADERS_TIMEOUT", "no response headers arrived in time"],
  ["BODY_TIMEOUT", "the response body stopped arriving"],
]);

const PROTOCOL_CODES: ReadonlyMap<string, string> = new Map([
  ["UND_ERR_HEADERS_OVERFLOW", "the response headers were too large"],
  ["UND_ERR_RES_CONTENT_LENGTH_MISMATCH", "the response body did not match its Content-Length"],
  ["UND_ERR_REQ_CONTENT_LENGTH_MISMATCH", "the request body did not match its Content-Length"],
  ["UND_ERR_INFO", "the server sent an unexpected informational response"],
  ["UND_ERR_INVALID_ARG", "the request was not valid"],
  ["UND_ERR_NOT_SUPPORTED", "the request is not supported"],
]);

/** Certificate verification failures that OpenSSL reports without an `ERR_` prefix. */
const TLS_VERIFY_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_CRL",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "HOSTNAME_MISMATCH",
]);

function isTlsCode(code: string): boolean {
  return (
    TLS_VERIFY_CODES.has(code) ||
    code.startsWith("ERR_TLS_") ||
    code.startsWith("ERR_SSL_") ||
    code.startsWith("ERR_OSSL_") ||
    code.startsWith("CERT_") ||
    code === "EPROTO"
  );
}

function describeTls(code: string): string {
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || code === "HOSTNAME_MISMATCH") {
    return "the server certificate does not match the host name";
  }
  if (code === "CERT_HAS_EXPIRED") return "the server certificate has expired";
  if (code === "CERT_NOT_YET_VALID") return "the server certificate is not valid yet";
  if (TLS_VERIFY_CODES.has(code)) {
    return "the server certificate is not trusted; if it is issued by a private CA, trust that CA explicitly";
  }
  if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|ACCESS_DENIED/i.test(code)) {
    return "the server refused the handshake (it may not accept the client certificate)";
  }
  return "the TLS handshake failed";
}

function codeOf(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const code = (value as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

function nameOf(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const name = (value as { name?: unknown }).name;
  return typeof name === "string" ? name : undefined;
}

/** The first meaningful code in an error and its causes (undici and Node nest them). */
function findCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const code = codeOf(current);
    if (code !== undefined && code !== "UND_ERR") return code;
    // Happy eyeballs (several addresses tried) fails with an AggregateError of the attempts.
    const attempts = current instanceof AggregateError ? (current.errors as unknown[]) : [];
    current = (current as { cause?: unknown }).cause ?? attempts[0];
  }
  return undefined;
}

/**
 * Maps an error thrown by undici, Node's `net`/`tls` or an `AbortSignal` to a {@link TransportError}.
 * A `TransportError` is returned as is. Aborts and timeouts signalled by `AbortSignal`s are
 * recognised by name (`AbortError`, `TimeoutError`); the caller, which knows which signal fired,
 * may override that with `kindHint`.
 *
 * @param err - what was thrown
 * @param url - the request URL; only its host is used
 */
export function fromUndiciError(err: unknown, url: string | URL): TransportError {
  if (err instanceof TransportError) return err;
  const host = hostOf(url);
  const name = nameOf(err);
  const code = findCode(err);

  if (name === "TimeoutError") {
    return new TransportError("timeout", host, `The request to ${host} timed out.`, { cause: err, code: "TimeoutError" });
  }
  if (name === "AbortError" || code === "ABORT_ERR" || code === "UND_ERR_ABORTED" || code === "UND_ERR_ABORT") {
    return new TransportError("aborted", host, `The request to ${host} was aborted.`, { cause: err, code: code ?? "AbortError" });
  }
  if (code === undefined) {
    if (name === "HTTPParserError") {
      return new TransportError("protocol", host, `The answer from ${host} is not valid HTTP.`, { cause: err });
    }
    return new TransportError("protocol", host, `The request to ${host} failed: ${messageOf(err)}`, { cause: err });
  }
  const connect = CONNECT_CODES.get(code);
  if (connect !== undefined) {
    return new TransportError("connect", host, `Could not connect to ${host}: ${connect} (${code}).`, { cause: err, code });
  }
  const timeout = TIMEOUT_CODES.get(code);
  if (timeout !== undefined) {
    return new TransportError("timeout", host, `The request to ${host} timed out: ${timeout} (${code}).`, { cause: err, code });
  }
  const reset = RESET_CODES.get(code);
  if (reset !== undefined) {
    return new TransportError("reset", host, `The request to ${host} failed: ${reset} (${code}).`, { cause: err, code });
  }
  if (code === "UND_ERR_RES_EXCEEDED_MAX_SIZE") {
    return new TransportError("body-too-large", host, `The response from ${host} is larger than allowed.`, { cause: err, code });
  }
  if (isTlsCode(code)) {
    return new TransportError("tls", host, `The TLS handshake with ${host} failed: ${describeTls(code)} (${code}).`, {
      cause: err,
      code,
    });
  }
  const protocol = PROTOCOL_CODES.get(code);
  if (protocol !== undefined || code.startsWith("HPE_")) {
    const what = protocol ?? "the answer is not valid HTTP";
    return new TransportError("protocol", host, `The request to ${host} failed: ${what} (${code}).`, { cause: err, code });
  }
  return new TransportError("protocol", host, `The request to ${host} failed (${code}): ${messageOf(err)}`, {
    cause: err,
    code,
  });
}

/** What {@link fromProxyError} needs to know of the proxy; never its credentials. */
export interface ProxyDescription {
  /** Redacted text of the proxy, such as `http://proxy.example:8080`. */
  toString(): string;
  /** Where it was configured: `proxyOptions`, `HTTPS_PROXY`, … */
  readonly origin: string;
  /** Whether credentials were given. */
  readonly hasCredentials: boolean;
}

const TUNNEL_STATUS = /Proxy response \((\d{3})\) !== 200/;

/**
 * Maps a failure of a request sent through a forward proxy. A refused `CONNECT` (undici reports
 * `Proxy response (407) !== 200 when HTTP Tunneling`) and an unreachable proxy are `connect`
 * failures that name the proxy and the setting to fix; anything else is read as
 * {@link fromUndiciError} reads it.
 */
export function fromProxyError(err: unknown, url: string | URL, proxy: ProxyDescription): TransportError {
  if (err instanceof TransportError) return err;
  const host = hostOf(url);
  const where = `the proxy ${proxy.toString()} (from ${proxy.origin})`;
  const status = TUNNEL_STATUS.exec(messageOf(err))?.[1];
  if (status !== undefined) {
    if (status === "407") {
      const remedy = proxy.hasCredentials
        ? "the user name or password it was given is wrong; correct proxyOptions.username and proxyOptions.password (or the user information of the proxy URL)."
        : "give its user name and password in proxyOptions.username and proxyOptions.password (or as http://user:password@host:port in the proxy URL).";
      return new TransportError(
        "connect",
        host,
        `Could not connect to ${host}: ${where} requires authentication (407 Proxy Authentication Required); ${remedy}`,
        { cause: err, code: "PROXY_AUTHENTICATION_REQUIRED" },
      );
    }
    if (status === "403") {
      return new TransportError(
        "connect",
        host,
        `Could not connect to ${host}: ${where} refused to open a tunnel to it (403 Forbidden); allow CONNECT to ${host} at the proxy, or add it to NO_PROXY if it can be reached directly.`,
        { cause: err, code: "PROXY_TUNNEL_REFUSED" },
      );
    }
    return new TransportError(
      "connect",
      host,
      `Could not connect to ${host}: ${where} could not open a tunnel to it (HTTP ${status}).`,
      { cause: err, code: `PROXY_TUNNEL_${status}` },
    );
  }
  const mapped = fromUndiciError(err, url);
  if (mapped.kind === "connect" || mapped.code === "UND_ERR_PRX_CONN" || mapped.code === "UND_ERR_PRX_TLS") {
    // Through a tunnel the target's own address is never dialled: a connect failure is the proxy's.
    const detail = mapped.code === undefined ? "" : ` (${mapped.code})`;
    return new TransportError("connect", host, `Could not connect to ${host}: ${where} could not be reached${detail}.`, {
      cause: err,
      ...(mapped.code === undefined ? {} : { code: mapped.code }),
    });
  }
  return mapped;
}
