/**
 * The `pkcs11:` URI of RFC 7512 (https://www.rfc-editor.org/rfc/rfc7512): which token and which
 * private key an entry uses. Parsing is strict: an unknown attribute, an attribute given twice, a bad
 * percent escape or attributes that contradict each other are refused with the name of the
 * attribute, never its value (a URI may carry the PIN).
 */

/** A mistake in a `pkcs11:` URI: `problem` completes "pkcs11Uri …", `remedy` says how to fix it. */
export class Pkcs11UriError extends Error {
  readonly problem: string;
  readonly remedy: string;
  constructor(problem: string, remedy: string) {
    super(`${problem} ${remedy}`);
    this.name = "Pkcs11UriError";
    this.problem = problem;
    this.remedy = remedy;
  }
}

/** What a `pkcs11:` URI selects, decoded. */
export interface Pkcs11Uri {
  /** Token attributes (CK_TOKEN_INFO): label, manufacturer ID, serial number, model. */
  readonly token?: string;
  readonly manufacturer?: string;
  readonly serial?: string;
  readonly model?: string;
  /** Slot attributes (CK_SLOT_INFO and the slot ID). */
  readonly slotDescription?: string;
  readonly slotManufacturer?: string;
  readonly slotId?: number;
  /** Library attributes (CK_INFO); checked against the loaded module. */
  readonly libraryManufacturer?: string;
  readonly libraryDescription?: string;
  readonly libraryVersion?: { readonly major: number; readonly minor: number };
  /** The key's CKA_LABEL. */
  readonly object?: string;
  /** The key's CKA_ID, as bytes. */
  readonly id?: Buffer;
  /** The PIN given as `pin-value`. Never log it. */
  readonly pinValue?: string;
  /** Where the PIN is read from (`pin-source`, a file path or `file:` URI). */
  readonly pinSource?: string;
  /** `module-path`: the module to load. */
  readonly modulePath?: string;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** The path attributes of RFC 7512 section 2.3, by name. */
const PATH_ATTRIBUTES = new Set([
  "token",
  "manufacturer",
  "serial",
  "model",
  "library-manufacturer",
  "library-description",
  "library-version",
  "object",
  "type",
  "id",
  "slot-description",
  "slot-manufacturer",
  "slot-id",
]);
/** The query attributes of RFC 7512 section 2.3. */
const QUERY_ATTRIBUTES = new Set(["pin-source", "pin-value", "module-name", "module-path"]);
/**
 * Attributes that RFC 7512 puts in the query but that OpenSSL's engine (libp11) and p11tool also
 * write in the path, as in `pkcs11:token=t;object=k;pin-value=1234`; both places are accepted.
 */
const PIN_ATTRIBUTES = new Set(["pin-source", "pin-value"]);

/** The fields of {@link Pkcs11Uri} that hold an attribute's value as UTF-8 text, as it is. */
type TextField = "token" | "manufacturer" | "serial" | "model" | "slotDescription" | "slotManufacturer" | "libraryManufacturer" | "libraryDescription" | "object" | "pinValue";
/** Attributes taken as text without further checks, with the field each fills. */
const TEXT_ATTRIBUTES: ReadonlyMap<string, TextField> = new Map([
  ["token", "token"],
  ["manufacturer", "manufacturer"],
  ["serial", "serial"],
  ["model", "model"],
  ["slot-description", "slotDescription"],
  ["slot-manufacturer", "slotManufacturer"],
  ["library-manufacturer", "libraryManufacturer"],
  ["library-description", "libraryDescription"],
  ["object", "object"],
  ["pin-value", "pinValue"],
]);

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Percent-decodes `value` to bytes (RFC 3986 section 2.1); `name` is the attribute, for the error. */
function percentDecode(value: string, name: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === "%") {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new Pkcs11UriError(
          `has a malformed percent escape in the value of "${name}".`,
          'Percent-encode reserved characters as %XX with two hex digits (RFC 7512 section 2.3), for instance a space as %20.',
        );
      }
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      for (const byte of Buffer.from(ch, "utf8")) bytes.push(byte);
    }
  }
  return Buffer.from(bytes);
}

