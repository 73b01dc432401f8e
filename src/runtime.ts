/**
 * The composition root: one function builds what a credential runs on — the HTTP client, the
 * sources, the acquirers, the ordered list and the token cache — from normalized options and
 * explicit dependencies (clock, environment, sleep, logger). Nothing else constructs them, so a
 * credential and a diagnostic command built from the same options behave alike.
 *
 * Tests replace a dependency by passing it in the options under a symbol key, as panva/jose takes a
 * `[customFetch]` option: a symbol key is invisible to `JSON.stringify`, to the options' validation
 * (which reads string keys) and to configuration files, so no user sets one by accident.
 */
import { CredentialList } from "./acquisition/credentialList.ts";
import { MtlsAcquirer } from "./acquisition/bound/mtlsAcquirer.ts";
import { SourceEntry, type SourceEntryContext } from "./acquisition/sourceEntry.ts";
import { MsalAcquirer } from "./acquisition/unbound/msalAcquirer.ts";
import { ScopedNetworkClient } from "./acquisition/unbound/requestScope.ts";
import type { CacheSettings } from "./cache/cacheSettings.ts";
import { TokenCache } from "./cache/tokenCache.ts";
import { httpClientNetworkOptions } from "./configuration/network.ts";
import type { NormalizedOptions } from "./configuration/normalized.ts";
import { credentialLogger, type CredentialLogger } from "./logging.ts";
import { createSource } from "./sources/index.ts";
import { createManagedIdentityServices, type ManagedIdentityServices } from "./sources/managedIdentity/services.ts";
import type { CredentialSource } from "./sources/types.ts";
import { mtlsAuthorityHostFor, tokenEndpointFor } from "./transport/endpoints.ts";
import { HttpClient } from "./transport/httpClient.ts";
import { createMsalNetworkClient } from "./transport/msalNetworkClient.ts";
import { processRegionCache, RegionCache, resolveRegion } from "./transport/region.ts";
import { stsRetryOptionsFrom, stsRetryPolicy } from "./transport/retry.ts";
import type { TokenClientRetryOptions } from "./transport/tokenClient.ts";

/** Option key: the clock, `() => ms since epoch`. */
export const clockOption: unique symbol = Symbol.for("bound-client-credential.clock");
/** Option key: the environment variables to read instead of `process.env`. */
export const environmentOption: unique symbol = Symbol.for("bound-client-credential.environment");
/** Option key: the retry settings of token and metadata requests (their `sleep` above all). */
export const retryOption: unique symbol = Symbol.for("bound-client-credential.retry");
/** Option key: the logger the credential writes to. */
export const loggerOption: unique symbol = Symbol.for("bound-client-credential.logger");
/** Option key: where detected regions are kept instead of the process-wide cache. */
export const regionCacheOption: unique symbol = Symbol.for("bound-client-credential.regionCache");

/** Environment variables, as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Dependencies that can be passed in the options under their symbol keys. */
export interface RuntimeSeams {
  readonly [clockOption]?: () => number;
  readonly [environmentOption]?: Environment;
  readonly [retryOption]?: TokenClientRetryOptions;
  readonly [loggerOption]?: CredentialLogger;
  readonly [regionCacheOption]?: RegionCache;
}

/** What the runtime is built from besides the options. */
export interface RuntimeDependencies {
  readonly now: () => number;
  readonly env: Environment;
  readonly retry: TokenClientRetryOptions;
  readonly logger: CredentialLogger;
  readonly regionCache: RegionCache;
}


/** The seams found in `input` (an options object of any shape), with the defaults for the rest. */
export function dependenciesFrom(input: unknown, defaults: { env?: Environment } = {}): RuntimeDependencies {
  const seams: RuntimeSeams = typeof input === "object" && input !== null ? (input as RuntimeSeams) : {};
  return {
    now: seams[clockOption] ?? Date.now,
    env: seams[environmentOption] ?? defaults.env ?? process.env,
    retry: seams[retryOption] ?? {},
    logger: seams[loggerOption] ?? credentialLogger("BoundClientCredential"),
    regionCache: seams[regionCacheOption] ?? processRegionCache,
  };
}

