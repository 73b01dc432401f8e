/**
 * Entra ID (ESTS) errors as the emulator answers them: `error`, an `error_description` that
 * starts with the AADSTS code, `error_codes`, `timestamp`, `trace_id`, `correlation_id` and
 * `error_uri` (wire-protocol §5). Statuses: 401 for `invalid_client`, 412 for AADSTS51000, 400
 * otherwise. Where Entra's exact code for a failure is not documented, the closest documented
 * code is used and the description says what went wrong.
 */
import { randomUUID } from "node:crypto";

/** A failed token request, thrown by the token endpoint's checks and turned into a response. */
export class EntraError extends Error {
  readonly status: number;
  readonly error: string;
  readonly code: number;
  /** A claims challenge (JSON) the client must satisfy: Conditional Access, step-up. */
  readonly claims: string | undefined;
  /** Entra's `suberror` (`basic_action`, `consent_required`, ...), when it sends one. */
  readonly suberror: string | undefined;

  constructor(
    status: number,
    error: string,
    code: number,
    description: string,
    extra: { readonly claims?: string | undefined; readonly suberror?: string | undefined } = {},
  ) {
    super(`AADSTS${code}: ${description}`);
    this.name = "EntraError";
    this.status = status;
    this.error = error;
    this.code = code;
    this.claims = extra.claims;
    this.suberror = extra.suberror;
  }
}

const invalidClient = (code: number, description: string) => new EntraError(401, "invalid_client", code, description);
const invalidRequest = (code: number, description: string) =>
  new EntraError(400, "invalid_request", code, description);

const CERTIFICATE_DOCS =
  "Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .";

