import type { NormalizedOptions } from "../../configuration/normalized.ts";
import { BoundCredentialError } from "../../errors.ts";
import type { LoadedCertificate } from "../../sources/loadedCertificate.ts";
import type { AssertionResult } from "../../sources/types.ts";
import type { HttpClient } from "../../transport/httpClient.ts";
import { postTokenRequest, type TokenClientRetryOptions } from "../../transport/tokenClient.ts";
import { buildClaimsParameter, capabilitiesFor } from "../claims.ts";
import { AssertionSigner } from "../clientAssertion.ts";
import type { AcquiredToken, TokenRequest } from "../types.ts";
import { grantFields } from "./grants.ts";

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

const JWT_POP = "urn:ietf:params:oauth:client-assertion-type:jwt-pop";

/** Raised when the mTLS endpoint answers with a token that is not a Bearer token. */
export class UnexpectedTokenTypeError extends BoundCredentialError {
  readonly tokenType: string;
  constructor(tokenType: string, host: string, expected: "bearer" | "mtls_pop" = "bearer") {
    super(
      "BCC_UNEXPECTED_TOKEN_TYPE",
      expected === "bearer"
        ? `The mutual TLS token endpoint ${host} answered with a token of type "${tokenType}" where a Bearer token was asked for; ` +
            `a certificate-bound (mtls_pop) token cannot be used by Azure SDK clients, so it was refused.`
        : `The mutual TLS token endpoint ${host} answered with a token of type "${tokenType}" where an mtls_pop token was asked for; ` +
            `only a token bound to the certificate can serve as a jwt-pop assertion, so it was refused.`,
    );
    this.name = "UnexpectedTokenTypeError";
    this.tokenType = tokenType;
  }
}

/**
 * Bound acquisition: the client certificate is presented in the TLS handshake to the `mtlsauth`
 * token endpoint, and the token asked for (and accepted) is a plain Bearer token.
 */
export class MtlsAcquirer {
  readonly #options: NormalizedOptions;
  readonly #http: HttpClient;
  readonly #now: () => number;
  readonly #retry: TokenClientRetryOptions | undefined;
  readonly #signer: AssertionSigner;

  constructor(options: NormalizedOptions, http: HttpClient, now: () => number, retry?: TokenClientRetryOptions) {
    this.#options = options;
    this.#http = http;
    this.#now = now;
    this.#retry = retry;
    this.#signer = new AssertionSigner(options.clientId, now);
  }

  /**
   * A certificate credential over mTLS: the certificate in the handshake and a `jwt-bearer`
   * assertion signed by it (with `x5c`, `aud` the mTLS token URL), as shipping MSAL.NET sends them.
   */
  async withCertificate(certificate: LoadedCertificate, request: TokenRequest, tokenEndpoint: string): Promise<AcquiredToken> {
    const assertion = await this.#signer.take(certificate, tokenEndpoint, true);
    return this.#post(tokenEndpoint, certificate, request, {
      client_assertion_type: JWT_BEARER,
      client_assertion: assertion,
    });
  }

  /**
   * A bound assertion (a managed identity's leg-1 token, or a custom provider's): its binding
   * certificate in the handshake and the assertion as `jwt-pop`. Both come from one snapshot.
   */
  async withBoundAssertion(bound: AssertionResult & { bindingCertificate: LoadedCertificate }, request: TokenRequest, tokenEndpoint: string): Promise<AcquiredToken> {
    return this.#post(tokenEndpoint, bound.bindingCertificate, request, {
      client_assertion_type: JWT_POP,
      client_assertion: bound.assertion,
    });
  }

  async #post(
    url: string,
    certificate: LoadedCertificate,
    request: TokenRequest,
    credential: Record<string, string>,
  ): Promise<AcquiredToken> {
    const claims = buildClaimsParameter(request.claims, capabilitiesFor(this.#options.clientCapabilities, request.enableCae));
    const form: Record<string, string> = {
      client_id: this.#options.clientId,
      ...grantFields(request.kind),
      scope: request.scopes.join(" "),
      // MSAL.NET sends 2 for app tokens; user flows ask for the user's client info (1), as msal-node's OnBehalfOfClient does.
      client_info: request.kind.grant === "on_behalf_of" ? "1" : "2",
      ...credential,
      ...(claims === undefined ? {} : { claims }),
      ...(request.proofOfPossession === true ? { token_type: "mtls_pop" } : {}),
    };
    const started = this.#now();
    const response = await postTokenRequest(this.#http, {
      url: withQuery(url, this.#options.extraQueryParameters),
      form,
      clientCertificate: certificate,
      sendChain: this.#options.sendCertificateChain,
      correlationId: request.correlationId,
      signal: request.signal,
      ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
      ...(this.#retry === undefined ? {} : { retry: this.#retry }),
      ...(request.proofOfPossession === true ? { expectedTokenType: "mtls_pop" } : {}),
    });
    const expected = request.proofOfPossession === true ? "mtls_pop" : "bearer";
    if (response.tokenType.toLowerCase() !== expected) {
      throw new UnexpectedTokenTypeError(response.tokenType, new URL(url).host, expected);
    }
    return {
      accessToken: response.accessToken,
      expiresOnTimestamp: started + response.expiresInSeconds * 1000,
      refreshInSeconds: response.refreshInSeconds,
      tokenEndpoint: url,
      ...(request.proofOfPossession === true ? { bindingCertificate: certificate } : {}),
    };
  }
}

/**
 * `url` with the configured extra query parameters, as MSAL.NET appends `ExtraQueryParameters` to
 * the token endpoint. The endpoint without them stays the assertion's audience.
 */
function withQuery(url: string, parameters: Readonly<Record<string, string>> | undefined): string {
  if (parameters === undefined || Object.keys(parameters).length === 0) return url;
  const target = new URL(url);
  for (const [name, value] of Object.entries(parameters)) target.searchParams.append(name, value);
  return target.href;
}
