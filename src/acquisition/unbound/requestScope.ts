import { AsyncLocalStorage } from "node:async_hooks";
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from "@azure/msal-node";
import { parseTokenResponse } from "../../transport/tokenResponse.ts";

function isTokenEndpoint(url: string): boolean {
  try {
    return new URL(url).pathname.endsWith("/oauth2/v2.0/token");
  } catch {
    return false;
  }
}

/** The per-request settings msal-node cannot carry itself: cancellation, timeout, the real failure. */
export interface RequestScope {
  readonly signal: AbortSignal;
  readonly timeoutMs: number | undefined;
  /** The error our transport raised, which msal-node would otherwise replace with `network_error`. */
  failure: unknown;
}

const storage = new AsyncLocalStorage<RequestScope>();

/**
 * The scope of the request being served, for callbacks msal-node calls on its behalf (the client
 * assertion): the msal application outlives the request that created it.
 */
export function currentRequestScope(): RequestScope | undefined {
  return storage.getStore();
}

/** Runs `fn` (an msal-node call) with `scope` visible to {@link ScopedNetworkClient}. */
export function runInRequestScope<T>(scope: RequestScope, fn: () => Promise<T>): Promise<T> {
  return storage.run(scope, fn);
}

/** Makes a network module for one request's signal and timeout. */
export type NetworkClientFactory = (settings: { signal: AbortSignal | undefined; timeoutMs: number | undefined }) => INetworkModule;

/**
 * The network module handed to msal-node. An msal application lives across requests but msal has
 * no way to pass a request's AbortSignal down, so each call looks up the scope of the request it
 * belongs to and remembers our transport's error before msal wraps it.
 */
export class ScopedNetworkClient implements INetworkModule {
  readonly #factory: NetworkClientFactory;

  constructor(factory: NetworkClientFactory) {
    this.#factory = factory;
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.#run((client) => client.sendGetRequestAsync<T>(url, options, timeout));
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.#run(async (client) => {
      const response = await client.sendPostRequestAsync<T>(url, options);
      if (response.status >= 200 && response.status < 300 && isTokenEndpoint(url)) {
        // msal-node accepts a token without an expiry, with a lifetime of centuries or of another
        // type; the bound path refuses those, and so must this one.
        parseTokenResponse(JSON.stringify(response.body), { expectedTokenType: "Bearer", source: new URL(url).host });
      }
      return response;
    });
  }

  async #run<T>(call: (client: INetworkModule) => Promise<T>): Promise<T> {
    const scope = storage.getStore();
    try {
      return await call(this.#factory({ signal: scope?.signal, timeoutMs: scope?.timeoutMs }));
    } catch (error) {
      if (scope !== undefined) scope.failure = error;
      throw error;
    }
  }
}
