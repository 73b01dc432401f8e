/**
 * Reading `appsettings.json` as .NET writes it, and finding a section in it. The JSON-with-comments
 * reader is Microsoft's `jsonc-parser` (the one VS Code uses for its settings), loaded only when a
 * command reads a file, so that the library itself never loads it.
 */
import { closestMatch } from "../configuration/suggest.ts";

/** A file that is not valid JSON with comments, with where and why. */
export class ConfigurationFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigurationFileError";
  }
}

/**
 * Parses JSON as `Microsoft.Extensions.Configuration.Json` accepts it: `//` and `/* *\/` comments
 * and trailing commas (also after a comment) are allowed, a byte order mark is skipped.
 *
 * @throws ConfigurationFileError naming the line and column of the first syntax error
 */
export async function parseJsonWithComments(text: string, file: string): Promise<unknown> {
  const { parse, printParseErrorCode } = await import("jsonc-parser");
  const source = text.replace(/^\uFEFF/, "");
  const errors: { error: number; offset: number; length: number }[] = [];
  const value: unknown = parse(source, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  const first = errors[0];
  if (first !== undefined) {
    const before = source.slice(0, first.offset);
    const line = before.split("\n").length;
    const column = first.offset - before.lastIndexOf("\n");
    const what = printParseErrorCode(first.error as Parameters<typeof printParseErrorCode>[0]);
    throw new ConfigurationFileError(`${file} is not valid JSON at line ${line}, column ${column}: ${describeParseError(what)}. Fix the file and try again.`);
  }
  return value;
}

function describeParseError(code: string): string {
  // printParseErrorCode gives names such as "CommaExpected"; people read "comma expected".
  return code.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

/**
 * The sections of a parsed file that look like Microsoft.Identity.Web application sections (an
 * object with a `ClientId`), as `--section` spells them (`Outer:Inner`); the top-level objects when
 * none has a `ClientId`.
 */
export function sectionsIn(json: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, at: string[]): void => {
    if (value === null || typeof value !== "object" || Array.isArray(value) || at.length > 3) return;
    if (at.length > 0 && Object.keys(value).some((key) => key.toLowerCase() === "clientid")) found.push(at.join(":"));
    for (const [key, child] of Object.entries(value)) visit(child, [...at, key]);
  };
  visit(json, []);
  if (found.length > 0) return found;
  if (json === null || typeof json !== "object" || Array.isArray(json)) return [];
  return Object.entries(json)
    .filter(([, child]) => child !== null && typeof child === "object" && !Array.isArray(child))
    .map(([key]) => key);
}

/**
 * Checks that `section` names an object of the file, as `--section` does (levels separated by
 * `:`, names matched without regard to case as .NET configuration matches them).
 *
 * @returns the reason it does not, listing the sections there are, or undefined when it does
 */
export function missingSection(json: unknown, section: string, file: string): string | undefined {
  let current: unknown = json;
  for (const part of section.split(":")) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) {
      current = undefined;
      break;
    }
    const key = Object.keys(current).find((name) => name.toLowerCase() === part.toLowerCase());
    current = key === undefined ? undefined : (current as Record<string, unknown>)[key];
  }
  if (current !== null && typeof current === "object" && !Array.isArray(current)) return undefined;
  const sections = sectionsIn(json);
  const close = closestMatch(section, sections);
  const list = sections.length === 0 ? "it has no sections" : `its sections are ${sections.join(", ")}`;
  return `--section ${section}: is not a section of ${file}; ${list}.${close === undefined ? "" : ` Did you mean --section ${close}?`}`;
}
