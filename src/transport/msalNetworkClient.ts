/**
 * msal-node's network module over our {@link HttpClient}, so that msal-node's requests use the
 * credential's trusted CAs, timeouts, size limits and cancellation.
 *
 * msal-node's managed identity support keeps the network client of the first
 * `ManagedIdentityApplication` of the process in a static field and uses it for every later one.
 * {@link routedMsalNetworkClient} and {@link runWithMsalNetworkClient} work around that: give every
 * `ManagedIdentityApplication` the routed client, and run each call inside
 * `runWithMsalNetworkClient(client, …)`; the routed client forwards to the client of the call.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from "@azure/msal-node";
import { loadMsalNode, type MsalNode } from "../dependencies.ts";
import { parseEntraError } from "./entraError.ts";
import { TransportError } from "./errors.ts";
import type { HttpClient, HttpResponse } from "./httpClient.ts";
import { parseRetryAfter, type RetryPolicy, type Sleep, withRetry } from "./retry.ts";

/** The host msal-node's IMDS source has hard-coded. */
export const MSAL_IMDS_ORIGIN = "http://169.254.169.254";

/** Options of {@link MsalNetworkClient}. */
export interface MsalNetworkClientOptions {
  http: HttpClient;
  /** Cancels every request made through this client. */
  signal?: AbortSignal;
  /** Per-request deadline when msal-node gives none, in ms. */
  timeoutMs?: number;
  /** Connect timeout of these requests instead of the HTTP client's, in ms. */
  connectTimeoutMs?: number;
  /** Send requests for `http://169.254.169.254` to this origin (`http://host[:port]`) instead. */
  rewriteImdsTo?: string;
  /** The retry policy for a request, if any; msal-node's own retries should then be disabled. */
  retryPolicyFor?: (url: URL, method: "GET" | "POST") => RetryPolicy | undefined;
  sleep?: Sleep;
  /** Told about every request, after any rewrite; for diagnostics and tests. */
  onRequest?: (url: URL, method: "GET" | "POST") => void;
}

/**
 * An msal-node `INetworkModule` over {@link HttpClient}. Like msal-node's own client it returns
 * non-2xx answers instead of throwing, parses the body as JSON, throws an msal `AuthError`
 * `network_error` when no answer arrived (the {@link TransportError} is its `cause`) and
 * `token_parsing_error` for a 2xx body that is not JSON. A non-JSON error body becomes an
 * Entra-shaped error object, so msal-node reports the status instead of a parsing failure.
 */
export class MsalNetworkClient implements INetworkModule {
  readonly #options: MsalNetworkClientOptions;
  /** Requests made, after any rewrite; lets a caller check that this client was used at all. */
  requestCount = 0;

  constructor(options: MsalNetworkClientOptions) {
    this.#options = options;
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.#send<T>("GET", url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.#send<T>("POST", url, options, undefined);
  }

  /** The URL actually requested for `url`, after the IMDS rewrite. */
  resolveUrl(url: string): URL {
    const target = new URL(url);
    const rewrite = this.#options.rewriteImdsTo;
    if (rewrite !== undefined && target.origin === MSAL_IMDS_ORIGIN) {
      const base = new URL(rewrite);
      const prefix = base.pathname.replace(/\/+$/, "");
      return new URL(`${base.origin}${prefix}${target.pathname}${target.search}`);
    }
    return target;
  }

