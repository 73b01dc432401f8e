import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { CredentialLogger } from "../logging.ts";
import type { LoadedCertificate } from "../sources/loadedCertificate.ts";
import { SecretScrubber, secretsOf } from "../transport/scrub.ts";
import { SourceUnavailableError, type CredentialSource, type SourceMaterial } from "../sources/types.ts";
import type { MtlsAcquirer } from "./bound/mtlsAcquirer.ts";
import { classifyFailure } from "./classifyFailure.ts";
import type { ListEntry } from "./credentialList.ts";
import type { EntryFailure } from "./entryOutcome.ts";
import type { AcquiredToken, RequestKind, TokenRequest } from "./types.ts";
import type { MsalAcquirer } from "./unbound/msalAcquirer.ts";

/** How often a loaded source is asked whether its material changed on disk. */
export const ROTATION_CHECK_INTERVAL_MS = 60_000;

/** What a {@link SourceEntry} needs from the credential that owns it. */
export interface SourceEntryContext {
  readonly clientId: string;
  readonly msal: MsalAcquirer;
  readonly mtls: MtlsAcquirer;
  readonly now: () => number;
  readonly logger: CredentialLogger;
  /** The mTLS token endpoint for a tenant (region resolved). */
  mtlsTokenEndpoint(tenantId: string, signal: AbortSignal): Promise<string>;
  /** The resolved region for unbound requests, if any. */
  region(signal: AbortSignal): Promise<string | undefined>;
  /** Called when a certificate is replaced, so its TLS agent can be closed once idle. */
  retireCertificate(certificate: LoadedCertificate): void;
}

/** An entry of the ordered list backed by a credential source. */
export class SourceEntry implements ListEntry {
  readonly entry: NormalizedEntry;
  readonly #source: CredentialSource;
  readonly #context: SourceEntryContext;
  #lastRotationCheck = 0;
  #lastCertificate: LoadedCertificate | undefined;
  /** The binding certificate each request presented, so that its reload names the one refused. */
  readonly #presented = new WeakMap<TokenRequest, LoadedCertificate>();
  /** Cuts what a request of this entry carried out of a failure a host may have echoed it into. */
  readonly #scrubber: SecretScrubber;

  constructor(entry: NormalizedEntry, source: CredentialSource, context: SourceEntryContext) {
    this.entry = entry;
    this.#source = source;
    this.#context = context;
    this.#scrubber = new SecretScrubber(secretsOf(entry.description));
  }

  async acquire(request: TokenRequest, reload: boolean): Promise<AcquiredToken> {
    const material = await this.#material(request.signal, reload ? { rejected: this.#presented.get(request) } : undefined);
    const certificate = material.kind === "certificate" ? ` with certificate ${material.certificate.thumbprintSha256}` : "";
    if (!this.entry.bound) {
      this.#context.logger.verbose(
        `${this.entry.id} => requesting a token${certificate} (correlation id ${request.correlationId}).`,
      );
      return this.#context.msal.acquire(this.entry, material, request, await this.#context.region(request.signal));
    }
    const tokenEndpoint = await this.#context.mtlsTokenEndpoint(request.tenantId, request.signal);
    if (material.kind === "certificate") {
      this.#context.logger.verbose(
        `${this.entry.id} => requesting a token over mutual TLS from ${new URL(tokenEndpoint).host}${certificate} (correlation id ${request.correlationId}).`,
      );
      return this.#context.mtls.withCertificate(material.certificate, request, tokenEndpoint);
    }
    if (material.kind === "assertion") {
      const bound = await material.getAssertion({
        clientId: this.#context.clientId,
        tokenEndpoint,
        tenantId: request.tenantId,
        bound: true,
        abortSignal: request.signal,
        ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
      });
      const bindingCertificate = bound.bindingCertificate;
      if (bindingCertificate === undefined) {
        throw new SourceUnavailableError(
          "the entry is bound but its assertion came without a binding certificate; return { assertion, bindingCertificate, bindingPrivateKey } from the provider, or set useBoundCredential to false.",
        );
      }
      this.#noteCertificate(bindingCertificate);
      this.#presented.set(request, bindingCertificate);
      this.#context.logger.verbose(
        `${this.entry.id} => requesting a token over mutual TLS from ${new URL(tokenEndpoint).host} with binding certificate ${bindingCertificate.thumbprintSha256} (correlation id ${request.correlationId}).`,
      );
      return this.#context.mtls.withBoundAssertion({ ...bound, bindingCertificate }, request, tokenEndpoint);
    }
    throw new SourceUnavailableError("a client secret cannot be used over mutual TLS; set useBoundCredential to false for it.");
  }

  classify(error: unknown, kind: RequestKind): EntryFailure {
    const failure = classifyFailure(this.entry, error, kind);
    return { ...failure, reason: this.#scrubber.text(failure.reason), error: this.#scrubber.error(failure.error) };
  }

  /** @param reload - read the material again; `rejected` is the binding certificate Entra refused */
  async #material(signal: AbortSignal, reload: { rejected: LoadedCertificate | undefined } | undefined): Promise<SourceMaterial> {
    try {
      return await this.#loadMaterial(signal, reload);
    } catch (error) {
      if (error instanceof SourceUnavailableError || signal.aborted) throw error;
      // A source that breaks in a way it did not foresee still only takes its own entry out.
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new SourceUnavailableError(`loading its material failed unexpectedly (${message})`, { cause: error });
    }
  }

  async #loadMaterial(signal: AbortSignal, reload: { rejected: LoadedCertificate | undefined } | undefined): Promise<SourceMaterial> {
    let material: SourceMaterial;
    if (reload !== undefined) {
      material = await this.#source.reload(signal, reload.rejected);
    } else {
      material = await this.#source.load(signal);
      const now = this.#context.now();
      if (this.#source.hasChanged !== undefined && now - this.#lastRotationCheck >= ROTATION_CHECK_INTERVAL_MS) {
        this.#lastRotationCheck = now;
        if (await this.#source.hasChanged()) {
          this.#context.logger.info(`${this.entry.id} changed on disk; loading the new material.`);
          material = await this.#source.reload(signal);
        }
      }
    }
    if (material.kind === "certificate") this.#noteCertificate(material.certificate);
    return material;
  }

  #noteCertificate(certificate: LoadedCertificate): void {
    const previous = this.#lastCertificate;
    if (previous !== undefined && previous.thumbprintSha256 !== certificate.thumbprintSha256) {
      this.#context.logger.info(
        `${this.entry.id} now uses certificate ${certificate.thumbprintSha256} (was ${previous.thumbprintSha256}).`,
      );
      this.#context.retireCertificate(previous);
    }
    this.#lastCertificate = certificate;
  }
}
