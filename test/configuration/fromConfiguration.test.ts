/**
 * fromConfiguration on every sample section of reference/idweb-credential-model.md (copied into
 * fixtures/, with the placeholders such as "<tenant-guid-or-domain>" and "962D12...84" replaced by
 * well-formed values), and on the mistakes a section can hold.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { optionsFromConfiguration } from "../../src/configuration/fromConfiguration.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import type { BoundClientCredentialOptions, CustomSignedAssertionProvider } from "../../src/configuration/types.ts";
import { CLIENT, TENANT, expectConfigError, warningsOf } from "./helpers.ts";

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

const MI_CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const THUMBPRINT = "962D129A859174EE8B5596985BD18EFEC6D91484";
const oidc: CustomSignedAssertionProvider = () => "assertion";

describe("fromConfiguration: reference samples", () => {
  test("§1.4: every source type, in order", () => {
    const options = optionsFromConfiguration(fixture("idweb-1.4-all-sources.json"), {
      customSignedAssertionProviders: { OidcIdpSignedAssertion: oidc },
    });
    const expected: BoundClientCredentialOptions = {
      authorityHost: "https://login.microsoftonline.com",
      tenantId: TENANT,
      clientId: CLIENT,
      sendCertificateChain: false,
      clientCapabilities: ["cp1"],
      clientCredentials: [
        { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: MI_CLIENT, tokenExchangeUrl: "api://AzureADTokenExchange" },
        { sourceType: "KeyVault", keyVaultUrl: "https://myvault.vault.azure.net", keyVaultCertificateName: "MyCert" },
        { sourceType: "StoreWithDistinguishedName", certificateStorePath: "CurrentUser/My", certificateDistinguishedName: "CN=MyCert" },
        { sourceType: "StoreWithThumbprint", certificateStorePath: "LocalMachine/My", certificateThumbprint: THUMBPRINT },
        { sourceType: "StoreWithSubjectName", certificateStorePath: "CurrentUser/My", certificateSubjectName: "CN=MyCert" },
        { sourceType: "Path", certificateDiskPath: "c:\\temp\\cert.pfx", certificatePassword: "pwd" },
        { sourceType: "Base64Encoded", base64EncodedValue: "MIIDHzCCAgegAwIB" },
        { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: "/var/run/secrets/azure/tokens/azure-identity-token" },
        {
          sourceType: "CustomSignedAssertion",
          customSignedAssertionProviderName: "OidcIdpSignedAssertion",
          customSignedAssertionProviderData: { ConfigurationSection: "OidcFicIdp" },
        },
        { sourceType: "ClientSecret", clientSecret: "dev-only" },
      ],
      customSignedAssertionProviders: { OidcIdpSignedAssertion: oidc },
    };
    assert.deepEqual(options, expected);
    const normalized = normalizeOptions(options, {});
    assert.deepEqual(
      normalized.entries.map((e) => e.description.sourceType),
      ["SignedAssertionFromManagedIdentity", "KeyVault", "StoreWithDistinguishedName", "StoreWithThumbprint", "StoreWithSubjectName", "Path", "Base64Encoded", "SignedAssertionFilePath", "CustomSignedAssertion", "ClientSecret"],
    );
  });

  test("§1.6: managed identity FIC with UseBoundCredential", () => {
    const options = optionsFromConfiguration(fixture("idweb-1.6-mi-bound.json"));
    assert.deepEqual(options, {
      authorityHost: "https://login.microsoftonline.com",
      tenantId: TENANT,
      clientId: CLIENT,
      clientCredentials: [
        { sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true, managedIdentityClientId: MI_CLIENT, tokenExchangeUrl: "api://AzureADTokenExchange" },
      ],
    });
    assert.equal(normalizeOptions(options, {}).entries[0]!.bound, true);
  });

  test("§4.6 daemon-app-cert-bound: a whole appsettings.json is unwrapped and its other sections ignored", () => {
    assert.deepEqual(optionsFromConfiguration(fixture("idweb-4.6-daemon-app-cert-bound.json")), {
      authorityHost: "https://login.microsoftonline.com",
      tenantId: "msidlab4.onmicrosoft.com",
      clientId: CLIENT,
      clientCredentials: [{ sourceType: "StoreWithThumbprint", useBoundCredential: true, certificateStorePath: "CurrentUser/My", certificateThumbprint: THUMBPRINT }],
    });
  });

  test("§4.6 daemon-app-fic-mtls: FIC with a managed identity and CAE", () => {
    assert.deepEqual(optionsFromConfiguration(fixture("idweb-4.6-daemon-app-fic-mtls.json")), {
      authorityHost: "https://login.microsoftonline.com",
      tenantId: TENANT,
      clientId: CLIENT,
      clientCapabilities: ["cp1"],
      clientCredentials: [{ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: MI_CLIENT }],
    });
  });

  test("§4.5.1: a bound primary followed by an unbound fallback", () => {
    const options = optionsFromConfiguration(fixture("idweb-4.5.1-mixed-bound-primary.json"));
    assert.deepEqual(options.clientCredentials, [
      { sourceType: "StoreWithDistinguishedName", useBoundCredential: true, certificateStorePath: "CurrentUser/My", certificateDistinguishedName: "CN=Primary" },
      { sourceType: "StoreWithDistinguishedName", certificateStorePath: "CurrentUser/My", certificateDistinguishedName: "CN=Fallback" },
    ]);
    assert.deepEqual(normalizeOptions(options, {}).entries.map((e) => e.bound), [true, false]);
  });

  test("§1.4 legacy: ClientCredentialsUsingManagedIdentity, then ClientCertificates, then ClientSecret", () => {
    assert.deepEqual(optionsFromConfiguration(fixture("legacy-credentials.json")), {
      authorityHost: "https://login.microsoftonline.com",
      tenantId: TENANT,
      clientId: CLIENT,
      clientCredentials: [
        { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: MI_CLIENT },
        { sourceType: "Path", certificateDiskPath: "/certs/legacy.pfx", certificatePassword: "pfx-pass" },
        { sourceType: "ClientSecret", clientSecret: "legacy-secret" },
      ],
    });
  });

  test("camelCase keys, Authority only, SourceType by lower-case name and by number, string booleans, ignored keys", () => {
    assert.deepEqual(optionsFromConfiguration(fixture("authority-only-camel.json")), {
      tenantId: "contoso.onmicrosoft.us",
      authorityHost: "https://login.microsoftonline.us",
      clientId: CLIENT,
      azureRegion: "usgovvirginia",
      sendCertificateChain: true,
      clientCredentials: [
        { sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true },
        { sourceType: "Path", skip: true, certificateDiskPath: "/certs/app.pfx" },
      ],
    });
  });
});

function section(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Instance: "https://login.microsoftonline.com/",
    TenantId: TENANT,
    ClientId: CLIENT,
    ClientCredentials: [{ SourceType: "Path", CertificateDiskPath: "/certs/app.pfx" }],
    ...extra,
  };
}

describe("fromConfiguration: Identity.Web rules", () => {
  test("Instance and TenantId win over Authority", () => {
    const options = optionsFromConfiguration(section({ Authority: "https://login.microsoftonline.us/other.onmicrosoft.us/v2.0" }));
    assert.equal(options.authorityHost, "https://login.microsoftonline.com");
    assert.equal(options.tenantId, TENANT);
  });

  test("TenantId alone with Authority: Authority is ignored and the default login host applies", () => {
    const options = optionsFromConfiguration(section({ Instance: undefined, Authority: "https://login.microsoftonline.us/x.onmicrosoft.us" }));
    assert.equal(options.authorityHost, undefined);
    assert.equal(options.tenantId, TENANT);
  });

  test("Authority without a version segment, and with a trailing slash", () => {
    const a = optionsFromConfiguration(section({ Instance: null, TenantId: null, Authority: "https://login.microsoftonline.com/contoso.onmicrosoft.com/" }));
    assert.equal(a.authorityHost, "https://login.microsoftonline.com");
    assert.equal(a.tenantId, "contoso.onmicrosoft.com");
  });

  test("ClientCredentials wins over the legacy keys, which are then ignored", () => {
    const options = optionsFromConfiguration(
      section({ ClientSecret: "ignored-secret", ClientCertificates: [{ SourceType: "Path", CertificateDiskPath: "/old.pfx" }] }),
    );
    assert.deepEqual(options.clientCredentials, [{ sourceType: "Path", certificateDiskPath: "/certs/app.pfx" }]);
  });

  test("an empty ClientCredentials array falls back to the legacy keys", () => {
    const options = optionsFromConfiguration(section({ ClientCredentials: [], ClientSecret: "legacy" }));
    assert.deepEqual(options.clientCredentials, [{ sourceType: "ClientSecret", clientSecret: "legacy" }]);
  });

  test("a disabled legacy managed identity adds nothing", () => {
    const options = optionsFromConfiguration(
      section({ ClientCredentials: null, ClientSecret: "s", ClientCredentialsUsingManagedIdentity: { IsEnabled: false, ManagedIdentityClientId: MI_CLIENT } }),
    );
    assert.deepEqual(options.clientCredentials, [{ sourceType: "ClientSecret", clientSecret: "s" }]);
  });

  test("keys and SourceType names are case-insensitive; numbers and numeric strings are enum values", () => {
    const options = optionsFromConfiguration({
      INSTANCE: "https://login.microsoftonline.com",
      tenantid: TENANT,
      clientID: CLIENT,
      clientcredentials: [
        { sourcetype: "KEYVAULT", keyvaulturl: "https://v.vault.azure.net", KEYVAULTCERTIFICATENAME: "c" },
        { SourceType: 13, CertificateStorePath: "CurrentUser/My", CertificateSubjectName: "CN=a" },
        { SourceType: "6", ClientSecret: "s", Skip: "TRUE" },
      ],
    });
    assert.deepEqual(options.clientCredentials, [
      { sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net", keyVaultCertificateName: "c" },
      { sourceType: "StoreWithSubjectName", certificateStorePath: "CurrentUser/My", certificateSubjectName: "CN=a" },
      { sourceType: "ClientSecret", skip: true, clientSecret: "s" },
    ]);
  });

  test("AppHomeTenantId resolves a meta-tenant", () => {
    const options = optionsFromConfiguration(section({ TenantId: "organizations", AppHomeTenantId: "contoso.onmicrosoft.com" }));
    assert.equal(options.tenantId, "contoso.onmicrosoft.com");
  });

  test("UserAssignedManagedIdentityClientId reaches KeyVault entries that name no identity", () => {
    const options = optionsFromConfiguration(
      section({
        UserAssignedManagedIdentityClientId: MI_CLIENT,
        ClientCredentials: [
          { SourceType: "KeyVault", KeyVaultUrl: "https://v.vault.azure.net", KeyVaultCertificateName: "a" },
          { SourceType: "KeyVault", KeyVaultUrl: "https://v.vault.azure.net", KeyVaultCertificateName: "b", ManagedIdentityClientId: "own" },
        ],
      }),
    );
    assert.deepEqual(options.clientCredentials, [
      { sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net", keyVaultCertificateName: "a", managedIdentityClientId: MI_CLIENT },
      { sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net", keyVaultCertificateName: "b", managedIdentityClientId: "own" },
    ]);
  });

  test("drops keys of other sources, TokenExchangeAuthority, Algorithm and unknown keys", () => {
    const options = optionsFromConfiguration(
      section({
        EnablePiiLogging: true,
        ClientCredentials: [
          { SourceType: "SignedAssertionFromManagedIdentity", TokenExchangeAuthority: "https://x", Algorithm: "PS256", CertificatePassword: "stale", Whatever: 1 },
        ],
      }),
    );
    assert.deepEqual(options.clientCredentials, [{ sourceType: "SignedAssertionFromManagedIdentity" }]);
    assert.ok(!("enablePiiLogging" in options));
  });

  test("a sectionName finds a nested section", () => {
    const options = optionsFromConfiguration({ Identity: { azuread: section() } }, undefined, { sectionName: "identity:AzureAd" });
    assert.equal(options.tenantId, TENANT);
  });

  test("MtlsAuthorityHost (an extension of this library) sets the mutual TLS host; an override still wins", () => {
    const options = optionsFromConfiguration(section({ MtlsAuthorityHost: "https://mtls.example.test:8443/" }));
    assert.equal(options.mtlsAuthorityHost, "https://mtls.example.test:8443");
    assert.equal(normalizeOptions(options, {}).mtlsAuthorityHost, "https://mtls.example.test:8443");
    const overridden = optionsFromConfiguration(section({ mtlsAuthorityHost: "https://a.example.test" }), { mtlsAuthorityHost: "https://b.example.test" });
    assert.equal(overridden.mtlsAuthorityHost, "https://b.example.test");
  });

  test("overrides replace values and add what a file cannot hold", () => {
    const options = optionsFromConfiguration(section({ AzureRegion: "westus" }), { azureRegion: "eastus", imdsEndpoint: "http://127.0.0.1:9000" });
    assert.equal(options.azureRegion, "eastus");
    assert.equal(options.imdsEndpoint, "http://127.0.0.1:9000");
  });
});

describe("fromConfiguration: mistakes, with paths in the section's own spelling", () => {
  test("ClientCredentials given as an object (Identity.Web issue #3431)", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: { SourceType: "Path", CertificateDiskPath: "/a" } })), {
      code: "BCC_CREDENTIALS_NOT_ARRAY",
      path: "AzureAd.ClientCredentials",
      remedy: /JSON array.*#3431/,
    });
  });

  test("ClientCertificates given as an object", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [], ClientCertificates: { SourceType: "Path" } })), {
      code: "BCC_CREDENTIALS_NOT_ARRAY",
      path: "AzureAd.ClientCertificates",
      remedy: /JSON array/,
    });
  });

  test("a missing CertificateDiskPath", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [{ SourceType: "Path" }] })), {
      code: "BCC_MISSING_FIELD",
      path: "AzureAd.ClientCredentials[0].CertificateDiskPath",
      remedy: /path of the PFX/,
    });
  });

  test("a misspelled key that Identity.Web would ignore is pointed out", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [{ SourceType: "Path", CertificatePath: "/certs/app.pfx" }] })), {
      code: "BCC_MISSING_FIELD",
      path: "AzureAd.ClientCredentials[0].CertificateDiskPath",
      remedy: /path of the PFX/,
      message: /has CertificatePath, which is not a setting of this source type: did you mean CertificateDiskPath\?/,
    });
  });

  test("a missing field in a camelCase section is named in camelCase", () => {
    expectConfigError(() => optionsFromConfiguration({ tenantId: TENANT, clientId: CLIENT, clientCredentials: [{ sourceType: "Path" }] }), {
      code: "BCC_MISSING_FIELD",
      path: "AzureAd.clientCredentials[0].certificateDiskPath",
      remedy: /path of the PFX/,
    });
  });

  test("an error in a legacy ClientCertificates entry names that entry", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [], ClientCertificates: [{ SourceType: "Path", CertificateDiskPath: 5 }] })), {
      code: "BCC_INVALID_TYPE",
      path: "AzureAd.ClientCertificates[0].CertificateDiskPath",
      remedy: /as a string/,
    });
  });

  test("a missing SourceType is rejected rather than defaulted to an unusable Certificate", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [{ CertificateDiskPath: "/a" }] })), {
      code: "BCC_MISSING_FIELD",
      path: "AzureAd.ClientCredentials[0].SourceType",
      remedy: /Use one of: Certificate, Path/,
    });
  });

  test("an unknown SourceType name suggests the closest", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [{ SourceType: "SignedAssertionFromManagedIdentiy" }] })), {
      code: "BCC_UNKNOWN_SOURCE_TYPE",
      path: "AzureAd.ClientCredentials[0].SourceType",
      remedy: /Use one of/,
      message: /Did you mean SignedAssertionFromManagedIdentity\?/,
    });
  });

  test("a SourceType number out of range", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [{ SourceType: 99 }] })), {
      code: "BCC_UNKNOWN_SOURCE_TYPE",
      path: "AzureAd.ClientCredentials[0].SourceType",
      remedy: /by name/,
    });
  });

  for (const [value, name] of [["SignedAssertionFromVault", "SignedAssertionFromVault"], [10, "AutoDecryptKeys"], ["managedcertificate", "ManagedCertificate"]] as const) {
    test(`the unsupported source ${name}`, () => {
      expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [{ SourceType: value }] })), {
        code: "BCC_UNSUPPORTED_SOURCE_TYPE",
        path: "AzureAd.ClientCredentials[0].SourceType",
        remedy: /Remove this entry/,
        message: new RegExp(`${name} is not supported`),
      });
    });
  }

  test("SourceType Certificate, which a file cannot supply", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [{ SourceType: 0 }] })), {
      code: "BCC_UNSUPPORTED_SOURCE_TYPE",
      path: "AzureAd.ClientCredentials[0].SourceType",
      remedy: /Path, Base64Encoded or KeyVault/,
    });
  });

  test("UseBoundCredential on a ClientSecret", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [{ SourceType: "ClientSecret", ClientSecret: "s", UseBoundCredential: true }] })), {
      code: "BCC_BOUND_NOT_SUPPORTED",
      path: "AzureAd.ClientCredentials[0].UseBoundCredential",
      remedy: /drop the flag/,
    });
  });

  test("UseBoundCredential that is not a boolean", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [{ SourceType: "Path", CertificateDiskPath: "/a", UseBoundCredential: "yes" }] })), {
      code: "BCC_INVALID_TYPE",
      path: "AzureAd.ClientCredentials[0].UseBoundCredential",
      remedy: /true or false/,
    });
  });

  test("a meta-tenant without AppHomeTenantId", () => {
    expectConfigError(() => optionsFromConfiguration(section({ TenantId: "common" })), {
      code: "BCC_MULTI_TENANT_AUTHORITY",
      path: "AzureAd.TenantId",
      remedy: /GUID/,
    });
  });

  test("a missing ClientId", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientId: undefined })), {
      code: "BCC_MISSING_FIELD",
      path: "AzureAd.ClientId",
      remedy: /application \(client\) ID/,
    });
  });

  test("an empty TenantId", () => {
    expectConfigError(() => optionsFromConfiguration(section({ TenantId: "" })), {
      code: "BCC_EMPTY_FIELD",
      path: "AzureAd.TenantId",
      remedy: /tenant/,
    });
  });

  test("Instance and Authority without TenantId", () => {
    expectConfigError(() => optionsFromConfiguration(section({ TenantId: undefined, Authority: `https://login.microsoftonline.com/${TENANT}/v2.0` })), {
      code: "BCC_MISSING_FIELD",
      path: "AzureAd.TenantId",
      remedy: /remove Instance so that the tenant is read from Authority/,
    });
  });

  test("an Authority without a tenant", () => {
    expectConfigError(() => optionsFromConfiguration(section({ Instance: undefined, TenantId: undefined, Authority: "https://login.microsoftonline.com/" })), {
      code: "BCC_INVALID_VALUE",
      path: "AzureAd.Authority",
      remedy: /\{tenant\}\/v2\.0/,
    });
  });

  test("an http Authority", () => {
    expectConfigError(() => optionsFromConfiguration(section({ Instance: undefined, TenantId: undefined, Authority: `http://login.microsoftonline.com/${TENANT}/v2.0` })), {
      code: "BCC_INSECURE_AUTHORITY",
      path: "AzureAd.Authority",
      remedy: /https:\/\//,
    });
  });

  test("an http MtlsAuthorityHost is named by its key in the section", () => {
    const error = expectConfigError(() => optionsFromConfiguration(section({ MtlsAuthorityHost: "http://mtls.example.test" })), {
      code: "BCC_INSECURE_AUTHORITY",
      path: "AzureAd.MtlsAuthorityHost",
      remedy: /https:\/\//,
    });
    assert.ok(error.message.startsWith("AzureAd.MtlsAuthorityHost"));
  });

  test("a B2C-style Instance with a path", () => {
    expectConfigError(() => optionsFromConfiguration(section({ Instance: "https://contoso.b2clogin.com/tfp/" })), {
      code: "BCC_INVALID_URL",
      path: "AzureAd.Instance",
      remedy: /put the tenant in TenantId/,
    });
  });

  test("Instance that is not a string", () => {
    expectConfigError(() => optionsFromConfiguration(section({ Instance: 42 })), {
      code: "BCC_INVALID_TYPE",
      path: "AzureAd.Instance",
      remedy: /Set Instance to a string/,
    });
  });

  test("SendX5C that is not a boolean", () => {
    expectConfigError(() => optionsFromConfiguration(section({ SendX5C: "yes" })), {
      code: "BCC_INVALID_TYPE",
      path: "AzureAd.SendX5C",
      remedy: /true or false/,
    });
  });

  test("ClientCapabilities that is a string", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCapabilities: "cp1" })), {
      code: "BCC_INVALID_TYPE",
      path: "AzureAd.ClientCapabilities",
      remedy: /as an array/,
    });
  });

  test("an invalid AzureRegion", () => {
    expectConfigError(() => optionsFromConfiguration(section({ AzureRegion: "West Europe" })), {
      code: "BCC_INVALID_VALUE",
      path: "AzureAd.AzureRegion",
      remedy: /TryAutoDetect/,
      message: /Did you mean westeurope\?/,
    });
  });

  test("the same key twice in different case", () => {
    expectConfigError(() => optionsFromConfiguration({ ...section(), tenantId: TENANT }), {
      code: "BCC_CONFLICTING_FIELDS",
      path: "AzureAd.tenantId",
      remedy: /Keep only one/,
    });
  });

  test("a custom provider that is not registered", () => {
    expectConfigError(
      () => optionsFromConfiguration(section({ ClientCredentials: [{ SourceType: "CustomSignedAssertion", CustomSignedAssertionProviderName: "OidcIdpSignedAssertion" }] })),
      { code: "BCC_UNKNOWN_PROVIDER", path: "AzureAd.ClientCredentials[0].CustomSignedAssertionProviderName", remedy: /customSignedAssertionProviders/ },
    );
  });

  test("no credentials at all", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [] })), {
      code: "BCC_CREDENTIALS_EMPTY",
      path: "AzureAd.ClientCredentials",
      remedy: /Add at least one entry/,
    });
  });

  test("a legacy managed identity that is not an object", () => {
    expectConfigError(() => optionsFromConfiguration(section({ ClientCredentials: [], ClientCredentialsUsingManagedIdentity: true })), {
      code: "BCC_INVALID_TYPE",
      path: "AzureAd.ClientCredentialsUsingManagedIdentity",
      remedy: /IsEnabled/,
    });
  });

  test("a wrapped section keeps the wrapper's spelling in paths", () => {
    expectConfigError(() => optionsFromConfiguration({ azureAD: section({ ClientId: "" }) }), {
      code: "BCC_EMPTY_FIELD",
      path: "azureAD.ClientId",
      remedy: /application/,
    });
  });

  test("a section that is not an object", () => {
    expectConfigError(() => optionsFromConfiguration("AzureAd"), { code: "BCC_INVALID_OPTIONS", path: "AzureAd", remedy: /JSON\.parse/ });
  });

  test("a sectionName that is not there", () => {
    expectConfigError(() => optionsFromConfiguration({ AzureAd: section() }, undefined, { sectionName: "Identity:AzureAd" }), {
      code: "BCC_MISSING_FIELD",
      path: "Identity",
      remedy: /section name/,
    });
  });

  test("an error in overrides names the override", () => {
    expectConfigError(() => optionsFromConfiguration(section(), { tls: { ca: "/etc/ca.pem" } }), {
      code: "BCC_INVALID_VALUE",
      path: "overrides.tls.ca",
      remedy: /not its path/,
    });
  });

  test("an unknown key in overrides", () => {
    expectConfigError(() => optionsFromConfiguration(section(), { imdsEndpont: "http://x" } as unknown as Partial<BoundClientCredentialOptions>), {
      code: "BCC_UNKNOWN_OPTION",
      path: "overrides.imdsEndpont",
      remedy: /Remove it/,
    });
  });
});

describe("fromConfiguration: Identity.Web sections as they are written", () => {
  const pathEntry = { SourceType: "Path", CertificateDiskPath: "/certs/app.pfx" };

  test("a CIAM authority without a tenant names the tenant after its host, as MSAL.NET does", () => {
    const options = optionsFromConfiguration({ Authority: "https://contoso.ciamlogin.com/", ClientId: CLIENT, ClientCredentials: [pathEntry] });
    assert.equal(options.tenantId, "contoso.onmicrosoft.com");
    assert.equal(options.authorityHost, "https://contoso.ciamlogin.com");
    const normalized = normalizeOptions(options, {});
    assert.equal(normalized.authorityHost, "https://contoso.ciamlogin.com");
    // With a tenant segment the segment wins, as for any authority.
    const explicit = optionsFromConfiguration({ Authority: `https://contoso.ciamlogin.com/${TENANT}`, ClientId: CLIENT, ClientCredentials: [pathEntry] });
    assert.equal(explicit.tenantId, TENANT);
  });

  test("a bound entry with a CIAM authority is refused: there is no mutual TLS endpoint", () => {
    const error = expectConfigError(
      () =>
        optionsFromConfiguration({
          Authority: "https://contoso.ciamlogin.com",
          ClientId: CLIENT,
          ClientCredentials: [{ ...pathEntry, UseBoundCredential: true }],
        }),
      { code: "BCC_MTLS_UNSUPPORTED_CLOUD", path: "AzureAd.ClientCredentials[0].UseBoundCredential", remedy: /UseBoundCredential to false/ },
    );
    assert.match(error.message, /External ID \(CIAM\).*no mutual TLS token endpoint/);
    // Options in code get the same answer, even with an mTLS host set.
    expectConfigError(
      () =>
        normalizeOptions(
          {
            tenantId: "contoso.onmicrosoft.com",
            clientId: CLIENT,
            authorityHost: "https://contoso.ciamlogin.com",
            mtlsAuthorityHost: "https://mtlsauth.microsoft.com",
            clientCredentials: [{ sourceType: "Path", certificateDiskPath: "/a.pfx", useBoundCredential: true }],
          },
          {},
        ),
      { code: "BCC_MTLS_UNSUPPORTED_CLOUD", path: "clientCredentials[0].useBoundCredential", remedy: /useBoundCredential to false/ },
    );
    // A non-CIAM host without a tenant segment is still refused as before.
    expectConfigError(() => optionsFromConfiguration({ Authority: "https://login.microsoftonline.com", ClientId: CLIENT, ClientCredentials: [pathEntry] }), {
      code: "BCC_INVALID_VALUE",
      path: "AzureAd.Authority",
      remedy: /\{tenant\}/,
    });
  });

  test("ExtraQueryParameters are read and checked: string values, no parameter the credential sends itself", () => {
    const section = { Instance: "https://login.microsoftonline.com/", TenantId: TENANT, ClientId: CLIENT, ClientCredentials: [pathEntry] };
    const options = optionsFromConfiguration({ ...section, ExtraQueryParameters: { dc: "ESTS-PUB-WUS2" } });
    assert.deepEqual(options.extraQueryParameters, { dc: "ESTS-PUB-WUS2" });
    assert.deepEqual({ ...normalizeOptions(options, {}).extraQueryParameters }, { dc: "ESTS-PUB-WUS2" });
    expectConfigError(() => optionsFromConfiguration({ ...section, ExtraQueryParameters: { dc: 3 } }), {
      code: "BCC_INVALID_TYPE",
      path: "AzureAd.ExtraQueryParameters.dc",
      remedy: /as a string/,
    });
    expectConfigError(() => optionsFromConfiguration({ ...section, ExtraQueryParameters: { Client_Id: "x" } }), {
      code: "BCC_INVALID_VALUE",
      path: "AzureAd.ExtraQueryParameters.Client_Id",
      remedy: /sets it from its own options/,
    });
    expectConfigError(() => optionsFromConfiguration({ ...section, ExtraQueryParameters: ["dc"] }), {
      code: "BCC_INVALID_TYPE",
      path: "AzureAd.ExtraQueryParameters",
      remedy: /\{ name: "value" \}/,
    });
    expectConfigError(() => optionsFromConfiguration({ ...section, ExtraQueryParameters: { "a b": "x" } }), {
      code: "BCC_INVALID_VALUE",
      path: "AzureAd.ExtraQueryParameters.a b",
      remedy: /Rename the parameter/,
    });
  });

  test("an entry key its source type does not have is logged with the closest key; section-level keys stay silent", () => {
    const section = {
      Instance: "https://login.microsoftonline.com/",
      TenantId: TENANT,
      ClientId: CLIENT,
      CallbackPath: "/signin-oidc",
      SignedOutCallbackPath: "/signout-callback-oidc",
      Scopes: "access_as_user",
      ClientCredentials: [
        { ...pathEntry, PreferBoundCredential: true, CertificatePasword: "x", TokenExchangeAuthority: "https://login.microsoftonline.com/t" },
        { SourceType: "KeyVault", KeyVaultUrl: "https://v.vault.azure.net", KeyVaultCertificateName: "c", KeyVaultCertificateVersion: null, CertificateDiskPath: "/a.pfx", Container: "x" },
      ],
    };
    let options: BoundClientCredentialOptions | undefined;
    const warnings = warningsOf(() => {
      options = optionsFromConfiguration(section);
    });
    // Nothing changes: the token is unbound, as Identity.Web would have it.
    assert.equal(options?.clientCredentials[0]?.useBoundCredential, undefined);
    const text = warnings.join("\n");
    assert.match(text, /AzureAd\.ClientCredentials\[0\]\.PreferBoundCredential is ignored: did you mean UseBoundCredential\? PreferBoundCredential was proposed and not adopted/);
    assert.match(text, /AzureAd\.ClientCredentials\[0\]\.CertificatePasword is ignored: it is not a setting of a Path entry\. Did you mean CertificatePassword\?/);
    assert.match(text, /AzureAd\.ClientCredentials\[1\]\.CertificateDiskPath is ignored: it is a setting of SourceType Path or Pkcs11, not of KeyVault/);
    assert.match(text, /AzureAd\.ClientCredentials\[1\]\.Container is ignored: this library reads the source-specific keys instead/);
    assert.equal(warnings.length, 4, text);
    const codeOnly = warningsOf(() =>
      optionsFromConfiguration(
        {
          Instance: "https://login.microsoftonline.com/",
          TenantId: TENANT,
          ClientId: CLIENT,
          ClientCredentials: [{ SourceType: "KeyVault", KeyVaultUrl: "https://v.vault.azure.net", KeyVaultCertificateName: "c", KeyVaultCredential: "x" }],
        },
      ),
    );
    assert.match(codeOnly.join("\n"), /ClientCredentials\[0\]\.KeyVaultCredential is ignored: KeyVaultCredential can only be given in code/);
    assert.doesNotMatch(text, /CallbackPath|Scopes|TokenExchangeAuthority/);
  });

  test("an ignored key of ten million characters is described briefly and costs no suggestion", () => {
    const key = "K".repeat(10_000_000);
    const warnings = warningsOf(() =>
      optionsFromConfiguration({ Instance: "https://login.microsoftonline.com/", TenantId: TENANT, ClientId: CLIENT, ClientCredentials: [{ ...pathEntry, [key]: 1 }] }),
    );
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]!.length < 300, `the warning has ${warnings[0]!.length} characters`);
  });
});
