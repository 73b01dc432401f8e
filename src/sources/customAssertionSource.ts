import { decodeJwt } from "jose";
import { inspect } from "node:util";
import type { NormalizedEntry, NormalizedOptions } from "../configuration/normalized.ts";
import type {
  AssertionRequestContext,
  BoundAssertion,
  CustomSignedAssertionCredentialDescription,
  CustomSignedAssertionProvider,
} from "../configuration/types.ts";
import { AssertionValue } from "./assertionValue.ts";
import { CachedSource } from "./cachedSource.ts";
import { parsePemCertificate } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import { messageOf, withContext } from "./reasons.ts";
import { type AssertionResult, SourceUnavailableError, type SourceMaterial } from "./types.ts";

/**
 * A `CustomSignedAssertion` entry: the provider (inline, or registered by name in the options) is
 * called for every assertion the acquisition needs. A string is an unbound assertion; a
 * {@link BoundAssertion} carries the certificate that a bound entry presents in the TLS handshake.
 * Failures of the provider make the entry unavailable with the provider's message (its message
 * only: the error object may hold anything).
 */
export class CustomAssertionSource extends CachedSource {
  readonly #description: Readonly<CustomSignedAssertionCredentialDescription>;
  readonly #providers: NormalizedOptions["customSignedAssertionProviders"];
  readonly #bound: boolean;

  constructor(
    entry: NormalizedEntry,
    description: Readonly<CustomSignedAssertionCredentialDescription>,
    options: NormalizedOptions,
    now: () => number,
  ) {
    super(entry, now);
    this.#description = description;
    this.#providers = options.customSignedAssertionProviders;
    this.#bound = entry.bound;
  }

  protected override async read(): Promise<SourceMaterial> {
    const { getAssertion, customSignedAssertionProviderName: name } = this.#description;
    let provider: CustomSignedAssertionProvider | undefined = getAssertion;
    if (provider === undefined && name !== undefined) {
      provider = Object.hasOwn(this.#providers, name) ? this.#providers[name] : undefined;
      if (provider === undefined) {
        throw new SourceUnavailableError(
          `no custom assertion provider named "${name}" is registered; add it to customSignedAssertionProviders`,
        );
      }
    }
    if (provider === undefined) {
      throw new SourceUnavailableError(
        "the entry names no assertion provider: set getAssertion, or customSignedAssertionProviderName",
      );
    }
    return new CustomAssertionMaterial(provider, this.#bound, () => this.now());
  }
}

/** Calls the provider and checks what it returns. */
class CustomAssertionMaterial {
  readonly kind = "assertion" as const;
  readonly #provider: CustomSignedAssertionProvider;
  readonly #bound: boolean;
  readonly #now: () => number;

  constructor(provider: CustomSignedAssertionProvider, bound: boolean, now: () => number) {
    this.#provider = provider;
    this.#bound = bound;
    this.#now = now;
  }

  async getAssertion(context: AssertionRequestContext): Promise<AssertionResult> {
    let result: unknown;
    try {
      result = await this.#provider(context);
    } catch (error) {
      if (context.abortSignal?.aborted === true) throw context.abortSignal.reason;
      throw new SourceUnavailableError(`the custom assertion provider failed: ${messageOf(error)}`);
    }
    if (typeof result === "string") {
      if (this.#bound) {
        throw new SourceUnavailableError(
          "the provider returned no binding certificate, and this entry is bound; return { assertion, bindingCertificate, bindingPrivateKey }",
        );
      }
      return new AssertionValue(result, expiryOf(result));
    }
    if (!isBoundAssertion(result)) {
      throw new SourceUnavailableError(
        "the custom assertion provider returned neither a string nor { assertion, bindingCertificate, bindingPrivateKey }",
      );
    }
    const expiresOn = expiryOf(result.assertion);
    // An unbound entry never presents a certificate: binding is opted into per entry, not by the provider.
    if (!this.#bound) return new AssertionValue(result.assertion, expiresOn);
    if (typeof result.bindingCertificate !== "string" || result.bindingCertificate.trim() === "") {
      throw new SourceUnavailableError("the provider returned no binding certificate");
    }
    const { bindingCertificate, bindingPrivateKey } = result;
    const certificate = withContext("the binding certificate returned by the custom assertion provider", () => {
      if (bindingPrivateKey === undefined) throw new SourceUnavailableError("the provider returned no bindingPrivateKey");
      const parsed = parsePemCertificate(bindingCertificate, { privateKey: bindingPrivateKey });
      assertCertificateTimeValid(parsed, this.#now());
      return parsed;
    });
    return new AssertionValue(result.assertion, expiresOn, certificate);
  }

  toJSON(): Record<string, string> {
    return { kind: this.kind };
  }

  [inspect.custom](): string {
    return "CustomAssertionMaterial {}";
  }
}

function isBoundAssertion(value: unknown): value is Partial<BoundAssertion> & { assertion: string } {
  return typeof value === "object" && value !== null && "assertion" in value && typeof value.assertion === "string";
}

/** The `exp` of the assertion, in ms; the provider must return a JWT, as Entra accepts nothing else. */
function expiryOf(assertion: string): number | undefined {
  if (assertion.trim() === "") throw new SourceUnavailableError("the custom assertion provider returned an empty assertion");
  let exp: unknown;
  try {
    exp = decodeJwt(assertion).exp;
  } catch {
    throw new SourceUnavailableError("the custom assertion provider returned an assertion that is not a JWT");
  }
  return typeof exp === "number" ? exp * 1000 : undefined;
}
