/**
 * Entra ID (and IMDS) error answers, parsed defensively: the body may be the documented JSON, a
 * proxy's HTML page, or garbage. What the server said is kept, cut to a sane length; what the
 * client sent never appears.
 */
import { parseRetryAfter } from "./retry.ts";

/** Longest server description kept; Entra's run to a few hundred characters. */
export const MAX_DESCRIPTION_LENGTH = 2000;
const MAX_FIELD_LENGTH = 200;

/** An error answer from a token endpoint or identity host. */
export class EntraError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The OAuth `error` (`invalid_client`, …); `invalid_request` or `unknown_error` for a non-JSON body. */
  readonly error: string;
  /** `error_codes`, as numbers. */
  readonly errorCodes: number[];
  /** The first AADSTS code, from `error_codes` or else from the description. */
  readonly aadsts: number | undefined;
  /** `error_description`, cut to {@link MAX_DESCRIPTION_LENGTH}. */
  readonly description: string;
  readonly traceId: string | undefined;
  readonly correlationId: string | undefined;
  readonly timestamp: string | undefined;
  readonly suberror: string | undefined;
  /** A claims challenge, when the server sent one. */
  readonly claims: string | undefined;
  /** The server's `Retry-After`, in ms (capped at 60 s), when it sent one. */
  readonly retryAfterMs: number | undefined;
  /** `hostname[:port]` that answered. */
  readonly host: string;

  constructor(fields: {
    status: number;
    error: string;
    errorCodes: number[];
    aadsts: number | undefined;
    description: string;
    traceId: string | undefined;
    correlationId: string | undefined;
    timestamp: string | undefined;
    suberror: string | undefined;
    claims: string | undefined;
    retryAfterMs: number | undefined;
    host: string;
  }) {
    const code = fields.aadsts === undefined ? "" : ` (AADSTS${fields.aadsts})`;
    const where = fields.host === "" ? "The server" : fields.host;
    super(`${where} answered ${fields.status} ${fields.error}${code}: ${fields.description}`);
    this.name = "EntraError";
    this.status = fields.status;
    this.error = fields.error;
    this.errorCodes = fields.errorCodes;
    this.aadsts = fields.aadsts;
    this.description = fields.description;
    this.traceId = fields.traceId;
    this.correlationId = fields.correlationId;
    this.timestamp = fields.timestamp;
    this.suberror = fields.suberror;
    this.claims = fields.claims;
    this.retryAfterMs = fields.retryAfterMs;
    this.host = fields.host;
  }
}

/** What {@link parseEntraError} needs from an HTTP answer. */
export interface ErrorAnswer {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: string;
}

/**
 * Parses an error answer. A JSON body gives its fields (`error` may also be the `{code, message}`
 * object some managed identity hosts send); anything else gives `invalid_request` for a 400 and
 * `unknown_error` otherwise, as `@azure/identity` does, with a description of what came back
 * instead of the body itself.
 *
 * @param host - who answered, for the message
 * @param now - clock for an HTTP-date `Retry-After`
 */
export function parseEntraError(answer: ErrorAnswer, host = "", now: number = Date.now()): EntraError {
  const retryAfterMs = parseRetryAfter(answer.headers["retry-after"], now);
  const document = parseObject(answer.body);
  if (document === undefined) {
    return new EntraError({
      status: answer.status,
      error: answer.status === 400 ? "invalid_request" : "unknown_error",
      errorCodes: [],
      aadsts: undefined,
      description: describeNonJson(answer),
      traceId: shortText(answer.headers["x-ms-request-id"]),
      correlationId: undefined,
      timestamp: undefined,
      suberror: undefined,
      claims: undefined,
      retryAfterMs,
      host,
    });
  }
  const own = (name: string): unknown => (Object.hasOwn(document, name) ? document[name] : undefined);

  let error = shortText(own("error"));
  let description = longText(own("error_description"));
  const nested = own("error");
  if (error === undefined && typeof nested === "object" && nested !== null && !Array.isArray(nested)) {
    // { "error": { "code": "...", "message": "..." } }, as App Service and Arc answer.
    const inner = nested as Record<string, unknown>;
    error = shortText(Object.hasOwn(inner, "code") ? inner["code"] : undefined);
    description ??= longText(Object.hasOwn(inner, "message") ? inner["message"] : undefined);
  }
  description ??= longText(own("message"));
  const errorCodes = codes(own("error_codes"));
  return new EntraError({
    status: answer.status,
    error: error ?? (answer.status === 400 ? "invalid_request" : "unknown_error"),
    errorCodes,
    aadsts: errorCodes[0] ?? aadstsIn(description),
    description: description ?? "The server gave no description.",
    traceId: shortText(own("trace_id")) ?? shortText(answer.headers["x-ms-request-id"]),
    correlationId: shortText(own("correlation_id")) ?? shortText(own("correlationId")),
    timestamp: shortText(own("timestamp")),
    suberror: shortText(own("suberror")),
    claims: typeof own("claims") === "string" ? (own("claims") as string).slice(0, MAX_DESCRIPTION_LENGTH) : undefined,
    retryAfterMs,
    host,
  });
}

/** The AADSTS number in a description such as `AADSTS700027: Client assertion …`. */
export function aadstsIn(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /AADSTS(\d{1,9})\b/.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function parseObject(body: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function describeNonJson(answer: ErrorAnswer): string {
  const contentType = headerText(answer.headers["content-type"])?.split(";")[0]?.trim();
  const size = Buffer.byteLength(answer.body, "utf8");
  if (size === 0) return "The server sent an empty body.";
  const title = /<title[^>]*>([^<]{1,200})<\/title>/i.exec(answer.body)?.[1];
  const what = contentType === undefined || contentType === "" ? "a body" : `a ${clean(contentType, 100)} body`;
  const titled = title === undefined ? "" : ` titled "${clean(title, 100)}"`;
  // The body itself is not quoted: it could echo what the client sent.
  return `The server sent ${what}${titled} of ${size} bytes that is not a JSON error.`;
}

function headerText(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function codes(value: unknown): number[] {
  if (!Array.isArray(value)) return [];
  const result: number[] = [];
  for (const item of value.slice(0, 20)) {
    if (typeof item === "number" && Number.isSafeInteger(item) && item >= 0) result.push(item);
    else if (typeof item === "string" && /^\d{1,9}$/.test(item)) result.push(Number(item));
  }
  return result;
}

function shortText(value: unknown): string | undefined {
  return textOf(value, MAX_FIELD_LENGTH);
}

function longText(value: unknown): string | undefined {
  return textOf(value, MAX_DESCRIPTION_LENGTH);
}

/** Cleaned server text, or undefined when nothing printable is left. */
function textOf(value: unknown, max: number): string | undefined {
  if (typeof value !== "string") return undefined;
  const text = clean(value, max);
  return text === "" ? undefined : text;
}

/** Control characters out (they would forge log lines), then cut. */
function clean(text: string, max: number): string {
  const printable = text.replace(/\r\n/g, " ").replace(/[\u0000-\u001f\u007f]/g, " ").trim();
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}
