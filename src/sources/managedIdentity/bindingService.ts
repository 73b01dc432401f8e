/**
 * The managed identity binding service: IMDS v2 `getplatformmetadata`, a new RSA-2048 key, the
 * CSR, the key attestation when the application provides one, `issuecredential`, and a cache of
 * the resulting binding certificates renewed at half of their lifetime. One instance serves every
 * bound managed identity entry of a credential and `bound-credential doctor`.
 *
 * The flow is MSAL.NET's IMDS v2 source (`ManagedIdentity/V2/ImdsV2ManagedIdentitySource.cs`):
 * one correlation id covers the metadata call, the credential call and the token request that
 * follows with the certificate.
 */
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import type { NormalizedOptions } from "../../configuration/normalized.ts";
import { credentialLogger } from "../../logging.ts";
import { TransportError } from "../../transport/errors.ts";
import { HttpClient } from "../../transport/httpClient.ts";
import { ImdsV2Client, ImdsV2Error, type IssuedCredential, type ManagedIdentitySelector, type PlatformMetadata } from "../../transport/imdsV2.ts";
import type { ImdsRetryOptions, Sleep } from "../../transport/retry.ts";
import { bindingCacheKey, BindingCertificateCache } from "../bindingCertificateCache.ts";
import { createBindingCsr } from "../bindingCsr.ts";
import type { BindingKeyPair } from "../bindingKey.ts";
import { LoadedCertificate } from "../loadedCertificate.ts";
import { SourceUnavailableError } from "../types.ts";
import { otherManagedIdentityHost, selectorLabel } from "./identity.ts";
import { type BindingKeySupply, processBindingKeys } from "./keySupply.ts";
import type { BindingKeyStore } from "./pkcs11BindingKeys.ts";

/**
 * How long a connection to IMDS may take. IMDS is link-local and answers at once when it is
 * there; on a machine without it the SYN goes nowhere, and the list should fall through in about a
 * second rather than after the transport's general 10 s.
 */
export const IMDS_CONNECT_TIMEOUT_MS = 1000;

/** Tunables of the IMDS v2 calls; production uses the defaults. */
export interface BindingServiceTuning {
  /** IMDS retry numbers and the sleep between retries (MSAL's numbers and a real timer by default). */
  readonly imdsRetry?: ImdsRetryOptions & { readonly sleep?: Sleep };
  /** Default {@link IMDS_CONNECT_TIMEOUT_MS}. */
  readonly imdsConnectTimeoutMs?: number;
  /** Deadline of one IMDS attempt; default 10 s. */
  readonly imdsRequestTimeoutMs?: number;
}

/** What {@link ManagedIdentityBindingService} needs. */
export interface BindingServiceContext {
  readonly options: Pick<NormalizedOptions, "imdsEndpoint" | "tlsCa" | "attestationProvider">;
  readonly now: () => number;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Told when a certificate is replaced or dropped, so that its TLS agent can be closed once idle. */
  readonly retireCertificate?: (certificate: LoadedCertificate) => void;
  readonly tuning?: BindingServiceTuning;
  /** Where binding keys come from; the process's supply, with one key made ahead, unless a test gives another. */
  readonly keys?: BindingKeySupply;
}

/** A managed identity to bind: which one, and the client id the configuration expects, if it names one. */
export interface BindingIdentity {
  readonly selector: ManagedIdentitySelector;
  /** `managedIdentityClientId`: IMDS must name this identity, or the entry is unavailable. */
  readonly expectedClientId?: string | undefined;
  /** Where its binding keys come from (`bindingKeyPkcs11Uri`): software keys of this process when absent. */
  readonly keys?: BindingKeyStore | undefined;
}

/** Per-call options. */
export interface BindingCall {
  readonly signal?: AbortSignal | undefined;
  /** The caller's per-request timeout: the deadline of each IMDS attempt instead of the tuned one. */
  readonly timeoutMs?: number | undefined;
  /** A secret-free name of who asks (an entry id), for logs. */
  readonly requester?: string | undefined;
}

/**
 * A binding certificate with its key and what `issuecredential` said with it. Immutable: a
 * renewal is a new instance, so a certificate is never paired with another generation's token.
 */
