import { oidcIdpProvider } from "./acquisition/oidc/oidcIdpSignedAssertion.ts";
import { acquireBoundToken, BoundClientCredential } from "./boundClientCredential.ts";
import type { BoundClientCredentialOptions, CustomSignedAssertionProvider } from "./configuration/types.ts";

/**
 * Options of {@link oidcIdpSignedAssertion}: the inner app (its own tenant, client and ordered
 * list), and the audience of its token.
 *
 * @public
 */
export interface OidcIdpSignedAssertionOptions extends BoundClientCredentialOptions {
  /** The audience of the inner app's token; default `api://AzureADTokenExchange`. */
  tokenExchangeUrl?: string;
}

/**
 * The OIDC federated credential in code (Microsoft.Identity.Web's `OidcIdpSignedAssertion`): an
 * assertion provider whose assertion is the token of another app for `api://AzureADTokenExchange`.
 * Give it as `getAssertion` of a `CustomSignedAssertion` entry. When that entry is bound
 * (`useBoundCredential: true`), the inner app obtains an `mtls_pop` token with a bound entry of its
 * own list (a certificate, or a managed identity's binding certificate), and the outer request
 * presents it as a `jwt-pop` assertion over mutual TLS with the same certificate.
 *
 * @example
 * ```ts
 * const credential = new BoundClientCredential({
 *   tenantId, clientId,
 *   clientCredentials: [{
 *     sourceType: "CustomSignedAssertion",
 *     useBoundCredential: true,
 *     getAssertion: oidcIdpSignedAssertion({
 *       tenantId: otherTenantId, clientId: oidcAppId,
 *       clientCredentials: [{ sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true }],
 *     }),
 *   }],
 * });
 * ```
 *
 * @param options - the inner app's options
 * @throws BoundCredentialConfigurationError when the inner app's options are wrong
 * @public
 */
export function oidcIdpSignedAssertion(options: OidcIdpSignedAssertionOptions): CustomSignedAssertionProvider {
  const { tokenExchangeUrl, ...inner } = options;
  const credential = new BoundClientCredential(inner);
  return oidcIdpProvider(
    {
      getToken: (scope, getTokenOptions) => credential.getToken(scope, getTokenOptions),
      boundToken: (scopes, signal, timeoutMs) => acquireBoundToken(credential, scopes, signal, timeoutMs),
    },
    tokenExchangeUrl,
  );
}
