/**
 * Secrets out of server text. A token host, or a proxy or fake host in front of it, may quote the
 * request back (`error_description: "… You sent: client_secret=…"`), and msal-node keeps what it
 * sent and received on its errors. Whatever a request carried is cut from such text before it
 * reaches a message, a reason, a log line or a cause:
 *
 * - the secrets the credential holds (client secrets, passwords, private keys), verbatim and as
 *   they are written in a form (RFC 3986 / WHATWG `application/x-www-form-urlencoded`) and in JSON;
 * - any JWT (a client assertion, a user assertion, an access token: RFC 7519 compact form);
 * - the value of every form field that carries a credential (RFC 6749 §2.3.1 `client_secret`,
 *   RFC 7521 §4.2 `client_assertion`, RFC 7523 `assertion`, RFC 6749 `password`, `refresh_token`).
 */

/** What replaces a secret. */
export const REDACTED = "[REDACTED]";

/** Shorter values are not looked for: they would match ordinary words. */
const MIN_SECRET_LENGTH = 6;
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const CREDENTIAL_FIELD = /\b(client_secret|client_assertion|assertion|password|refresh_token|access_token)(=|%3D|"\s*:\s*")([^&\s"',;]+)/gi;
/** Fields of a credential description that hold secrets (paths and names are not secrets). */
const SECRET_FIELDS: ReadonlySet<string> = new Set([
  "clientSecret",
  "certificatePassword",
  "privateKeyPassword",
  "privateKey",
  "base64EncodedValue",
  "assertion",
  "signedAssertion",
]);
const MAX_DEPTH = 8;

/** Cuts a fixed set of secrets, and anything shaped like a credential, out of text and errors. */
export class SecretScrubber {
  readonly #needles: readonly string[];

  /** @param secrets - the values to cut; short and empty ones are ignored */
  constructor(secrets: Iterable<string>) {
    const needles = new Set<string>();
    for (const secret of secrets) {
      if (secret.length < MIN_SECRET_LENGTH) continue;
      needles.add(secret);
      needles.add(encodeURIComponent(secret));
      needles.add(new URLSearchParams({ v: secret }).toString().slice(2));
      needles.add(JSON.stringify(secret).slice(1, -1));
    }
    // Longest first, so that no part of a longer encoding is left behind a shorter match.
    this.#needles = [...needles].sort((a, b) => b.length - a.length);
  }

  /** `text` with every secret cut out. */
  text(text: string): string {
    let out = text;
    for (const needle of this.#needles) if (out.includes(needle)) out = out.split(needle).join(REDACTED);
    return out.replace(JWT, REDACTED).replace(CREDENTIAL_FIELD, (_match, name: string, separator: string) => `${name}${separator}${REDACTED}`);
  }

  /**
   * A copy of `error` with every string in it, in its causes and in its fields, scrubbed. The copy
   * keeps the prototype, so `instanceof` and `name` still tell what it is; the original is left as
   * it is, as other code may still hold it. Objects that are neither errors, arrays nor plain
   * objects (an HTTP response, a socket) are left out of the copy: they are not needed to
   * understand the failure and cannot be scrubbed safely.
   */
  error<T>(error: T): T {
    return this.#holdsSecret(error, 0, new Set()) ? (this.#value(error, 0, new Map()) as T) : error;
  }

  /** Whether any string reachable the way {@link SecretScrubber.error} copies would change. */
  #holdsSecret(value: unknown, depth: number, seen: Set<object>): boolean {
    if (typeof value === "string") return this.text(value) !== value;
    if (typeof value !== "object" || value === null || seen.has(value) || depth > MAX_DEPTH) return false;
    seen.add(value);
    if (value instanceof DOMException) return this.#holdsSecret(value.message, depth + 1, seen);
    if (Array.isArray(value)) return value.some((item) => this.#holdsSecret(item, depth + 1, seen));
    const prototype: unknown = Object.getPrototypeOf(value);
    if (!(value instanceof Error) && prototype !== Object.prototype && prototype !== null) return false;
    return Reflect.ownKeys(value).some((key) => {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      return descriptor !== undefined && "value" in descriptor && this.#holdsSecret(descriptor.value, depth + 1, seen);
    });
  }

  #value(value: unknown, depth: number, seen: Map<object, unknown>): unknown {
    if (typeof value === "string") return this.text(value);
    if (typeof value !== "object" || value === null) return value;
    const known = seen.get(value);
    if (known !== undefined) return known;
    if (depth > MAX_DEPTH) return undefined;
    // Its fields live in internal slots that a copy of the object would not have.
    if (value instanceof DOMException) return new DOMException(this.text(value.message), value.name);
    if (Array.isArray(value)) {
      const copy: unknown[] = [];
      seen.set(value, copy);
      for (const item of value) copy.push(this.#value(item, depth + 1, seen));
      return copy;
    }
    const prototype: unknown = Object.getPrototypeOf(value);
    if (!(value instanceof Error) && prototype !== Object.prototype && prototype !== null) return undefined;
    const copy = Object.create(prototype as object | null) as Record<PropertyKey, unknown>;
    seen.set(value, copy);
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor === undefined) continue;
      if ("value" in descriptor) {
        Object.defineProperty(copy, key, { ...descriptor, value: this.#value(descriptor.value, depth + 1, seen) });
      }
      // Accessors are left out: running them could reach what the copy is meant to leave behind.
    }
    return copy;
  }
}

/** The secret values of a credential description: its secret, passwords, private key, assertion. */
export function secretsOf(description: object): string[] {
  const secrets: string[] = [];
  for (const [key, value] of Object.entries(description)) {
    if (typeof value === "string" && SECRET_FIELDS.has(key)) secrets.push(value);
  }
  return secrets;
}
