import type { NormalizedEntry, NormalizedOptions } from "../configuration/normalized.ts";
import type { HttpClient } from "../transport/httpClient.ts";
import type { Sleep } from "../transport/retry.ts";
import { AssertionFileSource } from "./assertionFileSource.ts";
import { Base64Source } from "./base64Source.ts";
import { createBoundManagedIdentitySource } from "./boundManagedIdentitySource.ts";
import { CertificateSource } from "./certificateSource.ts";
import { ClientSecretSource } from "./clientSecretSource.ts";
import { CustomAssertionSource } from "./customAssertionSource.ts";
import { KeyVaultSource } from "./keyVaultSource.ts";
import { createManagedIdentityAssertionSource } from "./managedIdentityAssertion.ts";
import { createManagedIdentityServices, type ManagedIdentityServices } from "./managedIdentity/services.ts";
import { managedIdentityTokenCredential } from "./managedIdentityTokenCredential.ts";
import { PathSource } from "./pathSource.ts";
import type { CredentialSource } from "./types.ts";
import { WindowsStoreSource } from "./windowsStoreSource.ts";

/** What every source may need besides its own entry. */
export interface SourceContext {
  readonly options: NormalizedOptions;
  /** The clock, ms since epoch: certificate validity and assertion expiry are judged by it. */
  readonly now: () => number;
  /** The environment variables, such as `AZURE_FEDERATED_TOKEN_FILE`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The credential's HTTP client: remote sources share its CA trust, agents and shutdown. */
  readonly http: HttpClient;
  /** The wait between retries of remote sources; a real timer unless a test injects another. */
  readonly sleep?: Sleep;
  /**
   * The credential's managed identity services, shared by its managed identity entries and the
   * Key Vault source's managed identity; a source makes its own when absent.
   */
  readonly managedIdentity?: ManagedIdentityServices;
}

/**
 * The source for one entry of the list. Nothing is read here: the first `load()` reads, and a
 * source that cannot serve says so then, with a `SourceUnavailableError`.
 *
 * @param entry - a validated entry
 * @param context - options, clock, environment and the shared HTTP client
 */
export function createSource(entry: NormalizedEntry, context: SourceContext): CredentialSource {
  const description = entry.description;
  switch (description.sourceType) {
    case "Certificate":
      return new CertificateSource(entry, description, context.now);
    case "Path":
      return new PathSource(entry, description, context.now);
    case "Base64Encoded":
      return new Base64Source(entry, description, context.now);
    case "KeyVault":
      return new KeyVaultSource(entry, description, context.options, context.now, () =>
        managedIdentityTokenCredential(
          entry.id,
          description.managedIdentityClientId,
          context.managedIdentity ?? createManagedIdentityServices(context),
        ),
      );
    case "StoreWithThumbprint":
    case "StoreWithDistinguishedName":
    case "StoreWithSubjectName":
      return new WindowsStoreSource(entry);
    case "ClientSecret":
      return new ClientSecretSource(entry, description, context.now);
    case "SignedAssertionFromManagedIdentity":
      return entry.bound ? createBoundManagedIdentitySource(entry, context) : createManagedIdentityAssertionSource(entry, context);
    case "SignedAssertionFilePath":
      return new AssertionFileSource(entry, description, context.now, context.env);
    case "CustomSignedAssertion":
      return new CustomAssertionSource(entry, description, context.options, context.now);
    default:
      return assertNever(description);
  }
}

function assertNever(value: never): never {
  const sourceType = (value as { sourceType?: unknown }).sourceType;
  throw new TypeError(`Unknown sourceType ${JSON.stringify(sourceType)}; configuration validation should have refused it.`);
}

export type { AssertionResult, CredentialSource, SourceMaterial } from "./types.ts";
export { SecretValue, SourceUnavailableError } from "./types.ts";
export { LoadedCertificate } from "./loadedCertificate.ts";
