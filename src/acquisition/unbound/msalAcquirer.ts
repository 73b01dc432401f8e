import type { AuthenticationResult, ClientCredentialRequest, ConfidentialClientApplication, Configuration, INetworkModule } from "@azure/msal-node";
import { loadMsalNode, type MsalNode } from "../../dependencies.ts";
import type { NormalizedEntry, NormalizedOptions } from "../../configuration/normalized.ts";
import { BoundCredentialError } from "../../errors.ts";
import type { CredentialLogger } from "../../logging.ts";
import type { SourceMaterial } from "../../sources/types.ts";
import { capabilitiesFor } from "../claims.ts";
import { AssertionSigner } from "../clientAssertion.ts";
import type { AcquiredToken, TokenRequest } from "../types.ts";
import { tenantAuthorityFor, tokenEndpointFor } from "../../transport/endpoints.ts";
import { authorityMetadataFor } from "./authorityMetadata.ts";
import { currentRequestScope, runInRequestScope, type RequestScope } from "./requestScope.ts";

/** Raised when msal-node answers without an access token or expiry (should not happen). */
export class MsalResultError extends BoundCredentialError {
  constructor(message: string) {
    super("BCC_INVALID_TOKEN_RESPONSE", message);
    this.name = "MsalResultError";
  }
}

/**
 * The msal-node call for the request's kind: adding a grant to the unbound path is adding its case
 * here (`acquireTokenOnBehalfOf` for On-Behalf-Of).
 */
function requestByKind(
  app: ConfidentialClientApplication,
  request: TokenRequest,
  region: string | undefined,
  extraQueryParameters: Readonly<Record<string, string>> | undefined,
): Promise<AuthenticationResult | null> {
  switch (request.kind.grant) {
    case "client_credentials":
      return app.acquireTokenByClientCredential(
        withExtraQueryParameters(
          {
            scopes: [...request.scopes],
            correlationId: request.correlationId,
            skipCache: true,
            ...(request.claims === undefined ? {} : { claims: request.claims }),
            ...(region === undefined ? {} : { azureRegion: region }),
          },
          extraQueryParameters,
        ),
      );
    case "on_behalf_of":
      // Entra's regional endpoints serve client credentials only (msal-node takes `azureRegion` on
      // that request alone): user flows go to the global login host.
      return app.acquireTokenOnBehalfOf({
        scopes: [...request.scopes],
        correlationId: request.correlationId,
        skipCache: true,
        ...(request.claims === undefined ? {} : { claims: request.claims }),
        oboAssertion: request.kind.userAssertion.reveal(),
      });
  }
}

/**
 * Unbound acquisition through msal-node's `ConfidentialClientApplication`: one application per
 * entry, material generation, tenant and CAE setting. msal-node's own token cache is emptied after
 * every request: the credential's cache is the single source of truth.
 */
export class MsalAcquirer {
  readonly #options: NormalizedOptions;
  readonly #networkClient: INetworkModule;
  readonly #logger: CredentialLogger;
  readonly #now: () => number;
  readonly #signer: AssertionSigner;
  readonly #apps = new Map<string, { material: SourceMaterial; app: ConfidentialClientApplication }>();

  /**
   * @param now - the credential's clock: expiry is reported on it, as msal-node reports it on the
   * real one
   */
  constructor(options: NormalizedOptions, networkClient: INetworkModule, logger: CredentialLogger, now: () => number = Date.now) {
    this.#options = options;
    this.#networkClient = networkClient;
    this.#logger = logger;
    this.#now = now;
    this.#signer = new AssertionSigner(options.clientId, now);
  }

