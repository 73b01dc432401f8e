import type { DistributedCacheOptions, DistributedTokenCache } from "../cache/distributedCache.ts";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { KeyObject } from "node:crypto";

/**
 * The places a credential can come from, as Microsoft.Identity.Web names them in
 * `CredentialDescription.SourceType`.
 *
 * @public
 */
export type CredentialSourceType = CredentialDescription["sourceType"];

/**
 * Settings that every entry of {@link BoundClientCredentialOptions.clientCredentials} accepts.
 *
 * @public
 */
export interface CredentialDescriptionBase {
  /** Where the credential comes from; selects the other fields that apply. */
  sourceType: CredentialSourceType;
  /**
   * Leave this entry out of the list, as if it were not there. Useful to switch an entry off per
   * deployment without editing the list. Default `false`.
   */
  skip?: boolean | undefined;
  /**
   * Obtain tokens with this entry over mutual TLS: the certificate (or, for a managed identity, an
   * IMDS-issued binding certificate) is presented in the TLS handshake to Entra's `mtlsauth` token
   * endpoint. The token handed back is still a plain Bearer token. There is no silent downgrade: a
   * bound entry that cannot bind is unavailable and the list moves on. Default `false`.
   */
  useBoundCredential?: boolean | undefined;
}

/**
 * A certificate and its private key given in memory.
 *
 * @public
 */
export interface CertificateCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"Certificate"`. */
  sourceType: "Certificate";
  /**
   * The certificate: PEM text (the leaf first, then any intermediates; it may also hold the private
   * key, as `@azure/identity` accepts) or DER bytes of the leaf.
   */
  certificate: string | Uint8Array;
  /**
   * The private key as PEM (PKCS#8, PKCS#1 or SEC1; encrypted PKCS#8 with
   * {@link CertificateCredentialDescription.privateKeyPassword}) or a Node.js `KeyObject`. Omit it
   * when {@link CertificateCredentialDescription.certificate} already holds the key.
   */
  privateKey?: string | KeyObject | undefined;
  /** The password of an encrypted PEM private key. */
  privateKeyPassword?: string | undefined;
}

/**
 * A certificate file on disk: PKCS#12 (`.pfx`, `.p12`) or PEM holding the certificate and key.
 *
 * @public
 */
export interface PathCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"Path"`. */
  sourceType: "Path";
  /** Path of the PFX/P12 or PEM file. The file is re-read when it changes on disk. */
  certificateDiskPath: string;
  /** Password of the PFX, or of the encrypted PEM private key. */
  certificatePassword?: string | undefined;
}

/**
 * A certificate whose private key stays in a PKCS#11 token (an HSM, a TPM through `tpm2-pkcs11`,
 * SoftHSM). This source type is an extension of this package; Microsoft.Identity.Web has no such
 * `SourceType`. Client assertions are signed by the token; bound, the TLS handshake signs through
 * OpenSSL's pkcs11 engine. The key is never exported. Needs the optional dependency `pkcs11js`
 * and, to bind, the OpenSSL pkcs11 engine (`libengine-pkcs11-openssl`); see `docs/pkcs11.md`.
 *
 * @public
 */
export interface Pkcs11CredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"Pkcs11"`. */
  sourceType: "Pkcs11";
  /**
   * An RFC 7512 `pkcs11:` URI naming the private key, such as
   * `pkcs11:token=app;object=signing;type=private`. `pin-value` or `pin-source` (a file path) may
   * give the PIN; `module-path` may name the module.
   */
  pkcs11Uri: string;
  /** Path of the PKCS#11 module (a shared library). Default: the `PKCS11_MODULE_PATH` environment variable. */
  pkcs11ModulePath?: string | undefined;
  /** The user PIN of the token. Never logged; give it here or in the URI, not both. */
  pkcs11Pin?: string | undefined;
  /**
   * A PEM or DER file with the certificate (and its chain). Absent: the token's certificate object
   * with the key's `id` (or, without an id, its label).
   */
  certificateDiskPath?: string | undefined;
}

/**
 * A PKCS#12 (PFX) certificate given as base64 text, as Microsoft.Identity.Web's `Base64Encoded`.
 *
 * @public
 */
export interface Base64EncodedCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"Base64Encoded"`. */
  sourceType: "Base64Encoded";
  /** The PFX bytes in base64. */
  base64EncodedValue: string;
  /** Password of the PFX. */
  certificatePassword?: string | undefined;
}

