/**
 * `SignedAssertionFromManagedIdentity` with `useBoundCredential: true` (as MSAL.NET's `ManagedIdentity/V2/ImdsV2ManagedIdentitySource.cs` does it):
 * an IMDS v2 binding certificate for a key made here, and with it, over mutual TLS, a managed
 * identity `mtls_pop` token for the token exchange audience ("leg 1"). The pair is the bound
 * assertion the app's own mTLS token request ("leg 2") presents: the token as `client_assertion`,
 * the certificate in the TLS handshake. The certificate comes from the managed identity binding
 * service, the token from the managed identity token client; this module joins them and declares
 * which failures a new certificate may cure.
 */
import type { AssertionRequestContext } from "../configuration/types.ts";
import type { NormalizedEntry } from "../configuration/normalized.ts";
import { credentialLogger } from "../logging.ts";
import type { SourceContext } from "./index.ts";
import type { LoadedCertificate } from "./loadedCertificate.ts";
import type { BindingIdentity } from "./managedIdentity/bindingService.ts";
import { describeRejection, isBindingRejection, selectorOf } from "./managedIdentity/identity.ts";
import { createManagedIdentityServices, type ManagedIdentityServices, type ManagedIdentityTuning } from "./managedIdentity/services.ts";
import { boundTokenFailure } from "./managedIdentity/tokenClient.ts";
import { type BindingKeyStore, Pkcs11BindingKeyStore } from "./managedIdentity/pkcs11BindingKeys.ts";
import type { NormalizedManagedIdentityDescription } from "./managedIdentitySourceType.ts";
import type { AssertionResult, CredentialSource, SourceMaterial } from "./types.ts";

/** Tunables for tests and unusual hosts; production uses the defaults. */
export type BoundManagedIdentityTuning = Pick<
  ManagedIdentityTuning,
  "imdsRetry" | "imdsConnectTimeoutMs" | "imdsRequestTimeoutMs" | "tokenRetry" | "tokenRequestTimeoutMs"
> & {
  /** How long a retired binding key stays in the token (60 s by default). */
  readonly retiredKeyGraceMs?: number;
};

/**
 * What {@link createBoundManagedIdentitySource} needs from the credential: the managed identity
 * services it shares with the other entries (made from the rest of the context when absent).
 */
export interface BoundManagedIdentityContext extends SourceContext {
  readonly tuning?: BoundManagedIdentityTuning;
}

/**
 * The bound managed identity source of one entry.
 *
 * `load()` hands out material whose `getAssertion` yields `{ assertion: <leg-1 mtls_pop token>,
 * expiresOnTimestamp, bindingCertificate }`, minting a binding certificate on first use. The
 * certificate and the token always come from one binding: a renewed certificate starts without a
 * token. A leg-1 failure that {@link isBindingRejection} names re-mints once. `reload()` and
 * `invalidateBinding()` force a re-mint (new key, CSR and certificate), for when leg 2 was
 * rejected (AADSTS500181, …).
 *
 * Unavailable (a `SourceUnavailableError` naming the reason): IMDS unreachable, IMDS v1 only,
 * something other than IMDS answering, attestation required without an `attestationProvider`, the
 * VM's identity not the configured `managedIdentityClientId`, another managed identity host (App
 * Service, …), and a leg 1 that cannot bind.
 */
export function createBoundManagedIdentitySource(
  entry: NormalizedEntry,
  context: BoundManagedIdentityContext,
): CredentialSource & { invalidateBinding(): void } {
  const description = entry.description;
  if (description.sourceType !== "SignedAssertionFromManagedIdentity") {
    throw new TypeError(`${entry.id} is a ${description.sourceType} entry, not SignedAssertionFromManagedIdentity.`);
  }
  const services = context.managedIdentity ?? createManagedIdentityServices({ ...context, tuning: context.tuning });
  const keys = bindingKeyStoreOf(description, context.env, context.tuning);
  const identity: BindingIdentity = { selector: selectorOf(description), expectedClientId: description.managedIdentityClientId, keys };
  services.binding.prepare(identity);
  // Defaulted once, per cloud, when the entry was read.
  const exchange = description.tokenExchangeUrl;
  return new BoundManagedIdentitySource(entry, identity, `${exchange.replace(/\/+$/, "")}/.default`, services);
}

/**
 * The token the entry's binding keys are generated in (`bindingKeyPkcs11Uri`), or undefined for
 * software keys. The caller closes it.
 */
export function bindingKeyStoreOf(
  description: NormalizedManagedIdentityDescription,
  env: Readonly<Record<string, string | undefined>>,
  tuning?: BoundManagedIdentityTuning,
): BindingKeyStore | undefined {
  if (description.bindingKey === undefined) return undefined;
  return new Pkcs11BindingKeyStore({
    fields: description.bindingKey,
    env,
    ...(tuning?.retiredKeyGraceMs === undefined ? {} : { retiredKeyGraceMs: tuning.retiredKeyGraceMs }),
  });
}

class BoundManagedIdentitySource implements CredentialSource {
  readonly #entry: NormalizedEntry;
  readonly #identity: BindingIdentity;
  readonly #scope: string;
  readonly #services: ManagedIdentityServices;
  readonly #material: SourceMaterial;
  readonly #log = credentialLogger("BoundClientCredential");

  constructor(entry: NormalizedEntry, identity: BindingIdentity, scope: string, services: ManagedIdentityServices) {
    this.#entry = entry;
    this.#identity = identity;
    this.#scope = scope;
    this.#services = services;
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
    // Another request that failed with the same certificate may have re-minted it already.
    this.#services.binding.renew(this.#identity, rejected);
    return this.load(signal);
  }

  /** A TLS refusal or an `invalid_client` met with this source's certificate means: mint a new one. */
  isBindingRejection(error: unknown): boolean {
    return isBindingRejection(error);
  }

  invalidateBinding(): void {
    this.#services.binding.renew(this.#identity);
  }

  /**
   * Removes the binding keys the entry made in a token (software keys go with the process). Its
   * certificate goes with them, so that a credential used after `close()` mints anew.
   */
  async close(): Promise<void> {
    const keys = this.#identity.keys;
    if (keys === undefined) return;
    this.#services.binding.renew(this.#identity);
    await keys.close();
  }

  toJSON(): Record<string, string> {
    return { entry: this.#entry.id, binding: this.#services.binding.keyOf(this.#identity) };
  }

  /** @param timeoutMs - the caller's per-request timeout, for IMDS and leg 1; the tuned ones when undefined */
  async #getAssertion(signal: AbortSignal | undefined, timeoutMs?: number): Promise<AssertionResult> {
    const call = { signal, timeoutMs, requester: this.#entry.id };
    for (let attempt = 0; ; attempt++) {
      const binding = await this.#services.binding.certificate(this.#identity, call);
      try {
        const token = await this.#services.tokens.boundToken(binding, this.#scope, call);
        return {
          assertion: token.token,
          expiresOnTimestamp: Math.min(token.expiresOnTimestamp, binding.certificate.notAfter.getTime()),
          bindingCertificate: binding.certificate,
        };
      } catch (err) {
        if (attempt === 0 && isBindingRejection(err)) {
          this.#log.warning(
            `getToken() => ${this.#entry.id}: leg 1 rejected binding certificate ${binding.certificate.thumbprintSha256} (${describeRejection(err)}); minting a new one`,
          );
          this.#services.binding.renew(this.#identity, binding.certificate);
          continue;
        }
        throw boundTokenFailure(err, binding);
      }
    }
  }
}
