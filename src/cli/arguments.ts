/**
 * What the commands add to `node:util` `parseArgs`: an unknown flag is answered with the closest
 * flag the command has.
 */
import { closestMatch } from "../configuration/suggest.ts";

/** A `parseArgs` option table, as the commands declare theirs. */
export type FlagTable = Readonly<Record<string, { readonly type: "string" | "boolean"; readonly short?: string; readonly multiple?: boolean }>>;

/**
 * The message for a `parseArgs` error, with ` Did you mean --x?` after an unknown flag that is
 * close to one of `flags`.
 */
export function describeArgumentError(error: unknown, flags: FlagTable): string {
  const message = error instanceof Error ? error.message : String(error);
  if ((error as { code?: unknown } | null)?.code !== "ERR_PARSE_ARGS_UNKNOWN_OPTION") return message;
  // parseArgs: "Unknown option '--scop'. To specify a positional argument starting with a '-', …"
  const given = /Unknown option '(-{1,2}[^'=]+)/.exec(message)?.[1];
  if (given === undefined) return message;
  if (!given.startsWith("--")) return `Unknown option '${given}'.`;
  const name = given.slice(2);
  const close = closestMatch(name, Object.keys(flags));
  return `Unknown option '${given}'.${close === undefined ? "" : ` Did you mean --${close}?`}`;
}
