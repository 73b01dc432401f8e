/**
 * `bound-client-credential/emulator`: a local, strict stand-in for Microsoft Entra ID (login and
 * mutual TLS hosts), the Azure instance metadata service (IMDS v1 and v2) and Key Vault secrets,
 * for tests and demos without Azure.
 *
 * @packageDocumentation
 */
// First: refuses an unsupported Node.js before any dependency is loaded.
import "../nodeVersion.ts";
export { startEmulator } from "./emulator.ts";
export { journalHash } from "./journal.ts";
export {
  createCertificateAuthority,
  type CertificateAuthority,
  type IssueCertificateOptions,
  type IssuedCertificate,
} from "./pki.ts";
export type {
  AppCertificate,
  AppSecret,
  Emulator,
  EmulatorCredentialOptions,
  EmulatorHostKind,
  EmulatorImdsOptions,
  EmulatorKeyVault,
  EmulatorOptions,
  EmulatorRoute,
  EmulatorStats,
  EmulatorUser,
  FaultSpec,
  Faults,
  FederatedAssertionOptions,
  FederatedCredential,
  IssueUserTokenOptions,
  Journal,
  JournalEntry,
  KeyVaultSecretOptions,
  RegisterAppOptions,
  RegisteredApp,
  RegisteredManagedIdentity,
  RegisterManagedIdentityOptions,
} from "./types.ts";