/** What a credential runs on. */
export interface Runtime {
  readonly options: NormalizedOptions;
  readonly dependencies: RuntimeDependencies;
  readonly http: HttpClient;
  readonly list: CredentialList;
  readonly cache: TokenCache;
  /** The source of each entry, in the order of the entries. */
  readonly sources: readonly CredentialSource[];
  /** The managed identity services every managed identity entry and the Key Vault source share. */
  readonly managedIdentity: ManagedIdentityServices;
  /** The resolved region for requests, if any. */
  region(signal: AbortSignal): Promise<string | undefined>;
  /** The mutual TLS token endpoint of a tenant (region resolved). */
  mtlsTokenEndpoint(tenantId: string, signal: AbortSignal): Promise<string>;
  /** Closes the connections kept open. */
  close(): Promise<void>;
}

/** Builds the runtime of `options` on `dependencies`. */
export function createRuntime(options: NormalizedOptions, dependencies: RuntimeDependencies, cache: CacheSettings): Runtime {
  const { now, env, logger } = dependencies;
  const http = new HttpClient({ ca: options.tlsCa, ...httpClientNetworkOptions(options.network) });
  // The configured retry tunables, with a test's seam (its sleep above all) on top.
  const retry: TokenClientRetryOptions = { ...stsRetryOptionsFrom(options.network?.retryOptions), ...dependencies.retry };
  const region = (signal: AbortSignal): Promise<string | undefined> =>
    resolveRegion(options.azureRegion, env, { http, endpoint: options.imdsEndpoint, signal }, dependencies.regionCache);
  const mtlsTokenEndpoint = async (tenantId: string, signal: AbortSignal): Promise<string> => {
    const authority = options.mtlsAuthorityHost ?? mtlsAuthorityHostFor(options.authorityHost, await region(signal));
    return tokenEndpointFor(authority, tenantId);
  };
  // msal-node's confidential client does not retry: apply the STS policy (one retry on a 5xx
  // without Retry-After or a timeout) as the mTLS token client does, with the same tunables.
  const stsPolicy = stsRetryPolicy(retry);
  const networkClient = new ScopedNetworkClient(({ signal, timeoutMs }) =>
    createMsalNetworkClient(http, {
      ...(signal === undefined ? {} : { signal }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      retryPolicyFor: () => stsPolicy,
      ...(retry.sleep === undefined ? {} : { sleep: retry.sleep }),
    }),
  );
  const context: SourceEntryContext = {
    clientId: options.clientId,
    msal: new MsalAcquirer(options, networkClient, logger, now),
    mtls: new MtlsAcquirer(options, http, now, retry),
    now,
    logger,
    mtlsTokenEndpoint,
    region,
    retireCertificate: (certificate) => http.retireCertificate(certificate.thumbprintSha256),
  };
  const baseContext = { options, now, env, http, ...(retry.sleep === undefined ? {} : { sleep: retry.sleep }) };
  const managedIdentity = createManagedIdentityServices(baseContext);
  const sourceContext = { ...baseContext, managedIdentity };
  const sources = options.entries.map((entry) => createSource(entry, sourceContext));
  const entries = options.entries.map((entry, index) => new SourceEntry(entry, sources[index]!, context));
  return {
    options,
    dependencies,
    http,
    list: new CredentialList(entries, now, logger),
    sources,
    managedIdentity,
    cache: new TokenCache({
      now,
      maxEntries: cache.maxEntries,
      distributed: cache.distributed,
      operationTimeoutMs: cache.operationTimeoutMs,
      lockTtlMs: cache.lockTtlMs,
      ...(retry.sleep === undefined ? {} : { sleep: retry.sleep }),
      logger,
    }),
    region,
    mtlsTokenEndpoint,
    close: async () => {
      await Promise.all([http.close(), ...sources.map((source) => source.close?.())]);
    },
  };
}
