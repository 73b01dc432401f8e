import { inspect } from "node:util";
import { type Checker, describeType, echo, frozenDataCopy, isPlainObject, readFunction, readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf, NormalizedOptions } from "../configuration/normalized.ts";
import { closestMatch } from "../configuration/suggest.ts";
import type {
  AssertionRequestContext,
  BoundAssertion,
  CustomSignedAssertionCredentialDescription,
  CustomSignedAssertionProvider,
} from "../configuration/types.ts";
import { type Jose, loadJose } from "../dependencies.ts";
import { AssertionValue } from "./assertionValue.ts";
import { CachedSource } from "./cachedSource.ts";
import type { Normalized, SourceDescriptor } from "./descriptor.ts";
import { parsePemCertificate } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import { messageOf } from "../text.ts";
import { withContext } from "./reasons.ts";
import { type AssertionResult, SourceUnavailableError, type SourceMaterial } from "./types.ts";

/**
 * A `CustomSignedAssertion` entry: the provider (inline, or registered by name in the options) is
 * called for every assertion the acquisition needs. A string is an unbound assertion; a
 * {@link BoundAssertion} carries the certificate that a bound entry presents in the TLS handshake.
 * Failures of the provider make the entry unavailable with the provider's message (its message
 * only: the error object may hold anything).
 */
export class CustomAssertionSource extends CachedSource {
  readonly #description: NormalizedCustomSignedAssertionDescription;
  readonly #providers: NormalizedOptions["customSignedAssertionProviders"];
  readonly #bound: boolean;

  constructor(entry: NormalizedEntryOf<NormalizedCustomSignedAssertionDescription>, options: NormalizedOptions, now: () => number) {
    super(entry, now);
    this.#description = entry.description;
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
      return new AssertionValue(result, expiryOf(await loadJose(), result));
    }
    if (!isBoundAssertion(result)) {
      throw new SourceUnavailableError(
        "the custom assertion provider returned neither a string nor { assertion, bindingCertificate, bindingPrivateKey }",
      );
    }
    const expiresOn = expiryOf(await loadJose(), result.assertion);
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
function expiryOf({ decodeJwt }: Jose, assertion: string): number | undefined {
  if (assertion.trim() === "") throw new SourceUnavailableError("the custom assertion provider returned an empty assertion");
  let exp: unknown;
  try {
    exp = decodeJwt(assertion).exp;
  } catch {
    throw new SourceUnavailableError("the custom assertion provider returned an assertion that is not a JWT");
  }
  return typeof exp === "number" ? exp * 1000 : undefined;
}

/** A `CustomSignedAssertion` entry as validated: exactly one of the inline and the named provider. */
export type NormalizedCustomSignedAssertionDescription = Normalized<CustomSignedAssertionCredentialDescription>;

/** The `CustomSignedAssertion` source type. */
export const customSignedAssertionSourceType: SourceDescriptor<
  "CustomSignedAssertion",
  NormalizedCustomSignedAssertionDescription
> = {
  sourceType: "CustomSignedAssertion",
  keys: ["getAssertion", "customSignedAssertionProviderName", "customSignedAssertionProviderData"],
  codeOnlyKeys: ["getAssertion"],
  read(fields) {
    // Annotated, so that `c.fail` (which never returns) narrows what follows it.
    const c: Checker = fields.c;
    const { entry: e, path, context } = fields;
    const getAssertion = readFunction<CustomSignedAssertionProvider>(
      c,
      e,
      "getAssertion",
      path,
      "a function that returns a signed assertion (or { assertion, bindingCertificate, bindingPrivateKey })",
    );
    const name = readString(c, e, "customSignedAssertionProviderName", path, {
      meaning: "the name of a provider registered in customSignedAssertionProviders",
    });
    const data = e["customSignedAssertionProviderData"];
    if (data !== undefined && !isPlainObject(data)) {
      c.fail(
        "BCC_INVALID_TYPE",
        [...path, "customSignedAssertionProviderData"],
        `must be an object but is ${describeType(data)}.`,
        "Give the provider's data as an object of key/value pairs, or leave it out.",
      );
    }
    if (getAssertion === undefined && name === undefined) {
      c.fail(
        "BCC_MISSING_FIELD",
        [...path, "getAssertion"],
        `is missing, and so is ${c.key("customSignedAssertionProviderName")}: a CustomSignedAssertion entry needs a provider.`,
        `Pass getAssertion (a function returning the assertion), or name a provider registered in customSignedAssertionProviders with ${c.key("customSignedAssertionProviderName")}.`,
      );
    }
    if (getAssertion !== undefined && name !== undefined) {
      c.fail(
        "BCC_CONFLICTING_FIELDS",
        [...path, "customSignedAssertionProviderName"],
        "is given together with getAssertion, so it is unclear which provider to use.",
        `Keep either getAssertion or ${c.key("customSignedAssertionProviderName")}, not both.`,
      );
    }
    const providerNames = context.providerNames;
    if (name !== undefined && !providerNames.includes(name)) {
      const match = closestMatch(name, providerNames);
      c.fail(
        "BCC_UNKNOWN_PROVIDER",
        [...path, "customSignedAssertionProviderName"],
        `names the provider ${echo(name)}, which is not registered.${match === undefined ? "" : ` Did you mean ${match}?`}`,
        providerNames.length === 0
          ? "Register it with the customSignedAssertionProviders option ({ [name]: async (context) => assertion }), or pass getAssertion on the entry."
          : `Register it in customSignedAssertionProviders, or use one of the registered names: ${providerNames.join(", ")}.`,
      );
    }
    return {
      description: {
        sourceType: "CustomSignedAssertion",
        ...(getAssertion === undefined ? {} : { getAssertion }),
        ...(name === undefined ? {} : { customSignedAssertionProviderName: name }),
        ...(data === undefined ? {} : { customSignedAssertionProviderData: frozenDataCopy(data) }),
      },
      detail: `CustomSignedAssertion ${name ?? "inline"}`,
    };
  },
  create: (entry, context) => new CustomAssertionSource(entry, context.options, context.now),
};