/**
 * A certificate with its private key held in Azure Key Vault, read through the certificate's secret
 * (PKCS#12 or PEM content).
 *
 * @public
 */
export interface KeyVaultCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"KeyVault"`. */
  sourceType: "KeyVault";
  /** The vault URL, for example `https://myvault.vault.azure.net`. */
  keyVaultUrl: string;
  /** The name of the certificate in the vault. */
  keyVaultCertificateName: string;
  /** A specific version of the certificate; the latest when omitted. */
  keyVaultCertificateVersion?: string | undefined;
  /**
   * Client ID of the user-assigned managed identity that reads the vault. Ignored when
   * {@link KeyVaultCredentialDescription.keyVaultCredential} or
   * {@link BoundClientCredentialOptions.keyVaultCredential} is given.
   */
  managedIdentityClientId?: string | undefined;
  /** The credential that reads the vault, taking precedence over the managed identity. */
  keyVaultCredential?: TokenCredential | undefined;
}

/**
 * A certificate in a Windows certificate store, found by thumbprint. Windows stores cannot be read
 * from Node.js, so this entry is reported unavailable with that reason and the list moves on.
 *
 * @public
 */
export interface StoreWithThumbprintCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"StoreWithThumbprint"`. */
  sourceType: "StoreWithThumbprint";
  /** `{StoreLocation}/{StoreName}`, for example `CurrentUser/My`. */
  certificateStorePath: string;
  /** The SHA-1 thumbprint in hex. */
  certificateThumbprint: string;
}

/**
 * A certificate in a Windows certificate store, found by distinguished name. Reported unavailable on
 * this runtime; see {@link StoreWithThumbprintCredentialDescription}.
 *
 * @public
 */
export interface StoreWithDistinguishedNameCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"StoreWithDistinguishedName"`. */
  sourceType: "StoreWithDistinguishedName";
  /** `{StoreLocation}/{StoreName}`, for example `CurrentUser/My`. */
  certificateStorePath: string;
  /** The distinguished name, for example `CN=MyCert`. */
  certificateDistinguishedName: string;
}

/**
 * A certificate in a Windows certificate store, found by subject name. Reported unavailable on this
 * runtime; see {@link StoreWithThumbprintCredentialDescription}.
 *
 * @public
 */
export interface StoreWithSubjectNameCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"StoreWithSubjectName"`. */
  sourceType: "StoreWithSubjectName";
  /** `{StoreLocation}/{StoreName}`, for example `CurrentUser/My`. */
  certificateStorePath: string;
  /** The subject name, for example `CN=MyCert`. */
  certificateSubjectName: string;
}

/**
 * A client secret. Secrets cannot bind: `useBoundCredential: true` does not compile, and is
 * rejected at run time.
 *
 * @public
 */
export interface ClientSecretCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"ClientSecret"`. */
  sourceType: "ClientSecret";
  /** A client secret cannot be presented in a TLS handshake, so this entry is never bound. */
  useBoundCredential?: false | undefined;
  /** The secret value. */
  clientSecret: string;
}

/**
 * A federated assertion minted by a managed identity (workload identity federation without a
 * secret). Unbound: a managed identity token for
 * {@link SignedAssertionFromManagedIdentityCredentialDescription.tokenExchangeUrl}. Bound: an IMDS v2
 * binding certificate and an `mtls_pop` managed identity token, exchanged over mutual TLS.
 *
 * @public
 */
export interface SignedAssertionFromManagedIdentityCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"SignedAssertionFromManagedIdentity"`. */
  sourceType: "SignedAssertionFromManagedIdentity";
  /** Client ID of a user-assigned managed identity; the system-assigned identity when omitted. */
  managedIdentityClientId?: string | undefined;
  /** Object (principal) ID of a user-assigned managed identity, as an alternative selector. */
  managedIdentityObjectId?: string | undefined;
  /** Azure resource ID of a user-assigned managed identity, as an alternative selector. */
  managedIdentityResourceId?: string | undefined;
  /**
   * Audience of the exchange token. Default `api://AzureADTokenExchange`; sovereign clouds use
   * `api://AzureADTokenExchangeUSGov` or `api://AzureADTokenExchangeChina`, derived from the
   * authority host when omitted.
   */
  tokenExchangeUrl?: string | undefined;
  /**
   * Bound entries only (an extension of this package): generate the binding keys in a PKCS#11
   * token instead of this process's memory. An RFC 7512 URI naming the token (`token`, `serial`
   * or `slot-id`) and, as `object`, the label the keys get (default
   * `"bound-client-credential binding key"`), such as `"pkcs11:token=binding;object=mi-binding"`.
   * Each key is RSA-2048, sensitive and non-extractable, signs its CSR in the token and is
   * presented in TLS handshakes through OpenSSL's pkcs11 engine; it is destroyed once its
   * certificate is replaced, and when the credential is closed. `pin-value` / `pin-source` are
   * accepted in the URI.
   */
  bindingKeyPkcs11Uri?: string | undefined;
  /** With {@link SignedAssertionFromManagedIdentityCredentialDescription.bindingKeyPkcs11Uri}: the PKCS#11 module; default `PKCS11_MODULE_PATH`. */
  pkcs11ModulePath?: string | undefined;
  /** With {@link SignedAssertionFromManagedIdentityCredentialDescription.bindingKeyPkcs11Uri}: the token's user PIN. Never logged. */
  pkcs11Pin?: string | undefined;
}

/**
 * A signed assertion (JWT) read from a file, such as the token that AKS workload identity projects.
 * It is re-read once the assertion in it has expired. Cannot bind: `useBoundCredential: true` does
 * not compile, and is rejected at run time.
 *
 * @public
 */
