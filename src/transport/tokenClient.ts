/**
 * A small OAuth token endpoint client for what msal-node cannot do: requests that present a client
 * certificate in the TLS handshake. It sends a form, applies the STS retry policy and returns a
 * validated token response or throws an {@link EntraError}.
 */
import { platform } from "node:os";
import { SDK_VERSION } from "../constants.ts";
import { parseEntraError } from "./entraError.ts";
import { TransportError } from "./errors.ts";
import type { HttpClient, HttpResponse, TlsClientCertificate } from "./httpClient.ts";
import { parseRetryAfter, type RetryEvent, type Sleep, stsRetryPolicy, withRetry } from "./retry.ts";
import { parseTokenResponse, type TokenResponse } from "./tokenResponse.ts";

/** Retry tunables of {@link postTokenRequest}; tests inject `sleep` to count attempts without waiting. */
export interface TokenClientRetryOptions {
  sleep?: Sleep;
  /** Default 1, as MSAL. */
  maxRetries?: number;
  /** Default 1000. */
  baseDelayMs?: number;
  /** A `Retry-After` up to this long is waited on once; longer ones are surfaced. Default 2000. */
  maxRetryAfterWaitMs?: number;
  /** When set, delays double from `baseDelayMs` up to this long. */
  maxDelayMs?: number;
  /** Told before each retry, for logging. */
  onRetry?: (event: RetryEvent) => void;
}

/** One token request. */
export interface TokenRequest {
  /** The token endpoint. */
  url: string;
  /** Form fields (`client_id`, `grant_type`, `scope`, `client_assertion`, …). */
  form: Record<string, string>;
  /** Present this certificate in the TLS handshake. */
  clientCertificate?: TlsClientCertificate;
  /** Send the intermediates with the leaf. */
  sendChain?: boolean;
  /** Sent as `client-request-id`; Entra echoes it and logs it as the correlation id. */
  correlationId: string;
  signal?: AbortSignal;
  /** Deadline of each attempt, in ms. */
  timeoutMs?: number;
  retry?: TokenClientRetryOptions;
  /** Refuse any other `token_type` (case-insensitive). */
  expectedTokenType?: string;
}

/** Another name of {@link TokenClientRetryOptions}. */
export type RetryOptions = TokenClientRetryOptions;

/** The `x-client-*` headers, as MSAL.NET sends them. */
export function libraryHeaders(): Record<string, string> {
  return {
    "x-client-SKU": "bound-client-credential",
    "x-client-VER": SDK_VERSION,
    "x-client-OS": platform(),
    "x-ms-lib-capability": "retry-after, h429",
  };
}

/**
 * POSTs a token request and returns the validated response.
 *
 * @throws EntraError for a non-2xx answer (after the STS retries; `retryAfterMs` when the server
 *   sent `Retry-After`)
 * @throws TokenResponseError for a 2xx answer that is not a valid token response
 * @throws TransportError when no answer arrived
 */
export async function postTokenRequest(http: HttpClient, req: TokenRequest): Promise<TokenResponse> {
  const url = new URL(req.url);
  const host = url.host;
  const body = new URLSearchParams(req.form).toString();
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded;charset=utf-8",
    accept: "application/json",
    "client-request-id": req.correlationId,
    "return-client-request-id": "true",
    ...libraryHeaders(),
  };
  const retry = req.retry ?? {};
  const policy = stsRetryPolicy(retry);

  const response: HttpResponse = await withRetry(
    () =>
      http.request({
        url: req.url,
        method: "POST",
        headers,
        body,
        ...(req.signal === undefined ? {} : { signal: req.signal }),
        ...(req.timeoutMs === undefined ? {} : { timeoutMs: req.timeoutMs }),
        ...(req.clientCertificate === undefined ? {} : { clientCertificate: req.clientCertificate }),
        ...(req.sendChain === undefined ? {} : { sendChain: req.sendChain }),
      }),
    {
      policy,
      outcomeOf: (res) => ({
        status: res.status,
        retryAfterMs: res.status >= 200 && res.status < 300 ? undefined : parseRetryAfter(res.headers["retry-after"]),
      }),
      ...(retry.sleep === undefined ? {} : { sleep: retry.sleep }),
      ...(req.signal === undefined ? {} : { signal: req.signal }),
      ...(retry.onRetry === undefined ? {} : { onRetry: retry.onRetry }),
      abortError: () =>
        new TransportError("aborted", host, `The request to ${host} was aborted.`, { code: "AbortError", cause: req.signal?.reason }),
    },
  );

  if (response.status < 200 || response.status > 299) throw parseEntraError(response, host);
  return parseTokenResponse(response.body, {
    source: host,
    ...(req.expectedTokenType === undefined ? {} : { expectedTokenType: req.expectedTokenType }),
  });
}
