/**
 * The unbound `SignedAssertionFromManagedIdentity` source: a managed identity token whose audience
 * is the token exchange URL, used as a federated client assertion. The token comes from the
 * managed identity token client (msal-node's managed identity support: IMDS v1, App Service, Arc,
 * Cloud Shell, Service Fabric, Machine Learning, over our transport).
 */
import { inspect } from "node:util";
import { DEFAULT_TOKEN_EXCHANGE_URL } from "../constants.ts";
import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { SignedAssertionFromManagedIdentityCredentialDescription } from "../configuration/types.ts";
import type { ManagedIdentitySelector } from "../transport/imdsV2.ts";
import type { Sleep } from "../transport/retry.ts";
import type { SourceContext } from "./index.ts";
import { selectorOf } from "./managedIdentity/identity.ts";
import { createManagedIdentityServices, type ManagedIdentityServices } from "./managedIdentity/services.ts";
import type { AssertionResult, CredentialSource, SourceMaterial } from "./types.ts";
import { SourceUnavailableError } from "./types.ts";

/** Tunables of the managed identity requests, for tests; the credential's services carry their own. */
export interface ManagedIdentitySourceDependencies {
  /** Waits between retries; injectable so tests count attempts without waiting. */
  readonly sleep?: Sleep;
  /** Per-request deadline, in ms. Default 15 s. */
  readonly requestTimeoutMs?: number;
  /** Connect timeout for the managed identity host, in ms. Default 2 s. */
  readonly connectTimeoutMs?: number;
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
  context: SourceContext & ManagedIdentitySourceDependencies,
): CredentialSource {
  const services =
    context.managedIdentity ??
    createManagedIdentityServices({
      ...context,
      tuning: {
        ...(context.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: context.requestTimeoutMs }),
        ...(context.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: context.connectTimeoutMs }),
      },
    });
  const description = entry.description as Readonly<SignedAssertionFromManagedIdentityCredentialDescription>;
  // Defaulted once, per cloud, when the entry was read.
  const exchangeUrl = description.tokenExchangeUrl ?? DEFAULT_TOKEN_EXCHANGE_URL;
  return new ManagedIdentityAssertionSource(entry, selectorOf(description), exchangeUrl.replace(/\/\.default$/, ""), services);
}

class ManagedIdentityAssertionSource implements CredentialSource {
  readonly #entry: NormalizedEntry;
  readonly #selector: ManagedIdentitySelector;
  readonly #resource: string;
  readonly #services: ManagedIdentityServices;
  readonly #material: SourceMaterial;

  constructor(entry: NormalizedEntry, selector: ManagedIdentitySelector, resource: string, services: ManagedIdentityServices) {
    this.#entry = entry;
    this.#selector = selector;
    this.#resource = resource;
    this.#services = services;
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
    await this.#services.tokens.check(this.#selector);
    return this.#material;
  }

  async reload(signal?: AbortSignal): Promise<SourceMaterial> {
    // A rejected assertion must not be sent again: the next request gets a fresh token.
    this.#services.tokens.forget(this.#selector, this.#resource);
    return this.load(signal);
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
    const token = await this.#services.tokens.token(this.#selector, this.#resource, { signal, timeoutMs, requester: this.#entry.id });
    return { assertion: token.token, expiresOnTimestamp: token.expiresOnTimestamp, bindingCertificate: undefined };
  }
}
