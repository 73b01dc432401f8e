import type { EntryFailureCode } from "../errors.ts";

/**
 * What one entry's failure means for the ordered list:
 * - `unavailable`: this entry cannot work here right now (material missing, IMDS absent, the mTLS
 *   host unreachable); bench it and try the next one.
 * - `rejected`: Entra refused this entry's credential; reload it once (rotation), then bench it and
 *   try the next one.
 * - `stop`: the request itself is wrong or the service is failing; no other entry would help.
 */
export type EntryOutcome = "unavailable" | "rejected" | "stop";

/** A classified failure of one entry, with a reason fit for logs and error messages. */
export interface EntryFailure {
  readonly outcome: EntryOutcome;
  /** What went wrong and how to fix it; never a secret. */
  readonly reason: string;
  /** The kind of failure, stable for callers (see {@link EntryFailureCode}). */
  readonly code: EntryFailureCode;
  /** HTTP status from Entra, when there was one. */
  readonly statusCode: number | undefined;
  /** The AADSTS code, when there was one. */
  readonly aadsts: number | undefined;
  /** The underlying error, kept as `cause`. */
  readonly error: unknown;
}
