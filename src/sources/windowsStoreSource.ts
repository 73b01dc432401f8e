import { inspect } from "node:util";
import { readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import type { PathSegment } from "../configuration/naming.ts";
import type {
  StoreWithDistinguishedNameCredentialDescription,
  StoreWithSubjectNameCredentialDescription,
  StoreWithThumbprintCredentialDescription,
} from "../configuration/types.ts";
import type { Normalized, SourceDescriptor } from "./descriptor.ts";
import { type CredentialSource, type SourceMaterial, SourceUnavailableError } from "./types.ts";

/** Why a Windows store entry never loads here. */
export const WINDOWS_STORE_UNAVAILABLE_REASON =
  "Windows certificate stores cannot be read from Node.js; export the certificate to a PFX and use sourceType Path, or use KeyVault";

/**
 * `StoreWithThumbprint`, `StoreWithDistinguishedName` and `StoreWithSubjectName` entries: Node.js
 * has no access to the Windows certificate stores (CryptoAPI/CNG), on Windows or elsewhere, so the
 * entry is always unavailable and the list moves on.
 */
export class WindowsStoreSource implements CredentialSource {
  readonly #entryId: string;
  readonly #sourceType: string;

  constructor(entry: NormalizedEntryOf<{ readonly sourceType: string }>) {
    this.#entryId = entry.id;
    this.#sourceType = entry.description.sourceType;
  }

  async load(): Promise<SourceMaterial> {
    throw new SourceUnavailableError(WINDOWS_STORE_UNAVAILABLE_REASON);
  }

  async reload(): Promise<SourceMaterial> {
    return this.load();
  }

  toJSON(): Record<string, string> {
    return { entry: this.#entryId, sourceType: this.#sourceType };
  }

  [inspect.custom](): string {
    return `WindowsStoreSource ${inspect(this.toJSON())}`;
  }
}

/** A `StoreWithThumbprint` entry as validated; the thumbprint is upper-case hex without separators. */
export type NormalizedStoreWithThumbprintDescription = Normalized<StoreWithThumbprintCredentialDescription>;
/** A `StoreWithDistinguishedName` entry as validated. */
export type NormalizedStoreWithDistinguishedNameDescription = Normalized<StoreWithDistinguishedNameCredentialDescription>;
/** A `StoreWithSubjectName` entry as validated. */
export type NormalizedStoreWithSubjectNameDescription = Normalized<StoreWithSubjectNameCredentialDescription>;

function readStorePath(c: Parameters<typeof readString>[0], e: Readonly<Record<string, unknown>>, path: readonly PathSegment[], sourceType: string): string {
  const certificateStorePath = readString(c, e, "certificateStorePath", path, {
    required: true,
    requiredFor: `a ${sourceType} entry`,
    meaning: "{StoreLocation}/{StoreName}, for example CurrentUser/My",
  })!;
  if (!/^(CurrentUser|LocalMachine)\/[A-Za-z]+$/i.test(certificateStorePath)) {
    c.fail(
      "BCC_INVALID_VALUE",
      [...path, "certificateStorePath"],
      "must be of the form StoreLocation/StoreName.",
      "Use CurrentUser/My or LocalMachine/My (StoreLocation is CurrentUser or LocalMachine).",
    );
  }
  return certificateStorePath;
}

/** The `StoreWithThumbprint` source type. */
export const storeWithThumbprintSourceType: SourceDescriptor<"StoreWithThumbprint", NormalizedStoreWithThumbprintDescription> = {
  sourceType: "StoreWithThumbprint",
  keys: ["certificateStorePath", "certificateThumbprint"],
  read({ c, entry, path }) {
    const certificateStorePath = readStorePath(c, entry, path, "StoreWithThumbprint");
    const raw = readString(c, entry, "certificateThumbprint", path, {
      required: true,
      requiredFor: "a StoreWithThumbprint entry",
      meaning: "the certificate's SHA-1 thumbprint in hex",
    })!;
    const certificateThumbprint = raw.replace(/[\s:]/g, "").toUpperCase();
    if (!/^[0-9A-F]{40}$/.test(certificateThumbprint)) {
      c.fail(
        "BCC_INVALID_VALUE",
        [...path, "certificateThumbprint"],
        "is not a SHA-1 thumbprint (40 hexadecimal digits).",
        "Copy the thumbprint from the certificate's details, for example with `Get-ChildItem Cert:\\CurrentUser\\My`.",
      );
    }
    return {
      description: { sourceType: "StoreWithThumbprint", certificateStorePath, certificateThumbprint },
      detail: `StoreWithThumbprint ${certificateStorePath}/${certificateThumbprint}`,
    };
  },
  create: (entry) => new WindowsStoreSource(entry),
};

/** The `StoreWithDistinguishedName` source type. */
export const storeWithDistinguishedNameSourceType: SourceDescriptor<
  "StoreWithDistinguishedName",
  NormalizedStoreWithDistinguishedNameDescription
> = {
  sourceType: "StoreWithDistinguishedName",
  keys: ["certificateStorePath", "certificateDistinguishedName"],
  read({ c, entry, path }) {
    const certificateStorePath = readStorePath(c, entry, path, "StoreWithDistinguishedName");
    const certificateDistinguishedName = readString(c, entry, "certificateDistinguishedName", path, {
      required: true,
      requiredFor: "a StoreWithDistinguishedName entry",
      meaning: "the certificate's distinguished name, for example CN=MyCert",
    })!;
    return {
      description: { sourceType: "StoreWithDistinguishedName", certificateStorePath, certificateDistinguishedName },
      detail: `StoreWithDistinguishedName ${certificateStorePath}/${certificateDistinguishedName}`,
    };
  },
  create: (entry) => new WindowsStoreSource(entry),
};

/** The `StoreWithSubjectName` source type. */
export const storeWithSubjectNameSourceType: SourceDescriptor<"StoreWithSubjectName", NormalizedStoreWithSubjectNameDescription> = {
  sourceType: "StoreWithSubjectName",
  keys: ["certificateStorePath", "certificateSubjectName"],
  read({ c, entry, path }) {
    const certificateStorePath = readStorePath(c, entry, path, "StoreWithSubjectName");
    const certificateSubjectName = readString(c, entry, "certificateSubjectName", path, {
      required: true,
      requiredFor: "a StoreWithSubjectName entry",
      meaning: "the certificate's subject name, for example CN=MyCert",
    })!;
    return {
      description: { sourceType: "StoreWithSubjectName", certificateStorePath, certificateSubjectName },
      detail: `StoreWithSubjectName ${certificateStorePath}/${certificateSubjectName}`,
    };
  },
  create: (entry) => new WindowsStoreSource(entry),
};
