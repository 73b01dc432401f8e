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
  SignedAssertionFilePathCredentialDescription,
  SignedAssertionFromManagedIdentityCredentialDescription,
  StoreWithDistinguishedNameCredentialDescription,
  StoreWithSubjectNameCredentialDescription,
  StoreWithThumbprintCredentialDescription,
} from "./configuration/types.ts";
export { BoundCredentialConfigurationError, type ConfigurationErrorCode } from "./errors.ts";
export { logger } from "./logging.ts";
export { BoundClientCredential, type TokenProvenance } from "./boundClientCredential.ts";
export { USE_BOUND_CREDENTIAL_VARIABLE } from "./configuration/fromEnvironment.ts";
