/**
 * The unbound `SignedAssertionFromManagedIdentity` source: a managed identity token whose audience
 * is the token exchange URL, used as a federated client assertion. The token comes from msal-node's
 * managed identity support (IMDS v1, App Service, Arc, Cloud Shell, Service Fabric, Machine
 * Learning), whose requests go through our transport.
 */
import { ManagedIdentityApplication, type ManagedIdentityConfiguration } from "@azure/msal-node";
import { inspect } from "node:util";
import type { NormalizedEntry, NormalizedEntryOf, NormalizedOptions } from "../configuration/normalized.ts";
import { credentialLogger } from "../logging.ts";
import type { HttpClient } from "../transport/httpClient.ts";
import { HttpClient as DefaultHttpClient } from "../transport/httpClient.ts";
import {
  MsalNetworkClient,
  routedMsalNetworkClient,
  runWithMsalNetworkClient,
  transportErrorIn,
} from "../transport/msalNetworkClient.ts";
import { imdsRetryPolicy, managedIdentityRetryPolicy, type RetryPolicy, type Sleep } from "../transport/retry.ts";
import { abortable } from "../abortable.ts";
import { firstLine, messageOf } from "../text.ts";
import { isEntryOf } from "./descriptor.ts";
import type { SourceContext } from "./index.ts";
import type { NormalizedManagedIdentityDescription } from "./managedIdentitySourceType.ts";
import type { AssertionResult, CredentialSource, SourceMaterial } from "./types.ts";
import { SourceUnavailableError } from "./types.ts";

const logger = credentialLogger("BoundClientCredential");

/** Renew this long before expiry at the latest. */
const EXPIRY_MARGIN_MS = 5 * 60 * 1000;
/** Each request to a managed identity host; IMDS answers in well under a second when it is there. */
const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
/**
 * Managed identity hosts are local (link-local IMDS, localhost sidecars): they accept a connection
 * at once or not at all. Off Azure, 169.254.169.254 is usually silently dropped, so a short connect
 * timeout is what makes the entry unavailable quickly there.
 */
const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";

/**
 * What the source may be given besides {@link SourceContext}. `http` should be the credential's
 * client (so `close()` covers it); without it the source makes its own, closed by `close()`.
 */
export interface ManagedIdentitySourceDependencies {
  http?: HttpClient;
  /** Waits between retries; injectable so tests count attempts without waiting. */
  sleep?: Sleep;
  /** Per-request deadline, in ms. Default 15 s. */
  requestTimeoutMs?: number;
  /** Connect timeout for the managed identity host, in ms. Default 2 s. */
  connectTimeoutMs?: number;
}

/**
 * Creates the unbound managed identity assertion source of `entry`. A bound entry is handled by the
 * IMDS v2 flow, not here: its `load` reports the source unavailable.
 *
 * msal-node picks the managed identity host from environment variables (`IDENTITY_ENDPOINT`,
 * `MSI_ENDPOINT`, …) once per process; requests for IMDS are sent to `options.imdsEndpoint`.
 */
export function createManagedIdentityAssertionSource(
  entry: NormalizedEntry,
  context: Omit<SourceContext, "http"> & ManagedIdentitySourceDependencies,
): CredentialSource & { close(): Promise<void> } {
  if (!isEntryOf(entry, "SignedAssertionFromManagedIdentity")) {
    throw new TypeError(`${entry.id} is a ${entry.description.sourceType} entry, not SignedAssertionFromManagedIdentity.`);
  }
  return new ManagedIdentityAssertionSource(entry, context);
}

interface CachedAssertion {
  readonly assertion: string;
  readonly expiresOnTimestamp: number;
  readonly refreshAtTimestamp: number;
}

class ManagedIdentityAssertionSource implements CredentialSource {
  readonly #entry: NormalizedEntryOf<NormalizedManagedIdentityDescription>;
  readonly #description: NormalizedManagedIdentityDescription;
  readonly #options: NormalizedOptions;
  readonly #now: () => number;
  readonly #sleep: Sleep | undefined;
  readonly #requestTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #resource: string;
  readonly #material: SourceMaterial;
  #http: HttpClient | undefined;
  #ownsHttp = false;
  #app: ManagedIdentityApplication | undefined;
  #cached: CachedAssertion | undefined;
  #inFlight: Promise<CachedAssertion> | undefined;

