/**
 * The errors this package raises. Every one carries a stable `code`, as panva/jose's errors do
 * (`ERR_JWT_EXPIRED`, …), so that callers branch on the code and never on the message, which is
 * written for people and may change.
 *
 * Each class is branded with a `Symbol.for(…)` key and answers `instanceof` from that brand
 * (`static [Symbol.hasInstance]`), as undici's errors do (`lib/core/errors.js`): the ESM and the
 * CommonJS builds of this package are two copies of every class, and an error made by one must still
 * be an `instanceof` the other's class.
 *
 * `CredentialUnavailableError` and `AuthenticationError` have the names and fields of
 * `@azure/identity`'s classes: `ChainedTokenCredential` tells them apart by `name`
 * (`credentials/chainedTokenCredential.js`: a `CredentialUnavailableError` moves the chain on, any
 * other error stops it), so the chain behaves as with `@azure/identity`'s own credentials without
 * this package loading `@azure/identity` at all.
 */
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
 * Codes of the failures of one entry, as {@link EntryReport.code} gives them:
 * - `BCC_SOURCE_UNAVAILABLE`: the entry's material cannot be had here (file, store, IMDS, provider);
 * - `BCC_ENTRA_ERROR`: Entra ID answered with an error (see {@link EntryReport.aadsts});
 * - `BCC_CONNECT_FAILED`, `BCC_TLS_FAILED`, `BCC_TIMEOUT`, `BCC_CONNECTION_RESET`,
 *   `BCC_RESPONSE_TOO_LARGE`, `BCC_PROTOCOL_ERROR`: the token request got no usable answer;
 * - `BCC_ABORTED`: the caller's abort signal fired;
 * - `BCC_INVALID_TOKEN_RESPONSE`: the answer was not a valid token response;
 * - `BCC_UNEXPECTED_TOKEN_TYPE`: a token other than a Bearer token was issued;
 * - `BCC_MTLS_ENDPOINT_UNSUPPORTED`: the authority host has no mutual TLS endpoint;
 * - `BCC_UNSUPPORTED_GRANT`: this version cannot send the request kind asked for;
 * - `BCC_UNEXPECTED_ERROR`: anything else (the reason tells what).
 *
 * @public
 */
export type EntryFailureCode =
  | "BCC_SOURCE_UNAVAILABLE"
  | "BCC_ENTRA_ERROR"
  | "BCC_CONNECT_FAILED"
  | "BCC_TLS_FAILED"
  | "BCC_TIMEOUT"
  | "BCC_CONNECTION_RESET"
  | "BCC_RESPONSE_TOO_LARGE"
  | "BCC_PROTOCOL_ERROR"
  | "BCC_ABORTED"
  | "BCC_INVALID_TOKEN_RESPONSE"
  | "BCC_UNEXPECTED_TOKEN_TYPE"
  | "BCC_MTLS_ENDPOINT_UNSUPPORTED"
  | "BCC_UNSUPPORTED_GRANT"
  | "BCC_UNEXPECTED_ERROR";

/**
 * Codes of the errors `getToken` rejects with:
 * - `BCC_CREDENTIAL_UNAVAILABLE`: every entry was unavailable ({@link CredentialUnavailableError});
 * - `BCC_TENANT_NOT_ALLOWED`: the requested tenant is not allowed, or is not a tenant
 *   ({@link CredentialUnavailableError});
 * - `BCC_AUTHENTICATION_FAILED`: Entra refused, or the request failed ({@link AuthenticationError}).
 *
 * @public
 */
export type CredentialErrorCode = "BCC_CREDENTIAL_UNAVAILABLE" | "BCC_TENANT_NOT_ALLOWED" | "BCC_AUTHENTICATION_FAILED";

/**
 * Every code this package's errors carry.
 *
 * @public
 */
export type ErrorCode = ConfigurationErrorCode | CredentialErrorCode | EntryFailureCode;