  /**
   * Obtains a token for `request` with `material` of `entry`.
   *
   * @param region - the resolved Azure region, if any
   * @throws our transport's error when the request failed on the wire, otherwise msal-node's error
   */
  async acquire(
    entry: NormalizedEntry,
    material: SourceMaterial,
    request: TokenRequest,
    region: string | undefined,
  ): Promise<AcquiredToken> {
    const app = await this.#appFor(entry, material, request);
    const scope: RequestScope = { signal: request.signal, timeoutMs: request.timeoutMs, failure: undefined };
    const started = this.#now();
    const startedReal = Date.now();
    let result: AuthenticationResult | null;
    try {
      result = await runInRequestScope(scope, () => requestByKind(app, request, region, this.#options.extraQueryParameters));
    } catch (error) {
      throw scope.failure ?? error;
    } finally {
      // msal keeps tokens (a user's too, keyed by the hash of their assertion) and throttling
      // records of its own; ours is the only cache that decides, and holds no refresh token.
      app.clearCache();
    }
    if (result === null || result.accessToken === "" || result.expiresOn === null) {
      throw new MsalResultError("msal-node returned no access token or no expiry.");
    }
    // msal-node dates the token with the real clock; carry its lifetime over to the credential's.
    const lifetimeMs = Math.max(0, result.expiresOn.getTime() - startedReal);
    const refreshOn = result.refreshOn?.getTime();
    return {
      accessToken: result.accessToken,
      expiresOnTimestamp: started + lifetimeMs,
      refreshInSeconds: refreshOn === undefined ? undefined : Math.max(0, Math.floor((refreshOn - startedReal) / 1000)),
      tokenEndpoint: tokenEndpointFor(this.#options.authorityHost, request.tenantId),
    };
  }

  async #appFor(entry: NormalizedEntry, material: SourceMaterial, request: TokenRequest): Promise<ConfidentialClientApplication> {
    const key = `${entry.index}|${request.tenantId}|${request.enableCae ? "cae" : "-"}`;
    const existing = this.#apps.get(key);
    if (existing !== undefined && existing.material === material) return existing.app;
    // msal-node is loaded by the first unbound request, not by importing the package.
    const msal = await loadMsalNode();
    const again = this.#apps.get(key);
    if (again !== undefined && again.material === material) return again.app;
    const app = new msal.ConfidentialClientApplication(this.#configuration(msal, material, request));
    // With `additionallyAllowedTenants: ["*"]` the tenants are open-ended; applications are cheap
    // to make again, so a bound on how many are kept is enough.
    if (this.#apps.size >= 64) this.#apps.clear();
    this.#apps.set(key, { material, app });
    return app;
  }

  #configuration({ LogLevel }: MsalNode, material: SourceMaterial, request: TokenRequest): Configuration {
    const options = this.#options;
    const metadata = authorityMetadataFor(options.authorityHost, request.tenantId);
    const capabilities = capabilitiesFor(options.clientCapabilities, request.enableCae);
    const credential: Pick<NonNullable<Configuration["auth"]>, "clientSecret" | "clientCertificate" | "clientAssertion"> =
      material.kind === "secret"
        ? { clientSecret: material.secret.reveal() }
        : material.kind === "certificate"
          ? {
              // msal-node would sign one assertion and re-send it (same jti) for ten minutes; a
              // callback is asked on every request, so each assertion is fresh and sent once.
              clientAssertion: (config) =>
                this.#signer.take(
                  material.certificate,
                  config.tokenEndpoint ?? tokenEndpointFor(options.authorityHost, request.tenantId),
                  options.sendCertificateChain,
                ),
            }
          : {
              clientAssertion: async (config) => {
                // The application is kept across requests: take the signal and timeout of the
                // request being served now, never those of the one that created it.
                const scope = currentRequestScope();
                const result = await material.getAssertion({
                  clientId: config.clientId,
                  tokenEndpoint: config.tokenEndpoint ?? tokenEndpointFor(options.authorityHost, request.tenantId),
                  tenantId: request.tenantId,
                  bound: false,
                  ...(scope === undefined ? {} : { abortSignal: scope.signal }),
                  ...(scope?.timeoutMs === undefined ? {} : { timeoutMs: scope.timeoutMs }),
                });
                return result.assertion;
              },
            };
    const logger = this.#logger;
    return {
      auth: {
        clientId: options.clientId,
        authority: tenantAuthorityFor(options.authorityHost, request.tenantId),
        ...metadata,
        ...(capabilities.length === 0 ? {} : { clientCapabilities: [...capabilities] }),
        ...credential,
      },
      system: {
        networkClient: this.#networkClient,
        loggerOptions: {
          piiLoggingEnabled: options.enableUnsafeSupportLogging,
          logLevel: LogLevel.Info,
          loggerCallback: (level, message, containsPii) => {
            if (containsPii && !options.enableUnsafeSupportLogging) return;
            if (level === LogLevel.Error) logger.error(`msal-node: ${message}`);
            else if (level === LogLevel.Warning) logger.warning(`msal-node: ${message}`);
            else logger.verbose(`msal-node: ${message}`);
          },
        },
      },
    };
  }
}

/**
 * The request with the configured extra query parameters. msal-node 7 types
 * `ClientCredentialRequest` without `extraQueryParameters`, but `acquireTokenByClientCredential`
 * keeps the request's fields and its token request appends `extraQueryParameters` to the token URL
 * (`createTokenQueryParameters` in msal-common's `protocol/Token.ts`), as MSAL.NET does.
 */
function withExtraQueryParameters(
  request: ClientCredentialRequest,
  parameters: Readonly<Record<string, string>> | undefined,
): ClientCredentialRequest {
  if (parameters === undefined || Object.keys(parameters).length === 0) return request;
  const withParameters: ClientCredentialRequest & { extraQueryParameters: Record<string, string> } = {
    ...request,
    extraQueryParameters: { ...parameters },
  };
  return withParameters;
}
