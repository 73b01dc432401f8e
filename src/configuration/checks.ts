/**
 * Small readers that take one field out of untrusted input and either return it typed or throw a
 * {@link BoundCredentialConfigurationError} naming the field and the fix. Values are never copied
 * into messages unless a caller deliberately echoes a field known not to be secret.
 */
import type { TokenCredential } from "@azure/core-auth";
import { BoundCredentialConfigurationError, type ConfigurationErrorCode } from "../errors.ts";
import type { PathNaming, PathSegment } from "./naming.ts";
import { closestMatch, MAX_SUGGESTION_INPUT_LENGTH } from "./suggest.ts";

/** A location in the input: option path segments, or an already spelled name such as `AZURE_AUTHORITY_HOST`. */
export type Where = readonly PathSegment[] | string;

/** Carries the naming of the front end that is being validated. */
export class Checker {
  readonly naming: PathNaming;

  constructor(naming: PathNaming) {
    this.naming = naming;
  }

  /**
   * Throws the configuration error for `path`: option path segments, or a string that is already
   * spelled (an environment variable name).
   */
  fail(code: ConfigurationErrorCode, path: Where, problem: string, remedy: string): never {
    throw new BoundCredentialConfigurationError(code, this.where(path), problem, remedy);
  }

  /** Spells a location. */
  where(path: Where): string {
    return typeof path === "string" ? path : this.naming.render(path);
  }

  /** The user's spelling of an option key, for sentences. */
  key(name: string): string {
    return this.naming.key(name);
  }

  /** The user's spelling of a whole path, for sentences. */
  path(path: readonly PathSegment[]): string {
    return this.naming.render(path);
  }
}

/** An object literal or a null-prototype object, as opposed to arrays, class instances and boxed values. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** What kind of value this is, for messages; never the value itself. */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "a byte array";
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "string":
      return value.length === 0 ? "an empty string" : "a string";
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    case "function":
      return "a function";
    case "bigint":
      return "a bigint";
    case "symbol":
      return "a symbol";
    default:
      return isPlainObject(value) ? "an object" : "an object of another kind";
  }
}

/**
 * Echoes a value of a field that is not meant to be secret (a source type, a region, a provider
 * name) so the user sees their typo, but only when it looks like a name: short, starting with a
 * letter, without dots, tildes or other token and secret characters. A JWT or an Entra client
 * secret pasted into the wrong field is therefore described, never shown.
 */
export function echo(value: unknown): string {
  if (typeof value === "string" && /^[A-Za-z][A-Za-z0-9 _-]{0,39}$/.test(value)) {
    return JSON.stringify(value);
  }
  return describeType(value);
}

/** Keys of `obj` whose value is not `undefined`: an explicit `undefined` means "not set". */
export function presentKeys(obj: Record<string, unknown>): string[] {
  return Object.keys(obj).filter((key) => obj[key] !== undefined);
}

/**
 * Rejects keys that are not in `allowed`, suggesting the closest allowed one. `hint` can supply a
 * more specific remedy for keys that are known mistakes (a key that belongs elsewhere).
 */
export function rejectUnknownKeys(
  c: Checker,
  obj: Record<string, unknown>,
  path: readonly PathSegment[],
  allowed: readonly string[],
  where: string,
  hint?: (key: string) => string | undefined,
): void {
  for (const key of presentKeys(obj)) {
    if (allowed.includes(key)) continue;
    const specific = hint?.(key);
    const match = closestMatch(key, allowed);
    const suggestion = match === undefined ? "" : ` Did you mean ${c.key(match)}?`;
    const remedy =
      specific ??
      (match !== undefined && match.toLowerCase() === key.toLowerCase()
        ? `Rename it to ${c.key(match)}: option keys are case-sensitive here (use fromConfiguration for an appsettings.json section with PascalCase keys).`
        : `Remove it, or use one of: ${allowed.map((k) => c.key(k)).join(", ")}.`);
    c.fail("BCC_UNKNOWN_OPTION", [...path, shortKey(key)], `is not an option of ${where}.${suggestion}`, remedy);
  }
}

