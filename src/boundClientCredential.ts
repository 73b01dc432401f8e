import { randomUUID } from "node:crypto";
import { loadJose } from "./dependencies.ts";
import type { GetTokenOptions, TokenCredential } from "@azure/core-auth";
import type { CredentialList, ServedToken } from "./acquisition/credentialList.ts";
import { withOidcIdpSignedAssertions } from "./acquisition/oidc/oidcIdpSignedAssertion.ts";
import { onBehalfOfKind } from "./acquisition/onBehalfOf/userAssertion.ts";
import { OnBehalfOfUserCredential } from "./acquisition/onBehalfOf/userCredential.ts";
import { CLIENT_CREDENTIALS, type RequestKind, type TokenRequest } from "./acquisition/types.ts";
import { readCacheSettings } from "./cache/cacheSettings.ts";
import { cacheKey, refreshAfter, type CacheOutcome, type TokenCache } from "./cache/tokenCache.ts";
import type { CachedToken } from "./cache/tokenStore.ts";
import { optionsFromDropInArguments } from "./configuration/dropIn.ts";
import { optionsFromEnvironment } from "./configuration/fromEnvironment.ts";
import type { NormalizedEntry, NormalizedOptions } from "./configuration/normalized.ts";
import type {
  BoundAccessToken,
  BoundClientCertificateCredentialOptions,
  BoundClientCredentialOptions,
  ClientCertificatePEMCertificate,
  ClientCertificatePEMCertificatePath,
} from "./configuration/types.ts";
import { normalizeOptions } from "./configuration/validate.ts";
import { allowedTenantSet, checkGetTokenOptions, normalizeScopes, resolveTenant, toAbortSignal } from "./getTokenOptions.ts";
import { BoundCredentialConfigurationError, type EntryReport } from "./errors.ts";
import type { CredentialLogger } from "./logging.ts";
import { createRuntime, dependenciesFrom, environmentOption, type Environment, type Runtime } from "./runtime.ts";
import type { LoadedCertificate } from "./sources/loadedCertificate.ts";
import { spansCanBeRecorded, tracingClient } from "./tracing.ts";
import { DEFAULT_NETWORK_OPTIONS } from "./configuration/network.ts";
import { withDeadline } from "./transport/deadline.ts";

/** A token bound to the certificate of its TLS handshake, and that certificate. */
export interface BoundToken {
  readonly token: string;
  readonly certificate: LoadedCertificate;
  /** ms since epoch, on the credential's clock. */
  readonly expiresOnTimestamp: number;
}

/** What {@link acquireBoundToken} calls, per credential; kept out of the public class. */
const boundTokenAcquirers = new WeakMap<
  BoundClientCredential,
  (scopes: readonly string[], signal: AbortSignal | undefined, timeoutMs: number | undefined) => Promise<BoundToken>
>();

/**
 * An `mtls_pop` token of `credential` for `scopes`, with the certificate it is bound to: from the
 * first bound entry of its list that works (the inner leg of a bound OIDC federated credential).
 *
 * @internal
 */
export function acquireBoundToken(
  credential: BoundClientCredential,
  scopes: readonly string[],
  signal?: AbortSignal,
  timeoutMs?: number,
): Promise<BoundToken> {
  const acquire = boundTokenAcquirers.get(credential);
  if (acquire === undefined) return Promise.reject(new TypeError("acquireBoundToken needs a BoundClientCredential."));
  return acquire(scopes, signal, timeoutMs);
}

/** Details of the last token served, for the CLI and for logs. */
export interface TokenProvenance {
  /** The entry that served, such as `clientCredentials[0] (Path /certs/app.pfx, bound)`. */
  readonly entryId: string;
  /** Whether the entry is bound (the token was obtained over mutual TLS). */
  readonly bound: boolean;
  /** The token endpoint that issued the token. */
  readonly tokenEndpoint: string;
  /** Why the token was requested: a cache `miss`, a due `refresh`, or a claims challenge (`bypass`). */
  readonly cache: CacheOutcome;
  /** The entries tried before the one that served, and why each did not. */
  readonly notServed: readonly EntryReport[];
}

