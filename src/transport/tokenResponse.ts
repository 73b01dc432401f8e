/**
 * Strict parsing of a token response body. The body is hostile input: anything that is not exactly
 * what Entra (or IMDS) sends is refused with an error that names the field, never the token.
 */
import { inspect } from "node:util";

/** A token response that failed validation. The message names the field; it never holds a token. */
export class TokenResponseError extends Error {
  /** The field at fault (`access_token`, `expires_in`, …), or `body` for the document itself. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = "TokenResponseError";
    this.field = field;
  }
}

/** A validated token response. The access token stays out of `JSON.stringify` and `util.inspect`. */
export class TokenResponse {
  readonly #accessToken: string;
  /** As sent (`Bearer`, `mtls_pop`, …); compare case-insensitively. */
  readonly tokenType: string;
  /** Lifetime in seconds from when the response was received. */
  readonly expiresInSeconds: number;
  readonly extExpiresInSeconds: number | undefined;
  /** When the server wants the token refreshed, in seconds from receipt. */
  readonly refreshInSeconds: number | undefined;
  /** Space-separated scopes granted, when the server says. */
  readonly scope: string | undefined;

  constructor(fields: {
    accessToken: string;
    tokenType: string;
    expiresInSeconds: number;
    extExpiresInSeconds: number | undefined;
    refreshInSeconds: number | undefined;
    scope: string | undefined;
  }) {
    this.#accessToken = fields.accessToken;
    this.tokenType = fields.tokenType;
    this.expiresInSeconds = fields.expiresInSeconds;
    this.extExpiresInSeconds = fields.extExpiresInSeconds;
    this.refreshInSeconds = fields.refreshInSeconds;
    this.scope = fields.scope;
    Object.freeze(this);
  }

  /** The access token. Never log it. */
  get accessToken(): string {
    return this.#accessToken;
  }

  toJSON(): Record<string, unknown> {
    return this.#describe();
  }

  [inspect.custom](): string {
    return `TokenResponse ${inspect(this.#describe())}`;
  }

  #describe(): Record<string, unknown> {
    return {
      accessToken: "[REDACTED]",
      tokenType: this.tokenType,
      expiresInSeconds: this.expiresInSeconds,
      extExpiresInSeconds: this.extExpiresInSeconds,
      refreshInSeconds: this.refreshInSeconds,
      scope: this.scope,
    };
  }
}

/** Options of {@link parseTokenResponse}. */
export interface ParseTokenResponseOptions {
  /** Refuse any other `token_type` (compared case-insensitively), for example `Bearer`. */
  expectedTokenType?: string;
  /** Clock for `expires_on`, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Who sent the body, for messages; for example `mtlsauth.microsoft.com`. */
  source?: string;
}

/** The most a token may claim to live; longer values are nonsense, not generosity. */
const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;
/** 2001-01-01: `expires_on` below this is relative, as MSAL.NET reads it. */
const EPOCH_THRESHOLD_SECONDS = 978_307_200;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Parses a token response: a JSON object with a non-empty `access_token`, a `token_type`, and a
 * lifetime in `expires_in` (number or numeric string) or, as IMDS and the other managed identity
 * hosts send it, `expires_on` (epoch seconds, numeric string, or ISO 8601). `ext_expires_in` and
 * `refresh_in` are optional.
 *
 * @throws TokenResponseError naming the field that is wrong
 */
export function parseTokenResponse(body: string, options: ParseTokenResponseOptions = {}): TokenResponse {
  const from = options.source === undefined ? "The token response" : `The token response from ${options.source}`;
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    throw new TokenResponseError("body", `${from} is not JSON.`);
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new TokenResponseError("body", `${from} is not a JSON object.`);
  }
  const fields = document as Record<string, unknown>;
  const own = (name: string): unknown => (Object.hasOwn(fields, name) ? fields[name] : undefined);

  const accessToken = own("access_token");
  if (typeof accessToken !== "string" || accessToken.length === 0) {
    throw new TokenResponseError(
      "access_token",
      `${from} has no access_token (${accessToken === undefined ? "missing" : `got ${describeType(accessToken)}, expected a non-empty string`}).`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(accessToken)) {
    // It goes into an Authorization header: spaces, line breaks or non-ASCII would break or forge it.
    throw new TokenResponseError("access_token", `${from} has an access_token with characters a token cannot have.`);
  }
  const tokenType = own("token_type");
  if (typeof tokenType !== "string" || tokenType.trim().length === 0) {
    throw new TokenResponseError(
      "token_type",
      `${from} has no token_type (${tokenType === undefined ? "missing" : `got ${describeType(tokenType)}, expected a non-empty string`}).`,
    );
  }
  if (options.expectedTokenType !== undefined && tokenType.toLowerCase() !== options.expectedTokenType.toLowerCase()) {
    throw new TokenResponseError(
      "token_type",
      `${from} has token_type "${printable(tokenType)}" but "${options.expectedTokenType}" was requested.`,
    );
  }

  let expiresInSeconds = seconds(own("expires_in"), "expires_in", from);
  if (expiresInSeconds === undefined) {
    const expiresOn = own("expires_on");
    if (expiresOn === undefined) {
      throw new TokenResponseError("expires_in", `${from} has neither expires_in nor expires_on.`);
    }
    expiresInSeconds = secondsUntil(expiresOn, from, (options.now ?? Date.now)());
  }
  const scope = own("scope");
  return new TokenResponse({
    accessToken,
    tokenType,
    expiresInSeconds,
    extExpiresInSeconds: seconds(own("ext_expires_in"), "ext_expires_in", from),
    refreshInSeconds: seconds(own("refresh_in"), "refresh_in", from),
    scope: typeof scope === "string" ? scope : undefined,
  });
}

/** A non-negative, finite, sane number of seconds given as a JSON number or a numeric string. */
function seconds(value: unknown, field: string, from: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = numeric(value);
  if (parsed === undefined || parsed < 0 || parsed > MAX_LIFETIME_SECONDS) {
    throw new TokenResponseError(
      field,
      `${from} has an invalid ${field} (got ${describeType(value)}); expected a non-negative number of seconds.`,
    );
  }
  return parsed;
}

function secondsUntil(value: unknown, from: string, nowMs: number): number {
  let epochSeconds: number | undefined = numeric(value);
  if (epochSeconds === undefined && typeof value === "string" && ISO_8601.test(value.trim())) {
    const at = Date.parse(value.trim());
    if (!Number.isNaN(at)) epochSeconds = at / 1000;
  }
  if (epochSeconds === undefined || epochSeconds < 0) {
    throw new TokenResponseError(
      "expires_on",
      `${from} has an invalid expires_on (got ${describeType(value)}); expected epoch seconds or an ISO 8601 time.`,
    );
  }
  const remaining = epochSeconds < EPOCH_THRESHOLD_SECONDS ? epochSeconds : epochSeconds - nowMs / 1000;
  if (remaining > MAX_LIFETIME_SECONDS) {
    throw new TokenResponseError("expires_on", `${from} has an expires_on too far in the future.`);
  }
  return Math.max(0, Math.floor(remaining));
}

function numeric(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string" && /^\s*\d{1,15}(\.\d{1,9})?\s*$/.test(value)) return Number(value);
  return undefined;
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value.length === 0 ? "an empty string" : "a string";
  if (typeof value === "number") return `the number ${value}`;
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Server text reduced to something safe to quote: short, printable. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 40);
}
