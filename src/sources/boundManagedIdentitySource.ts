/**
 * `SignedAssertionFromManagedIdentity` with `useBoundCredential: true` (wire-protocol §2, §3.1):
 * an IMDS v2 binding certificate for a key made here, and with it, over mutual TLS, a managed
 * identity `mtls_pop` token for the token exchange audience ("leg 1"). The pair is the bound
 * assertion the app's own mTLS token request ("leg 2") presents: the token as `client_assertion`,
 * the certificate in the TLS handshake.
 */
import { randomUUID } from "node:crypto";
import { abortable } from "../abortable.ts";
import type {
  AssertionRequestContext,
  SignedAssertionFromManagedIdentityCredentialDescription,
} from "../configuration/types.ts";
import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { SourceContext } from "./index.ts";
import type { NormalizedManagedIdentityDescription } from "./managedIdentitySourceType.ts";
import { credentialLogger } from "../logging.ts";
import { EntraError } from "../transport/entraError.ts";
import { TransportError } from "../transport/errors.ts";
import { HttpClient } from "../transport/httpClient.ts";
import { ImdsV2Client, ImdsV2Error, type ManagedIdentitySelector, selectorQueryParameter } from "../transport/imdsV2.ts";
import type { ImdsRetryOptions, Sleep } from "../transport/retry.ts";
import { postTokenRequest, type RetryOptions } from "../transport/tokenClient.ts";
import { TokenResponseError } from "../transport/tokenResponse.ts";
import { BindingCertificateCache, bindingCacheKey } from "./bindingCertificateCache.ts";
import { createBindingCsr } from "./bindingCsr.ts";
import { BindingKey } from "./bindingKey.ts";
import { LoadedCertificate } from "./loadedCertificate.ts";
import { type AssertionResult, type CredentialSource, type SourceMaterial, SourceUnavailableError } from "./types.ts";

/**
 * How long a connection to IMDS may take. IMDS is link-local and answers at once when it is
 * there; on a machine without it the SYN goes nowhere, and the list should fall through in about a
 * second rather than after the transport's general 10 s.
 */
export const IMDS_CONNECT_TIMEOUT_MS = 1000;

/** A leg-1 token is not served with less validity than this left. */
const LEG1_EXPIRY_MARGIN_MS = 5 * 60 * 1000;

/** Environment variables that mean another managed identity host (App Service, Arc, Cloud Shell, ML, Service Fabric). */
const OTHER_MANAGED_IDENTITY_HOSTS: readonly (readonly [string, string])[] = [
  ["IDENTITY_ENDPOINT", "App Service, Azure Functions, Container Apps, Service Fabric or Azure Arc"],
  ["MSI_ENDPOINT", "Cloud Shell or Azure Machine Learning"],
];

/** Tunables for tests and unusual hosts; production uses the defaults. */
export interface BoundManagedIdentityTuning {
  /** IMDS retry numbers and the sleep between retries (MSAL's numbers and a real timer by default). */
  readonly imdsRetry?: ImdsRetryOptions & { readonly sleep?: Sleep };
  /** Default {@link IMDS_CONNECT_TIMEOUT_MS}. */
  readonly imdsConnectTimeoutMs?: number;
  /** Deadline of one IMDS attempt; default 10 s. */
  readonly imdsRequestTimeoutMs?: number;
  /** Retries of the leg-1 token request (STS policy: one retry on 5xx). */
  readonly tokenRetry?: RetryOptions;
  /** Deadline of one leg-1 attempt. */
  readonly tokenRequestTimeoutMs?: number;
}

/**
 * What {@link createBoundManagedIdentitySource} needs from the credential. Leg 1 goes through the
 * credential's `http`; IMDS gets a short-lived client of its own (see `#mint`).
 */
export interface BoundManagedIdentityContext extends SourceContext {
  readonly tuning?: BoundManagedIdentityTuning;
}

