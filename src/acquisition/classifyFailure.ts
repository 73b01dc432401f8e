import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { EntryFailureCode } from "../errors.ts";
import { type CredentialSource, SourceUnavailableError } from "../sources/types.ts";
import { MtlsEndpointUnsupportedError } from "../transport/endpoints.ts";
import { EntraError } from "../transport/entraError.ts";
import { TransportError, type TransportErrorKind } from "../transport/errors.ts";
import { transportErrorIn } from "../transport/msalNetworkClient.ts";
import { firstLine } from "../text.ts";
import { TokenResponseError } from "../transport/tokenResponse.ts";
import { AADSTS_RULES } from "./aadstsCodes.ts";
import { UnsupportedGrantError } from "./bound/grants.ts";
import { UnexpectedTokenTypeError } from "./bound/mtlsAcquirer.ts";
import { MsalResultError } from "./unbound/msalAcquirer.ts";
import type { EntryFailure, EntryOutcome } from "./entryOutcome.ts";
import { CLIENT_CREDENTIALS, type RequestKind } from "./types.ts";

/** The Entra-facing facts of an error, whichever library raised it. */
interface ServiceFailure {
  readonly status: number | undefined;
  readonly error: string;
  readonly aadsts: number | undefined;
  readonly description: string;
  readonly claims?: string | undefined;
}

/**
 * Decides what a failure of `entry` means for the ordered list. Errors are read by class for our
 * own and by `name`/fields for msal-node's, never by message text alone.
 *
 * @param kind - the request that failed; every grant is classified alike today, and a grant whose
 *   answers mean something else (a user assertion refused is not the client's fault) branches here
 * @param source - the entry's source, which declares which failures mean that its binding
 *   certificate itself was refused (a source that mints its certificates)
 */
export function classifyFailure(
  entry: NormalizedEntry,
  error: unknown,
  kind: RequestKind = CLIENT_CREDENTIALS,
  source?: Pick<CredentialSource, "isBindingRejection">,
): EntryFailure {
  if (error instanceof SourceUnavailableError) {
    return failure("unavailable", error.reason, error, "BCC_SOURCE_UNAVAILABLE");
  }
  // msal-node wraps our transport's failure in its own `network_error`; the cause tells what happened.
  const transport = error instanceof TransportError ? error : transportErrorIn(error);
  if (transport !== undefined) return classifyTransport(entry, transport, source);
  if (error instanceof UnexpectedTokenTypeError) return failure("stop", error.message, error, "BCC_UNEXPECTED_TOKEN_TYPE");
  const service = error instanceof EntraError ? fromEntraError(error) : fromMsalError(error);
  if (service !== undefined) return classifyService(service, error, kind);
  if (isAbort(error)) return failure("stop", "the request was aborted.", error, "BCC_ABORTED");
  const message = error instanceof Error ? error.message : String(error);
  return failure("stop", message, error, codeOfOther(error));
}

const TRANSPORT_CODES: Readonly<Record<TransportErrorKind, EntryFailureCode>> = {
  connect: "BCC_CONNECT_FAILED",
  tls: "BCC_TLS_FAILED",
  timeout: "BCC_TIMEOUT",
  aborted: "BCC_ABORTED",
  reset: "BCC_CONNECTION_RESET",
  "body-too-large": "BCC_RESPONSE_TOO_LARGE",
  protocol: "BCC_PROTOCOL_ERROR",
};

function codeOfOther(error: unknown): EntryFailureCode {
  if (error instanceof TokenResponseError || error instanceof MsalResultError) return "BCC_INVALID_TOKEN_RESPONSE";
  if (error instanceof MtlsEndpointUnsupportedError) return "BCC_MTLS_ENDPOINT_UNSUPPORTED";
  if (error instanceof UnsupportedGrantError) return "BCC_UNSUPPORTED_GRANT";
  return "BCC_UNEXPECTED_ERROR";
}

/**
 * A host that cannot be reached or refuses the handshake makes the entry unavailable: another entry
 * may go elsewhere (a bound entry to the mTLS host, an unbound one to the login host), and a
 * `ChainedTokenCredential` should move on, as it does for `@azure/identity`'s credentials. The
 * login host not answering in time is a request error, as every unbound entry needs it; the mTLS
 * host not answering in time only takes the bound entry out.
 */
function classifyTransport(
  entry: NormalizedEntry,
  error: TransportError,
  source: Pick<CredentialSource, "isBindingRejection"> | undefined,
): EntryFailure {
  const what = error.message;
  const failure = (outcome: EntryOutcome, reason: string, cause: unknown): EntryFailure =>
    failureOf(outcome, reason, cause, TRANSPORT_CODES[error.kind]);
  if (error.kind === "aborted") return failure("stop", "the request was aborted.", error);
  if (error.kind === "connect" || error.kind === "tls" || error.kind === "reset") {
    if (!entry.bound) return failure("unavailable", `the token endpoint could not be used: ${what}`, error);
    // A minted binding certificate may have been revoked under us: the source says when to re-mint it.
    const outcome: EntryOutcome = source?.isBindingRejection?.(error) === true ? "rejected" : "unavailable";
    return failure(outcome, `the mutual TLS token endpoint could not be used: ${what}`, error);
  }
  if (error.kind === "timeout" && entry.bound) {
    // The mTLS host (or the handshake with it) hangs; the next entry may not need that host.
    return failure("unavailable", `the mutual TLS token endpoint did not answer in time: ${what}`, error);
  }
  return failure("stop", what, error);
}