export interface SignedAssertionFilePathCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"SignedAssertionFilePath"`. */
  sourceType: "SignedAssertionFilePath";
  /** An assertion read from a file carries no binding certificate, so this entry is never bound. */
  useBoundCredential?: false | undefined;
  /** The file; `AZURE_FEDERATED_TOKEN_FILE` when omitted. */
  signedAssertionFileDiskPath?: string | undefined;
}

/**
 * What a custom assertion provider is told about the request it serves.
 *
 * @public
 */
export interface AssertionRequestContext {
  /** The application (client) ID the assertion is for. */
  clientId: string;
  /** The token endpoint URL the assertion will be sent to; use it as `aud`. */
  tokenEndpoint: string;
  /** The tenant of the request. */
  tenantId: string;
  /** Whether the entry is bound, so a binding certificate is expected with the assertion. */
  bound: boolean;
  /** Cancels the provider's work. */
  abortSignal?: AbortSignal | undefined;
  /** The caller's per-request timeout (`requestOptions.timeout` of `getToken`), in milliseconds. */
  timeoutMs?: number | undefined;
}

/**
 * An assertion together with the certificate it is bound to. The certificate is presented in the
 * TLS handshake and the assertion is sent as a `jwt-pop` client assertion.
 *
 * @public
 */
export interface BoundAssertion {
  /** The signed assertion (JWT). */
  assertion: string;
  /** The binding certificate: PEM of the leaf (and chain). */
  bindingCertificate: string;
  /** The private key of the binding certificate: PEM or a Node.js `KeyObject`. */
  bindingPrivateKey: string | KeyObject;
}

/**
 * A function that returns a signed assertion, or a {@link BoundAssertion} for a bound entry.
 *
 * @public
 */
export type CustomSignedAssertionProvider = (
  context: AssertionRequestContext,
) => Promise<string | BoundAssertion> | string | BoundAssertion;

/**
 * A signed assertion supplied by code. Give the provider inline with
 * {@link CustomSignedAssertionCredentialDescription.getAssertion}, or by name with
 * {@link CustomSignedAssertionCredentialDescription.customSignedAssertionProviderName} and
 * {@link BoundClientCredentialOptions.customSignedAssertionProviders} (the shape an `appsettings.json`
 * can express). Bound only when the provider returns a binding certificate.
 *
 * @public
 */
export interface CustomSignedAssertionCredentialDescription extends CredentialDescriptionBase {
  /** Selects this source: `"CustomSignedAssertion"`. */
  sourceType: "CustomSignedAssertion";
  /** The provider, inline. */
  getAssertion?: CustomSignedAssertionProvider | undefined;
  /** The name of a provider registered in {@link BoundClientCredentialOptions.customSignedAssertionProviders}. */
  customSignedAssertionProviderName?: string | undefined;
  /** Free-form data for the named provider; kept for configuration compatibility. */
  customSignedAssertionProviderData?: Record<string, unknown> | undefined;
}

/**
 * One entry of the ordered credential list: Microsoft.Identity.Web's `CredentialDescription` in
 * camelCase, discriminated by `sourceType`.
 *
 * @public
 */
export type CredentialDescription =
  | CertificateCredentialDescription
  | PathCredentialDescription
  | Pkcs11CredentialDescription
  | Base64EncodedCredentialDescription
  | KeyVaultCredentialDescription
  | StoreWithThumbprintCredentialDescription
  | StoreWithDistinguishedNameCredentialDescription
  | StoreWithSubjectNameCredentialDescription
  | ClientSecretCredentialDescription
  | SignedAssertionFromManagedIdentityCredentialDescription
  | SignedAssertionFilePathCredentialDescription
  | CustomSignedAssertionCredentialDescription;

/**
 * Context handed to an {@link AttestationProvider}.
 *
 * @public
 */
export interface AttestationContext {
  /** The attestation endpoint IMDS named in its platform metadata. */
  attestationEndpoint: string;
  /** The managed identity's client ID. */
  clientId: string;
  /** The public key of the binding key pair, as SPKI PEM. */
  publicKeyPem: string;
  /**
   * Where the private key lives: `"software"`, in this process; `"pkcs11"`, generated in the
   * token of the entry's `bindingKeyPkcs11Uri`, which a platform attestation can vouch for.
   */
  keyStorage: "software" | "pkcs11";
  /** For `keyStorage: "pkcs11"`: the private key's `pkcs11:` URI (token, serial, id), without a PIN. */
  pkcs11Uri?: string | undefined;
  /** Cancels the provider's work. */
  abortSignal?: AbortSignal | undefined;
}

/**
 * Supplies the `attestation_token` that IMDS v2 asks for on platforms that attest the binding key.
 *
 * @public
 */
export type AttestationProvider = (context: AttestationContext) => Promise<string>;

/**
 * TLS settings for every connection the credential makes.
 *
 * @public
 */
export interface BoundClientCredentialTlsOptions {
  /**
   * Extra certificate authorities (PEM) to trust besides the system ones: a private cloud, a TLS
   * inspecting proxy, or the local emulator. Verification is never turned off.
   */
  ca?: string | readonly string[] | undefined;
}

/**
 * Logging settings, as `@azure/identity` names them.
 *
 * @public
 */
export interface BoundClientCredentialLoggingOptions {
  /** Log the tenant, client and object IDs of the tokens obtained. Default `false`. */
  allowLoggingAccountIdentifiers?: boolean | undefined;
  /** Forward msal-node's messages that may contain personal data. Default `false`. */
  enableUnsafeSupportLogging?: boolean | undefined;
}

/**
 * A forward proxy, as the Azure SDK's `ProxySettings` describe it. Token requests to Entra tunnel
 * through it with `CONNECT`; the TLS handshake, and with it a bound entry's client certificate,
 * runs end to end inside the tunnel. Loopback hosts, the instance metadata service and `NO_PROXY`
 * matches always go direct.
 *
 * @public
 */
export interface BoundClientCredentialProxyOptions {
  /** The proxy's URL without the port, such as `http://proxy.example` (`https://` for a TLS proxy). */
  host: string;
  /** The proxy's port. */
  port: number;
  /** User name for Basic authentication at the proxy. */
  username?: string;
  /** Password for Basic authentication at the proxy. */
  password?: string;
}

