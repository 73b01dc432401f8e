/** Small text helpers for messages and reasons, shared by every layer. */

/**
 * The message of something thrown, for reasons that quote a failure: an `Error`'s message, a
 * thrown string as it is, and for anything else a description (never its contents, which may be
 * anything).
 */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  return "an error that is not an Error";
}

/** The first line of `text`, cut at `maxLength` characters with an ellipsis. */
export function firstLine(text: string, maxLength = 300): string {
  const line = text.split(/\r?\n/, 1)[0] ?? "";
  return line.length > maxLength ? `${line.slice(0, maxLength)}…` : line;
}