export class BindingCertificate {
  /** The certificate and its private key, for the TLS handshake. */
  readonly certificate: LoadedCertificate;
  /** The key pair the certificate was issued for; told when the certificate is retired. */
  readonly key: BindingKeyPair;
  /** Canonical client id of the identity: the `client_id` of the token request made with it. */
  readonly clientId: string;
  /** Tenant of the identity. */
  readonly tenantId: string;
  /** `SystemAssigned`, `UserAssigned` or similar; informative only. */
  readonly identityType: string;
  /** `{mtls_authentication_endpoint}/{tenant_id}/oauth2/v2.0/token`. */
  readonly tokenEndpoint: string;
  /** The correlation id of the mint, for the token request that follows. */
  readonly correlationId: string;

  constructor(certificate: LoadedCertificate, issued: IssuedCredential, correlationId: string, key: BindingKeyPair) {
    this.certificate = certificate;
    this.key = key;
    this.clientId = issued.clientId;
    this.tenantId = issued.tenantId;
    this.identityType = issued.identityType;
    this.tokenEndpoint = `${issued.mtlsAuthenticationEndpoint}/${issued.tenantId}/oauth2/v2.0/token`;
    this.correlationId = correlationId;
    Object.freeze(this);
  }

  toJSON(): Record<string, string> {
    return { certificate: this.certificate.thumbprintSha256, clientId: this.clientId, tokenEndpoint: this.tokenEndpoint };
  }

  [inspect.custom](): string {
    return `BindingCertificate ${inspect(this.toJSON())}`;
  }
}

/** What {@link ManagedIdentityBindingService.probe} found, step by step; a step not reached is undefined. */
export interface BindingProbe {
  /** `host[:port]` of IMDS. */
  readonly imdsHost: string;
  /** Another managed identity host's variable, when one is set (a mint would refuse to run). */
  readonly otherHost: { readonly variable: string; readonly hosts: string } | undefined;
  /** `getplatformmetadata`: what it answered, or why it failed. */
  readonly metadata: { readonly ok: true; readonly value: PlatformMetadata } | { readonly ok: false; readonly error: unknown };
  /** Why IMDS's identity is not the configured one (a mint would refuse it). */
  readonly identityMismatch: string | undefined;
  /** `issuecredential` and the checks of its certificate, when asked for: the certificate, or why there is none. */
  readonly issued: { readonly ok: true; readonly value: BindingCertificate } | { readonly ok: false; readonly error: unknown } | undefined;
}

/**
 * Binding certificates by identity, minted on first use and renewed at half of their lifetime
 * (see {@link isBindingFresh}); concurrent callers of one identity share one mint.
 */
export class ManagedIdentityBindingService {
  readonly #context: BindingServiceContext;
  readonly #cache: BindingCertificateCache<BindingCertificate>;
  readonly #keys: BindingKeySupply;
  readonly #log = credentialLogger("BoundClientCredential");

