/**
 * The managed identity token client: tokens of the managed identity itself, either from the
 * managed identity endpoint of the host (IMDS v1, App Service, Arc, Cloud Shell, Service Fabric,
 * Machine Learning — through msal-node's `ManagedIdentityApplication`, whose requests go through
 * our transport) or, with a binding certificate, the `mtls_pop` token of the mutual TLS token
 * endpoint ("leg 1", as MSAL.NET's `ImdsV2ManagedIdentitySource.cs` requests it). Every answer is
 * read by the one strict token response parser; tokens are cached, renewed ahead of expiry by one
 * request for every caller, and a failed renewal serves the current token while it is comfortably
 * valid.
 */
import type { ManagedIdentityApplication, ManagedIdentityConfiguration, INetworkModule, NetworkRequestOptions, NetworkResponse } from "@azure/msal-node";
import { loadMsalNode } from "../../dependencies.ts";
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { credentialLogger } from "../../logging.ts";
import { EntraError } from "../../transport/entraError.ts";
import { TransportError } from "../../transport/errors.ts";
import type { HttpClient } from "../../transport/httpClient.ts";
import type { ManagedIdentitySelector } from "../../transport/imdsV2.ts";
import { MsalNetworkClient, routedMsalNetworkClient, runWithMsalNetworkClient, transportErrorIn } from "../../transport/msalNetworkClient.ts";
import { imdsRetryPolicy, managedIdentityRetryPolicy, type RetryPolicy, type Sleep } from "../../transport/retry.ts";
import { postTokenRequest, type RetryOptions } from "../../transport/tokenClient.ts";
import { parseTokenResponse, type TokenResponse, TokenResponseError } from "../../transport/tokenResponse.ts";
import { SourceUnavailableError } from "../types.ts";
import type { BindingCertificate } from "./bindingService.ts";
import { isBindingRejection, selectorLabel } from "./identity.ts";
import { RefreshAhead } from "../../cache/singleFlight.ts";
import { freshnessOf, Renewable } from "./renewable.ts";

/** A managed identity token is renewed this long before expiry at the latest, and not served stale within it. */
export const MANAGED_IDENTITY_EXPIRY_MARGIN_MS = 5 * 60 * 1000;
/** Each request to a managed identity host; IMDS answers in well under a second when it is there. */
export const DEFAULT_MANAGED_IDENTITY_REQUEST_TIMEOUT_MS = 15_000;
/**
 * Managed identity hosts are local (link-local IMDS, localhost sidecars): they accept a connection
 * at once or not at all. Off Azure, 169.254.169.254 is usually silently dropped, so a short connect
 * timeout is what makes the entry unavailable quickly there.
 */
export const DEFAULT_MANAGED_IDENTITY_CONNECT_TIMEOUT_MS = 2000;
const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";

/** Tunables of the token client; production uses the defaults. */
export interface TokenClientTuning {
  /** Waits between retries of the managed identity host; injectable so tests count attempts without waiting. */
  readonly sleep?: Sleep;
  /** Per-request deadline of the managed identity host. Default {@link DEFAULT_MANAGED_IDENTITY_REQUEST_TIMEOUT_MS}. */
  readonly requestTimeoutMs?: number;
  /** Connect timeout of the managed identity host. Default {@link DEFAULT_MANAGED_IDENTITY_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
  /** Retries of the leg-1 token request (STS policy: one retry on 5xx). */
  readonly tokenRetry?: RetryOptions;
  /** Deadline of one leg-1 attempt. */
  readonly tokenRequestTimeoutMs?: number;
}

/** What {@link ManagedIdentityTokenClient} needs. */
export interface TokenClientContext {
  /** `options.imdsEndpoint`: where msal-node's IMDS requests are sent. */
  readonly imdsEndpoint: string;
  readonly now: () => number;
  /** The credential's HTTP client: its CA trust, agents and shutdown. */
  readonly http: HttpClient;
  readonly tuning?: TokenClientTuning;
}

/** Per-call options. */
export interface TokenCall {
  readonly signal?: AbortSignal | undefined;
  /** The caller's per-request timeout, instead of the tuned one. */
  readonly timeoutMs?: number | undefined;
  /** A secret-free name of who asks (an entry id), for logs. */
  readonly requester?: string | undefined;
}

/** A managed identity token. The token itself lives in a `#private` field. */
export class ManagedIdentityToken {
  readonly #token: string;
  /** ms since the epoch, on the client's clock. */
  readonly expiresOnTimestamp: number;

  constructor(token: string, expiresOnTimestamp: number) {
    this.#token = token;
    this.expiresOnTimestamp = expiresOnTimestamp;
    Object.freeze(this);
  }

  /** The token. Never log it. */
  get token(): string {
    return this.#token;
  }