function decodeText(value: string, name: string): string {
  const bytes = percentDecode(value, name);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Pkcs11UriError(`has a value of "${name}" that is not UTF-8 once percent-decoded.`, "RFC 7512 attribute values other than id are UTF-8 text.");
  }
}

/** Splits `part` into attributes separated by `separator`, refusing empty and repeated ones. */
function attributes(part: string, separator: string, seen: Set<string>, where: string): [string, string][] {
  if (part === "") return [];
  const out: [string, string][] = [];
  for (const item of part.split(separator)) {
    const eq = item.indexOf("=");
    if (item === "" || eq <= 0) {
      throw new Pkcs11UriError(
        `has an empty or nameless attribute in its ${where}.`,
        `Write each attribute as name=value, separated by "${separator}" (RFC 7512 section 2.3).`,
      );
    }
    const name = item.slice(0, eq).toLowerCase();
    if (seen.has(name)) {
      throw new Pkcs11UriError(`gives "${name}" more than once.`, "RFC 7512 allows each attribute once: keep one.");
    }
    seen.add(name);
    out.push([name, item.slice(eq + 1)]);
  }
  return out;
}

/**
 * Parses an RFC 7512 URI naming a private key. At least `object` or `id` must be given; `type`, when
 * given, must be `private`.
 *
 * @throws Pkcs11UriError naming the attribute that is wrong
 */
export function parsePkcs11Uri(text: string, options: { readonly namesKey: boolean } = { namesKey: true }): Pkcs11Uri {
  if (!/^pkcs11:/i.test(text)) {
    throw new Pkcs11UriError('does not start with "pkcs11:".', 'Give an RFC 7512 URI such as "pkcs11:token=app;object=signing;type=private".');
  }
  const rest = text.slice("pkcs11:".length);
  const q = rest.indexOf("?");
  const path = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? "" : rest.slice(q + 1);
  const seen = new Set<string>();
  const uri: Writable<Pkcs11Uri> = {};
  const all = [
    ...attributes(path, ";", seen, "path").map(([n, v]) => ({ n, v, inQuery: false })),
    ...attributes(query, "&", seen, "query").map(([n, v]) => ({ n, v, inQuery: true })),
  ];
  for (const { n, v, inQuery } of all) {
    const known = inQuery ? QUERY_ATTRIBUTES.has(n) : PATH_ATTRIBUTES.has(n) || PIN_ATTRIBUTES.has(n);
    if (!known) {
      const elsewhere = inQuery ? PATH_ATTRIBUTES.has(n) : QUERY_ATTRIBUTES.has(n);
      throw new Pkcs11UriError(
        elsewhere
          ? `has "${n}" in its ${inQuery ? "query" : "path"}, where RFC 7512 does not define it.`
          : `has the attribute "${n}", which RFC 7512 does not define (or this package does not support).`,
        elsewhere
          ? `Move it to the ${inQuery ? 'path (before "?", separated by ";")' : 'query (after "?", separated by "&")'}.`
          : "Use token, manufacturer, serial, model, slot-id, slot-description, slot-manufacturer, library-manufacturer, library-description, library-version, object, id and type in the path, and pin-value, pin-source, module-path in the query.",
      );
    }
    const field = TEXT_ATTRIBUTES.get(n);
    if (field !== undefined) {
      uri[field] = decodeText(v, n);
      continue;
    }
    switch (n) {
      case "slot-id": {
        const value = decodeText(v, n);
        if (!/^\d{1,10}$/.test(value) || Number(value) > 0xffffffff) {
          throw new Pkcs11UriError('has a "slot-id" that is not a decimal number.', "Give the slot ID in decimal (RFC 7512 section 2.3), or select the token by its label with token=.");
        }
        uri.slotId = Number(value);
        break;
      }
      case "library-version": {
        const match = /^(\d{1,3})(?:\.(\d{1,3}))?$/.exec(decodeText(v, n));
        if (match === null) {
          throw new Pkcs11UriError('has a "library-version" that is not "major[.minor]".', 'Write it as in RFC 7512, for instance "2.6".');
        }
        uri.libraryVersion = { major: Number(match[1]), minor: Number(match[2] ?? 0) };
        break;
      }
      case "id": {
        const id = percentDecode(v, n);
        if (id.length === 0) throw new Pkcs11UriError('has an empty "id".', "Give the key's CKA_ID percent-encoded, such as id=%01%02, or leave it out.");
        uri.id = id;
        break;
      }
      case "type": {
        const type = decodeText(v, n);
        if (type !== "private") {
          throw new Pkcs11UriError(
            `names an object of type "${type}".`,
            "Name the private key: type=private (the certificate is found by the key's id or label, or read from certificateDiskPath).",
          );
        }
        break;
      }
      case "pin-source":
        uri.pinSource = pinSourcePath(decodeText(v, n));
        break;
      case "module-path":
        uri.modulePath = decodeText(v, n);
        if (uri.modulePath === "") throw new Pkcs11UriError('has an empty "module-path".', "Give the path of the PKCS#11 module, or leave it out.");
        break;
      case "module-name":
        throw new Pkcs11UriError(
          'has "module-name", which needs a p11-kit module registry to resolve.',
          "Give the module's file with module-path or pkcs11ModulePath instead.",
        );
    }
  }
  if (uri.pinValue !== undefined && uri.pinSource !== undefined) {
    throw new Pkcs11UriError('has both "pin-value" and "pin-source".', "Give the PIN one way only.");
  }
  if (options.namesKey && uri.object === undefined && uri.id === undefined) {
    throw new Pkcs11UriError('names no key: it has neither "object" nor "id".', "Add object=<the key's label> or id=<its CKA_ID, percent-encoded>.");
  }
  return uri;
}