/** A key as errors and logs name it: a very long one is cut, so that the message stays small. */
export function shortKey(key: string): string {
  return key.length > MAX_SUGGESTION_INPUT_LENGTH ? `${key.slice(0, MAX_SUGGESTION_INPUT_LENGTH)}…` : key;
}

/** Options of {@link readString}. */
export interface StringRules {
  /** Fails with BCC_MISSING_FIELD when absent. */
  readonly required?: boolean;
  /** Accepts `""` (a PFX password may be empty). */
  readonly allowEmpty?: boolean;
  /** What the value is, completing "Set it to …": "the path of the PFX/P12 or PEM file". */
  readonly meaning: string;
  /** What needs the field, completing "is required for …": "a Path entry". */
  readonly requiredFor?: string;
}

/** A string field; absent returns undefined unless required. */
export function readString(
  c: Checker,
  obj: Record<string, unknown>,
  key: string,
  path: readonly PathSegment[],
  rules: StringRules,
): string | undefined {
  const value = obj[key];
  const at = [...path, key];
  if (value === undefined) {
    if (rules.required === true) {
      c.fail(
        "BCC_MISSING_FIELD",
        at,
        `is required${rules.requiredFor === undefined ? "" : ` for ${rules.requiredFor}`} but is missing.`,
        `Set it to ${rules.meaning}.`,
      );
    }
    return undefined;
  }
  if (typeof value !== "string") {
    c.fail("BCC_INVALID_TYPE", at, `must be a string but is ${describeType(value)}.`, `Set it to ${rules.meaning}, as a string.`);
  }
  if (rules.allowEmpty !== true && value.trim() === "") {
    c.fail("BCC_EMPTY_FIELD", at, "is empty.", `Set it to ${rules.meaning}${rules.required === true ? "" : ", or leave it out"}.`);
  }
  return value;
}

/** A boolean field; absent returns `fallback`. */
export function readBoolean(
  c: Checker,
  obj: Record<string, unknown>,
  key: string,
  path: readonly PathSegment[],
  fallback: boolean,
): boolean {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    c.fail(
      "BCC_INVALID_TYPE",
      [...path, key],
      `must be a boolean but is ${describeType(value)}.`,
      `Set it to true or false (without quotes), or leave it out for ${String(fallback)}.`,
    );
  }
  return value;
}

/** A function field; absent returns undefined. */
export function readFunction<T>(
  c: Checker,
  obj: Record<string, unknown>,
  key: string,
  path: readonly PathSegment[],
  meaning: string,
): T | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== "function") {
    c.fail("BCC_INVALID_TYPE", [...path, key], `must be a function but is ${describeType(value)}.`, `Pass ${meaning}.`);
  }
  return value as T;
}

/** An array of non-empty strings; absent returns undefined. */
export function readStringArray(
  c: Checker,
  obj: Record<string, unknown>,
  key: string,
  path: readonly PathSegment[],
  meaning: string,
): string[] | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  const at = [...path, key];
  if (!Array.isArray(value)) {
    c.fail(
      "BCC_INVALID_TYPE",
      at,
      `must be an array of strings but is ${describeType(value)}.`,
      `Give ${meaning} as an array of strings.`,
    );
  }
  return value.map((item: unknown, index) => {
    if (typeof item !== "string") {
      c.fail("BCC_INVALID_TYPE", [...at, index], `must be a string but is ${describeType(item)}.`, `Give ${meaning} as strings.`);
    }
    if (item.trim() === "") {
      c.fail("BCC_EMPTY_FIELD", [...at, index], "is an empty string.", `Remove the empty item from ${c.path(at)}.`);
    }
    return item;
  });
}

/** Whether `value` looks like an `@azure/core-auth` TokenCredential. */
export function isTokenCredentialLike(value: unknown): value is TokenCredential {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { getToken?: unknown }).getToken === "function"
  );
}

/** Deep copy of plain JSON-like data (objects and arrays), frozen; other values are kept as they are. */
export function frozenDataCopy<T>(value: T): T {
  return copyFrozen(value) as T;
}

function copyFrozen(value: unknown): unknown {
  if (Array.isArray(value)) {
    return Object.freeze(value.map((item: unknown) => copyFrozen(item)));
  }
  if (isPlainObject(value)) {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) copy[k] = copyFrozen(v);
    return Object.freeze(copy);
  }
  return value;
}