  toJSON(): Record<string, number> {
    return { expiresOnTimestamp: this.expiresOnTimestamp };
  }

  [inspect.custom](): string {
    return `ManagedIdentityToken ${inspect(this.toJSON())}`;
  }
}

const log = credentialLogger("BoundClientCredential");

/** Managed identity tokens: of the host's endpoint by identity and resource, and leg 1 by binding certificate and scope. */
export class ManagedIdentityTokenClient {
  readonly #context: TokenClientContext;
  readonly #tokens: RefreshAhead<Renewable<ManagedIdentityToken>>;
  readonly #applications = new Map<string, ManagedIdentityApplication>();
  /** Leg-1 tokens live and die with their certificate: a renewed certificate starts without one. */
  readonly #bound = new WeakMap<BindingCertificate, RefreshAhead<Renewable<ManagedIdentityToken>>>();

  constructor(context: TokenClientContext) {
    this.#context = context;
    this.#tokens = new RefreshAhead({ now: context.now, freshness: freshnessOf });
  }

  /**
   * Makes sure the managed identity of `selector` can be asked for tokens here (msal-node accepts
   * its configuration), without a request.
   *
   * @throws SourceUnavailableError when it cannot
   */
  async check(selector: ManagedIdentitySelector): Promise<void> {
    await this.#application(selector);
  }

