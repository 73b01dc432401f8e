/**
 * Compile-time tests of the public option types, checked by `npm run typecheck` (tsc with
 * `exactOptionalPropertyTypes`); nothing here runs. Each `@ts-expect-error` fails the type-check
 * when the line below it stops being an error.
 */
import type {
  BoundClientCredentialOptions,
  ClientSecretCredentialDescription,
  CredentialDescription,
  PathCredentialDescription,
  SignedAssertionFilePathCredentialDescription,
} from "../../src/index.ts";

declare const maybe: string | undefined;

// The README's snippet: an optional field takes a value that may be undefined (process.env.X).
export const readmeSnippet: BoundClientCredentialOptions = {
  tenantId: "<tenant-id>",
  clientId: "<app-id>",
  clientCredentials: [
    { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: "<uami-client-id>", useBoundCredential: true },
    { sourceType: "Path", certificateDiskPath: "/certs/app.pfx", certificatePassword: process.env.PFX_PASSWORD, useBoundCredential: true },
    { sourceType: "ClientSecret", clientSecret: process.env.CLIENT_SECRET! },
  ],
};

export const explicitUndefined: BoundClientCredentialOptions = {
  tenantId: "t",
  clientId: "c",
  authorityHost: maybe,
  azureRegion: undefined,
  tls: { ca: undefined },
  loggingOptions: { allowLoggingAccountIdentifiers: undefined },
  clientCredentials: [
    { sourceType: "KeyVault", keyVaultUrl: "https://v.vault.azure.net", keyVaultCertificateName: "c", keyVaultCertificateVersion: maybe },
    { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: maybe, skip: undefined },
  ],
};

// Sources that cannot bind refuse `useBoundCredential: true` at compile time, and accept false.
export const unboundSecret: ClientSecretCredentialDescription = { sourceType: "ClientSecret", clientSecret: "s", useBoundCredential: false };
export const unboundFile: SignedAssertionFilePathCredentialDescription = { sourceType: "SignedAssertionFilePath", useBoundCredential: false };

// @ts-expect-error a client secret cannot be presented in a TLS handshake
export const boundSecret: CredentialDescription = { sourceType: "ClientSecret", clientSecret: "s", useBoundCredential: true };

// @ts-expect-error an assertion read from a file carries no binding certificate
export const boundFile: CredentialDescription = { sourceType: "SignedAssertionFilePath", useBoundCredential: true };

export const boundSecretInterface: ClientSecretCredentialDescription = {
  sourceType: "ClientSecret",
  clientSecret: "s",
  // @ts-expect-error the interface itself types the flag as false
  useBoundCredential: true,
};

export const boundList: BoundClientCredentialOptions = {
  tenantId: "t",
  clientId: "c",
  // @ts-expect-error the secret of the list cannot be bound
  clientCredentials: [{ sourceType: "ClientSecret", clientSecret: "s", useBoundCredential: true }],
};

// Sources that can bind accept either.
export const boundPath: PathCredentialDescription = { sourceType: "Path", certificateDiskPath: "/a.pfx", useBoundCredential: true };
