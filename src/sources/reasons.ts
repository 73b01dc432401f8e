import { SourceUnavailableError } from "./types.ts";

/**
 * Runs `work` and turns what it throws into a `SourceUnavailableError` whose reason starts with
 * `what`, such as `the certificate file /certs/app.pfx cannot be used: the PFX password is wrong or
 * missing`. An unexpected error (a parser bug, an odd input) becomes a generic reason; its message
 * is kept only as the cause, never in the reason.
 */
export function withContext<T>(what: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw inContext(what, error);
  }
}

/** {@link withContext} for work that is asynchronous. */
export async function withContextAsync<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw inContext(what, error);
  }
}

/** The error `withContext` throws for `error`. */
function inContext(what: string, error: unknown): SourceUnavailableError {
  if (error instanceof SourceUnavailableError) {
    return new SourceUnavailableError(`${what} cannot be used: ${error.reason}`, { cause: error.cause });
  }
  const cause = error instanceof Error ? new Error(error.message) : undefined;
  return new SourceUnavailableError(`${what} cannot be used: it could not be parsed`, { cause });
}