/**
 * Retries of token endpoint requests, as the Azure SDK's `retryOptions` name them. Retried: a 5xx
 * without `Retry-After` and a timeout; a 429 or 5xx with a `Retry-After` no longer than
 * `maxRetryDelayInMs` is retried after that wait. Other answers and connection failures are not
 * retried (another entry may serve instead).
 *
 * @public
 */
export interface BoundClientCredentialRetryOptions {
  /** Retries after the first attempt. Default 1, as MSAL. */
  maxRetries?: number;
  /** The first delay; each later one doubles. Default 1000 ms. */
  retryDelayInMs?: number;
  /** The longest delay, and the longest `Retry-After` waited on. Default 2000 ms. */
  maxRetryDelayInMs?: number;
}

/**
 * Options of {@link BoundClientCredential}.
 *
 * @public
 */
export interface BoundClientCredentialOptions {
  /** The directory (tenant) ID, a GUID or a domain such as `contoso.onmicrosoft.com`. */
  tenantId: string;
  /** The application (client) ID. */
  clientId: string;
  /** The ordered list of credentials; the first that works serves. */
  clientCredentials: readonly CredentialDescription[];
  /**
   * The Entra login host. Default `https://login.microsoftonline.com`, or `AZURE_AUTHORITY_HOST`
   * when set.
   */
  authorityHost?: string | undefined;
  /**
   * The host of the mutual TLS token endpoint. Derived from
   * {@link BoundClientCredentialOptions.authorityHost} when omitted (`login.*` → `mtlsauth.*`).
   */
  mtlsAuthorityHost?: string | undefined;
  /**
   * An Azure region name (for example `westus2`) to use regional token endpoints, or
   * `"TryAutoDetect"` to detect it from `REGION_NAME` or the instance metadata service.
   */
  azureRegion?: string | undefined;
  /**
   * The instance metadata service base URL. Default `http://169.254.169.254`, or
   * `AZURE_POD_IDENTITY_AUTHORITY_HOST` when set.
   */
  imdsEndpoint?: string | undefined;
  /** Tenants besides {@link BoundClientCredentialOptions.tenantId} that `getToken` may ask for; `"*"` allows any. */
  additionallyAllowedTenants?: readonly string[] | undefined;
  /** Send the certificate chain (`x5c`) in client assertions, for subject name and issuer authentication. */
  sendCertificateChain?: boolean | undefined;
  /** Client capabilities to announce, such as `"cp1"` for continuous access evaluation. */
  clientCapabilities?: readonly string[] | undefined;
  /**
   * Query parameters added to every token request of this credential, bound and unbound, as
   * MSAL.NET sends `ExtraQueryParameters` (for example `{ dc: "ESTS-PUB-WUS2-AZ1-FD000-TEST1" }` to
   * reach a test slice). Names and values are strings; OAuth parameters the credential sends itself
   * (`client_id`, `scope`, `grant_type`, `client_assertion`, …) are refused.
   */
  extraQueryParameters?: Readonly<Record<string, string>> | undefined;
  /** TLS settings. */
  tls?: BoundClientCredentialTlsOptions | undefined;
  /** Logging settings. */
  loggingOptions?: BoundClientCredentialLoggingOptions | undefined;
  /** The credential that reads Key Vault for `KeyVault` entries that name none of their own. */
  keyVaultCredential?: TokenCredential | undefined;
  /** Named providers for `CustomSignedAssertion` entries. */
  customSignedAssertionProviders?: Readonly<Record<string, CustomSignedAssertionProvider>> | undefined;
  /** Supplies an attestation token for IMDS v2 where the platform requires one. */
  attestationProvider?: AttestationProvider | undefined;
  /**
   * How many tokens the in-memory cache keeps at most; beyond it the least recently used go.
   * Default 10,000.
   */
  maxCachedTokens?: number;
  /**
   * A token store shared by the replicas of a service (the second cache level, behind memory): a
   * replica uses a token another one obtained, and one replica acquires for the fleet. Its failures
   * never fail a `getToken`.
   */
  distributedCache?: DistributedTokenCache;
  /** How {@link BoundClientCredentialOptions.distributedCache} is used. */
  distributedCacheOptions?: DistributedCacheOptions;
  /**
   * A forward proxy for the requests to Entra ID. Default: `HTTPS_PROXY`, `ALL_PROXY` or
   * `HTTP_PROXY` from the environment (upper or lower case), with `NO_PROXY`, as the Azure SDK reads them.
   */
  proxyOptions?: BoundClientCredentialProxyOptions | undefined;
  /** Retries of token endpoint requests. */
  retryOptions?: BoundClientCredentialRetryOptions | undefined;
  /**
   * The overall deadline of one `getToken` call, in ms: waiting for a connection, connecting,
   * headers, body and retries. `requestOptions.timeout` of a call still bounds each attempt.
   * Default 60 000.
   */
  getTokenTimeoutInMs?: number | undefined;
  /**
   * Connections kept open per client certificate (HTTP/1.1 keep-alive), so that concurrent
   * token requests of one bound entry do not wait for each other. Default 32.
   */
  connectionsPerCertificate?: number | undefined;
}

