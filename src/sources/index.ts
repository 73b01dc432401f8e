/**
 * The registry of source types: one descriptor per `sourceType`, each in its own module. The
 * compiler checks that every source type has exactly one descriptor, so adding a source type is
 * one module and one line here.
 */
import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { CredentialSourceType } from "../configuration/types.ts";
import { signedAssertionFilePathSourceType } from "./assertionFileSource.ts";
import { base64EncodedSourceType } from "./base64Source.ts";
import { certificateSourceType } from "./certificateSource.ts";
import { clientSecretSourceType } from "./clientSecretSource.ts";
import { customSignedAssertionSourceType } from "./customAssertionSource.ts";
import type { SourceContext, SourceDescriptor } from "./descriptor.ts";
import { keyVaultSourceType } from "./keyVaultSource.ts";
import { managedIdentitySourceType } from "./managedIdentitySourceType.ts";
import { pathSourceType } from "./pathSource.ts";
import { pkcs11SourceType } from "./pkcs11Source.ts";
import type { CredentialSource } from "./types.ts";
import {
  storeWithDistinguishedNameSourceType,
  storeWithSubjectNameSourceType,
  storeWithThumbprintSourceType,
} from "./windowsStoreSource.ts";

/** Every source type's descriptor, in the order error messages list them. */
export const SOURCE_DESCRIPTORS = {
  Certificate: certificateSourceType,
  Path: pathSourceType,
  Base64Encoded: base64EncodedSourceType,
  KeyVault: keyVaultSourceType,
  StoreWithThumbprint: storeWithThumbprintSourceType,
  StoreWithDistinguishedName: storeWithDistinguishedNameSourceType,
  StoreWithSubjectName: storeWithSubjectNameSourceType,
  ClientSecret: clientSecretSourceType,
  SignedAssertionFromManagedIdentity: managedIdentitySourceType,
  SignedAssertionFilePath: signedAssertionFilePathSourceType,
  CustomSignedAssertion: customSignedAssertionSourceType,
  Pkcs11: pkcs11SourceType,
} as const satisfies { readonly [K in CredentialSourceType]: SourceDescriptor<K, { readonly sourceType: K }> };

/** The validated description of an entry of source type `K`, as its descriptor reads it. */
export type NormalizedDescriptionOf<K extends CredentialSourceType> =
  (typeof SOURCE_DESCRIPTORS)[K] extends SourceDescriptor<K, infer N> ? N : never;

/** Any source type's descriptor. */
export type AnySourceDescriptor = (typeof SOURCE_DESCRIPTORS)[CredentialSourceType];

/**
 * The source for one entry of the list. Nothing is read here: the first `load()` reads, and a
 * source that cannot serve says so then, with a `SourceUnavailableError`.
 *
 * @param entry - a validated entry
 * @param context - options, clock, environment and the shared HTTP client
 */
export function createSource(entry: NormalizedEntry, context: SourceContext): CredentialSource {
  const sourceType = entry.description.sourceType;
  if (!Object.hasOwn(SOURCE_DESCRIPTORS, sourceType)) {
    throw new TypeError(`Unknown sourceType ${JSON.stringify(sourceType)}; configuration validation should have refused it.`);
  }
  // The entry's description was read by the descriptor of its own source type, so the pair always
  // matches; TypeScript cannot correlate a union key with the union of entries by itself.
  const descriptor = SOURCE_DESCRIPTORS[sourceType] as SourceDescriptor<
    CredentialSourceType,
    NormalizedEntry["description"]
  >;
  return descriptor.create(entry, context);
}

export { isEntryOf, type SourceContext, type SourceDescriptor } from "./descriptor.ts";
export type { AssertionResult, CredentialSource, SourceMaterial } from "./types.ts";
export { SecretValue, SourceUnavailableError } from "./types.ts";
export { LoadedCertificate } from "./loadedCertificate.ts";