  constructor(context: BindingServiceContext) {
    this.#context = context;
    this.#keys = context.keys ?? processBindingKeys;
    // A replaced certificate's TLS agent is closed once its in-flight requests are done.
    this.#cache = new BindingCertificateCache<BindingCertificate>(context.now, (discarded) => {
      context.retireCertificate?.(discarded.certificate);
      discarded.key.retire?.();
    });
  }

  /**
   * Starts making a binding key ahead (off the event loop, or in the token), so that the first
   * mint does not wait for one: for a credential with a bound managed identity entry, at construction.
   */
  prepare(identity?: BindingIdentity): void {
    this.#supplyOf(identity).prepare();
  }

  /** Whether binding keys are attested (the application gave an `attestationProvider`). */
  get attests(): boolean {
    return this.#context.options.attestationProvider !== undefined;
  }

  /** The cache key of `identity`: IMDS, selector and whether keys are attested, as MSAL.NET keys it (`#att=0|1`). */
  keyOf(identity: BindingIdentity): string {
    return bindingCacheKey({
      imdsEndpoint: this.#context.options.imdsEndpoint,
      identitySelector: selectorLabel(identity.selector),
      attested: this.attests,
      keyStore: identity.keys?.label,
    });
  }

  #supplyOf(identity: BindingIdentity | undefined): BindingKeySupply {
    return identity?.keys?.supply ?? this.#keys;
  }

  /**
   * The current binding certificate of `identity`, minting one when there is none or it is due.
   * A caller that aborts stops waiting; the shared mint goes on for the others.
   *
   * @throws SourceUnavailableError naming why this host cannot bind (no IMDS v2, another managed
   *   identity host, attestation needed, another identity, …)
   */
  certificate(identity: BindingIdentity, call: BindingCall = {}): Promise<BindingCertificate> {
    return this.#cache.get(this.keyOf(identity), (flightSignal) => this.#mint(identity, call, flightSignal), call.signal);
  }

  /**
   * Drops the binding certificate of `identity` so that the next {@link certificate} mints a new
   * key and certificate. With `rejected`, only if it is still the current one: concurrent
   * rejections of one certificate make one new certificate, not one each.
   */
  renew(identity: BindingIdentity, rejected?: LoadedCertificate): void {
    const key = this.keyOf(identity);
    const current = this.#cache.peek(key);
    if (current === undefined) return;
    if (rejected === undefined || current.certificate === rejected) this.#cache.invalidate(key, current);
  }

  /**
   * Runs the steps of a mint and reports each, without caching and without refusing on the way:
   * what `bound-credential doctor` shows. With `issue: false` it stops after the metadata.
   */
  async probe(identity: BindingIdentity, call: BindingCall & { readonly issue: boolean }): Promise<BindingProbe> {
    return this.#withImds(call, async (imds) => {
      const correlationId = randomUUID();
      const otherHost = otherManagedIdentityHost(this.#context.env);
      let metadata: PlatformMetadata;
      try {
        metadata = await imds.getPlatformMetadata(identity.selector, { correlationId, ...signalOf(call) });
      } catch (error) {
        return { imdsHost: imds.host, otherHost, metadata: { ok: false, error }, identityMismatch: undefined, issued: undefined };
      }
      const identityMismatch = this.#identityMismatch(identity, metadata, imds.host);
      let issued: BindingProbe["issued"];
      if (call.issue) {
        try {
          issued = { ok: true, value: await this.#issue(imds, identity, metadata, correlationId, call.signal) };
        } catch (error) {
          issued = { ok: false, error };
        }
      }
      return { imdsHost: imds.host, otherHost, metadata: { ok: true, value: metadata }, identityMismatch, issued };
    });
  }

  /**
   * The shared mint. No caller's own signal reaches it, only the flight's, which aborts once every
   * caller has gone, and the first caller's timeout for each IMDS attempt.
   */
  async #mint(identity: BindingIdentity, call: BindingCall, signal: AbortSignal): Promise<BindingCertificate> {
    const other = otherManagedIdentityHost(this.#context.env);
    if (other !== undefined) {
      throw new SourceUnavailableError(
        `${other.variable} is set: this is ${other.hosts}, whose managed identity endpoint cannot issue binding certificates. ` +
          "Bound managed identity needs an Azure VM with the IMDS v2 credential endpoint; use an unbound entry here.",
      );
    }
    try {
      return await this.#withImds(call, async (imds) => {
        const correlationId = randomUUID();
        const metadata = await imds.getPlatformMetadata(identity.selector, { correlationId, signal });
        const mismatch = this.#identityMismatch(identity, metadata, imds.host);
        if (mismatch !== undefined) throw new SourceUnavailableError(mismatch);
        const minted = await this.#issue(imds, identity, metadata, correlationId, signal);
        this.#log.info(
          `getToken() => ${call.requester ?? "managed identity"}: binding certificate ${minted.certificate.thumbprintSha256} issued by IMDS at ${imds.host} for ${minted.identityType} ${minted.clientId}, valid until ${minted.certificate.notAfter.toISOString()}`,
        );
        return minted;
      });
    } catch (error) {
      throw mintFailure(error);
    }
  }

  #identityMismatch(identity: BindingIdentity, metadata: PlatformMetadata, imdsHost: string): string | undefined {
    const expected = identity.expectedClientId;
    if (expected === undefined || metadata.clientId.toLowerCase() === expected.toLowerCase()) return undefined;
    return (
      `The managed identity of this host (client id ${metadata.clientId}, from IMDS at ${imdsHost}) is not the configured managedIdentityClientId ${expected}. ` +
      "Assign that user-assigned identity to this VM, or correct managedIdentityClientId."
    );
  }

  /** Key, CSR, attestation, `issuecredential`, and the checks of what came back. */
  async #issue(
    imds: ImdsV2Client,
    identity: BindingIdentity,
    metadata: PlatformMetadata,
    correlationId: string,
    signal: AbortSignal | undefined,
  ): Promise<BindingCertificate> {
    const supply = this.#supplyOf(identity);
    const key = await supply.take();
    // The next mint (at half of this certificate's lifetime, or after a rejection) finds a key ready.
    supply.replenish();
    try {
      const csr = await createBindingCsr({ clientId: metadata.clientId, tenantId: metadata.tenantId, cuId: metadata.cuId, key });
      const attestationToken = await this.#attest(metadata.attestationEndpoint, metadata.clientId, key, signal);
      const issued = await imds.issueCredential(identity.selector, { csr, attestationToken }, { correlationId, ...(signal === undefined ? {} : { signal }) });
      if (!key.matches(issued.certificate)) {
        throw new SourceUnavailableError(
          `IMDS at ${imds.host} issued a binding certificate (${issued.certificate.fingerprint256}) whose public key is not the key of the request; it cannot be used.`,
        );
      }
      const certificate = new LoadedCertificate([issued.certificate], key.tlsKey);
      if (certificate.notAfter.getTime() <= this.#context.now()) {
        throw new SourceUnavailableError(
          `IMDS at ${imds.host} issued a binding certificate that expired on ${certificate.notAfter.toISOString()}; check the clock of this machine.`,
        );
      }
      return new BindingCertificate(certificate, issued, correlationId, key);
    } catch (error) {
      // No certificate uses the key: a key kept in a token is removed.
      key.retire?.();
      throw error;
    }
  }

  async #attest(attestationEndpoint: string, clientId: string, key: BindingKeyPair, signal: AbortSignal | undefined): Promise<string | undefined> {
    const provider = this.#context.options.attestationProvider;
    if (provider === undefined) return undefined;
    let token: unknown;
    try {
      token = await provider({
        attestationEndpoint,
        clientId,
        publicKeyPem: key.publicKeyPem,
        keyStorage: key.storage,
        ...(key.pkcs11Uri === undefined ? {} : { pkcs11Uri: key.pkcs11Uri }),
        ...(signal === undefined ? {} : { abortSignal: signal }),
      });
    } catch (err) {
      throw new SourceUnavailableError(
        `The attestationProvider failed to attest the binding key: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    // Fail closed, as MSAL.NET does (`ImdsV2ManagedIdentitySource.cs`): a configured provider that returns nothing is an error.
    if (typeof token !== "string" || token.trim() === "") {
      throw new SourceUnavailableError("The attestationProvider returned no attestation token (expected a non-empty string).");
    }
    return token;
  }

  /**
   * Runs `fn` with an IMDS client of its own: a short connect timeout (IMDS is link-local), made
   * for one mint and closed after it; mints happen once per certificate half-life.
   */
  async #withImds<T>(call: BindingCall, fn: (imds: ImdsV2Client) => Promise<T>): Promise<T> {
    const tuning = this.#context.tuning ?? {};
    const requestTimeoutMs = call.timeoutMs ?? tuning.imdsRequestTimeoutMs;
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
        ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
        onRetry: (event) =>
          this.#log.verbose(`getToken() => ${call.requester ?? "managed identity"}: IMDS retry ${event.retry} in ${event.delayMs} ms (${event.policy})`),
      });
      return await fn(imds);
    } finally {
      await http.close();
    }
  }
}

function signalOf(call: BindingCall): { signal?: AbortSignal } {
  return call.signal === undefined ? {} : { signal: call.signal };
}

function mintFailure(err: unknown): unknown {
  if (err instanceof SourceUnavailableError) return err;
  if (err instanceof ImdsV2Error) return new SourceUnavailableError(err.message, { cause: err });
  if (err instanceof TransportError && err.kind === "aborted") return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SourceUnavailableError(`Minting a managed identity binding certificate failed: ${message}`, { cause: err });
}