/** `pin-source` is a URI (RFC 7512 section 2.3); a `file:` URI or an absolute path is accepted. */
function pinSourcePath(value: string): string {
  if (/^file:/i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new Pkcs11UriError('has a "pin-source" that is not a valid file: URI.', "Give an absolute path or a file:///path URI.");
    }
    if (url.host !== "" && url.host !== "localhost") {
      throw new Pkcs11UriError('has a "pin-source" on another host.', "Give a local file: an absolute path or a file:///path URI.");
    }
    return decodeURIComponent(url.pathname);
  }
  if (!value.startsWith("/")) {
    throw new Pkcs11UriError('has a "pin-source" that is neither an absolute path nor a file: URI.', "Give an absolute path such as /run/secrets/token-pin, or file:///run/secrets/token-pin.");
  }
  return value;
}

/** Percent-encodes `bytes` for an attribute value: unreserved characters stay, the rest become %XX. */
function percentEncode(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The URI of one private key, as OpenSSL's pkcs11 engine reads it: the token by label and serial, the
 * key by id (or label), `type=private` and, when given, the PIN (libp11 reads `pin-value` in the
 * path). The result holds the PIN: hand it to the TLS context only.
 */
export function engineKeyUri(key: { token: string; serial: string; id: Uint8Array | undefined; label: string | undefined }, pin: string | undefined): string {
  const parts = [`token=${percentEncode(Buffer.from(key.token, "utf8"))}`, `serial=${percentEncode(Buffer.from(key.serial, "utf8"))}`];
  if (key.id !== undefined && key.id.length > 0) parts.push(`id=${percentEncode(key.id)}`);
  else if (key.label !== undefined) parts.push(`object=${percentEncode(Buffer.from(key.label, "utf8"))}`);
  parts.push("type=private");
  if (pin !== undefined) parts.push(`pin-value=${percentEncode(Buffer.from(pin, "utf8"))}`);
  return `pkcs11:${parts.join(";")}`;
}

/** The URI without its PIN, for entry ids and messages. */
export function describePkcs11Uri(uri: Pkcs11Uri): string {
  const parts: string[] = [];
  const text = (name: string, value: string | undefined): void => {
    if (value !== undefined) parts.push(`${name}=${percentEncode(Buffer.from(value, "utf8"))}`);
  };
  text("token", uri.token);
  text("serial", uri.serial);
  if (uri.slotId !== undefined) parts.push(`slot-id=${uri.slotId}`);
  text("object", uri.object);
  if (uri.id !== undefined) parts.push(`id=${percentEncode(uri.id)}`);
  parts.push("type=private");
  return `pkcs11:${parts.join(";")}`;
}
