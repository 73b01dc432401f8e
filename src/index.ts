// First: refuses an unsupported Node.js before any dependency is loaded.
import "./nodeVersion.ts";
export type {
  AssertionRequestContext,
  AttestationContext,
  AttestationProvider,
  Base64EncodedCredentialDescription,
  BoundAccessToken,
  BoundAssertion,
  BoundClientCertificateCredentialOptions,
  BoundClientCredentialLoggingOptions,
  BoundClientCredentialOptions,
  BoundClientCredentialProxyOptions,
  BoundClientCredentialRetryOptions,
  BoundClientCredentialTlsOptions,
  CertificateCredentialDescription,
  ClientCertificatePEMCertificate,
  ClientCertificatePEMCertificatePath,
  ClientSecretCredentialDescription,
  CredentialDescription,
  CredentialDescriptionBase,
  CredentialSourceType,
  CustomSignedAssertionCredentialDescription,
  CustomSignedAssertionProvider,
  KeyVaultCredentialDescription,
  PathCredentialDescription,
  Pkcs11CredentialDescription,
  SignedAssertionFilePathCredentialDescription,
  SignedAssertionFromManagedIdentityCredentialDescription,
  StoreWithDistinguishedNameCredentialDescription,
  StoreWithSubjectNameCredentialDescription,
  StoreWithThumbprintCredentialDescription,
} from "./configuration/types.ts";
export {
  AuthenticationError,
  AuthenticationRequiredError,
  BoundCredentialConfigurationError,
  BoundCredentialError,
  CredentialUnavailableError,
  MAX_ENTRY_LINES,
  type ConfigurationErrorCode,
  type CredentialErrorCode,
  type EntryFailureCode,
  type EntryReport,
  type EntryReportOutcome,
  type ErrorCode,
  type ErrorResponse,
  type OAuthErrorBody,
} from "./errors.ts";
export type {
  DistributedCacheLock,
  DistributedCacheOperationOptions,
  DistributedCacheOptions,
  DistributedCacheRecord,
  DistributedTokenCache,
} from "./cache/distributedCache.ts";
export { logger } from "./logging.ts";
export { BoundClientCredential, type TokenProvenance } from "./boundClientCredential.ts";
export { oidcIdpSignedAssertion, type OidcIdpSignedAssertionOptions } from "./oidcIdpSignedAssertion.ts";
export { OnBehalfOfUserCredential } from "./acquisition/onBehalfOf/userCredential.ts";
export {
  BoundOnBehalfOfCredential,
  type BoundOnBehalfOfCredentialAssertionOptions,
  type BoundOnBehalfOfCredentialCertificateOptions,
  type BoundOnBehalfOfCredentialDropInOptions,
  type BoundOnBehalfOfCredentialListOptions,
  type BoundOnBehalfOfCredentialOptions,
  type BoundOnBehalfOfCredentialSecretOptions,
} from "./boundOnBehalfOfCredential.ts";
export { USE_BOUND_CREDENTIAL_VARIABLE } from "./configuration/fromEnvironment.ts";
