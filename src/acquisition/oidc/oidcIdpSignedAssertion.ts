/**
 * The OIDC federated credential (Microsoft.Identity.Web's `OidcIdpSignedAssertion` provider,
 * `OidcIdpSignedAssertionProvider.cs`): another app — the section that
 * `CustomSignedAssertionProviderData.ConfigurationSection` names, often in another cloud or
 * tenant — obtains a token for `api://AzureADTokenExchange`, and that token is this entry's
 * client assertion. Unbound, it is a `jwt-bearer` assertion. Bound (`useBoundCredential` on this
 * entry, Identity.Web 4.14's token binding), the inner app obtains an `mtls_pop` token over mutual
 * TLS, and this entry presents it as a `jwt-pop` assertion with the same certificate in the
 * handshake — three legs when the inner app itself uses a bound managed identity.
 */
import type { AccessToken, GetTokenOptions } from "@azure/core-auth";
import { abortable } from "../../abortable.ts";
import { DEFAULT_TOKEN_EXCHANGE_URL } from "../../constants.ts";
import { optionsFromConfiguration } from "../../configuration/fromConfiguration.ts";
import type {
  BoundClientCredentialOptions,
  CredentialDescription,
  CustomSignedAssertionCredentialDescription,
  CustomSignedAssertionProvider,
} from "../../configuration/types.ts";
import { BoundCredentialConfigurationError } from "../../errors.ts";
import type { LoadedCertificate } from "../../sources/loadedCertificate.ts";

/** The provider name Microsoft.Identity.Web gives the OIDC federated credential. */
export const OIDC_IDP_SIGNED_ASSERTION = "OidcIdpSignedAssertion";