/**
 * Entra's answer. The rules are the client's (AADSTS codes about its credential); a grant that sends
 * a user's assertion adds the codes about that assertion here, keyed on `kind.grant`.
 */
function classifyService(service: ServiceFailure, error: unknown, kind: RequestKind): EntryFailure {
  const rules = rulesFor(kind);
  const failure = (outcome: EntryOutcome, reason: string, cause: unknown, from: ServiceFailure): EntryFailure =>
    failureOf(outcome, reason, cause, "BCC_ENTRA_ERROR", from);
  const code = service.aadsts;
  const rule = code === undefined ? undefined : rules.get(code);
  const label = code === undefined ? service.error : `AADSTS${code}`;
  const description = firstLine(service.description);
  const reason = (remedy: string | undefined): string =>
    `${label}${service.status === undefined ? "" : ` (HTTP ${service.status})`}: ${description}${remedy === undefined ? "" : ` ${remedy}`}`;
  if (rule !== undefined) {
    return failure(rule.outcome, reason(rule.remedy), error, service);
  }
  if (service.status !== undefined && (service.status >= 500 || service.status === 429)) {
    return failure("stop", reason("Entra ID is failing or throttling; try again later."), error, service);
  }
  if (service.error === "invalid_client" || service.error === "unauthorized_client") {
    return failure("rejected", reason(undefined), error, service);
  }
  return failure("stop", reason(undefined), error, service);
}

/** The AADSTS rules for a request of `kind`: the client's, which every grant shares today. */
function rulesFor(kind: RequestKind): typeof AADSTS_RULES {
  switch (kind.grant) {
    case "client_credentials":
    case "on_behalf_of":
      return AADSTS_RULES;
  }
}

function fromEntraError(error: EntraError): ServiceFailure {
  return { status: error.status, error: error.error, aadsts: error.aadsts, description: error.description, claims: error.claims };
}

/**
 * msal-node's `ServerError` carries `errorCode`, `errorMessage`, `errorNo` and `status`; its
 * `InteractionRequiredAuthError` (a user flow's `interaction_required`, `consent_required`, …)
 * the same and the `claims` challenge.
 */
function fromMsalError(error: unknown): ServiceFailure | undefined {
  if (!(error instanceof Error) || (error.name !== "ServerError" && error.name !== "InteractionRequiredAuthError")) return undefined;
  const fields = error as Error & { errorCode?: unknown; errorMessage?: unknown; errorNo?: unknown; status?: unknown; claims?: unknown };
  const message = msalDescription(typeof fields.errorMessage === "string" ? fields.errorMessage : error.message);
  const fromNo = typeof fields.errorNo === "string" && /^\d+$/.test(fields.errorNo) ? Number(fields.errorNo) : undefined;
  const fromText = /AADSTS(\d+)/.exec(message)?.[1];
  return {
    status: typeof fields.status === "number" ? fields.status : undefined,
    error: typeof fields.errorCode === "string" ? fields.errorCode : "server_error",
    aadsts: fromNo ?? (fromText === undefined ? undefined : Number(fromText)),
    description: message,
    claims: typeof fields.claims === "string" && fields.claims !== "" ? fields.claims : undefined,
  };
}

/**
 * msal-node wraps Entra's description as `Error(s): 7000215 - Timestamp: … - Description: AADSTS…
 * - Trace ID: … - Correlation ID: …`; the description alone is what a reader needs.
 */
function msalDescription(message: string): string {
  const start = message.indexOf("Description: ");
  if (start < 0) return message;
  const rest = message.slice(start + "Description: ".length);
  const end = rest.search(/ - (Trace ID|Correlation ID|Timestamp): /);
  return (end < 0 ? rest : rest.slice(0, end)).trim();
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

function failure(outcome: EntryOutcome, reason: string, error: unknown, code: EntryFailureCode): EntryFailure {
  return failureOf(outcome, reason, error, code);
}

function failureOf(outcome: EntryOutcome, reason: string, error: unknown, code: EntryFailureCode, service?: ServiceFailure): EntryFailure {
  return {
    outcome,
    code,
    reason: /[.!?]$/.test(reason.trim()) ? reason.trim() : `${reason.trim()}.`,
    statusCode: service?.status,
    aadsts: service?.aadsts,
    error,
    ...(service?.claims === undefined ? {} : { claims: service.claims }),
  };
}