  /**
   * A token of the managed identity of `selector` for `resource` (an audience without `/.default`)
   * from the host's managed identity endpoint.
   *
   * @throws SourceUnavailableError when the endpoint is unreachable, refuses, or answers something
   *   that is not a token response
   * @throws TransportError of kind `aborted` when the caller's signal aborts
   */
  async token(selector: ManagedIdentitySelector, resource: string, call: TokenCall = {}): Promise<ManagedIdentityToken> {
    const kept = await this.#tokens.get(
      `${selectorLabel(selector)}|${resource}`,
      (signal) => this.#requestToken(selector, resource, call, signal),
      {
        signal: call.signal,
        onStaleServed: (error) =>
          log.warning(
            `getToken() => ${call.requester ?? "managed identity"}: renewing the managed identity assertion failed; using the current one until it nears expiry: ${error instanceof SourceUnavailableError ? error.reason : reasonOf(error, resource)}`,
          ),
      },
    );
    return kept.value;
  }

  /** Forgets the token of `selector` for `resource`: a refused token is not sent again, not even stale. */
  forget(selector: ManagedIdentitySelector, resource: string): void {
    const key = `${selectorLabel(selector)}|${resource}`;
    const kept = this.#tokens.kept(key);
    if (kept === undefined) return;
    kept.revoke();
    this.#tokens.invalidate(key, kept);
  }

  /**
   * The leg-1 `mtls_pop` token for `scope`, requested over mutual TLS with `binding`. A failed
   * renewal serves the current token unless the failure says the certificate itself is no good.
   *
   * @throws EntraError, TransportError or TokenResponseError as the request failed; see
   *   {@link isBindingRejection} for which of them a new certificate may cure
   */
  async boundToken(binding: BindingCertificate, scope: string, call: TokenCall = {}): Promise<ManagedIdentityToken> {
    let tokens = this.#bound.get(binding);
    if (tokens === undefined) {
      tokens = new RefreshAhead({ now: this.#context.now, freshness: freshnessOf });
      this.#bound.set(binding, tokens);
    }
    const cache = tokens;
    const kept = await cache.get(
      scope,
      async (signal) => {
        try {
          return await this.#requestBoundToken(binding, scope, call, signal);
        } catch (error) {
          // A refused certificate's token is not served stale: the caller must mint anew.
          if (isBindingRejection(error)) cache.kept(scope)?.revoke();
          throw error;
        }
      },
      { signal: call.signal },
    );
    return kept.value;
  }

  /** @param signal - the flight's: aborts once every caller has gone */
  async #requestBoundToken(
    binding: BindingCertificate,
    scope: string,
    call: TokenCall,
    signal: AbortSignal,
  ): Promise<Renewable<ManagedIdentityToken>> {
    const tuning = this.#context.tuning ?? {};
    const requestTimeoutMs = call.timeoutMs ?? tuning.tokenRequestTimeoutMs;
    const correlationId = randomUUID();
    const sentAt = this.#context.now();
    const response = await postTokenRequest(this.#context.http, {
      url: binding.tokenEndpoint,
      form: { client_id: binding.clientId, grant_type: "client_credentials", scope, token_type: "mtls_pop" },
      clientCertificate: binding.certificate,
      correlationId,
      signal,
      expectedTokenType: "mtls_pop",
      ...(requestTimeoutMs === undefined ? {} : { timeoutMs: requestTimeoutMs }),
      ...(tuning.tokenRetry === undefined ? {} : { retry: tuning.tokenRetry }),
    });
    const lifetimeMs = response.expiresInSeconds * 1000;
    const refreshInMs = Math.min(lifetimeMs / 2, (response.refreshInSeconds ?? Infinity) * 1000);
    const expiresOnTimestamp = sentAt + lifetimeMs;
    log.info(
      `getToken() => ${call.requester ?? "managed identity"}: leg-1 mtls_pop token from ${new URL(binding.tokenEndpoint).host} (correlation ${correlationId}, certificate ${binding.certificate.thumbprintSha256})`,
    );
    return new Renewable(
      new ManagedIdentityToken(response.accessToken, expiresOnTimestamp),
      sentAt + refreshInMs,
      expiresOnTimestamp - MANAGED_IDENTITY_EXPIRY_MARGIN_MS,
    );
  }

  /** @param signal - the flight's: aborts once every caller has gone */
  async #requestToken(
    selector: ManagedIdentitySelector,
    resource: string,
    call: TokenCall,
    signal: AbortSignal,
  ): Promise<Renewable<ManagedIdentityToken>> {
    const app = await this.#application(selector);
    const tuning = this.#context.tuning ?? {};
    const answers = new StrictTokenAnswers(
      new MsalNetworkClient({
        http: this.#context.http,
        rewriteImdsTo: this.#context.imdsEndpoint,
        signal,
        timeoutMs: call.timeoutMs ?? tuning.requestTimeoutMs ?? DEFAULT_MANAGED_IDENTITY_REQUEST_TIMEOUT_MS,
        connectTimeoutMs: tuning.connectTimeoutMs ?? DEFAULT_MANAGED_IDENTITY_CONNECT_TIMEOUT_MS,
        retryPolicyFor,
        ...(tuning.sleep === undefined ? {} : { sleep: tuning.sleep }),
      }),
      this.#context.now,
    );
    const started = this.#context.now();
    try {
      await runWithMsalNetworkClient(answers, () => app.acquireToken({ resource, forceRefresh: true }));
    } catch (error) {
      // msal-node replaces an error of its network module with its own `network_error`.
      throw mapFailure(answers.refused ?? error, resource);
    }
    if (answers.requestCount === 0) {
      log.warning(
        `getToken() => ${call.requester ?? "managed identity"}: msal-node used the network client of another ManagedIdentityApplication in this process; the configured IMDS endpoint, CA and timeouts did not apply.`,
      );
    }
    const answer = answers.accepted;
    if (answer === undefined) {
      throw new SourceUnavailableError(`the managed identity endpoint returned no token response for ${resource}`);
    }
    const lifetimeMs = answer.response.expiresInSeconds * 1000;
    const expiresOnTimestamp = started + lifetimeMs;
    log.info(
      `getToken() => ${call.requester ?? "managed identity"}: obtained a managed identity assertion for ${resource}, valid for ${Math.round(lifetimeMs / 1000)} s.`,
    );
    return new Renewable(
      new ManagedIdentityToken(answer.response.accessToken, expiresOnTimestamp),
      Math.min(started + lifetimeMs / 2, expiresOnTimestamp - MANAGED_IDENTITY_EXPIRY_MARGIN_MS),
      expiresOnTimestamp - MANAGED_IDENTITY_EXPIRY_MARGIN_MS,
    );
  }

  async #application(selector: ManagedIdentitySelector): Promise<ManagedIdentityApplication> {
    const key = selectorLabel(selector);
    const known = this.#applications.get(key);
    if (known !== undefined) return known;
    // msal-node is loaded by the first managed identity that needs it, not by importing the package.
    const { ManagedIdentityApplication } = await loadMsalNode();
    const raced = this.#applications.get(key);
    if (raced !== undefined) return raced;
    const ids: NonNullable<ManagedIdentityConfiguration["managedIdentityIdParams"]> = {};
    if (selector.kind === "clientId") ids.userAssignedClientId = selector.value;
    if (selector.kind === "objectId") ids.userAssignedObjectId = selector.value;
    if (selector.kind === "resourceId") ids.userAssignedResourceId = selector.value;
    let app: ManagedIdentityApplication;
    try {
      // No clientCapabilities: msal-node would send them to IMDS as `xms_cc`, which only Service
      // Fabric understands, and the exchange token has no use for CAE.
      app = new ManagedIdentityApplication({
        ...(selector.kind === "system" ? {} : { managedIdentityIdParams: ids }),
        system: {
          // Every application gets the routed client: msal-node keeps the first one process-wide.
          networkClient: routedMsalNetworkClient,
          // Our retries are abortable and injectable; msal-node's are neither.
          disableInternalRetries: true,
        },
      });
    } catch (error) {
      throw new SourceUnavailableError(`the managed identity cannot be used: ${firstLine(messageOf(error))}`, { cause: error });
    }
    this.#applications.set(key, app);
    return app;
  }
}