const kError: unique symbol = Symbol.for("bound-client-credential.error");
const kConfiguration: unique symbol = Symbol.for("bound-client-credential.BoundCredentialConfigurationError");
const kUnavailable: unique symbol = Symbol.for("bound-client-credential.CredentialUnavailableError");
const kAuthentication: unique symbol = Symbol.for("bound-client-credential.AuthenticationError");

/** Whether `value` carries `brand` (set on the prototype of the branded class, in either build). */
function branded(value: unknown, brand: symbol): boolean {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/**
 * `instanceof` for a branded class: by brand for the class itself; by prototype chain for a
 * subclass that inherits the check (so that an error of the parent is not taken for the subclass).
 */
function isInstance(target: object, branded_: object, brand: symbol, value: unknown): boolean {
  return target === branded_ ? branded(value, brand) : Function.prototype[Symbol.hasInstance].call(target, value);
}

/**
 * The base of this package's runtime errors. `instanceof BoundCredentialError` is true for every
 * error of this package (a {@link BoundCredentialConfigurationError} too), whichever build made it.
 *
 * @public
 */
export class BoundCredentialError extends Error {
  /** What went wrong, stable across versions; see {@link ErrorCode}. */
  readonly code: ErrorCode;

  /**
   * @param code - the kind of failure
   * @param message - what went wrong, for people; never a secret
   * @param options - the underlying error, kept as `cause`
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BoundCredentialError";
    this.code = code;
  }

  /** The brand every error of this package carries. */
  get [kError](): true {
    return true;
  }

  /** Recognises errors of this package made by either build. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(this, BoundCredentialError, kError, value);
  }
}

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

  /** The brand every error of this package carries. */
  get [kError](): true {
    return true;
  }

  /** The brand of this class. */
  get [kConfiguration](): true {
    return true;
  }

  /** Recognises configuration errors made by either build. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(this, BoundCredentialConfigurationError, kConfiguration, value);
  }
}

/**
 * What one entry of the list did in a `getToken` call:
 * - `unavailable`: it cannot work here (material missing, IMDS absent, host unreachable);
 * - `rejected`: Entra ID refused its credential (after one reload);
 * - `request-error`: the request itself failed, and no other entry would have helped;
 * - `benched`: it failed recently and, tried again after the others, failed again;
 * - `skipped`: it is switched off (`skip: true`);
 * - `not-tried`: an earlier entry served or stopped the walk.
 *
 * @public
 */
export type EntryReportOutcome = "unavailable" | "rejected" | "request-error" | "benched" | "skipped" | "not-tried";

/**
 * One entry of the list as a final error (or {@link TokenProvenance}) reports it. It never holds a
 * secret.
 *
 * @public
 */
export interface EntryReport {
  /** The entry's name, such as `clientCredentials[0] (Path /certs/app.pfx, bound)`. */
  readonly id: string;
  /** Its position in `clientCredentials`. */
  readonly index: number;
  /** Its `sourceType`, such as `Path` or `SignedAssertionFromManagedIdentity`. */
  readonly sourceType: string;
  /** Whether the entry is bound (obtains tokens over mutual TLS). */
  readonly bound: boolean;
  /** What the entry did in this call. */
  readonly outcome: EntryReportOutcome;
  /** The kind of failure, for an entry that was tried and failed. */
  readonly code: EntryFailureCode | undefined;
  /** The AADSTS number of Entra's answer, when there was one. */
  readonly aadsts: number | undefined;
  /** The HTTP status of Entra's answer, when there was one. */
  readonly statusCode: number | undefined;
  /** What went wrong and how to fix it, for people; undefined for skipped and untried entries. */
  readonly reason: string | undefined;
}

/**
 * How many entries a final error's message lists one per line; the rest are counted. Its
 * {@link CredentialUnavailableError.entries} always holds them all.
 */
export const MAX_ENTRY_LINES = 20;

/**
 * `getToken` failed because no entry could be used here (or the tenant asked for is not allowed).
 * A `ChainedTokenCredential` moves on to its next credential.
 *
 * @public
 */
export class CredentialUnavailableError extends BoundCredentialError {
  /** Each entry of the list and what it did; empty when the request was refused before the list. */
  readonly entries: readonly EntryReport[];

  /**
   * @param message - what went wrong, for people
   * @param options - the underlying error (`cause`), the entries, and the code (default
   *   `BCC_CREDENTIAL_UNAVAILABLE`)
   */
  constructor(message?: string, options?: { cause?: unknown; entries?: readonly EntryReport[]; code?: CredentialErrorCode }) {
    super(options?.code ?? "BCC_CREDENTIAL_UNAVAILABLE", message ?? "", options);
    this.name = "CredentialUnavailableError";
    this.entries = Object.freeze([...(options?.entries ?? [])]);
  }

  /** The brand of this class. */
  get [kUnavailable](): true {
    return true;
  }

  /** Recognises these errors made by either build. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(this, CredentialUnavailableError, kUnavailable, value);
  }
}

/**
 * An OAuth error answer, as `@azure/identity`'s `AuthenticationError` exposes it.
 *
 * @public
 */
export interface ErrorResponse {
  /** The OAuth `error`, such as `invalid_client`. */
  readonly error: string;
  /** What went wrong, for people. */
  readonly errorDescription: string;
  /** The AADSTS numbers, when there were some. */
  readonly errorCodes?: readonly number[] | undefined;
  /** The correlation ID of the request, to find it in Entra's sign-in logs. */
  readonly correlationId?: string | undefined;
  /** When Entra answered, as it said. */
  readonly timestamp?: string | undefined;
  /** Entra's trace ID of the answer. */
  readonly traceId?: string | undefined;
}

/**
 * An OAuth error body as a token endpoint sends it (`error`, `error_description`, …).
 *
 * @public
 */
export interface OAuthErrorBody {
  /** The OAuth `error` (RFC 6749 §5.2). */
  readonly error: string;
  /** What went wrong, for people. */
  readonly error_description: string;
  /** The AADSTS numbers. */
  readonly error_codes?: readonly number[] | undefined;
  /** The correlation ID of the request. */
  readonly correlation_id?: string | undefined;
  /** When Entra answered. */
  readonly timestamp?: string | undefined;
  /** Entra's trace ID of the answer. */
  readonly trace_id?: string | undefined;
}

/**
 * `getToken` failed: Entra ID refused every credential it was offered, or the request itself failed
 * (an invalid scope, Entra failing, an abort). A `ChainedTokenCredential` stops here. Its message is
 * built as `@azure/identity`'s is (`{error} Status code: {status}\nMore details:\n{description},`).
 *
 * @public
 */
export class AuthenticationError extends BoundCredentialError {
  /** The HTTP status of the decisive answer; 0 when no answer came at all (a timeout, an abort). */
  readonly statusCode: number;
  /** The decisive answer's details. */
  readonly errorResponse: ErrorResponse;
  /** Each entry of the list and what it did. */
  readonly entries: readonly EntryReport[];

  /**
   * @param statusCode - the HTTP status (0 for none)
   * @param errorBody - the OAuth error body
   * @param options - the underlying error (`cause`) and the entries
   */
  constructor(statusCode: number, errorBody: OAuthErrorBody, options?: { cause?: unknown; entries?: readonly EntryReport[] }) {
    const errorResponse: ErrorResponse = {
      error: errorBody.error,
      errorDescription: errorBody.error_description,
      errorCodes: errorBody.error_codes,
      correlationId: errorBody.correlation_id,
      timestamp: errorBody.timestamp,
      traceId: errorBody.trace_id,
    };
    super("BCC_AUTHENTICATION_FAILED", `${errorResponse.error} Status code: ${statusCode}\nMore details:\n${errorResponse.errorDescription},`, options);
    this.name = "AuthenticationError";
    this.statusCode = statusCode;
    this.errorResponse = errorResponse;
    this.entries = Object.freeze([...(options?.entries ?? [])]);
  }

  /** The brand of this class. */
  get [kAuthentication](): true {
    return true;
  }

  /** Recognises these errors made by either build. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(this, AuthenticationError, kAuthentication, value);
  }
}
