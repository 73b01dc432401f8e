/**
 * Validation of one entry of `clientCredentials`: its source type, then the fields that source
 * type's descriptor reads and checks, and whether it may be bound. Produces a frozen copy with
 * defaults applied and a secret-free id. What each source type accepts lives in its descriptor
 * (`sources/index.ts` lists them); nothing here names a source type's own fields.
 */
import { type AnySourceDescriptor, SOURCE_DESCRIPTORS } from "../sources/index.ts";
import type { EntryContext } from "../sources/descriptor.ts";
import { type Checker, describeType, echo, isPlainObject, readBoolean, rejectUnknownKeys } from "./checks.ts";
import type { PathSegment } from "./naming.ts";
import type { NormalizedEntry } from "./normalized.ts";
import { closestMatch } from "./suggest.ts";
import type { CredentialSourceType } from "./types.ts";

export type { EntryContext } from "../sources/descriptor.ts";

/** Every source type, in the registry's order. */
export const SOURCE_TYPES: readonly CredentialSourceType[] = Object.freeze(
  Object.keys(SOURCE_DESCRIPTORS) as CredentialSourceType[],
);

/** Keys every entry accepts. */
export const COMMON_ENTRY_KEYS: readonly string[] = ["sourceType", "skip", "useBoundCredential"];

/** Keys each source type accepts besides {@link COMMON_ENTRY_KEYS}. */
export const SOURCE_KEYS: Readonly<Record<CredentialSourceType, readonly string[]>> = Object.freeze(
  Object.fromEntries(SOURCE_TYPES.map((type) => [type, SOURCE_DESCRIPTORS[type].keys])) as Record<
    CredentialSourceType,
    readonly string[]
  >,
);

/** The descriptor of a source type. */
export function descriptorOf(sourceType: CredentialSourceType): AnySourceDescriptor {
  return SOURCE_DESCRIPTORS[sourceType];
}

/** The source types whose entries accept `key`. */
export function sourceTypesWithKey(key: string): CredentialSourceType[] {
  return SOURCE_TYPES.filter((t) => SOURCE_KEYS[t].includes(key));
}

/**
 * Source types Microsoft.Identity.Web knows but this library cannot serve, with the reason. They
 * are rejected with their own code so that the user is not told the name is misspelled.
 */
export const UNSUPPORTED_SOURCE_TYPES: ReadonlyMap<string, string> = new Map([
  ["SignedAssertionFromVault", "it is a Microsoft-internal source for which no public loader exists"],
  ["AutoDecryptKeys", "it describes token decryption keys, not a client credential"],
  ["ManagedCertificate", "it is a Microsoft-internal source for which no public loader exists"],
]);

/** An example entry, for remedies. */
const EXAMPLE_ENTRY = '{ sourceType: "Path", certificateDiskPath: "/certs/app.pfx" }';

/** Validates `value` as the entry at `clientCredentials[index]`. */
export function normalizeEntry(c: Checker, value: unknown, index: number, ctx: EntryContext): NormalizedEntry {
  const path: readonly PathSegment[] = ["clientCredentials", index];
  if (!isPlainObject(value)) {
    c.fail(
      "BCC_INVALID_TYPE",
      path,
      `must be an object describing one credential but is ${describeType(value)}.`,
      `Give an object such as ${EXAMPLE_ENTRY}.`,
    );
  }
  const sourceType = readSourceType(c, value, path);
  const descriptor = descriptorOf(sourceType);
  rejectUnknownKeys(c, value, path, [...COMMON_ENTRY_KEYS, ...descriptor.keys], `a ${sourceType} entry`, (key) => {
    const owners = sourceTypesWithKey(key);
    return owners.length === 0
      ? undefined
      : `${c.key(key)} belongs to sourceType ${owners.join(" or ")}; remove it here, or change ${c.key("sourceType")}.`;
  });
  const skip = readBoolean(c, value, "skip", path, false);
  const bound = readBoolean(c, value, "useBoundCredential", path, false);
  const fields = descriptor.read({ c, entry: value, path, context: ctx });
  if (bound && descriptor.cannotBind !== undefined) {
    c.fail(
      "BCC_BOUND_NOT_SUPPORTED",
      [...path, "useBoundCredential"],
      `is true, but a ${sourceType} entry cannot be bound: ${descriptor.cannotBind}.`,
      `To obtain tokens over mutual TLS use a certificate entry (Path, KeyVault, Base64Encoded, Certificate, Pkcs11) or a managed identity (SignedAssertionFromManagedIdentity) with ${c.key("useBoundCredential")}, or drop the flag from this entry.`,
    );
  }
  const description = Object.freeze({ ...fields.description, skip, useBoundCredential: bound });
  const id = `clientCredentials[${index}] (${fields.detail}${bound ? ", bound" : ""}${skip ? ", skipped" : ""})`;
  // The description was read by the descriptor of `sourceType`, so it is that source type's.
  return Object.freeze({ index, id, bound, skip, description }) as NormalizedEntry;
}

function readSourceType(c: Checker, entry: Record<string, unknown>, path: readonly PathSegment[]): CredentialSourceType {
  const value = entry["sourceType"];
  const at = [...path, "sourceType"];
  const valid = `Use one of: ${SOURCE_TYPES.join(", ")}.`;
  if (value === undefined) {
    c.fail("BCC_MISSING_FIELD", at, "is required: it says where the credential comes from.", valid);
  }
  if (typeof value !== "string") {
    c.fail("BCC_INVALID_TYPE", at, `must be a string but is ${describeType(value)}.`, valid);
  }
  const known = SOURCE_TYPES.find((t) => t === value);
  if (known !== undefined) return known;
  const lower = value.length > 64 ? undefined : value.toLowerCase();
  const unsupported = [...UNSUPPORTED_SOURCE_TYPES].find(([name]) => name.toLowerCase() === lower);
  if (unsupported !== undefined) {
    c.fail(
      "BCC_UNSUPPORTED_SOURCE_TYPE",
      at,
      `${unsupported[0]} is not supported by this library: ${unsupported[1]}.`,
      `Remove this entry, or replace it with one of: ${SOURCE_TYPES.join(", ")}.`,
    );
  }
  const caseless = SOURCE_TYPES.find((t) => t.toLowerCase() === lower);
  const match = caseless ?? closestMatch(value, SOURCE_TYPES);
  c.fail(
    "BCC_UNKNOWN_SOURCE_TYPE",
    at,
    `${echo(value)} is not a known source type.${match === undefined ? "" : ` Did you mean ${match}?`}`,
    caseless === undefined ? valid : `Write it as ${caseless} (source type names are case-sensitive in options). ${valid}`,
  );
}
