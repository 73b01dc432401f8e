import { inspect } from "node:util";
import type { NormalizedEntry } from "../configuration/normalized.ts";
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

  constructor(entry: NormalizedEntry) {
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