/** A binding certificate and what came with it; leg-1 tokens live and die with it. */
class BindingSnapshot {
  readonly certificate: LoadedCertificate;
  /** `client_id` of leg 1, from `issuecredential`. */
  readonly clientId: string;
  /** `{mtls_authentication_endpoint}/{tenant_id}/oauth2/v2.0/token`. */
  readonly tokenEndpoint: string;
  leg1: Leg1Token | undefined;
  leg1InFlight: Promise<Leg1Token> | undefined;

  constructor(certificate: LoadedCertificate, clientId: string, tokenEndpoint: string) {
    this.certificate = certificate;
    this.clientId = clientId;
    this.tokenEndpoint = tokenEndpoint;
  }

  toJSON(): Record<string, string> {
    return { certificate: this.certificate.thumbprintSha256, clientId: this.clientId, tokenEndpoint: this.tokenEndpoint };
  }
}

/** A leg-1 `mtls_pop` token; the token itself only in a `#private` field. */
class Leg1Token {
  readonly #token: string;
  readonly expiresOnTimestamp: number;
  readonly refreshAfterTimestamp: number;

  constructor(token: string, expiresOnTimestamp: number, refreshAfterTimestamp: number) {
    this.#token = token;
    this.expiresOnTimestamp = expiresOnTimestamp;
    this.refreshAfterTimestamp = refreshAfterTimestamp;
  }

  get token(): string {
    return this.#token;
  }

  toJSON(): Record<string, number> {
    return { expiresOnTimestamp: this.expiresOnTimestamp, refreshAfterTimestamp: this.refreshAfterTimestamp };
  }
}

/**
 * The bound managed identity source of one entry.
 *
 * `load()` makes sure a binding certificate exists (minting one on first use: IMDS v2
 * `getplatformmetadata`, a new RSA-2048 key, the CSR, `issuecredential`) and returns material
 * whose `getAssertion` yields `{ assertion: <leg-1 mtls_pop token>, expiresOnTimestamp,
 * bindingCertificate }`. The certificate and the token always come from one snapshot: a renewed
 * certificate starts without a token. The certificate is renewed at half of its lifetime (or with
 * under 5 minutes left) and the token at half of its own; concurrent callers share one mint and
 * one leg-1 request. A leg-1 `invalid_client` or TLS failure re-mints once. `reload()` and
 * `invalidateBinding()` force a re-mint (new key, CSR and certificate), for when leg 2 was
 * rejected (AADSTS500181, …).
 *
 * Unavailable (a {@link SourceUnavailableError} naming the reason): IMDS unreachable, IMDS v1
 * only, something other than IMDS answering, attestation required without an `attestationProvider`,
 * the VM's identity not the configured `managedIdentityClientId`, another managed identity host
 * (App Service, …), and a leg 1 that cannot bind.
 *
 * IMDS calls use a client of their own with a connect timeout of {@link IMDS_CONNECT_TIMEOUT_MS},
 * created for one mint and closed after it; mints happen once per certificate half-life.
 */
export function createBoundManagedIdentitySource(
  entry: NormalizedEntry,
  context: BoundManagedIdentityContext,
): CredentialSource & { invalidateBinding(): void } {
  const description = entry.description;
  if (description.sourceType !== "SignedAssertionFromManagedIdentity") {
    throw new TypeError(`${entry.id} is a ${description.sourceType} entry, not SignedAssertionFromManagedIdentity.`);
  }
  return new BoundManagedIdentitySource(entry, description, context);
}

class BoundManagedIdentitySource implements CredentialSource {
  readonly #entry: NormalizedEntry;
  readonly #context: BoundManagedIdentityContext;
  readonly #selector: ManagedIdentitySelector;
  readonly #configuredClientId: string | undefined;
  readonly #scope: string;
  readonly #cacheKey: string;
  readonly #cache: BindingCertificateCache<BindingSnapshot>;
  readonly #material: SourceMaterial;
  readonly #log = credentialLogger("BoundClientCredential");