  constructor(entry: NormalizedEntryOf<NormalizedManagedIdentityDescription>, context: Omit<SourceContext, "http"> & ManagedIdentitySourceDependencies) {
    this.#entry = entry;
    this.#description = entry.description;
    this.#options = context.options;
    this.#now = context.now;
    this.#sleep = context.sleep;
    this.#requestTimeoutMs = context.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#connectTimeoutMs = context.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#http = context.http;
    const exchangeUrl = this.#description.tokenExchangeUrl;
    this.#resource = exchangeUrl.replace(/\/\.default$/, "");
    this.#material = {
      kind: "assertion",
      getAssertion: (request) => this.#getAssertion(request.abortSignal, request.timeoutMs),
    };
  }

  async load(signal?: AbortSignal): Promise<SourceMaterial> {
    signal?.throwIfAborted();
    if (this.#entry.bound) {
      throw new SourceUnavailableError("bound managed identity is handled by the IMDS v2 flow");
    }
    this.#application();
    return this.#material;
  }

  async reload(signal?: AbortSignal): Promise<SourceMaterial> {
    // A rejected assertion must not be sent again: the next request gets a fresh token.
    this.#cached = undefined;
    return this.load(signal);
  }

  /** Closes the HTTP client this source made for itself, if it made one. */
  async close(): Promise<void> {
    if (this.#ownsHttp && this.#http !== undefined) await this.#http.close();
    if (this.#ownsHttp) this.#http = undefined;
  }

  toJSON(): Record<string, string> {
    return { entry: this.#entry.id, sourceType: "SignedAssertionFromManagedIdentity" };
  }

  [inspect.custom](): string {
    return `ManagedIdentityAssertionSource ${inspect(this.toJSON())}`;
  }

  /** @param timeoutMs - the caller's per-request timeout; the source's own when undefined */
  async #getAssertion(signal: AbortSignal | undefined, timeoutMs?: number): Promise<AssertionResult> {
    signal?.throwIfAborted();
    const cached = this.#cached;
    if (cached !== undefined && this.#now() < cached.refreshAtTimestamp) return resultOf(cached);
    // One request at a time; a caller that gives up stops waiting, the others still get the result.
    this.#inFlight ??= this.#acquire(timeoutMs).finally(() => {
      this.#inFlight = undefined;
    });
    const fresh = await abortable(this.#inFlight, signal);
    return resultOf(fresh);
  }

  async #acquire(timeoutMs: number | undefined): Promise<CachedAssertion> {
    const previous = this.#cached;
    try {
      const acquired = await this.#requestToken(timeoutMs ?? this.#requestTimeoutMs);
      this.#cached = acquired;
      return acquired;
    } catch (error) {
      // A failed early renewal still leaves a usable assertion.
      if (previous !== undefined && this.#now() < previous.expiresOnTimestamp - EXPIRY_MARGIN_MS && this.#cached === previous) {
        logger.warning(
          `getToken() => ${this.#entry.id}: renewing the managed identity assertion failed; using the current one until it nears expiry: ${error instanceof SourceUnavailableError ? error.reason : reasonOf(error, this.#resource)}`,
        );
        return previous;
      }
      throw error;
    }
  }

  async #requestToken(timeoutMs: number): Promise<CachedAssertion> {
    const app = this.#application();
    const client = new MsalNetworkClient({
      http: this.#httpClient(),
      rewriteImdsTo: this.#options.imdsEndpoint,
      timeoutMs,
      connectTimeoutMs: this.#connectTimeoutMs,
      retryPolicyFor: retryPolicyFor,
      ...(this.#sleep === undefined ? {} : { sleep: this.#sleep }),
    });
    const started = this.#now();
    const startedReal = Date.now();
    let token: string;
    let expiresOn: Date | null;
    try {
      const result = await runWithMsalNetworkClient(client, () =>
        app.acquireToken({ resource: this.#resource, forceRefresh: true }),
      );
      token = result.accessToken;
      expiresOn = result.expiresOn;
    } catch (error) {
      throw mapFailure(error, this.#resource);
    }
    if (client.requestCount === 0) {
      logger.warning(
        `getToken() => ${this.#entry.id}: msal-node used the network client of another ManagedIdentityApplication in this process; the configured IMDS endpoint, CA and timeouts did not apply.`,
      );
    }
    if (typeof token !== "string" || token === "") {
      throw new SourceUnavailableError(`the managed identity endpoint returned no token for ${this.#resource}`);
    }
    const expiresAt = expiresOn === null ? Number.NaN : expiresOn.getTime();
    if (!Number.isFinite(expiresAt)) {
      throw new SourceUnavailableError(`the managed identity endpoint returned a token for ${this.#resource} without a usable expiry (expires_on)`);
    }
    // msal-node computes expiry with the real clock; carry the lifetime over to the injected one.
    const lifetimeMs = Math.max(0, expiresAt - startedReal);
    const expiresOnTimestamp = started + lifetimeMs;
    const refreshAtTimestamp = Math.min(started + lifetimeMs / 2, expiresOnTimestamp - EXPIRY_MARGIN_MS);
    logger.info(
      `getToken() => ${this.#entry.id}: obtained a managed identity assertion for ${this.#resource}, valid for ${Math.round(lifetimeMs / 1000)} s.`,
    );
    return { assertion: token, expiresOnTimestamp, refreshAtTimestamp };
  }

  #application(): ManagedIdentityApplication {
    if (this.#app !== undefined) return this.#app;
    const description = this.#description;
    const ids: NonNullable<ManagedIdentityConfiguration["managedIdentityIdParams"]> = {};
    if (description.managedIdentityClientId !== undefined) ids.userAssignedClientId = description.managedIdentityClientId;
    if (description.managedIdentityObjectId !== undefined) ids.userAssignedObjectId = description.managedIdentityObjectId;
    if (description.managedIdentityResourceId !== undefined) ids.userAssignedResourceId = description.managedIdentityResourceId;
    try {
      // No clientCapabilities: msal-node would send them to IMDS as `xms_cc`, which only Service
      // Fabric understands, and the exchange token has no use for CAE.
      this.#app = new ManagedIdentityApplication({
        ...(Object.keys(ids).length === 0 ? {} : { managedIdentityIdParams: ids }),
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
    return this.#app;
  }

  #httpClient(): HttpClient {
    if (this.#http === undefined) {
      this.#http = new DefaultHttpClient({ ca: this.#options.tlsCa });
      this.#ownsHttp = true;
    }
    return this.#http;
  }
}

function retryPolicyFor(url: URL): RetryPolicy {
  return url.pathname.endsWith(IMDS_TOKEN_PATH) ? imdsRetryPolicy() : managedIdentityRetryPolicy();
}

function resultOf(cached: CachedAssertion): AssertionResult {
  return { assertion: cached.assertion, expiresOnTimestamp: cached.expiresOnTimestamp, bindingCertificate: undefined };
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
