import {
  AggregateAuthenticationError,
  AuthenticationError,
  AuthenticationRequiredError,
  CredentialUnavailableError,
} from "@azure/identity";

export { AggregateAuthenticationError, AuthenticationError, AuthenticationRequiredError, CredentialUnavailableError };

/**
 * Codes of {@link BoundCredentialConfigurationError}: each names one kind of configuration
 * mistake.
 *
 * @public
 */
export type ConfigurationErrorCode =
  | "BCC_INVALID_OPTIONS"
  | "BCC_UNKNOWN_OPTION"
  | "BCC_MISSING_FIELD"
  | "BCC_EMPTY_FIELD"
  | "BCC_INVALID_TYPE"
  | "BCC_INVALID_VALUE"
  | "BCC_UNKNOWN_SOURCE_TYPE"
  | "BCC_UNSUPPORTED_SOURCE_TYPE"
  | "BCC_CREDENTIALS_NOT_ARRAY"
  | "BCC_CREDENTIALS_EMPTY"
  | "BCC_ALL_ENTRIES_SKIPPED"
  | "BCC_INVALID_TENANT"
  | "BCC_MULTI_TENANT_AUTHORITY"
  | "BCC_BOUND_NOT_SUPPORTED"
  | "BCC_INSECURE_AUTHORITY"
  | "BCC_INVALID_URL"
  | "BCC_CONFLICTING_FIELDS"
  | "BCC_MTLS_UNSUPPORTED_CLOUD"
  | "BCC_UNKNOWN_PROVIDER"
  | "BCC_UNSUPPORTED_REQUEST_OPTION";

/**
 * Thrown, synchronously and before any network call, when the options or a configuration section
 * are wrong. It names the option path that is wrong and how to fix it. It is a `TypeError` so that
 * it is not mistaken for an authentication failure.
 *
 * @public
 */
export class BoundCredentialConfigurationError extends TypeError {
  /** The kind of mistake. */
  readonly code: ConfigurationErrorCode;
  /** The path of the offending option, such as `clientCredentials[1].certificateDiskPath`. */
  readonly path: string;
  /** One sentence that says how to fix it. */
  readonly remedy: string;

  /**
   * @param code - the kind of mistake
   * @param path - the option path that is wrong (empty for the options object itself)
   * @param problem - what is wrong, without any secret value
   * @param remedy - how to fix it
   */
  constructor(code: ConfigurationErrorCode, path: string, problem: string, remedy: string) {
    super(`${path ? `${path}: ` : ""}${problem} ${remedy}`.trim());
    this.name = "BoundCredentialConfigurationError";
    this.code = code;
    this.path = path;
    this.remedy = remedy;
  }
}