/** What the provider needs of the inner app's credential. */
export interface InnerApp {
  getToken(scope: string, options: GetTokenOptions): Promise<AccessToken>;
  /** An `mtls_pop` token for `scopes`, with the certificate it is bound to. */
  boundToken(scopes: readonly string[], signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<BoundInnerToken>;
}

/** An inner `mtls_pop` token and the certificate it is bound to. */
export interface BoundInnerToken {
  readonly token: string;
  readonly certificate: LoadedCertificate;
  /** ms since epoch. */
  readonly expiresOnTimestamp: number;
}

/** An inner token is not reused within this margin of its expiry (or its certificate's). */
const REUSE_MARGIN_MS = 5 * 60_000;

/** The assertion provider of an OIDC federated credential whose inner app is `inner`. */
export function oidcIdpProvider(
  inner: InnerApp,
  tokenExchangeUrl: string = DEFAULT_TOKEN_EXCHANGE_URL,
  now: () => number = Date.now,
): CustomSignedAssertionProvider {
  const scope = `${tokenExchangeUrl.replace(/\/+$/, "")}/.default`;
  // The unbound token is cached by the inner credential; the bound one (token and certificate
  // together) here, shared by concurrent outer requests, so that each outer scope costs no leg.
  let kept: BoundInnerToken | undefined;
  let inFlight: Promise<BoundInnerToken> | undefined;
  const usable = (token: BoundInnerToken | undefined): token is BoundInnerToken =>
    token !== undefined &&
    Math.min(token.expiresOnTimestamp, token.certificate.notAfter.getTime()) - REUSE_MARGIN_MS > now();
  return async (context) => {
    if (!context.bound) {
      const token = await inner.getToken(scope, {
        ...(context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal }),
        ...(context.timeoutMs === undefined ? {} : { requestOptions: { timeout: context.timeoutMs } }),
      });
      return token.token;
    }
    // The token and the certificate come from one acquisition: the token is bound to exactly
    // the certificate that the outer request presents in its handshake.
    if (!usable(kept)) {
      // Shared by concurrent callers, so no one caller's signal cancels it; each caller stops
      // waiting at its own abort.
      inFlight ??= inner.boundToken([scope], undefined, context.timeoutMs).finally(() => {
        inFlight = undefined;
      });
      kept = await abortable(inFlight, context.abortSignal);
    }
    const bound = kept;
    return { assertion: bound.token, bindingCertificate: bound.certificate.certificateChainPem, bindingPrivateKey: bound.certificate.privateKey };
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A key of free-form provider data, in any case (configuration keys are case-insensitive). */
function dataValue(data: unknown, key: string): unknown {
  if (!isRecord(data)) return undefined;
  const found = Object.keys(data).find((name) => name.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : data[found];
}

/** Whether `configuration` holds the section `name` (`:` separates levels, as in .NET). */
function hasSection(configuration: unknown, name: string): boolean {
  let current: unknown = configuration;
  for (const part of name.split(":")) {
    const value = dataValue(current, part);
    if (value === undefined) return false;
    current = value;
  }
  return isRecord(current);
}

function isOidcEntry(entry: CredentialDescription): entry is CustomSignedAssertionCredentialDescription {
  return entry.sourceType === "CustomSignedAssertion" && entry.customSignedAssertionProviderName === OIDC_IDP_SIGNED_ASSERTION;
}

/**
 * {@link optionsFromConfiguration}, with the built-in `OidcIdpSignedAssertion` provider: each
 * entry naming it gets the provider of the section its `ConfigurationSection` names, read from
 * the same configuration object (pass the whole parsed `appsettings.json`). A provider of that
 * name registered in `overrides` is used instead. `overrides` apply to the inner sections too
 * (hosts, `tls`), except `customSignedAssertionProviders`.
 *
 * @param create - makes the inner app's credential from its options
 * @throws BoundCredentialConfigurationError when the named section is missing or wrong
 */
export function withOidcIdpSignedAssertions(
  configuration: unknown,
  overrides: Partial<BoundClientCredentialOptions> | undefined,
  create: (options: BoundClientCredentialOptions) => InnerApp,
): BoundClientCredentialOptions {
  const registered = overrides?.customSignedAssertionProviders;
  if (registered !== undefined && Object.hasOwn(registered, OIDC_IDP_SIGNED_ASSERTION)) {
    return optionsFromConfiguration(configuration, overrides);
  }
  // A first reading with a stand-in provider, so that the name validates; replaced below.
  const standIn: CustomSignedAssertionProvider = () => Promise.reject(new Error("not replaced"));
  const options = optionsFromConfiguration(configuration, {
    ...overrides,
    customSignedAssertionProviders: { ...registered, [OIDC_IDP_SIGNED_ASSERTION]: standIn },
  });
  if (!options.clientCredentials.some(isOidcEntry)) return optionsFromConfiguration(configuration, overrides);
  const { customSignedAssertionProviders: _outerOnly, ...innerOverrides } = overrides ?? {};
  const clientCredentials = options.clientCredentials.map((entry, index): CredentialDescription => {
    if (!isOidcEntry(entry)) return entry;
    const where = `ClientCredentials[${index}].CustomSignedAssertionProviderData.ConfigurationSection`;
    const sectionName = dataValue(entry.customSignedAssertionProviderData, "ConfigurationSection");
    if (typeof sectionName !== "string" || sectionName.trim() === "") {
      throw new BoundCredentialConfigurationError(
        "BCC_MISSING_FIELD",
        where,
        "The OidcIdpSignedAssertion entry names no configuration section.",
        'Set CustomSignedAssertionProviderData: { "ConfigurationSection": "AzureAd2" }, naming the section of the app whose token is the assertion.',
      );
    }
    if (!hasSection(configuration, sectionName)) {
      throw new BoundCredentialConfigurationError(
        "BCC_INVALID_VALUE",
        where,
        `The section "${sectionName}" is not in the configuration given.`,
        "Pass the whole parsed appsettings.json to BoundClientCredential.fromConfiguration, so that both sections are in it.",
      );
    }
    const inner = create(optionsFromConfiguration(configuration, innerOverrides, { sectionName }));
    const exchange = dataValue(entry.customSignedAssertionProviderData, "TokenExchangeUrl");
    const { customSignedAssertionProviderName: _name, customSignedAssertionProviderData: _data, ...rest } = entry;
    return { ...rest, getAssertion: oidcIdpProvider(inner, typeof exchange === "string" && exchange !== "" ? exchange : undefined) };
  });
  const { customSignedAssertionProviders: _standIn, ...withoutStandIn } = options;
  return { ...withoutStandIn, ...(registered === undefined ? {} : { customSignedAssertionProviders: registered }), clientCredentials };
}