/**
 * A `TokenCredential` for Microsoft Entra ID that walks an ordered list of client credentials
 * (Microsoft.Identity.Web's `ClientCredentials`): the first entry that can obtain a token serves.
 * Entries flagged `useBoundCredential` obtain their token over mutual TLS — a certificate, or a
 * managed identity's IMDS-issued binding certificate, presented in the TLS handshake to Entra's
 * `mtlsauth` endpoint. The token handed back is always a plain Bearer token, so every Azure SDK
 * client works unchanged.
 *
 * | an entry's failure | for example | what happens |
 * | --- | --- | --- |
 * | unavailable | file missing, wrong PFX password, expired certificate, no IMDS v2, mTLS host unreachable | benched for a cool-down; next entry |
 * | rejected by Entra | AADSTS700027, 7000215, 500181 | reloaded once (rotation) and retried; then benched; next entry |
 * | request error | invalid scope, unknown app or tenant, Entra 5xx/429, aborted | the call fails; no other entry would help |
 *
 * When no entry served, the error is a `CredentialUnavailableError` if every entry was unavailable
 * (a `ChainedTokenCredential` moves on) and an `AuthenticationError` otherwise; its message lists
 * the entries with their reasons, and its `entries` report each one (outcome, code, AADSTS number).
 *
 * @example
 * ```ts
 * const credential = new BoundClientCredential({
 *   tenantId, clientId,
 *   clientCredentials: [
 *     { sourceType: "Path", certificateDiskPath: "/certs/app.pfx", certificatePassword, useBoundCredential: true },
 *     { sourceType: "ClientSecret", clientSecret },
 *   ],
 * });
 * const blobs = new BlobServiceClient(url, credential);
 * ```
 *
 * @public
 */
export class BoundClientCredential implements TokenCredential {
  readonly #options: NormalizedOptions;
  readonly #runtime: Runtime;
  readonly #now: () => number;
  readonly #cache: TokenCache;
  readonly #list: CredentialList;
  readonly #logger: CredentialLogger;
  /** Cache keys of plain single-scope calls, so the hot path builds no string. */
  readonly #plainKeys = new Map<string, string>();
  /** The answer of each cached token to a cache hit, kept while the token is. */
  readonly #answers = new WeakMap<CachedToken, Promise<BoundAccessToken>>();
  /** The same for single-scope CAE calls of the configured tenant (what Azure SDK clients send). */
  readonly #caeKeys = new Map<string, string>();
  readonly #env: Environment;
  /** `additionallyAllowedTenants`, lower-cased, for a lookup that costs the same for any length. */
  readonly #allowedTenants: ReadonlySet<string>;
  #lastServed: TokenProvenance | undefined;
  /** Credentials this one made and closes with itself (the inner apps of OIDC federated credentials). */
  readonly #dependents: BoundClientCredential[] = [];