/** The errors of the emulated token endpoints. */
export const entraErrors = {
  missingParameter: (name: string) =>
    invalidRequest(900144, `The request body must contain the following parameter: '${name}'.`),
  unsupportedGrantType: (grantType: string) =>
    new EntraError(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grantType}'.`),
  tenantNotFound: (tenant: string) =>
    invalidRequest(
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    ),
  applicationNotFound: (clientId: string, tenant: string) =>
    new EntraError(
      400,
      "unauthorized_client",
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    ),
  missingCredential: () =>
    invalidClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  twoCredentials: () =>
    invalidClient(
      7000218,
      "The request body must contain exactly one of the following parameters: 'client_assertion' or 'client_secret'; it contains both.",
    ),
  invalidSecret: (clientId: string) =>
    invalidClient(
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
    ),
  expiredSecret: (clientId: string) =>
    invalidClient(
      7000222,
      `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
    ),
  unsupportedAssertionType: (assertionType: string) =>
    invalidRequest(50027, `The client_assertion_type '${assertionType}' is not supported.`),
  malformedAssertion: (reason: string) => invalidRequest(50027, `JWT token is invalid or malformed. ${reason}`),
  certificateNotRegistered: (thumbprint: string, clientId: string) =>
    invalidClient(
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`,
    ),
  assertionSignatureInvalid: (reason: string) =>
    invalidClient(700027, `Client assertion failed signature validation. [Reason - ${reason}] ${CERTIFICATE_DOCS}`),
  assertionClientMismatch: () =>
    invalidClient(700021, `Client assertion application identifier doesn't match 'client_id' parameter. ${CERTIFICATE_DOCS}`),
  assertionAudienceMismatch: (audience: string) =>
    invalidClient(
      700023,
      `Client assertion audience claim does not match Realm issuer. Audience '${audience}' is not a token endpoint of this tenant. ${CERTIFICATE_DOCS}`,
    ),
  assertionTimeRange: (now: Date, detail: string) =>
    invalidClient(
      700024,
      `Client assertion is not within its valid time range. Current time: ${now.toISOString()}, ${detail}. ${CERTIFICATE_DOCS}`,
    ),
  federatedIssuerMismatch: (issuer: string) =>
    invalidClient(
      700211,
      `No matching federated identity record found for presented assertion issuer '${issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
    ),
  federatedAudienceMismatch: (audience: string) =>
    invalidClient(
      700212,
      `No matching federated identity record found for presented assertion audience '${audience}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
    ),
  federatedSubjectMismatch: (subject: string, issuer: string) =>
    invalidClient(
      700213,
      `No matching federated identity record found for presented assertion subject '${subject}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. Issuer: '${issuer}'.`,
    ),
  scopeWithoutDefault: (scope: string) =>
    new EntraError(
      400,
      "invalid_scope",
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  invalidScope: (scope: string) =>
    new EntraError(
      400,
      "invalid_scope",
      70011,
      `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`,
    ),
  resourceNotFound: (resource: string, tenant: string) =>
    new EntraError(
      400,
      "invalid_resource",
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    ),
  clientCertificateMissing: () => invalidClient(392200, "Client certificate is missing from the request."),
  tlsCertificateMismatch: (detail: string) =>
    invalidClient(
      500181,
      `CertificateValidationFailedTlsCertMismatch: the TLS client certificate does not match the certificate the assertion is bound to. ${detail}`,
    ),
  mtlsCredentialNotSupported: (what: string) =>
    invalidRequest(392189, `The mTLS endpoint only supports certificate (SN/I) and federated identity credentials; ${what} is not accepted here.`),
  popWithBearerAssertion: () =>
    invalidRequest(
      392199,
      "mtls_pop token type is not supported for bearer token in Entra ID federated identity flow: the assertion carries no cnf binding.",
    ),
  mtlsClientAuthDisabled: (clientId: string) =>
    new EntraError(412, "invalid_request", 51000, `MtlsClientAuth is disabled for application '${clientId}'.`),
  unsupportedTokenType: (tokenType: string) =>
    invalidRequest(900144, `The token_type '${tokenType}' is not supported; use mtls_pop or omit it for Bearer.`),
  mtlsRequiresMtlsHost: (what: string) =>
    invalidClient(392200, `Client certificate is missing from the request: ${what} needs the mTLS endpoint.`),
  invalidUserAssertion: (reason: string) =>
    new EntraError(400, "invalid_grant", 50013, `Assertion failed signature validation. [Reason - ${reason}]`),
  userAssertionAudienceMismatch: (audience: string, clientId: string) =>
    new EntraError(
      400,
      "invalid_grant",
      50013,
      `Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '${audience}' and the expected audience is '${clientId}' or one of the Application Id URIs of this application.`,
    ),
  userAssertionExpired: (now: Date, detail: string) =>
    new EntraError(
      400,
      "invalid_grant",
      500133,
      `Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: ${now.toISOString()}, ${detail}.`,
    ),
  missingRequestedTokenUse: () => invalidRequest(900144, "The request body must contain the following parameter: 'requested_token_use'."),
  unsupportedRequestedTokenUse: (value: string) =>
    invalidRequest(50000, `The requested_token_use '${value}' is not supported; use on_behalf_of.`),
  transient: (status: number) =>
    new EntraError(
      status,
      status === 429 ? "temporarily_unavailable" : status >= 500 ? "temporarily_unavailable" : "invalid_request",
      status === 429 ? 50196 : 90033,
      status === 429
        ? "The server terminated an operation because it encountered a client request loop. Please contact your app vendor."
        : "A transient error has occurred. Please try again.",
    ),
} as const;

/**
 * Descriptions of the user-flow errors that tests script as faults, so that a fault with one of
 * these codes reads as Entra's answer does. The claims challenge and consent texts follow the
 * examples of Microsoft's On-Behalf-Of protocol page and the AADSTS error code reference.
 */
export const USER_FLOW_DESCRIPTIONS: Readonly<Record<number, string>> = {
  50013: "Assertion failed signature validation. [Reason - The key was not found.]",
  500133:
    "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token.",
  50076:
    "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
  50079:
    "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the resource.",
  53003: "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
  65001:
    "The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.",
};

/** `2026-01-01 00:00:00Z`, as ESTS writes timestamps. */
function estsTimestamp(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace("T", " ")}Z`;
}

/** The JSON body of an Entra error. */
export function entraErrorBody(
  error: EntraError,
  correlationId: string | undefined,
  now: Date,
  authorityHost: string,
): Record<string, unknown> {
  const traceId = randomUUID();
  const correlation = correlationId ?? randomUUID();
  const timestamp = estsTimestamp(now);
  return {
    error: error.error,
    error_description: `${error.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${timestamp}`,
    error_codes: [error.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlation,
    error_uri: `${authorityHost}/error?code=${error.code}`,
    ...(error.suberror === undefined ? {} : { suberror: error.suberror }),
    ...(error.claims === undefined ? {} : { claims: error.claims }),
  };
}
