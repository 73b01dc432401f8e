import { createHash } from "node:crypto";
import type { EmulatorHostKind, EmulatorRoute, FaultSpec, Journal, JournalEntry } from "./types.ts";

/**
 * How the journal shows a secret, an assertion or a token: `sha256:` and the base64url SHA-256 of
 * the value. A test compares it with `journalHash(theValueItSent)`.
 */
export function journalHash(value: string): string {
  return `sha256:${createHash("sha256").update(value).digest("base64url")}`;
}

/** Fields whose values never reach the journal in clear. */
const REDACTED_FIELDS = new Set([
  "client_secret",
  "client_assertion",
  "assertion",
  "refresh_token",
  "code",
  "attestation_token",
  "password",
]);

/** The journal copy of form or JSON fields, with secrets replaced by their hash. */
export function redactFields(fields: Iterable<[string, string]>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of fields) {
    result[name] = REDACTED_FIELDS.has(name) ? journalHash(value) : value;
  }
  return result;
}

/** A journal entry being filled in while its request is served. */
export type MutableJournalEntry = {
  -readonly [K in keyof JournalEntry]: JournalEntry[K];
};

/** The new entry's fixed fields. */
export interface JournalEntryStart {
  readonly host: EmulatorHostKind;
  readonly connectionId: number;
  readonly route: EmulatorRoute | undefined;
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly clientCertificateThumbprintSha256: string | undefined;
  readonly tlsSessionReused: boolean | undefined;
  readonly time: Date;
}

/** The emulator's journal. */
export class RequestJournal implements Journal {
  #entries: MutableJournalEntry[] = [];
  #sequence = 0;

  /** Records a request on arrival; the caller fills in the outcome. */
  start(fields: JournalEntryStart): MutableJournalEntry {
    const entry: MutableJournalEntry = {
      sequence: ++this.#sequence,
      ...fields,
      form: {},
      status: undefined,
      error: undefined,
      errorCode: undefined,
      clientId: undefined,
      tokenType: undefined,
      tokenObjectId: undefined,
      fault: undefined as FaultSpec | undefined,
    };
    this.#entries.push(entry);
    return entry;
  }

  get length(): number {
    return this.#entries.length;
  }

  get entries(): readonly JournalEntry[] {
    return [...this.#entries];
  }

  at(index: number): JournalEntry | undefined {
    return this.#entries.at(index);
  }

  filter(predicate: (entry: JournalEntry) => boolean): JournalEntry[] {
    return this.#entries.filter(predicate);
  }

  ofRoute(route: EmulatorRoute): JournalEntry[] {
    return this.#entries.filter((entry) => entry.route === route);
  }

  last(route?: EmulatorRoute): JournalEntry | undefined {
    return route === undefined ? this.#entries.at(-1) : this.ofRoute(route).at(-1);
  }

  clear(): void {
    this.#entries = [];
  }

  [Symbol.iterator](): Iterator<JournalEntry> {
    return [...this.#entries][Symbol.iterator]();
  }
}
