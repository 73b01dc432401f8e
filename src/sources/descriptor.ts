/**
 * The shape of one source type, end to end: the keys of its entries, whether it can bind, how an
 * entry is read and checked (with its defaults applied), how it is read from a Microsoft.Identity.Web
 * section, and how its source is made. Every source type has exactly one descriptor, and the
 * registry in `index.ts` holds them all.
 */
import type { Checker } from "../configuration/checks.ts";
import type { PathSegment } from "../configuration/naming.ts";
import type { NormalizedEntry, NormalizedEntryOf, NormalizedOptions } from "../configuration/normalized.ts";
import type { CredentialDescription, CredentialSourceType } from "../configuration/types.ts";
import type { HttpClient } from "../transport/httpClient.ts";
import type { Sleep } from "../transport/retry.ts";
import type { ManagedIdentityServices } from "./managedIdentity/services.ts";
import type { CredentialSource } from "./types.ts";

/** The public description of the entries of source type `K`. */
export type DescriptionOf<K extends CredentialSourceType> = Extract<CredentialDescription, { sourceType: K }>;

/** The keys an entry of any source type accepts. */
export type CommonEntryKey = "sourceType" | "skip" | "useBoundCredential";

/** The keys that only entries of source type `K` accept. */
export type OwnKeyOf<K extends CredentialSourceType> = Exclude<keyof DescriptionOf<K>, CommonEntryKey> & string;

/**
 * A description as the sources receive it: the user's fields, checked and copied, with `Defaults`
 * applied (a field that has a default is always present).
 */
export type Normalized<D extends CredentialDescription, Defaults extends object = object> = Readonly<
  Omit<D, keyof Defaults> & Defaults
>;

/** What reading an entry needs from the rest of the options. */
export interface EntryContext {
  /** The normalised login authority (`https://host[:port]`), for per-cloud defaults. */
  readonly authorityHost: string;
  /** The environment, for defaults such as `AZURE_FEDERATED_TOKEN_FILE`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Names registered in `customSignedAssertionProviders`. */
  readonly providerNames: readonly string[];
}

/** One entry being read: the checker of the front end, the entry object and where it is. */
export interface EntryFields {
  readonly c: Checker;
  /** The entry as given; its keys are known to be keys of this source type. */
  readonly entry: Readonly<Record<string, unknown>>;
  /** The entry's path, such as `["clientCredentials", 2]`. */
  readonly path: readonly PathSegment[];
  readonly context: EntryContext;
}

/** What a descriptor's `read` yields. */
export interface ReadEntry<N> {
  /** The checked fields with defaults applied; `skip` and `useBoundCredential` are added by the caller. */
  readonly description: N;
  /** The secret-free part of the entry id after the index, such as `Path /certs/app.pfx`. */
  readonly detail: string;
}

/** A setting of the Identity.Web section, as `fromConfiguration` found it. */
export interface SectionSetting {
  readonly value: unknown;
  /** Its spelled path, such as `AzureAd.UserAssignedManagedIdentityClientId`. */
  readonly path: string;
}

/** What a descriptor may do with an entry of an Identity.Web section beyond copying its keys. */
export interface SectionEntry {
  /** Whether the entry sets `key` (an own key of the source type, in camelCase). */
  has(key: string): boolean;
  /** A non-empty string setting of the enclosing section, looked up case-insensitively. */
  sectionString(name: string): SectionSetting | undefined;
  /** Sets `key` of the entry from a section setting; errors about it then name that setting. */
  set(key: string, from: SectionSetting): void;
}

/** What every source may need besides its own entry. */
export interface SourceContext {
  readonly options: NormalizedOptions;
  /** The clock, ms since epoch: certificate validity and assertion expiry are judged by it. */
  readonly now: () => number;
  /** The environment variables. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The credential's HTTP client: remote sources share its CA trust, agents and shutdown. */
  readonly http: HttpClient;
  /** The wait between retries of remote sources; a real timer unless a test injects another. */
  readonly sleep?: Sleep;
  /**
   * The credential's managed identity services, shared by its managed identity entries and the
   * Key Vault source's managed identity; a source makes its own when absent.
   */
  readonly managedIdentity?: ManagedIdentityServices;
}

/**
 * Whether entries of `K` can bind follows from the public type: a source whose description types
 * `useBoundCredential` as `false` must say why it cannot bind, and only such a source may.
 */
export type BindRule<K extends CredentialSourceType> = true extends DescriptionOf<K>["useBoundCredential"]
  ? { readonly cannotBind?: undefined }
  : {
      /** Why the source cannot bind, completing "a … entry cannot be bound: …". */
      readonly cannotBind: string;
    };

/** The descriptor of source type `K`, whose normalized description is `N`. */
export type SourceDescriptor<K extends CredentialSourceType, N extends { readonly sourceType: K }> = BindRule<K> & {
  readonly sourceType: K;
  /** The keys of its entries besides `sourceType`, `skip` and `useBoundCredential`. */
  readonly keys: readonly OwnKeyOf<K>[];
  /** Keys only code can supply (functions, credentials, in-memory certificates); a file's are not read. */
  readonly codeOnlyKeys?: readonly OwnKeyOf<K>[];
  /** Reads and checks the own keys of an entry; throws the configuration error of the first mistake. */
  read(fields: EntryFields): ReadEntry<N>;
  /** Fills in what Identity.Web takes from the enclosing section, after the entry's own keys are copied. */
  fromSection?(entry: SectionEntry): void;
  /** Makes the source of a validated entry; reads nothing (the first `load()` does). */
  create(entry: NormalizedEntryOf<N>, context: SourceContext): CredentialSource;
};

/** Whether `entry` is of source type `sourceType`, narrowing it to that source type's entry. */
export function isEntryOf<K extends CredentialSourceType>(
  entry: NormalizedEntry,
  sourceType: K,
): entry is Extract<NormalizedEntry, NormalizedEntryOf<{ readonly sourceType: K }>> {
  return entry.description.sourceType === sourceType;
}
