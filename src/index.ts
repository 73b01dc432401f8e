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