  async #send<T>(method: "GET" | "POST", url: string, options: NetworkRequestOptions | undefined, timeout: number | undefined): Promise<NetworkResponse<T>> {
    const target = this.resolveUrl(url);
    // msal-node is what calls this module, so it is loaded already: this only takes its AuthError.
    const { AuthError } = await loadMsalNode();
    this.requestCount++;
    this.#options.onRequest?.(target, method);
    const timeoutMs = timeout !== undefined && timeout > 0 ? timeout : this.#options.timeoutMs;
    const signal = this.#options.signal;
    const attempt = (): Promise<HttpResponse> =>
      this.#options.http.request({
        url: target.href,
        method,
        ...(options?.headers === undefined ? {} : { headers: options.headers }),
        ...(method === "POST" ? { body: options?.body ?? "" } : {}),
        ...(signal === undefined ? {} : { signal }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(this.#options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.#options.connectTimeoutMs }),
      });
    const policy = this.#options.retryPolicyFor?.(target, method);
    let response: HttpResponse;
    try {
      response =
        policy === undefined
          ? await attempt()
          : await withRetry(attempt, {
              policy,
              outcomeOf: (res) => ({ status: res.status, retryAfterMs: parseRetryAfter(res.headers["retry-after"]) }),
              ...(this.#options.sleep === undefined ? {} : { sleep: this.#options.sleep }),
              ...(signal === undefined ? {} : { signal }),
              abortError: () =>
                new TransportError("aborted", target.host, `The request to ${target.host} was aborted.`, {
                  code: "AbortError",
                  cause: signal?.reason,
                }),
            });
    } catch (err) {
      throw networkError(AuthError, err, target);
    }
    return { headers: response.headers, status: response.status, body: parseBody<T>(AuthError, response, target) };
  }
}

/**
 * An msal-node network module over `http`; the shorthand of `new MsalNetworkClient({ http, … })`.
 */
export function createMsalNetworkClient(http: HttpClient, options: Omit<MsalNetworkClientOptions, "http"> = {}): MsalNetworkClient {
  return new MsalNetworkClient({ ...options, http });
}

type AuthErrorClass = MsalNode["AuthError"];

function networkError(AuthError: AuthErrorClass, err: unknown, target: URL): InstanceType<AuthErrorClass> {
  const transport =
    err instanceof TransportError
      ? err
      : new TransportError("protocol", target.host, `The request to ${target.host} failed.`, { cause: err });
  const error = new AuthError("network_error", "", transport.message);
  // msal-node rethrows AuthErrors unchanged, so the cause reaches whoever called msal-node.
  Object.defineProperty(error, "cause", { value: transport, enumerable: false, configurable: true, writable: true });
  return error;
}

function parseBody<T>(AuthError: AuthErrorClass, response: HttpResponse, target: URL): T {
  try {
    return JSON.parse(response.body) as T;
  } catch {
    if (response.status >= 200 && response.status <= 299) {
      throw new AuthError("token_parsing_error", "", `The response from ${target.host} is not JSON.`);
    }
    const entra = parseEntraError(response, target.host);
    return { error: entra.error, error_description: entra.description } as T;
  }
}

/** The {@link TransportError} behind an error thrown by msal-node, if there is one. */
export function transportErrorIn(err: unknown): TransportError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    if (current instanceof TransportError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

const route = new AsyncLocalStorage<INetworkModule>();

/**
 * Runs `fn` so that {@link routedMsalNetworkClient} forwards the requests made during it to
 * `client`.
 */
export function runWithMsalNetworkClient<T>(client: INetworkModule, fn: () => Promise<T>): Promise<T> {
  return route.run(client, fn);
}

/**
 * A network module that forwards to the client of the current {@link runWithMsalNetworkClient}
 * call. Outside such a call — another library's `ManagedIdentityApplication` that inherited it
 * through msal-node's static source — it behaves as msal-node's default client (global `fetch`).
 */
export const routedMsalNetworkClient: INetworkModule = {
  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    const client = route.getStore();
    return client === undefined ? fetchLikeMsal<T>("GET", url, options, timeout) : client.sendGetRequestAsync<T>(url, options, timeout);
  },
  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const client = route.getStore();
    return client === undefined ? fetchLikeMsal<T>("POST", url, options, undefined) : client.sendPostRequestAsync<T>(url, options);
  },
};

async function fetchLikeMsal<T>(method: "GET" | "POST", url: string, options: NetworkRequestOptions | undefined, timeout: number | undefined): Promise<NetworkResponse<T>> {
  const host = new URL(url).host;
  const { AuthError } = await loadMsalNode();
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: options?.headers ?? {},
      ...(method === "POST" ? { body: options?.body ?? "" } : {}),
      ...(timeout !== undefined && timeout > 0 ? { signal: AbortSignal.timeout(timeout) } : {}),
    });
  } catch {
    throw new AuthError("network_error", "", `The request to ${host} failed.`);
  }
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const text = await response.text();
  return { headers, status: response.status, body: parseBody<T>(AuthError, { status: response.status, headers, body: text }, new URL(url)) };
}
