import type { NormalizedOptions } from "../../configuration/normalized.ts";
import type { LoadedCertificate } from "../../sources/loadedCertificate.ts";
import type { AssertionResult } from "../../sources/types.ts";
import type { HttpClient } from "../../transport/httpClient.ts";
import { postTokenRequest, type TokenClientRetryOptions } from "../../transport/tokenClient.ts";
import { buildClaimsParameter, capabilitiesFor } from "../claims.ts";
import { signClientAssertion } from "../clientAssertion.ts";
import type { AcquiredToken, TokenRequest } from "../types.ts";

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** A pre-signed assertion older than this is not used: Entra allows clock skew, not stale claims. */
const PRESIGNED_MAX_AGE_MS = 60_000;
const JWT_POP = "urn:ietf:params:oauth:client-assertion-type:jwt-pop";

/** Raised when the mTLS endpoint answers with a token that is not a Bearer token. */
export class UnexpectedTokenTypeError extends Error {
  readonly tokenType: string;
  constructor(tokenType: string, host: string) {
    super(
      `The mutual TLS token endpoint ${host} answered with a token of type "${tokenType}" where a Bearer token was asked for; ` +
        `a certificate-bound (mtls_pop) token cannot be used by Azure SDK clients, so it was refused.`,
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
  /** The next assertion per certificate and token URL, signed while nobody waits for it. */
  readonly #presigned = new Map<string, { readonly signedAt: number; readonly assertion: Promise<string> }>();

  constructor(options: NormalizedOptions, http: HttpClient, now: () => number, retry?: TokenClientRetryOptions) {
    this.#options = options;
    this.#http = http;
    this.#now = now;
    this.#retry = retry;
  }

  /**
   * A certificate credential over mTLS: the certificate in the handshake and a `jwt-bearer`
   * assertion signed by it (with `x5c`, `aud` the mTLS token URL), as shipping MSAL.NET sends them.
   */
  async withCertificate(certificate: LoadedCertificate, request: TokenRequest, tokenEndpoint: string): Promise<AcquiredToken> {
    const key = `${certificate.thumbprintSha256}|${tokenEndpoint}`;
    const assertion = await this.#takeAssertion(key, certificate, tokenEndpoint);
    try {
      return await this.#post(tokenEndpoint, certificate, request, {
        client_assertion_type: JWT_BEARER,
        client_assertion: assertion,
      });
    } finally {
      // Signing is most of this side's cost of a cold token; do it for the next request now, off
      // its critical path. Each assertion is still sent once, with its own jti.
      this.#presign(key, certificate, tokenEndpoint);
    }
  }

  #takeAssertion(key: string, certificate: LoadedCertificate, audience: string): Promise<string> {
    const ready = this.#presigned.get(key);
    this.#presigned.delete(key);
    if (ready !== undefined && this.#now() - ready.signedAt < PRESIGNED_MAX_AGE_MS) {
      return ready.assertion.catch(() => this.#sign(certificate, audience));
    }
    return this.#sign(certificate, audience);
  }

  #presign(key: string, certificate: LoadedCertificate, audience: string): void {
    if (this.#presigned.has(key)) return;
    // Rotated certificates and tenants leave keys behind; a handful is all that is ever live.
    if (this.#presigned.size >= 64) this.#presigned.clear();
    const assertion = this.#sign(certificate, audience);
    assertion.catch(() => undefined);
    this.#presigned.set(key, { signedAt: this.#now(), assertion });
  }

  #sign(certificate: LoadedCertificate, audience: string): Promise<string> {
    return signClientAssertion({ certificate, clientId: this.#options.clientId, audience, includeX5c: true, now: this.#now() });
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
      grant_type: "client_credentials",
      scope: request.scopes.join(" "),
      client_info: "2",
      ...credential,
      ...(claims === undefined ? {} : { claims }),
    };
    const started = this.#now();
    const response = await postTokenRequest(this.#http, {
      url,
      form,
      clientCertificate: certificate,
      sendChain: this.#options.sendCertificateChain,
      correlationId: request.correlationId,
      signal: request.signal,
      ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
      ...(this.#retry === undefined ? {} : { retry: this.#retry }),
    });
    if (response.tokenType.toLowerCase() !== "bearer") {
      throw new UnexpectedTokenTypeError(response.tokenType, new URL(url).host);
    }
    return {
      accessToken: response.accessToken,
      expiresOnTimestamp: started + response.expiresInSeconds * 1000,
      refreshInSeconds: response.refreshInSeconds,
      tokenEndpoint: url,
    };
  }
}