/**
 * What {@link BoundClientCredential.getToken} returns: a Bearer token with the time it should be
 * refreshed.
 *
 * @public
 */
export type BoundAccessToken = AccessToken & { tokenType: "Bearer"; refreshAfterTimestamp: number };

/**
 * A PEM certificate (with its private key) given as text, as `@azure/identity` accepts it.
 *
 * @public
 */
export interface ClientCertificatePEMCertificate {
  /** PEM text holding the certificate (and chain) and the private key. */
  certificate: string;
  /** Password of an encrypted private key. */
  certificatePassword?: string | undefined;
}

/**
 * A certificate file path, as `@azure/identity` accepts it; PFX/P12 files are accepted too.
 *
 * @public
 */
export interface ClientCertificatePEMCertificatePath {
  /** Path of a PEM file holding certificate and private key, or of a PFX/P12 file. */
  certificatePath: string;
  /** Password of the PFX or of an encrypted private key. */
  certificatePassword?: string | undefined;
}

/**
 * Options of the drop-in constructor that mirrors `ClientCertificateCredential`.
 *
 * @public
 */
export interface BoundClientCertificateCredentialOptions
  extends Omit<BoundClientCredentialOptions, "tenantId" | "clientId" | "clientCredentials"> {
  /** Obtain tokens over mutual TLS with this certificate. Default `false`. */
  useBoundCredential?: boolean | undefined;
  /**
   * Accepted for compatibility with `ClientCertificateCredentialOptions`: this credential never
   * calls instance discovery for a host it is configured with, so the value changes nothing.
   */
  disableInstanceDiscovery?: boolean | undefined;
}