/**
 * msal-node's network module for one managed identity token request that reads every successful
 * answer with the strict token response parser, as the mutual TLS path does: msal-node itself
 * uses an `expires_in` of `-3600` or `"soon"`. The refusal is kept here, since msal-node replaces
 * errors of its network module with its own.
 */
class StrictTokenAnswers implements INetworkModule {
  readonly #client: MsalNetworkClient;
  readonly #now: () => number;
  accepted: { readonly response: TokenResponse } | undefined;
  refused: TokenResponseError | undefined;

  constructor(client: MsalNetworkClient, now: () => number) {
    this.#client = client;
    this.#now = now;
  }

  get requestCount(): number {
    return this.#client.requestCount;
  }

  async sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.#read(url, await this.#client.sendGetRequestAsync<T>(url, options, timeout));
  }

  async sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.#read(url, await this.#client.sendPostRequestAsync<T>(url, options));
  }

  #read<T>(url: string, response: NetworkResponse<T>): NetworkResponse<T> {
    // Every managed identity host answers a token request, and nothing else, with a 2xx.
    if (response.status < 200 || response.status > 299) return response;
    try {
      const parsed = parseTokenResponse(JSON.stringify(response.body), {
        expectedTokenType: "Bearer",
        source: this.#client.resolveUrl(url).host,
        now: this.#now,
      });
      this.accepted = { response: parsed };
    } catch (error) {
      if (error instanceof TokenResponseError) this.refused = error;
      throw error;
    }
    return response;
  }
}

function retryPolicyFor(url: URL): RetryPolicy {
  return url.pathname.endsWith(IMDS_TOKEN_PATH) ? imdsRetryPolicy() : managedIdentityRetryPolicy();
}

/**
 * Unreachable or failing managed identity hosts make the entry unavailable; only the caller's
 * abort passes through as it is.
 */
function mapFailure(error: unknown, resource: string): Error {
  const transport = transportErrorIn(error);
  if (transport?.kind === "aborted") return transport;
  return new SourceUnavailableError(reasonOf(error, resource), { cause: transport ?? error });
}

function reasonOf(error: unknown, resource: string): string {
  if (error instanceof TokenResponseError) {
    return `the managed identity endpoint answered with something that is not a token response: ${error.message}`;
  }
  const transport = transportErrorIn(error);
  if (transport !== undefined) {
    return `the managed identity endpoint ${transport.host} could not be used: ${transport.message}`;
  }
  const fields = typeof error === "object" && error !== null ? (error as { name?: unknown; errorCode?: unknown; status?: unknown }) : {};
  if (fields.name === "ServerError") {
    const status = typeof fields.status === "number" ? ` (HTTP ${fields.status})` : "";
    const code = typeof fields.errorCode === "string" && fields.errorCode !== "" ? `${fields.errorCode}: ` : "";
    return `the managed identity endpoint refused a token for ${resource}${status}: ${code}${firstLine(messageOf(error))}`;
  }
  if (fields.errorCode === "token_parsing_error") {
    return `the managed identity endpoint answered with something that is not a token response: ${firstLine(messageOf(error))}`;
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    // msal-node trips over answers it does not expect (an error field that is not a string, an
    // unparsable expiry); its own message would describe msal's code, not the answer.
    return `the managed identity endpoint answered with something that is not a token response or an error for ${resource}`;
  }
  return `no managed identity token could be obtained for ${resource}: ${firstLine(messageOf(error))}`;
}

/**
 * What a failed leg 1 means for the entry: every failure other than the caller's abort makes it
 * unavailable with a reason (a refusal of the identity's own token says nothing about the app's
 * request, so the list goes on, as for an unbound managed identity).
 */
export function boundTokenFailure(err: unknown, binding: BindingCertificate): unknown {
  const host = new URL(binding.tokenEndpoint).host;
  if (err instanceof TokenResponseError) {
    // No silent downgrade: a leg 1 that does not come back bound makes the entry unusable.
    return new SourceUnavailableError(`The managed identity token from ${host} cannot be used as a bound assertion: ${err.message}`, {
      cause: err,
    });
  }
  if (err instanceof TransportError && err.kind !== "aborted") {
    return new SourceUnavailableError(`The managed identity token request to ${host} failed: ${err.message}`, { cause: err });
  }
  if (err instanceof EntraError) {
    const code = err.aadsts === undefined ? err.error : `AADSTS${err.aadsts}`;
    return new SourceUnavailableError(
      `Entra ID refused the managed identity's own token (leg 1) at ${host} with ${code} (HTTP ${err.status}): ${err.description.split(/\r?\n/)[0] ?? ""}`,
      { cause: err },
    );
  }
  return err;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function firstLine(text: string): string {
  const line = text.split(/\r?\n/, 1)[0] ?? "";
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}