  /**
   * Creates a credential from an ordered list of client credentials.
   *
   * @param options - tenant, client and the ordered `clientCredentials`
   * @throws BoundCredentialConfigurationError when the options are wrong; nothing is read or
   * fetched before the first `getToken`
   */
  constructor(options: BoundClientCredentialOptions);
  /**
   * Creates a credential with one certificate, as `ClientCertificateCredential` does.
   *
   * @param tenantId - the directory (tenant) ID
   * @param clientId - the application (client) ID
   * @param certificatePath - a PEM file with certificate and key, or a PFX/P12 file
   * @param options - `useBoundCredential: true` obtains tokens over mutual TLS
   */
  constructor(tenantId: string, clientId: string, certificatePath: string, options?: BoundClientCertificateCredentialOptions);
  /**
   * Creates a credential with one certificate, as `ClientCertificateCredential` does.
   *
   * @param tenantId - the directory (tenant) ID
   * @param clientId - the application (client) ID
   * @param configuration - PEM text, or the path of a PEM or PFX file, with an optional password
   * @param options - `useBoundCredential: true` obtains tokens over mutual TLS
   */
  constructor(
    tenantId: string,
    clientId: string,
    configuration: ClientCertificatePEMCertificate | ClientCertificatePEMCertificatePath,
    options?: BoundClientCertificateCredentialOptions,
  );
  constructor(...args: unknown[]) {
    const input = args.length <= 1 ? args[0] : optionsFromDropInArguments(args[0], args[1], args[2], args[3]);
    // Test seams travel under symbol keys of the options (of the drop-in form's options argument).
    const dependencies = dependenciesFrom(args.length <= 1 ? args[0] : args[3]);
    this.#env = dependencies.env;
    this.#options = normalizeOptions(input, dependencies.env);
    const runtime = createRuntime(this.#options, dependencies, readCacheSettings(input));
    this.#runtime = runtime;
    this.#now = dependencies.now;
    this.#logger = dependencies.logger;
    this.#cache = runtime.cache;
    this.#list = runtime.list;
    this.#allowedTenants = allowedTenantSet(this.#options.additionallyAllowedTenants);
    boundTokenAcquirers.set(this, (scopes, signal, timeoutMs) => this.#acquireBoundToken(scopes, signal, timeoutMs));
  }

  async #acquireBoundToken(scopes: readonly string[], signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<BoundToken> {
    const served = await this.#list.acquire({
      kind: CLIENT_CREDENTIALS,
      scopes,
      tenantId: this.#options.tenantId,
      claims: undefined,
      enableCae: false,
      signal: signal ?? new AbortController().signal,
      timeoutMs,
      correlationId: randomUUID(),
      proofOfPossession: true,
    });
    const certificate = served.token.bindingCertificate;
    if (certificate === undefined) throw new TypeError(`${served.entry.id} returned an mtls_pop token without its certificate.`);
    return { token: served.token.accessToken, certificate, expiresOnTimestamp: served.token.expiresOnTimestamp };
  }

  /**
   * Creates a credential from a Microsoft.Identity.Web configuration section (`AzureAd` of an
   * `appsettings.json`, parsed), with keys in PascalCase or camelCase.
   *
   * An entry with `CustomSignedAssertionProviderName: "OidcIdpSignedAssertion"` (the OIDC
   * federated credential) reads the section its `CustomSignedAssertionProviderData.ConfigurationSection`
   * names from the same object: pass the whole parsed `appsettings.json` for it
   * (`BoundClientCredential.fromConfiguration(JSON.parse(readFileSync("appsettings.json", "utf8")))`).
   *
   * @param section - the parsed section, or a whole parsed `appsettings.json` with an `AzureAd` key
   * @param overrides - options to set or replace, such as `tls` or `customSignedAssertionProviders`;
   *   they apply to the sections of OIDC federated credentials too
   * @throws BoundCredentialConfigurationError naming the key that is wrong
   */
  static fromConfiguration(section: unknown, overrides?: Partial<BoundClientCredentialOptions>): BoundClientCredential {
    const inners: BoundClientCredential[] = [];
    const seams = seamsOf(overrides);
    const options = withOidcIdpSignedAssertions(section, overrides, (innerOptions) => {
      const inner = new BoundClientCredential({ ...innerOptions, ...seams });
      inners.push(inner);
      return {
        getToken: (scope, getTokenOptions) => inner.getToken(scope, getTokenOptions),
        boundToken: (scopes, signal, timeoutMs) => acquireBoundToken(inner, scopes, signal, timeoutMs),
      };
    });
    const credential = new BoundClientCredential({ ...options, ...seams });
    credential.#dependents.push(...inners);
    return credential;
  }

  /**
   * Creates a credential from the `AZURE_*` environment variables that `@azure/identity` reads
   * (certificate, federated token file, secret), plus `BOUND_CLIENT_CREDENTIAL_USE_BOUND=true` to
   * obtain tokens with the certificate over mutual TLS.
   *
   * @param env - the variables; `process.env` by default
   * @throws BoundCredentialConfigurationError naming the variables that are missing
   */
  static fromEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): BoundClientCredential {
    const options: BoundClientCredentialOptions & { [environmentOption]: Environment } = { ...optionsFromEnvironment(env), [environmentOption]: env };
    return new BoundClientCredential(options);
  }

  /**
   * Obtains an access token for `scopes`, from the cache while it is fresh.
   *
   * @param scopes - one resource's `.default` scope, such as `https://storage.azure.com/.default`
   * @param options - `tenantId` (allowed by `additionallyAllowedTenants`), `claims`, `enableCae`,
   * `abortSignal`, `requestOptions.timeout` and `tracingOptions` are honoured;
   * `proofOfPossessionOptions` is refused
   * @returns a Bearer token with `expiresOnTimestamp` and `refreshAfterTimestamp`
   * @throws CredentialUnavailableError when every entry was unavailable
   * @throws AuthenticationError when Entra refused, or the request itself failed
   */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<BoundAccessToken> {
    let checked: GetTokenOptions;
    try {
      checked = checkGetTokenOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const hit = this.#cachedHit(scopes, checked, CLIENT_CREDENTIALS);
    if (hit !== undefined) return hit;
    return tracingClient.withSpan("BoundClientCredential.getToken", checked, (updated) =>
      this.#getToken(scopes, updated, CLIENT_CREDENTIALS),
    );
  }

  /**
   * A credential for one incoming request of a web API: its `getToken` obtains tokens on behalf of
   * the user whose token the API received (On-Behalf-Of), with this credential's entries — a bound
   * entry over mutual TLS, as for app tokens — its connections and its caches. Users' tokens are
   * cached per user (by a SHA-256 of their token, never the token), scopes, tenant and CAE.
   *
   * @example
   * ```ts
   * const app = new BoundClientCredential({ tenantId, clientId, clientCredentials });
   * // per request, with the Bearer token the API received:
   * const blobs = new BlobServiceClient(url, app.onBehalfOf(incomingToken));
   * ```
   *
   * @param userAssertionToken - the access token the web API received (without `Bearer `)
   * @throws BoundCredentialConfigurationError when the token is missing or not a JWT
   */
  onBehalfOf(userAssertionToken: string): OnBehalfOfUserCredential {
    const kind = onBehalfOfKind(userAssertionToken, "onBehalfOf(userAssertionToken)");
    return new OnBehalfOfUserCredential((scopes, options) => {
      let checked: GetTokenOptions;
      try {
        checked = checkGetTokenOptions(options);
      } catch (error) {
        return Promise.reject(error);
      }
      const hit = this.#cachedHit(scopes, checked, kind);
      if (hit !== undefined) return hit;
      return tracingClient.withSpan("BoundOnBehalfOfCredential.getToken", checked, (updated) => this.#getToken(scopes, updated, kind));
    }, this.#options.clientId);
  }

  /**
   * Which entry obtained the last token requested from Entra, and from where. Cache hits do not
   * change it. Undefined before the first request.
   */
  get lastServed(): TokenProvenance | undefined {
    return this.#lastServed;
  }

  /** Closes the TLS connections this credential keeps open. It can still be used afterwards. */
  async close(): Promise<void> {
    await Promise.all([this.#runtime.close(), ...this.#dependents.map((dependent) => dependent.close())]);
  }

  /** A secret-free description: tenant, client, authority host and the entry names. */
  toJSON(): Record<string, unknown> {
    return this.#describe();
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `BoundClientCredential ${JSON.stringify(this.#describe())}`;
  }

  #describe(): Record<string, unknown> {
    return {
      tenantId: this.#options.tenantId,
      clientId: this.#options.clientId,
      authorityHost: this.#options.authorityHost,
      clientCredentials: this.#options.entries.map((e) => e.id),
    };
  }

  /**
   * The hot path: a fresh cached token for one scope, returned without a span, a promise chain or
   * an allocation beyond the answer. It serves the plain call and the call of Azure SDK clients,
   * whose bearer-token policy (`bearerTokenAuthenticationPolicy` in `@azure/core-rest-pipeline`)
   * passes `enableCae: true`, an abort signal and a tracing context on every request. A tracing
   * context only takes the full path, span included, when an instrumenter is in place (see
   * {@link spansCanBeRecorded}); without one, the span would be a no-op. Another tenant, claims, an
   * aborted signal or a token due for refresh take the full path too.
   */
  #cachedHit(scopes: string | string[], options: GetTokenOptions, kind: RequestKind): Promise<BoundAccessToken> | undefined {
    const scope = typeof scopes === "string" ? scopes : Array.isArray(scopes) && scopes.length === 1 ? scopes[0] : undefined;
    if (
      typeof scope !== "string" ||
      options.tenantId !== undefined ||
      options.claims !== undefined ||
      options.proofOfPossessionOptions !== undefined ||
      options.abortSignal?.aborted === true ||
      (options.tracingOptions?.tracingContext !== undefined && spansCanBeRecorded())
    ) {
      return undefined;
    }
    const enableCae = options.enableCae === true;
    let key: string | undefined;
    if (kind.grant === "on_behalf_of") {
      if (scope.trim() !== scope || scope === "") return undefined;
      key = this.#cacheKey(this.#options.tenantId, [scope], enableCae, kind);
    } else {
      const keys = enableCae ? this.#caeKeys : this.#plainKeys;
      key = keys.get(scope);
      if (key === undefined) {
        if (scope.trim() !== scope || scope === "") return undefined;
        key = this.#cacheKey(this.#options.tenantId, [scope], enableCae);
        if (keys.size >= 1024) keys.clear();
        keys.set(scope, key);
      }
    }
    const cached = this.#cache.peek(key);
    if (cached === undefined) return undefined;
    // One settled promise per cached token, handed to every caller: a hit allocates nothing (a
    // pipeline asks on every request). The token inside is frozen, so no caller changes another's.
    let answer = this.#answers.get(cached);
    if (answer === undefined) {
      answer = Promise.resolve(
        Object.freeze({
          token: cached.token,
          expiresOnTimestamp: cached.expiresOnTimestamp,
          refreshAfterTimestamp: cached.refreshAfterTimestamp,
          tokenType: "Bearer" as const,
        }),
      );
      this.#answers.set(cached, answer);
    }
    return answer;
  }

  async #getToken(scopes: string | string[], options: GetTokenOptions, kind: RequestKind): Promise<BoundAccessToken> {
    if (options.proofOfPossessionOptions !== undefined) {
      throw new BoundCredentialConfigurationError(
        "BCC_UNSUPPORTED_REQUEST_OPTION",
        "getTokenOptions.proofOfPossessionOptions",
        "Signed HTTP request (PoP) tokens are not supported.",
        "This credential returns Bearer tokens; remove proofOfPossessionOptions or use a credential that supports PoP.",
      );
    }
    const scopeList = normalizeScopes(scopes);
    const tenantId = resolveTenant(options.tenantId, this.#options.tenantId, this.#allowedTenants, this.#env);
    const enableCae = options.enableCae === true;
    const claims = options.claims === undefined || options.claims === "" ? undefined : options.claims;
    const key =
      kind.grant === "on_behalf_of" ? this.#cacheKey(tenantId, scopeList, enableCae, kind) : this.#requestKey(tenantId, scopeList, enableCae);
    const { signal, release } = withDeadline(toAbortSignal(options.abortSignal), (this.#options.network ?? DEFAULT_NETWORK_OPTIONS).getTokenTimeoutMs);
    let served: ServedToken | undefined;
    let outcome: CacheOutcome = "hit";
    let token: CachedToken;
    try {
      token = await this.#cache.getOrAcquire(
        key,
        async (flightSignal) => {
          const request: TokenRequest = {
            kind,
            scopes: scopeList,
            tenantId,
            claims,
            enableCae,
            signal: flightSignal,
            timeoutMs: options.requestOptions?.timeout,
            correlationId: randomUUID(),
          };
          served = await this.#list.acquire(request);
          const now = this.#now();
          return {
            token: served.token.accessToken,
            expiresOnTimestamp: served.token.expiresOnTimestamp,
            refreshAfterTimestamp: refreshAfter(now, served.token.expiresOnTimestamp, served.token.refreshInSeconds),
          };
        },
        {
          bypassRead: claims !== undefined,
          bypassKey: claims,
          signal,
          onRefreshFailure: (error) =>
            this.#logger.warning(
              `getToken() => refreshing the token for ${scopeList.join(", ")} failed; serving the cached token, which is still valid. ${
                error instanceof Error ? error.message : String(error)
              }`,
            ),
          onOutcome: (o) => {
            outcome = o;
          },
        },
      );
    } finally {
      release();
    }
    if (served !== undefined) {
      const entry: NormalizedEntry = served.entry;
      this.#lastServed = { entryId: entry.id, bound: entry.bound, tokenEndpoint: served.token.tokenEndpoint, cache: outcome, notServed: served.notServed };
      const user = kind.grant === "on_behalf_of" ? ` On behalf of the user whose token hashes to sha256:${kind.userAssertionHash.slice(0, 12)}….` : "";
      this.#logger.info(
        `getToken() => SUCCESS. Scopes: ${scopeList.join(", ")}. Served by ${entry.id} from ${new URL(served.token.tokenEndpoint).host}.${user}`,
      );
      if (this.#options.allowLoggingAccountIdentifiers) await this.#logAccount(token.token);
    }
    return {
      token: token.token,
      expiresOnTimestamp: token.expiresOnTimestamp,
      refreshAfterTimestamp: token.refreshAfterTimestamp,
      tokenType: "Bearer",
    };
  }

  /** As `@azure/identity` does when `allowLoggingAccountIdentifiers` is set: who the token is for. */
  async #logAccount(accessToken: string): Promise<void> {
    const { decodeJwt } = await loadJose();
    let claims: Record<string, unknown>;
    try {
      claims = decodeJwt(accessToken);
    } catch {
      this.#logger.info("getToken() => Authenticated account: the token is not a JWT, so its identifiers are unknown.");
      return;
    }
    const text = (name: string): string => (typeof claims[name] === "string" ? (claims[name] as string) : "No identifier available");
    this.#logger.info(
      `getToken() => Authenticated account. Client ID: ${text("appid") === "No identifier available" ? text("azp") : text("appid")}. Tenant ID: ${text("tid")}. Object ID: ${text("oid")}.`,
    );
  }

  /**
   * The cache key of a request; single-scope keys of the configured tenant are kept, so that a
   * repeated call looks up a string whose hash is already known instead of building a new one.
   */
  #requestKey(tenantId: string, scopes: readonly string[], enableCae: boolean): string {
    const scope = scopes.length === 1 ? scopes[0] : undefined;
    if (scope === undefined || tenantId !== this.#options.tenantId) return this.#cacheKey(tenantId, scopes, enableCae);
    const keys = enableCae ? this.#caeKeys : this.#plainKeys;
    let key = keys.get(scope);
    if (key === undefined) {
      key = this.#cacheKey(tenantId, scopes, enableCae);
      if (keys.size >= 1024) keys.clear();
      keys.set(scope, key);
    }
    return key;
  }

  #cacheKey(tenantId: string, scopes: readonly string[], enableCae: boolean, kind: RequestKind = CLIENT_CREDENTIALS): string {
    return cacheKey({
      authorityHost: this.#options.authorityHost,
      tenantId,
      clientId: this.#options.clientId,
      enableCae,
      scopes,
      kind: kind.grant === "on_behalf_of" ? { grant: "on_behalf_of", userAssertionHash: kind.userAssertionHash } : CLIENT_CREDENTIALS,
    });
  }
}

/** The symbol-keyed seams of `options` (test clock, environment, …), to hand on to credentials made from them. */
function seamsOf(options: object | undefined): Record<symbol, unknown> {
  const seams: Record<symbol, unknown> = {};
  if (options === undefined) return seams;
  for (const key of Object.getOwnPropertySymbols(options)) seams[key] = (options as Record<symbol, unknown>)[key];
  return seams;
}
