import type { GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { onBehalfOfKind } from "./acquisition/onBehalfOf/userAssertion.ts";
import type { OnBehalfOfUserCredential } from "./acquisition/onBehalfOf/userCredential.ts";
import { BoundClientCredential } from "./boundClientCredential.ts";
import type { BoundAccessToken, BoundClientCredentialOptions, CredentialDescription } from "./configuration/types.ts";
import { BoundCredentialConfigurationError } from "./errors.ts";

/**
 * Options of {@link BoundOnBehalfOfCredential} with the ordered list, as
 * {@link BoundClientCredential} takes it, plus the user's token.
 *
 * @public
 */
export interface BoundOnBehalfOfCredentialListOptions extends BoundClientCredentialOptions {
  /** The access token the web API received from its caller (without `Bearer `). A secret. */
  userAssertionToken: string;
}

/**
 * What every drop-in form of {@link BoundOnBehalfOfCredential} shares: the options of
 * {@link BoundClientCredential} without the list, the user's token, and whether the one
 * credential is bound.
 *
 * @public
 */
export interface BoundOnBehalfOfCredentialDropInOptions extends Omit<BoundClientCredentialOptions, "clientCredentials"> {
  /** The access token the web API received from its caller (without `Bearer `). A secret. */
  userAssertionToken: string;
  /**
   * Obtain the tokens over mutual TLS: the certificate in the handshake with Entra's `mtlsauth`
   * token endpoint. Default `false`. Certificates only; a secret cannot be bound.
   */
  useBoundCredential?: boolean;
  /** Accepted for compatibility with `OnBehalfOfCredentialOptions`; this credential never calls instance discovery for known hosts. */
  disableInstanceDiscovery?: boolean;
}

/**
 * `OnBehalfOfCredential`'s certificate form: a PEM or PFX file.
 *
 * @public
 */
export interface BoundOnBehalfOfCredentialCertificateOptions extends BoundOnBehalfOfCredentialDropInOptions {
  /** A PEM file with certificate and private key, or a PFX/P12 file. */
  certificatePath: string;
  /** The PFX or encrypted PEM password. */
  certificatePassword?: string;
}

/**
 * `OnBehalfOfCredential`'s secret form.
 *
 * @public
 */
export interface BoundOnBehalfOfCredentialSecretOptions extends BoundOnBehalfOfCredentialDropInOptions {
  /** The app's client secret. */
  clientSecret: string;
}

/**
 * `OnBehalfOfCredential`'s assertion form: a callback returning a signed client assertion (a
 * federated token, for example a managed identity's).
 *
 * @public
 */
export interface BoundOnBehalfOfCredentialAssertionOptions extends BoundOnBehalfOfCredentialDropInOptions {
  /** Returns the client assertion; asked for again whenever a token is requested from Entra. */
  getAssertion: () => Promise<string>;
}

/**
 * Options of {@link BoundOnBehalfOfCredential}: the ordered list, or one of the drop-in forms of
 * `@azure/identity`'s `OnBehalfOfCredential`.
 *
 * @public
 */
export type BoundOnBehalfOfCredentialOptions =
  | BoundOnBehalfOfCredentialListOptions
  | BoundOnBehalfOfCredentialCertificateOptions
  | BoundOnBehalfOfCredentialSecretOptions
  | BoundOnBehalfOfCredentialAssertionOptions;

/** The keys that choose a drop-in form; exactly one, and not with `clientCredentials`. */
const DROP_IN_KEYS = ["certificatePath", "clientSecret", "getAssertion"] as const;

/** Keys of the drop-in forms that are not options of {@link BoundClientCredential}. */
const DROP_IN_ONLY_KEYS = new Set<string>([
  ...DROP_IN_KEYS,
  "certificatePassword",
  "useBoundCredential",
  "disableInstanceDiscovery",
  "userAssertionToken",
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The one entry a drop-in form describes. */
function dropInEntry(options: Record<string, unknown>, chosen: (typeof DROP_IN_KEYS)[number]): CredentialDescription {
  const bound = options["useBoundCredential"];
  if (bound !== undefined && typeof bound !== "boolean") {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_TYPE",
      "useBoundCredential",
      `Expected a boolean, got ${typeof bound}.`,
      "Pass true to obtain tokens over mutual TLS, or leave it out.",
    );
  }
  const useBoundCredential = bound === true;
  switch (chosen) {
    case "certificatePath":
      return {
        sourceType: "Path",
        certificateDiskPath: options["certificatePath"] as string,
        ...(options["certificatePassword"] === undefined ? {} : { certificatePassword: options["certificatePassword"] as string }),
        useBoundCredential,
      };
    case "clientSecret":
      // A secret cannot bind; validation refuses `useBoundCredential: true` with its own error, so it is passed on as given.
      return { sourceType: "ClientSecret", clientSecret: options["clientSecret"] as string, useBoundCredential } as unknown as CredentialDescription;
    case "getAssertion": {
      const getAssertion = options["getAssertion"];
      if (typeof getAssertion !== "function") {
        throw new BoundCredentialConfigurationError(
          "BCC_INVALID_TYPE",
          "getAssertion",
          `Expected a function returning a promise of the client assertion, got ${typeof getAssertion}.`,
          "Pass an async function that returns a signed assertion (a JWT).",
        );
      }
      return {
        sourceType: "CustomSignedAssertion",
        getAssertion: () => (getAssertion as () => Promise<string>)(),
        useBoundCredential,
      };
    }
  }
}

/** The app options behind `options`, and the user's token. */
function appOptionsOf(options: unknown): { app: BoundClientCredentialOptions; userAssertionToken: unknown } {
  if (!isRecord(options)) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_OPTIONS",
      "",
      `BoundOnBehalfOfCredential takes an options object, got ${options === null ? "null" : typeof options}.`,
      "Pass { tenantId, clientId, userAssertionToken } and clientCredentials, or one of certificatePath, clientSecret or getAssertion.",
    );
  }
  const chosen = DROP_IN_KEYS.filter((key) => options[key] !== undefined);
  if (options["clientCredentials"] !== undefined) {
    if (chosen.length > 0 || options["useBoundCredential"] !== undefined) {
      throw new BoundCredentialConfigurationError(
        "BCC_CONFLICTING_FIELDS",
        [...chosen, ...(options["useBoundCredential"] === undefined ? [] : ["useBoundCredential"])].join(", "),
        "clientCredentials is given together with a drop-in credential option.",
        "Describe every credential in clientCredentials (each with its own useBoundCredential), or give one of certificatePath, clientSecret or getAssertion without clientCredentials.",
      );
    }
    const { userAssertionToken, ...app } = options;
    return { app: app as unknown as BoundClientCredentialOptions, userAssertionToken };
  }
  const first = chosen[0];
  if (first === undefined || chosen.length > 1) {
    throw new BoundCredentialConfigurationError(
      chosen.length > 1 ? "BCC_CONFLICTING_FIELDS" : "BCC_MISSING_FIELD",
      chosen.length > 1 ? chosen.join(", ") : "clientCredentials",
      chosen.length > 1 ? "More than one credential is given." : "No credential is given.",
      "Give clientCredentials (an ordered list), or exactly one of certificatePath (with certificatePassword), clientSecret or getAssertion.",
    );
  }
  const entry = dropInEntry(options, first);
  const app: Record<string, unknown> = { clientCredentials: [entry] };
  for (const [key, value] of Object.entries(options)) if (!DROP_IN_ONLY_KEYS.has(key)) app[key] = value;
  // Symbol-keyed options (the runtime's seams) go on to the app credential as they are.
  for (const key of Object.getOwnPropertySymbols(options)) (app as Record<symbol, unknown>)[key] = (options as Record<symbol, unknown>)[key];
  return { app: app as unknown as BoundClientCredentialOptions, userAssertionToken: options["userAssertionToken"] };
}

