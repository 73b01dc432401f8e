import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import type { TokenCredential } from "@azure/core-auth";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { CLIENT, FAKE_CERT_PEM, optionsOf, PATH_ENTRY, TENANT } from "./helpers.ts";

const options = optionsOf;

function descriptionOf<T extends CredentialDescription["sourceType"]>(
  d: CredentialDescription,
  sourceType: T,
): Extract<CredentialDescription, { sourceType: T }> {
  assert.equal(d.sourceType, sourceType);
  return d as Extract<CredentialDescription, { sourceType: T }>;
}

describe("normalizeOptions: defaults", () => {
  test("applies the public-cloud defaults when nothing is set", () => {
    const n = normalizeOptions(options([PATH_ENTRY]), {});
    assert.equal(n.tenantId, TENANT);
    assert.equal(n.clientId, CLIENT);
    assert.equal(n.authorityHost, "https://login.microsoftonline.com");
    assert.equal(n.mtlsAuthorityHost, undefined);
    assert.equal(n.azureRegion, undefined);
    assert.equal(n.imdsEndpoint, "http://169.254.169.254");
    assert.deepEqual(n.additionallyAllowedTenants, []);
    assert.equal(n.sendCertificateChain, false);
    assert.deepEqual(n.clientCapabilities, []);
    assert.deepEqual(n.tlsCa, []);
    assert.equal(n.allowLoggingAccountIdentifiers, false);
    assert.equal(n.enableUnsafeSupportLogging, false);
    assert.equal(n.keyVaultCredential, undefined);
    assert.deepEqual(Object.keys(n.customSignedAssertionProviders), []);
    assert.equal(n.attestationProvider, undefined);
  });

  test("reads AZURE_AUTHORITY_HOST and AZURE_POD_IDENTITY_AUTHORITY_HOST when the options do not set them", () => {
    const n = normalizeOptions(options([PATH_ENTRY]), {
      AZURE_AUTHORITY_HOST: "https://LOGIN.microsoftonline.us/",
      AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://10.0.0.4:2579/",
    });
    assert.equal(n.authorityHost, "https://login.microsoftonline.us");
    assert.equal(n.imdsEndpoint, "http://10.0.0.4:2579");
  });

  test("options win over the environment", () => {
    const n = normalizeOptions(
      options([PATH_ENTRY], { authorityHost: "https://login.microsoftonline.com/", imdsEndpoint: "http://127.0.0.1:5000" }),
      { AZURE_AUTHORITY_HOST: "https://login.microsoftonline.us", AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://10.0.0.4" },
    );
    assert.equal(n.authorityHost, "https://login.microsoftonline.com");
    assert.equal(n.imdsEndpoint, "http://127.0.0.1:5000");
  });

  test("keeps a port and drops the default one", () => {
    assert.equal(normalizeOptions(options([PATH_ENTRY], { authorityHost: "https://login.emulator.test:8443" }), {}).authorityHost, "https://login.emulator.test:8443");
    assert.equal(normalizeOptions(options([PATH_ENTRY], { authorityHost: "https://login.microsoftonline.com:443" }), {}).authorityHost, "https://login.microsoftonline.com");
  });

  test('collapses additionallyAllowedTenants containing "*" to ["*"]', () => {
    assert.deepEqual(normalizeOptions(options([PATH_ENTRY], { additionallyAllowedTenants: [TENANT, "*"] }), {}).additionallyAllowedTenants, ["*"]);
    assert.deepEqual(
      normalizeOptions(options([PATH_ENTRY], { additionallyAllowedTenants: ["contoso.onmicrosoft.com", TENANT] }), {}).additionallyAllowedTenants,
      ["contoso.onmicrosoft.com", TENANT],
    );
  });

  test("accepts a tenant domain and normalises the region spelling of TryAutoDetect", () => {
    const n = normalizeOptions(options([PATH_ENTRY], { tenantId: "contoso.onmicrosoft.com", azureRegion: "tryautodetect" }), {});
    assert.equal(n.tenantId, "contoso.onmicrosoft.com");
    assert.equal(n.azureRegion, "TryAutoDetect");
    assert.equal(normalizeOptions(options([PATH_ENTRY], { azureRegion: "westus2" }), {}).azureRegion, "westus2");
  });

  test("defaults tokenExchangeUrl per cloud and keeps an explicit one", () => {
    const mi = { sourceType: "SignedAssertionFromManagedIdentity" };
    const urlFor = (authorityHost: string, entry: Record<string, unknown> = mi): string | undefined =>
      descriptionOf(normalizeOptions(options([entry], { authorityHost }), {}).entries[0]!.description, "SignedAssertionFromManagedIdentity").tokenExchangeUrl;
    assert.equal(urlFor("https://login.microsoftonline.com"), "api://AzureADTokenExchange");
    assert.equal(urlFor("https://login.microsoftonline.us"), "api://AzureADTokenExchangeUSGov");
    assert.equal(urlFor("https://login.partner.microsoftonline.cn"), "api://AzureADTokenExchangeChina");
    assert.equal(urlFor("https://login.emulator.test:8443"), "api://AzureADTokenExchange");
    assert.equal(urlFor("https://login.microsoftonline.us", { ...mi, tokenExchangeUrl: "api://Custom" }), "api://Custom");
  });

  test("defaults signedAssertionFileDiskPath to AZURE_FEDERATED_TOKEN_FILE, and leaves it unset without one", () => {
    const entry = { sourceType: "SignedAssertionFilePath" };
    const withEnv = normalizeOptions(options([entry]), { AZURE_FEDERATED_TOKEN_FILE: "/var/run/secrets/token" }).entries[0]!;
    assert.equal(descriptionOf(withEnv.description, "SignedAssertionFilePath").signedAssertionFileDiskPath, "/var/run/secrets/token");
    assert.equal(withEnv.id, "clientCredentials[0] (SignedAssertionFilePath /var/run/secrets/token)");
    const withoutEnv = normalizeOptions(options([entry]), {}).entries[0]!;
    assert.equal(descriptionOf(withoutEnv.description, "SignedAssertionFilePath").signedAssertionFileDiskPath, undefined);
    assert.equal(withoutEnv.id, "clientCredentials[0] (SignedAssertionFilePath AZURE_FEDERATED_TOKEN_FILE (not set))");
  });

  test("normalises the thumbprint and the vault URL", () => {
    const n = normalizeOptions(
      options([
        { sourceType: "StoreWithThumbprint", certificateStorePath: "CurrentUser/My", certificateThumbprint: "96 2d 12 9a 85 91 74 ee 8b 55 96 98 5b d1 8e fe c6 d9 14 84" },
        { sourceType: "KeyVault", keyVaultUrl: "https://MyVault.vault.azure.net/", keyVaultCertificateName: "MyCert" },
      ]),
      {},
    );
    assert.equal(descriptionOf(n.entries[0]!.description, "StoreWithThumbprint").certificateThumbprint, "962D129A859174EE8B5596985BD18EFEC6D91484");
    assert.equal(descriptionOf(n.entries[1]!.description, "KeyVault").keyVaultUrl, "https://myvault.vault.azure.net");
  });

  test("treats an explicit undefined as not set", () => {
    const n = normalizeOptions(options([{ ...PATH_ENTRY, certificatePassword: undefined, bogus: undefined }], { authorityHost: undefined, tls: undefined }), {});
    assert.equal(n.authorityHost, "https://login.microsoftonline.com");
    assert.deepEqual(Object.keys(n.entries[0]!.description).sort(), ["certificateDiskPath", "skip", "sourceType", "useBoundCredential"]);
  });
});

describe("normalizeOptions: bound entries and mTLS hosts", () => {
  test("allows a bound entry where the mTLS host can be derived", () => {
    for (const authorityHost of ["https://login.microsoftonline.com", "https://login.microsoftonline.us", "https://login.partner.microsoftonline.cn", "https://login.emulator.test:8443"]) {
      const n = normalizeOptions(options([{ ...PATH_ENTRY, useBoundCredential: true }], { authorityHost }), {});
      assert.equal(n.entries[0]!.bound, true);
    }
  });

  test("allows a bound entry on any host when mtlsAuthorityHost is given", () => {
    const n = normalizeOptions(
      options([{ ...PATH_ENTRY, useBoundCredential: true }], { authorityHost: "https://127.0.0.1:8443", mtlsAuthorityHost: "https://127.0.0.1:8444/" }),
      {},
    );
    assert.equal(n.mtlsAuthorityHost, "https://127.0.0.1:8444");
  });

  test("does not require an mTLS host for a bound entry that is skipped", () => {
    const n = normalizeOptions(
      options([{ ...PATH_ENTRY, useBoundCredential: true, skip: true }, { sourceType: "ClientSecret", clientSecret: "s" }], {
        authorityHost: "https://login.usgovcloudapi.net",
      }),
      {},
    );
    assert.deepEqual(n.entries.map((e) => [e.bound, e.skip]), [[true, true], [false, false]]);
  });

  test("accepts a custom assertion flagged bound (the provider must then return a binding certificate)", () => {
    const n = normalizeOptions(options([{ sourceType: "CustomSignedAssertion", getAssertion: () => "a", useBoundCredential: true }]), {});
    assert.equal(n.entries[0]!.bound, true);
  });
});

describe("normalizeOptions: entry ids", () => {
  test("name the source and what identifies it, never a secret", () => {
    const n = normalizeOptions(
      options(
        [
          { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", useBoundCredential: true },
          { sourceType: "Path", certificateDiskPath: "/certs/app.pfx", certificatePassword: "pfx-password", useBoundCredential: true },
          { sourceType: "ClientSecret", clientSecret: "the-secret" },
          { sourceType: "Base64Encoded", base64EncodedValue: "MIIDHzCCAgegAwIB", certificatePassword: "p" },
          { sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net", keyVaultCertificateName: "c", keyVaultCertificateVersion: "abc123" },
          { sourceType: "Certificate", certificate: FAKE_CERT_PEM, privateKey: "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----" },
          { sourceType: "StoreWithDistinguishedName", certificateStorePath: "CurrentUser/My", certificateDistinguishedName: "CN=Primary" },
          { sourceType: "StoreWithSubjectName", certificateStorePath: "LocalMachine/My", certificateSubjectName: "CN=App", skip: true },
          { sourceType: "SignedAssertionFromManagedIdentity" },
          { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityResourceId: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i" },
          { sourceType: "CustomSignedAssertion", customSignedAssertionProviderName: "Oidc" },
          { sourceType: "CustomSignedAssertion", getAssertion: () => "a" },
        ],
        { customSignedAssertionProviders: { Oidc: () => "a" } },
      ),
      {},
    );
    assert.deepEqual(
      n.entries.map((e) => e.id),
      [
        "clientCredentials[0] (SignedAssertionFromManagedIdentity client id aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, bound)",
        "clientCredentials[1] (Path /certs/app.pfx, bound)",
        "clientCredentials[2] (ClientSecret)",
        "clientCredentials[3] (Base64Encoded)",
        "clientCredentials[4] (KeyVault https://v.vault.azure.net/c/abc123)",
        "clientCredentials[5] (Certificate in memory)",
        "clientCredentials[6] (StoreWithDistinguishedName CurrentUser/My/CN=Primary)",
        "clientCredentials[7] (StoreWithSubjectName LocalMachine/My/CN=App, skipped)",
        "clientCredentials[8] (SignedAssertionFromManagedIdentity system-assigned)",
        "clientCredentials[9] (SignedAssertionFromManagedIdentity resource id /subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i)",
        "clientCredentials[10] (CustomSignedAssertion Oidc)",
        "clientCredentials[11] (CustomSignedAssertion inline)",
      ],
    );
    assert.deepEqual(n.entries.map((e) => e.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const ids = n.entries.map((e) => e.id).join("\n");
    for (const secret of ["pfx-password", "the-secret", "MIIDHzCCAgegAwIB", "PRIVATE KEY"]) assert.ok(!ids.includes(secret));
  });
});

describe("normalizeOptions: frozen copies, user objects untouched", () => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const credential: TokenCredential = { getToken: async () => null };
  const getAssertion = (): string => "assertion";
  const provider = (): string => "assertion";
  const attestationProvider = async (): Promise<string> => "attestation";
  const der = new Uint8Array([0x30, 0x82, 0x01, 0x0a]);
  const providerData = { ConfigurationSection: "OidcFicIdp", nested: { list: [1, 2] } };
  const capabilities = ["cp1"];
  const input = options(
    [
      { sourceType: "Certificate", certificate: der, privateKey },
      { sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net", keyVaultCertificateName: "c", keyVaultCredential: credential },
      { sourceType: "CustomSignedAssertion", getAssertion, customSignedAssertionProviderData: providerData },
      { sourceType: "CustomSignedAssertion", customSignedAssertionProviderName: "named" },
    ],
    {
      clientCapabilities: capabilities,
      tls: { ca: [FAKE_CERT_PEM] },
      keyVaultCredential: credential,
      customSignedAssertionProviders: { named: provider },
      attestationProvider,
      loggingOptions: { allowLoggingAccountIdentifiers: true, enableUnsafeSupportLogging: true },
      sendCertificateChain: true,
    },
  );
  const n = normalizeOptions(input, {});

  test("freezes the result all the way down through its own copies", () => {
    assert.ok(Object.isFrozen(n));
    assert.ok(Object.isFrozen(n.entries));
    assert.ok(Object.isFrozen(n.clientCapabilities));
    assert.ok(Object.isFrozen(n.tlsCa));
    assert.ok(Object.isFrozen(n.additionallyAllowedTenants));
    assert.ok(Object.isFrozen(n.customSignedAssertionProviders));
    for (const entry of n.entries) {
      assert.ok(Object.isFrozen(entry));
      assert.ok(Object.isFrozen(entry.description));
    }
    const data = descriptionOf(n.entries[2]!.description, "CustomSignedAssertion").customSignedAssertionProviderData!;
    assert.ok(Object.isFrozen(data));
    assert.ok(Object.isFrozen(data["nested"]));
    assert.deepEqual(data, providerData);
    assert.throws(() => {
      (n as { tenantId: string }).tenantId = "x";
    }, TypeError);
  });

  test("keeps user-owned objects by reference and does not freeze them", () => {
    const cert = descriptionOf(n.entries[0]!.description, "Certificate");
    assert.equal(cert.privateKey, privateKey);
    const kv = descriptionOf(n.entries[1]!.description, "KeyVault");
    assert.equal(kv.keyVaultCredential, credential);
    assert.equal(n.keyVaultCredential, credential);
    assert.equal(descriptionOf(n.entries[2]!.description, "CustomSignedAssertion").getAssertion, getAssertion);
    assert.equal(n.customSignedAssertionProviders["named"], provider);
    assert.equal(n.attestationProvider, attestationProvider);
    for (const owned of [privateKey, credential, getAssertion, provider, attestationProvider, der, providerData, capabilities, input]) {
      assert.ok(!Object.isFrozen(owned));
    }
    assert.equal(n.sendCertificateChain, true);
    assert.equal(n.allowLoggingAccountIdentifiers, true);
    assert.equal(n.enableUnsafeSupportLogging, true);
  });

  test("copies byte arrays and lists, so later changes by the caller do not leak in", () => {
    const cert = descriptionOf(n.entries[0]!.description, "Certificate");
    assert.notEqual(cert.certificate, der);
    assert.deepEqual(cert.certificate, Uint8Array.from(der));
    der[0] = 0xff;
    capabilities.push("cp2");
    providerData.ConfigurationSection = "changed";
    assert.equal((cert.certificate as Uint8Array)[0], 0x30);
    assert.deepEqual(n.clientCapabilities, ["cp1"]);
    assert.equal(descriptionOf(n.entries[2]!.description, "CustomSignedAssertion").customSignedAssertionProviderData!["ConfigurationSection"], "OidcFicIdp");
  });

  test("gives provider lookups no inherited names", () => {
    assert.equal(Object.getPrototypeOf(n.customSignedAssertionProviders), null);
    assert.equal(n.customSignedAssertionProviders["toString"], undefined);
  });

  test("does not change the input object", () => {
    const raw = options([{ ...PATH_ENTRY, useBoundCredential: true }, { sourceType: "SignedAssertionFromManagedIdentity" }], {
      additionallyAllowedTenants: ["*", TENANT],
    });
    const before = structuredClone(raw);
    normalizeOptions(raw, {});
    assert.deepEqual(raw, before);
  });
});
