/**
 * Every configuration mistake the validator knows, one test each: the stable code, the exact path
 * and a remedy that the message carries.
 */
import { describe, test } from "node:test";
import { generateKeyPairSync } from "node:crypto";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import type { ConfigurationErrorCode } from "../../src/errors.ts";
import { CLIENT, FAKE_CERT_PEM, TENANT, expectConfigError, optionsOf } from "./helpers.ts";

const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return optionsOf(undefined, extra);
}

function entry(description: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return base({ clientCredentials: [description], ...extra });
}

interface Mistake {
  readonly name: string;
  readonly input: unknown;
  readonly env?: Record<string, string>;
  readonly code: ConfigurationErrorCode;
  readonly path: string;
  readonly remedy: RegExp;
  readonly message?: RegExp;
}

const mistakes: readonly Mistake[] = [
  // The options object itself.
  { name: "options are a string", input: "tenant", code: "BCC_INVALID_OPTIONS", path: "", remedy: /tenantId, clientId, clientCredentials/ },
  { name: "options are null", input: null, code: "BCC_INVALID_OPTIONS", path: "", remedy: /clientCredentials/, message: /but are null/ },
  { name: "options are an array", input: [base()], code: "BCC_INVALID_OPTIONS", path: "", remedy: /clientCredentials/, message: /an array/ },
  { name: "unknown option with a close match", input: base({ tenant: "x" }), code: "BCC_UNKNOWN_OPTION", path: "tenant", remedy: /Remove it/, message: /Did you mean tenantId\?/ },
  { name: "misspelled authorityHost", input: base({ authorityHots: "https://login.microsoftonline.com" }), code: "BCC_UNKNOWN_OPTION", path: "authorityHots", remedy: /Remove it/, message: /Did you mean authorityHost\?/ },
  { name: "PascalCase option key", input: base({ ClientCapabilities: ["cp1"] }), code: "BCC_UNKNOWN_OPTION", path: "ClientCapabilities", remedy: /Rename it to clientCapabilities.*fromConfiguration/ },
  { name: "useBoundCredential at the top level", input: base({ useBoundCredential: true }), code: "BCC_UNKNOWN_OPTION", path: "useBoundCredential", remedy: /put it on the entries of clientCredentials/ },
  { name: "clientSecret at the top level", input: base({ clientSecret: "s" }), code: "BCC_UNKNOWN_OPTION", path: "clientSecret", remedy: /move it into an entry/ },
  { name: "tlsOptions instead of tls", input: base({ tlsOptions: { ca: FAKE_CERT_PEM } }), code: "BCC_UNKNOWN_OPTION", path: "tlsOptions", remedy: /Use tls: \{ ca \}/ },

  // Tenant and client.
  { name: "tenantId missing", input: { clientId: CLIENT, clientCredentials: [] }, code: "BCC_MISSING_FIELD", path: "tenantId", remedy: /directory \(tenant\) ID/ },
  { name: "tenantId empty", input: base({ tenantId: "" }), code: "BCC_EMPTY_FIELD", path: "tenantId", remedy: /directory \(tenant\) ID/ },
  { name: "tenantId not a string", input: base({ tenantId: 42 }), code: "BCC_INVALID_TYPE", path: "tenantId", remedy: /as a string/, message: /a number/ },
  { name: "tenantId with illegal characters", input: base({ tenantId: "contoso/onmicrosoft" }), code: "BCC_INVALID_TENANT", path: "tenantId", remedy: /GUID or a verified domain/ },
  { name: "tenantId neither GUID nor domain", input: base({ tenantId: "contoso" }), code: "BCC_INVALID_TENANT", path: "tenantId", remedy: /GUID or a verified domain/ },
  { name: "tenantId with a trailing newline", input: base({ tenantId: `${TENANT}\n` }), code: "BCC_INVALID_TENANT", path: "tenantId", remedy: /trailing newline/ },
  { name: "tenantId common", input: base({ tenantId: "common" }), code: "BCC_MULTI_TENANT_AUTHORITY", path: "tenantId", remedy: /tenant's GUID or its domain/ },
  { name: "tenantId Organizations (any case)", input: base({ tenantId: "Organizations" }), code: "BCC_MULTI_TENANT_AUTHORITY", path: "tenantId", remedy: /tenant's GUID/ },
  { name: "tenantId consumers", input: base({ tenantId: "consumers" }), code: "BCC_MULTI_TENANT_AUTHORITY", path: "tenantId", remedy: /tenant's GUID/ },
  { name: "clientId missing", input: { tenantId: TENANT, clientCredentials: [] }, code: "BCC_MISSING_FIELD", path: "clientId", remedy: /application \(client\) ID/ },
  { name: "clientId empty", input: base({ clientId: "  " }), code: "BCC_EMPTY_FIELD", path: "clientId", remedy: /application \(client\) ID/ },
  { name: "clientId not a string", input: base({ clientId: { id: CLIENT } }), code: "BCC_INVALID_TYPE", path: "clientId", remedy: /as a string/ },
  { name: "clientId with whitespace", input: base({ clientId: `${CLIENT} ` }), code: "BCC_INVALID_VALUE", path: "clientId", remedy: /Remove the spaces/ },

  // The list.
  { name: "clientCredentials missing", input: { tenantId: TENANT, clientId: CLIENT }, code: "BCC_MISSING_FIELD", path: "clientCredentials", remedy: /Give an array/ },
  { name: "clientCredentials given as an object", input: base({ clientCredentials: { primary: { sourceType: "Path", certificateDiskPath: "/a" } } }), code: "BCC_CREDENTIALS_NOT_ARRAY", path: "clientCredentials", remedy: /JSON array/ },
  { name: "clientCredentials given as a string", input: base({ clientCredentials: "Path" }), code: "BCC_CREDENTIALS_NOT_ARRAY", path: "clientCredentials", remedy: /array of credential descriptions/ },
  { name: "clientCredentials empty", input: base({ clientCredentials: [] }), code: "BCC_CREDENTIALS_EMPTY", path: "clientCredentials", remedy: /Add at least one entry/ },
  { name: "an entry that is a string", input: base({ clientCredentials: ["/certs/app.pfx"] }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0]", remedy: /sourceType: "Path"/ },
  { name: "an entry that is null", input: base({ clientCredentials: [{ sourceType: "ClientSecret", clientSecret: "x" }, null] }), code: "BCC_INVALID_TYPE", path: "clientCredentials[1]", remedy: /Give an object/ },
  { name: "every entry skipped", input: entry({ sourceType: "Path", certificateDiskPath: "/a", skip: true }), code: "BCC_ALL_ENTRIES_SKIPPED", path: "clientCredentials", remedy: /at least one entry/ },

  // Source types.
  { name: "sourceType missing", input: entry({ certificateDiskPath: "/a" }), code: "BCC_MISSING_FIELD", path: "clientCredentials[0].sourceType", remedy: /Use one of: Certificate, Path/ },
  { name: "sourceType in the wrong case", input: entry({ sourceType: "path", certificateDiskPath: "/a" }), code: "BCC_UNKNOWN_SOURCE_TYPE", path: "clientCredentials[0].sourceType", remedy: /Write it as Path/, message: /Did you mean Path\?/ },
  { name: "sourceType misspelled", input: entry({ sourceType: "KeyVualt" }), code: "BCC_UNKNOWN_SOURCE_TYPE", path: "clientCredentials[0].sourceType", remedy: /Use one of:.*SignedAssertionFilePath/, message: /Did you mean KeyVault\?/ },
  { name: "sourceType unknown", input: entry({ sourceType: "Magic" }), code: "BCC_UNKNOWN_SOURCE_TYPE", path: "clientCredentials[0].sourceType", remedy: /Use one of: Certificate, Path, Base64Encoded, KeyVault/ },
  { name: "sourceType as an enum number in code", input: entry({ sourceType: 3 }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].sourceType", remedy: /Use one of/ },
  { name: "sourceType SignedAssertionFromVault", input: entry({ sourceType: "SignedAssertionFromVault" }), code: "BCC_UNSUPPORTED_SOURCE_TYPE", path: "clientCredentials[0].sourceType", remedy: /Remove this entry/ },
  { name: "sourceType AutoDecryptKeys", input: entry({ sourceType: "AutoDecryptKeys" }), code: "BCC_UNSUPPORTED_SOURCE_TYPE", path: "clientCredentials[0].sourceType", remedy: /Remove this entry/, message: /decryption keys/ },

  // Keys inside entries.
  { name: "certificatePath in a Path entry", input: entry({ sourceType: "Path", certificatePath: "/a" }), code: "BCC_UNKNOWN_OPTION", path: "clientCredentials[0].certificatePath", remedy: /Remove it/, message: /did you mean certificateDiskPath\?/i },
  { name: "a key of another source", input: entry({ sourceType: "Path", certificateDiskPath: "/a", keyVaultUrl: "https://v.vault.azure.net" }), code: "BCC_UNKNOWN_OPTION", path: "clientCredentials[0].keyVaultUrl", remedy: /belongs to sourceType KeyVault/ },
  { name: "skip not a boolean", input: entry({ sourceType: "Path", certificateDiskPath: "/a", skip: "true" }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].skip", remedy: /true or false \(without quotes\)/ },
  { name: "useBoundCredential not a boolean", input: entry({ sourceType: "Path", certificateDiskPath: "/a", useBoundCredential: 1 }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].useBoundCredential", remedy: /true or false/ },

  // Path, Base64Encoded, Certificate.
  { name: "Path without certificateDiskPath", input: entry({ sourceType: "Path" }), code: "BCC_MISSING_FIELD", path: "clientCredentials[0].certificateDiskPath", remedy: /path of the PFX\/P12 or PEM file/ },
  { name: "Path with an empty certificateDiskPath", input: entry({ sourceType: "Path", certificateDiskPath: "" }), code: "BCC_EMPTY_FIELD", path: "clientCredentials[0].certificateDiskPath", remedy: /path of the PFX/ },
  { name: "Path with a numeric certificateDiskPath", input: entry({ sourceType: "Path", certificateDiskPath: 7 }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].certificateDiskPath", remedy: /as a string/ },
  { name: "certificatePassword not a string", input: entry({ sourceType: "Path", certificateDiskPath: "/a", certificatePassword: 1234 }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].certificatePassword", remedy: /password/ },
  { name: "Base64Encoded without a value", input: entry({ sourceType: "Base64Encoded" }), code: "BCC_MISSING_FIELD", path: "clientCredentials[0].base64EncodedValue", remedy: /base64/ },
  { name: "Base64Encoded with invalid base64", input: entry({ sourceType: "Base64Encoded", base64EncodedValue: "not base64!" }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].base64EncodedValue", remedy: /encoded in base64/ },
  { name: "Certificate without a certificate", input: entry({ sourceType: "Certificate" }), code: "BCC_MISSING_FIELD", path: "clientCredentials[0].certificate", remedy: /sourceType Path/ },
  { name: "Certificate of the wrong type", input: entry({ sourceType: "Certificate", certificate: 12 }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].certificate", remedy: /PEM text/ },
  { name: "Certificate that is a path, not PEM", input: entry({ sourceType: "Certificate", certificate: "/certs/app.pem" }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].certificate", remedy: /sourceType Path with certificateDiskPath/ },
  { name: "Certificate privateKey of the wrong type", input: entry({ sourceType: "Certificate", certificate: FAKE_CERT_PEM, privateKey: 5 }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].privateKey", remedy: /createPrivateKey/ },
  { name: "Certificate privateKey that is a public KeyObject", input: entry({ sourceType: "Certificate", certificate: FAKE_CERT_PEM, privateKey: publicKey }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].privateKey", remedy: /private key/ },
  { name: "Certificate privateKey string without PEM", input: entry({ sourceType: "Certificate", certificate: FAKE_CERT_PEM, privateKey: "MIIEvQIBADANBgkq" }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].privateKey", remedy: /PKCS#8/ },
  { name: "Certificate DER without a private key", input: entry({ sourceType: "Certificate", certificate: new Uint8Array([0x30, 0x82]) }), code: "BCC_MISSING_FIELD", path: "clientCredentials[0].privateKey", remedy: /Set privateKey/ },

  // KeyVault.
  { name: "KeyVault over http", input: entry({ sourceType: "KeyVault", keyVaultUrl: "http://v.vault.azure.net", keyVaultCertificateName: "c" }), code: "BCC_INVALID_URL", path: "clientCredentials[0].keyVaultUrl", remedy: /https:\/\/myvault/ },
  { name: "KeyVault URL of a certificate", input: entry({ sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net/certificates/c", keyVaultCertificateName: "c" }), code: "BCC_INVALID_URL", path: "clientCredentials[0].keyVaultUrl", remedy: /certificate name in keyVaultCertificateName/ },
  { name: "KeyVault without a certificate name", input: entry({ sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net" }), code: "BCC_MISSING_FIELD", path: "clientCredentials[0].keyVaultCertificateName", remedy: /name of the certificate/ },
  { name: "KeyVault certificate name with a slash", input: entry({ sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net", keyVaultCertificateName: "c/1" }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].keyVaultCertificateName", remedy: /without the vault URL or a version/ },
  { name: "KeyVault credential without getToken", input: entry({ sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net", keyVaultCertificateName: "c", keyVaultCredential: {} }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].keyVaultCredential", remedy: /ManagedIdentityCredential/ },

  // Windows stores.
  { name: "store path without a location", input: entry({ sourceType: "StoreWithDistinguishedName", certificateStorePath: "My", certificateDistinguishedName: "CN=a" }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].certificateStorePath", remedy: /CurrentUser\/My or LocalMachine\/My/ },
  { name: "thumbprint that is not SHA-1 hex", input: entry({ sourceType: "StoreWithThumbprint", certificateStorePath: "CurrentUser/My", certificateThumbprint: "962D12...84" }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].certificateThumbprint", remedy: /Copy the thumbprint/ },
  { name: "subject name missing", input: entry({ sourceType: "StoreWithSubjectName", certificateStorePath: "CurrentUser/My" }), code: "BCC_MISSING_FIELD", path: "clientCredentials[0].certificateSubjectName", remedy: /CN=MyCert/ },

  // Secrets and files cannot bind.
  { name: "ClientSecret without a secret", input: entry({ sourceType: "ClientSecret" }), code: "BCC_MISSING_FIELD", path: "clientCredentials[0].clientSecret", remedy: /client secret/ },
  { name: "ClientSecret flagged bound", input: entry({ sourceType: "ClientSecret", clientSecret: "s", useBoundCredential: true }), code: "BCC_BOUND_NOT_SUPPORTED", path: "clientCredentials[0].useBoundCredential", remedy: /use a certificate entry .* or a managed identity .*, or drop the flag/ },
  { name: "SignedAssertionFilePath flagged bound", input: entry({ sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: "/t", useBoundCredential: true }), code: "BCC_BOUND_NOT_SUPPORTED", path: "clientCredentials[0].useBoundCredential", remedy: /drop the flag/ },

  // Managed identity.
  { name: "managed identity with two selectors", input: entry({ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: "a", managedIdentityObjectId: "b" }), code: "BCC_CONFLICTING_FIELDS", path: "clientCredentials[0].managedIdentityObjectId", remedy: /Give only one of/ },
  { name: "managed identity resource id that is not one", input: entry({ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityResourceId: "my-identity" }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].managedIdentityResourceId", remedy: /\/subscriptions\// },
  { name: "tokenExchangeUrl with /.default", input: entry({ sourceType: "SignedAssertionFromManagedIdentity", tokenExchangeUrl: "api://AzureADTokenExchange/.default" }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].tokenExchangeUrl", remedy: /Remove the \/\.default suffix/ },
  { name: "tokenExchangeUrl not a URI", input: entry({ sourceType: "SignedAssertionFromManagedIdentity", tokenExchangeUrl: "AzureADTokenExchange" }), code: "BCC_INVALID_VALUE", path: "clientCredentials[0].tokenExchangeUrl", remedy: /api:\/\/AzureADTokenExchange/ },

  // Custom assertions.
  { name: "custom assertion without a provider", input: entry({ sourceType: "CustomSignedAssertion" }), code: "BCC_MISSING_FIELD", path: "clientCredentials[0].getAssertion", remedy: /customSignedAssertionProviderName/ },
  { name: "custom assertion with two providers", input: entry({ sourceType: "CustomSignedAssertion", getAssertion: () => "a", customSignedAssertionProviderName: "p" }, { customSignedAssertionProviders: { p: () => "a" } }), code: "BCC_CONFLICTING_FIELDS", path: "clientCredentials[0].customSignedAssertionProviderName", remedy: /either getAssertion or customSignedAssertionProviderName/ },
  { name: "custom assertion provider not registered", input: entry({ sourceType: "CustomSignedAssertion", customSignedAssertionProviderName: "OidcIdpSignedAssertion" }), code: "BCC_UNKNOWN_PROVIDER", path: "clientCredentials[0].customSignedAssertionProviderName", remedy: /customSignedAssertionProviders/ },
  { name: "custom assertion provider misspelled", input: entry({ sourceType: "CustomSignedAssertion", customSignedAssertionProviderName: "OidcIdpSignedAsertion" }, { customSignedAssertionProviders: { OidcIdpSignedAssertion: () => "a" } }), code: "BCC_UNKNOWN_PROVIDER", path: "clientCredentials[0].customSignedAssertionProviderName", remedy: /registered names: OidcIdpSignedAssertion/, message: /Did you mean OidcIdpSignedAssertion\?/ },
  { name: "getAssertion not a function", input: entry({ sourceType: "CustomSignedAssertion", getAssertion: "eyJ..." }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].getAssertion", remedy: /function that returns a signed assertion/ },
  { name: "custom provider data that is an array", input: entry({ sourceType: "CustomSignedAssertion", getAssertion: () => "a", customSignedAssertionProviderData: ["x"] }), code: "BCC_INVALID_TYPE", path: "clientCredentials[0].customSignedAssertionProviderData", remedy: /key\/value pairs/ },
  { name: "a registered provider that is not a function", input: base({ customSignedAssertionProviders: { p: "token" } }), code: "BCC_INVALID_TYPE", path: "customSignedAssertionProviders.p", remedy: /function/ },

  // Hosts.
  { name: "http authority host", input: base({ authorityHost: "http://login.microsoftonline.com" }), code: "BCC_INSECURE_AUTHORITY", path: "authorityHost", remedy: /https:\/\/ URL.*tls\.ca/ },
  { name: "authority host that is not a URL", input: base({ authorityHost: "login.microsoftonline.com" }), code: "BCC_INVALID_URL", path: "authorityHost", remedy: /https:\/\/login\.microsoftonline\.com/ },
  { name: "authority host with the tenant in it", input: base({ authorityHost: `https://login.microsoftonline.com/${TENANT}` }), code: "BCC_INVALID_URL", path: "authorityHost", remedy: /put the tenant in tenantId/ },
  { name: "authority host with a query", input: base({ authorityHost: "https://login.microsoftonline.com/?dc=ESTS-PUB" }), code: "BCC_INVALID_URL", path: "authorityHost", remedy: /login host only|Entra login host only/ },
  { name: "authority host with another scheme", input: base({ authorityHost: "ftp://login.microsoftonline.com" }), code: "BCC_INVALID_URL", path: "authorityHost", remedy: /https:\/\/login/ },
  { name: "authority host with credentials", input: base({ authorityHost: "https://user:pw@login.microsoftonline.com" }), code: "BCC_INVALID_URL", path: "authorityHost", remedy: /Remove the credentials/ },
  { name: "http mTLS authority host", input: base({ mtlsAuthorityHost: "http://mtlsauth.microsoft.com" }), code: "BCC_INSECURE_AUTHORITY", path: "mtlsAuthorityHost", remedy: /https:\/\// },
  { name: "IMDS endpoint with another scheme", input: base({ imdsEndpoint: "ftp://169.254.169.254" }), code: "BCC_INVALID_URL", path: "imdsEndpoint", remedy: /http:\/\/169\.254\.169\.254/ },
  { name: "IMDS endpoint with a path", input: base({ imdsEndpoint: "http://169.254.169.254/metadata/identity/oauth2/token" }), code: "BCC_INVALID_URL", path: "imdsEndpoint", remedy: /base URL only/ },
  { name: "AZURE_AUTHORITY_HOST over http", input: base(), env: { AZURE_AUTHORITY_HOST: "http://login.microsoftonline.com" }, code: "BCC_INSECURE_AUTHORITY", path: "AZURE_AUTHORITY_HOST", remedy: /https:\/\// },
  { name: "AZURE_POD_IDENTITY_AUTHORITY_HOST not a URL", input: base(), env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: "169.254.169.254" }, code: "BCC_INVALID_URL", path: "AZURE_POD_IDENTITY_AUTHORITY_HOST", remedy: /instance metadata service/ },
  { name: "bound entry on a cloud without an mTLS endpoint", input: entry({ sourceType: "Path", certificateDiskPath: "/a", useBoundCredential: true }, { authorityHost: "https://login.usgovcloudapi.net" }), code: "BCC_MTLS_UNSUPPORTED_CLOUD", path: "authorityHost", remedy: /Set authorityHost to https:\/\/login\.microsoftonline\.us/ },
  { name: "bound entry on a host whose mTLS host cannot be derived", input: entry({ sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true }, { authorityHost: "https://sts.contoso.com" }), code: "BCC_MTLS_UNSUPPORTED_CLOUD", path: "authorityHost", remedy: /Set mtlsAuthorityHost/ },
  { name: "bound entry with AZURE_AUTHORITY_HOST on a legacy cloud", input: entry({ sourceType: "Path", certificateDiskPath: "/a", useBoundCredential: true }), env: { AZURE_AUTHORITY_HOST: "https://login.chinacloudapi.cn" }, code: "BCC_MTLS_UNSUPPORTED_CLOUD", path: "AZURE_AUTHORITY_HOST", remedy: /login\.partner\.microsoftonline\.cn/ },

  // Region, lists, TLS, logging, other options.
  { name: "region with spaces", input: base({ azureRegion: "West US 2" }), code: "BCC_INVALID_VALUE", path: "azureRegion", remedy: /westus2.*TryAutoDetect/, message: /Did you mean westus2\?/ },
  { name: "region not a string", input: base({ azureRegion: true }), code: "BCC_INVALID_TYPE", path: "azureRegion", remedy: /region name/ },
  { name: "clientCapabilities as a string", input: base({ clientCapabilities: "cp1" }), code: "BCC_INVALID_TYPE", path: "clientCapabilities", remedy: /as an array/ },
  { name: "clientCapabilities with a number", input: base({ clientCapabilities: ["cp1", 1] }), code: "BCC_INVALID_TYPE", path: "clientCapabilities[1]", remedy: /as strings/ },
  { name: "additionallyAllowedTenants as a string", input: base({ additionallyAllowedTenants: "*" }), code: "BCC_INVALID_TYPE", path: "additionallyAllowedTenants", remedy: /as an array/ },
  { name: "additionallyAllowedTenants with a bad tenant", input: base({ additionallyAllowedTenants: [TENANT, "not a tenant"] }), code: "BCC_INVALID_TENANT", path: "additionallyAllowedTenants[1]", remedy: /Remove the spaces/ },
  { name: "tls not an object", input: base({ tls: FAKE_CERT_PEM }), code: "BCC_INVALID_TYPE", path: "tls", remedy: /\{ ca: pemText \}/ },
  { name: "tls.ca of the wrong type", input: base({ tls: { ca: 5 } }), code: "BCC_INVALID_TYPE", path: "tls.ca", remedy: /PEM text/ },
  { name: "tls.ca that is a path", input: base({ tls: { ca: "/etc/ssl/emulator-ca.pem" } }), code: "BCC_INVALID_VALUE", path: "tls.ca", remedy: /not its path/ },
  { name: "tls.ca list with a non-PEM item", input: base({ tls: { ca: [FAKE_CERT_PEM, "junk"] } }), code: "BCC_INVALID_VALUE", path: "tls.ca[1]", remedy: /PEM text/ },
  { name: "tls.rejectUnauthorized", input: base({ tls: { rejectUnauthorized: false } }), code: "BCC_UNKNOWN_OPTION", path: "tls.rejectUnauthorized", remedy: /cannot be turned off/ },
  { name: "loggingOptions.logger", input: base({ loggingOptions: { logger: console.log } }), code: "BCC_UNKNOWN_OPTION", path: "loggingOptions.logger", remedy: /AZURE_LOG_LEVEL/ },
  { name: "sendCertificateChain as a string", input: base({ sendCertificateChain: "true" }), code: "BCC_INVALID_TYPE", path: "sendCertificateChain", remedy: /without quotes/ },
  { name: "keyVaultCredential that is not a credential", input: base({ keyVaultCredential: "token" }), code: "BCC_INVALID_TYPE", path: "keyVaultCredential", remedy: /ManagedIdentityCredential/ },
  { name: "attestationProvider that is not a function", input: base({ attestationProvider: "token" }), code: "BCC_INVALID_TYPE", path: "attestationProvider", remedy: /attestation token/ },
];

describe("configuration mistakes", () => {
  for (const mistake of mistakes) {
    test(`${mistake.code}: ${mistake.name}`, () => {
      expectConfigError(() => normalizeOptions(mistake.input, mistake.env ?? {}), {
        code: mistake.code,
        path: mistake.path,
        remedy: mistake.remedy,
        ...(mistake.message === undefined ? {} : { message: mistake.message }),
      });
    });
  }

  test("every configuration error code raised by the configuration layer is in the table", () => {
    // `satisfies` makes this fail to compile when a code is added to ConfigurationErrorCode.
    const raisedHere = {
      BCC_INVALID_OPTIONS: true,
      BCC_UNKNOWN_OPTION: true,
      BCC_MISSING_FIELD: true,
      BCC_EMPTY_FIELD: true,
      BCC_INVALID_TYPE: true,
      BCC_INVALID_VALUE: true,
      BCC_UNKNOWN_SOURCE_TYPE: true,
      BCC_UNSUPPORTED_SOURCE_TYPE: true,
      BCC_CREDENTIALS_NOT_ARRAY: true,
      BCC_CREDENTIALS_EMPTY: true,
      BCC_ALL_ENTRIES_SKIPPED: true,
      BCC_INVALID_TENANT: true,
      BCC_MULTI_TENANT_AUTHORITY: true,
      BCC_BOUND_NOT_SUPPORTED: true,
      BCC_INSECURE_AUTHORITY: true,
      BCC_INVALID_URL: true,
      BCC_CONFLICTING_FIELDS: true,
      BCC_MTLS_UNSUPPORTED_CLOUD: true,
      BCC_UNKNOWN_PROVIDER: true,
      // Raised by getToken, not by configuration.
      BCC_UNSUPPORTED_REQUEST_OPTION: false,
    } satisfies Record<ConfigurationErrorCode, boolean>;
    const covered = new Set(mistakes.map((m) => m.code));
    for (const [code, raised] of Object.entries(raisedHere)) {
      if (raised && !covered.has(code as ConfigurationErrorCode)) throw new Error(`${code} has no test in the table`);
    }
  });

  test("the table holds at least 40 distinct mistakes", () => {
    const names = new Set(mistakes.map((m) => m.name));
    if (names.size !== mistakes.length || names.size < 40) throw new Error(`only ${names.size} distinct mistakes`);
  });
});