/**
 * A `TokenCredential` that obtains tokens on behalf of a user (OAuth 2.0 On-Behalf-Of): a web API
 * exchanges the token its caller sent for a token to a downstream API, authenticating as itself
 * with the first entry of its ordered list that works. Entries flagged `useBoundCredential` do
 * so over mutual TLS — a bound certificate to Entra's `mtlsauth` token endpoint with its
 * `jwt-bearer` assertion, as MSAL.NET 4.84.2 does for user flows — and the token handed back is a
 * Bearer token any Azure SDK client takes.
 *
 * It mirrors `@azure/identity`'s `OnBehalfOfCredential`: `{ tenantId, clientId, userAssertionToken }`
 * with one of `certificatePath` (and `certificatePassword`, `sendCertificateChain`),
 * `clientSecret` or `getAssertion`, plus `useBoundCredential`; or `clientCredentials`, the list
 * {@link BoundClientCredential} takes. A web API that serves many users builds one app credential
 * and calls {@link BoundClientCredential.onBehalfOf} per request instead, sharing its caches and
 * connections.
 *
 * Errors of the user's token are the caller's, not the entry's: AADSTS50013 (not for this app)
 * and AADSTS500133 (expired) stop at once; a claims challenge (AADSTS50076, 50079, 53003) is an
 * `AuthenticationRequiredError` whose `getTokenOptions.claims` the API sends back to its client;
 * AADSTS65001 names the consent to grant.
 *
 * @example
 * ```ts
 * const credential = new BoundOnBehalfOfCredential({
 *   tenantId, clientId, userAssertionToken, certificatePath: "/certs/api.pem", useBoundCredential: true,
 * });
 * const blobs = new BlobServiceClient(url, credential);
 * ```
 *
 * @public
 */
export class BoundOnBehalfOfCredential implements TokenCredential {
  readonly #app: BoundClientCredential;
  readonly #user: OnBehalfOfUserCredential;

  /**
   * @param options - the ordered list or a drop-in form, and `userAssertionToken`
   * @throws BoundCredentialConfigurationError when the options are wrong or the user's token is
   * missing or not a JWT; the message never contains the token
   */
  constructor(options: BoundOnBehalfOfCredentialOptions) {
    const { app, userAssertionToken } = appOptionsOf(options);
    // Checked before the app, so that a missing token is the error reported, not the list's.
    onBehalfOfKind(userAssertionToken, "userAssertionToken");
    this.#app = new BoundClientCredential(app);
    this.#user = this.#app.onBehalfOf(userAssertionToken as string);
  }

  /**
   * Obtains a token for `scopes` on behalf of the user, from the cache while it is fresh.
   *
   * @param scopes - the downstream API's scopes, such as `https://storage.azure.com/user_impersonation` or `.default`
   * @param options - as {@link BoundClientCredential.getToken}
   * @throws AuthenticationRequiredError carrying the claims challenge when Conditional Access asks for one
   * @throws AuthenticationError when Entra refused (the user's token, consent, the app's credential)
   * @throws CredentialUnavailableError when every entry was unavailable
   */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<BoundAccessToken> {
    return this.#user.getToken(scopes, options);
  }

  /** Closes the TLS connections this credential keeps open. */
  close(): Promise<void> {
    return this.#app.close();
  }

  /** A secret-free description. */
  toJSON(): Record<string, unknown> {
    return { ...this.#app.toJSON(), userAssertion: "[REDACTED]" };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `BoundOnBehalfOfCredential ${JSON.stringify(this.toJSON())}`;
  }
}