  constructor(
    entry: NormalizedEntry,
    description: NormalizedManagedIdentityDescription,
    context: BoundManagedIdentityContext,
  ) {
    this.#entry = entry;
    this.#context = context;
    this.#selector = selectorOf(description);
    this.#configuredClientId = description.managedIdentityClientId;
    const exchange = description.tokenExchangeUrl;
    this.#scope = `${exchange.replace(/\/+$/, "")}/.default`;
    this.#cacheKey = bindingCacheKey({
      imdsEndpoint: context.options.imdsEndpoint,
      identitySelector: selectorQueryParameter(this.#selector) || "system",
      attested: context.options.attestationProvider !== undefined,
    });
    // A replaced certificate's TLS agent is closed once its in-flight requests are done.
    this.#cache = new BindingCertificateCache<BindingSnapshot>(context.now, (discarded) =>
      context.http.retireCertificate(discarded.certificate.thumbprintSha256),
    );
    this.#material = Object.freeze({
      kind: "assertion" as const,
      getAssertion: (request: AssertionRequestContext) => this.#getAssertion(request.abortSignal, request.timeoutMs),
    });
  }

  /**
   * The binding certificate is minted by the first `getAssertion`, which knows the request's
   * timeout; loading only hands out the material.
   */
  async load(signal?: AbortSignal): Promise<SourceMaterial> {
    signal?.throwIfAborted();
    return this.#material;
  }

  async reload(signal?: AbortSignal, rejected?: LoadedCertificate): Promise<SourceMaterial> {
    const current = this.#cache.peek(this.#cacheKey);
    // Another request that failed with the same certificate may have re-minted it already.
    if (rejected === undefined || current?.certificate === rejected) this.#cache.invalidate(this.#cacheKey, current);
    return this.load(signal);
  }

  invalidateBinding(): void {
    this.#cache.invalidate(this.#cacheKey);
  }

  toJSON(): Record<string, string> {
    return { entry: this.#entry.id, binding: this.#cacheKey };
  }

  /** @param timeoutMs - the caller's per-request timeout, for IMDS and leg 1; the tuned ones when undefined */
  async #getAssertion(signal: AbortSignal | undefined, timeoutMs?: number): Promise<AssertionResult> {
    for (let attempt = 0; ; attempt++) {
      const snapshot = await this.#binding(signal, timeoutMs);
      let leg1: Leg1Token;
      try {
        leg1 = await abortable(this.#leg1(snapshot, timeoutMs), signal);
      } catch (err) {
        if (attempt === 0 && isBindingRejection(err)) {
          this.#log.warning(
            `getToken() => ${this.#entry.id}: leg 1 rejected binding certificate ${snapshot.certificate.thumbprintSha256} (${describeRejection(err)}); minting a new one`,
          );
          this.#cache.invalidate(this.#cacheKey, snapshot);
          continue;
        }
        throw this.#leg1Failure(err, snapshot);
      }
      return {
        assertion: leg1.token,
        expiresOnTimestamp: Math.min(leg1.expiresOnTimestamp, snapshot.certificate.notAfter.getTime()),
        bindingCertificate: snapshot.certificate,
      };
    }
  }

  #binding(signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<BindingSnapshot> {
    // The mint is shared: one caller giving up must not cancel it for the others.
    return abortable(
      this.#cache.get(this.#cacheKey, () => this.#mint(timeoutMs)),
      signal,
    );
  }

  #leg1(snapshot: BindingSnapshot, timeoutMs: number | undefined): Promise<Leg1Token> {
    const now = this.#context.now();
    const cached = snapshot.leg1;
    if (cached !== undefined && now < cached.refreshAfterTimestamp) return Promise.resolve(cached);
    snapshot.leg1InFlight ??= this.#requestLeg1(snapshot, timeoutMs)
      .catch((err: unknown) => {
        // A failed refresh serves the token it was to replace while that is comfortably valid,
        // unless the failure says the certificate itself is no good.
        const previous = snapshot.leg1;
        if (
          previous !== undefined &&
          !isBindingRejection(err) &&
          this.#context.now() < previous.expiresOnTimestamp - LEG1_EXPIRY_MARGIN_MS
        ) {
          return previous;
        }
        throw err;
      })
      .finally(() => {
        snapshot.leg1InFlight = undefined;
      });
    return snapshot.leg1InFlight;
  }

  async #requestLeg1(snapshot: BindingSnapshot, timeoutMs: number | undefined): Promise<Leg1Token> {
    const tuning = this.#context.tuning ?? {};
    const requestTimeoutMs = timeoutMs ?? tuning.tokenRequestTimeoutMs;
    const correlationId = randomUUID();
    const sentAt = this.#context.now();
    const response = await postTokenRequest(this.#context.http, {
      url: snapshot.tokenEndpoint,
      form: {
        client_id: snapshot.clientId,
        grant_type: "client_credentials",
        scope: this.#scope,
        token_type: "mtls_pop",
      },
      clientCertificate: snapshot.certificate,
      correlationId,
      expectedTokenType: "mtls_pop",
      ...(requestTimeoutMs === undefined ? {} : { timeoutMs: requestTimeoutMs }),
      ...(tuning.tokenRetry === undefined ? {} : { retry: tuning.tokenRetry }),
    });
    const lifetimeMs = response.expiresInSeconds * 1000;
    const refreshInMs = Math.min(lifetimeMs / 2, (response.refreshInSeconds ?? Infinity) * 1000);
    const token = new Leg1Token(response.accessToken, sentAt + lifetimeMs, sentAt + refreshInMs);
    snapshot.leg1 = token;
    this.#log.info(
      `getToken() => ${this.#entry.id}: leg-1 mtls_pop token from ${new URL(snapshot.tokenEndpoint).host} (correlation ${correlationId}, certificate ${snapshot.certificate.thumbprintSha256})`,
    );
    return token;
  }

  async #mint(timeoutMs?: number): Promise<BindingSnapshot> {
    this.#refuseOtherManagedIdentityHosts();
    const tuning = this.#context.tuning ?? {};
    const imdsRequestTimeoutMs = timeoutMs ?? tuning.imdsRequestTimeoutMs;
    const tlsCa = this.#context.options.tlsCa;
    const http = new HttpClient({
      connectTimeoutMs: tuning.imdsConnectTimeoutMs ?? IMDS_CONNECT_TIMEOUT_MS,
      ...(tlsCa.length === 0 ? {} : { ca: tlsCa }),
    });
    try {
      const imds = new ImdsV2Client({
        http,
        endpoint: this.#context.options.imdsEndpoint,
        ...(tuning.imdsRetry === undefined ? {} : { retry: tuning.imdsRetry }),
        ...(imdsRequestTimeoutMs === undefined ? {} : { requestTimeoutMs: imdsRequestTimeoutMs }),
        onRetry: (event) =>
          this.#log.verbose(`getToken() => ${this.#entry.id}: IMDS retry ${event.retry} in ${event.delayMs} ms (${event.policy})`),
      });
      const correlationId = randomUUID();
      const metadata = await imds.getPlatformMetadata(this.#selector, { correlationId });
      if (
        this.#configuredClientId !== undefined &&
        metadata.clientId.toLowerCase() !== this.#configuredClientId.toLowerCase()
      ) {
        throw new SourceUnavailableError(
          `The managed identity of this host (client id ${metadata.clientId}, from IMDS at ${imds.host}) is not the configured managedIdentityClientId ${this.#configuredClientId}. ` +
            "Assign that user-assigned identity to this VM, or correct managedIdentityClientId.",
        );
      }
      const key = await BindingKey.generate();
      const csr = await createBindingCsr({
        clientId: metadata.clientId,
        tenantId: metadata.tenantId,
        cuId: metadata.cuId,
        key,
      });
      const attestationToken = await this.#attest(metadata.attestationEndpoint, metadata.clientId, key);
      const issued = await imds.issueCredential(this.#selector, { csr, attestationToken }, { correlationId });
      if (!key.matches(issued.certificate)) {
        throw new SourceUnavailableError(
          `IMDS at ${imds.host} issued a binding certificate (${issued.certificate.fingerprint256}) whose public key is not the key of the request; it cannot be used.`,
        );
      }
      const certificate = new LoadedCertificate([issued.certificate], key.privateKey);
      const now = this.#context.now();
      if (certificate.notAfter.getTime() <= now) {
        throw new SourceUnavailableError(
          `IMDS at ${imds.host} issued a binding certificate that expired on ${certificate.notAfter.toISOString()}; check the clock of this machine.`,
        );
      }
      const tokenEndpoint = `${issued.mtlsAuthenticationEndpoint}/${issued.tenantId}/oauth2/v2.0/token`;
      this.#log.info(
        `getToken() => ${this.#entry.id}: binding certificate ${certificate.thumbprintSha256} issued by IMDS at ${imds.host} for ${issued.identityType} ${issued.clientId}, valid until ${certificate.notAfter.toISOString()}`,
      );
      return new BindingSnapshot(certificate, issued.clientId, tokenEndpoint);
    } catch (err) {
      throw this.#mintFailure(err);
    } finally {
      await http.close();
    }
  }

  async #attest(attestationEndpoint: string, clientId: string, key: BindingKey): Promise<string | undefined> {
    const provider = this.#context.options.attestationProvider;
    if (provider === undefined) return undefined;
    let token: unknown;
    try {
      token = await provider({ attestationEndpoint, clientId, publicKeyPem: key.publicKeyPem });
    } catch (err) {
      throw new SourceUnavailableError(
        `The attestationProvider failed to attest the binding key: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    // Fail closed, as MSAL.NET does since #6081: a configured provider that returns nothing is an error.
    if (typeof token !== "string" || token.trim() === "") {
      throw new SourceUnavailableError("The attestationProvider returned no attestation token (expected a non-empty string).");
    }
    return token;
  }

  #refuseOtherManagedIdentityHosts(): void {
    for (const [variable, hosts] of OTHER_MANAGED_IDENTITY_HOSTS) {
      if (this.#context.env[variable] !== undefined && this.#context.env[variable] !== "") {
        throw new SourceUnavailableError(
          `${variable} is set: this is ${hosts}, whose managed identity endpoint cannot issue binding certificates. ` +
            "Bound managed identity needs an Azure VM with the IMDS v2 credential endpoint; use an unbound entry here.",
        );
      }
    }
  }

  #mintFailure(err: unknown): unknown {
    if (err instanceof SourceUnavailableError) return err;
    if (err instanceof ImdsV2Error) return new SourceUnavailableError(err.message, { cause: err });
    if (err instanceof TransportError && err.kind === "aborted") return err;
    const message = err instanceof Error ? err.message : String(err);
    return new SourceUnavailableError(`Minting a managed identity binding certificate failed: ${message}`, { cause: err });
  }

  #leg1Failure(err: unknown, snapshot: BindingSnapshot): unknown {
    const host = new URL(snapshot.tokenEndpoint).host;
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
      // A refusal of the identity's own token says nothing about the app's request: only this
      // entry is out, and the list goes on (as for an unbound managed identity).
      const code = err.aadsts === undefined ? err.error : `AADSTS${err.aadsts}`;
      return new SourceUnavailableError(
        `Entra ID refused the managed identity's own token (leg 1) at ${host} with ${code} (HTTP ${err.status}): ${err.description.split(/\r?\n/)[0] ?? ""}`,
        { cause: err },
      );
    }
    return err;
  }
}

function selectorOf(description: SignedAssertionFromManagedIdentityCredentialDescription): ManagedIdentitySelector {
  if (description.managedIdentityClientId !== undefined) return { kind: "clientId", value: description.managedIdentityClientId };
  if (description.managedIdentityObjectId !== undefined) return { kind: "objectId", value: description.managedIdentityObjectId };
  if (description.managedIdentityResourceId !== undefined) {
    return { kind: "resourceId", value: description.managedIdentityResourceId };
  }
  return { kind: "system" };
}

/** Leg 1 failures that a new binding certificate may cure (wire-protocol §2.8). */
function isBindingRejection(err: unknown): boolean {
  if (err instanceof EntraError) return err.error === "invalid_client";
  return err instanceof TransportError && (err.kind === "tls" || err.kind === "reset");
}

function describeRejection(err: unknown): string {
  if (err instanceof EntraError) return `${err.error}${err.aadsts === undefined ? "" : ` AADSTS${err.aadsts}`}`;
  if (err instanceof TransportError) return `${err.kind} ${err.code ?? ""}`.trim();
  return "error";
}


