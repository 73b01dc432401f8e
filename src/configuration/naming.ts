/**
 * How option paths are spelled in errors. Validation always works on the camelCase options, but a
 * user who wrote an `appsettings.json` section, environment variables or the drop-in constructor
 * arguments must be told about the place they actually wrote. Each front end therefore hands the
 * validator a {@link PathNaming} that translates the canonical path back to its own spelling.
 */

/** One step of an option path: a key or an array index. */
export type PathSegment = string | number;

/** Translates canonical (camelCase option) paths and key names to the spelling the user wrote. */
export interface PathNaming {
  /** The path as the user would find it, for example `AzureAd.ClientCredentials[0].CertificateDiskPath`. */
  render(path: readonly PathSegment[]): string;
  /** A single option key as the user would write it, for use inside sentences. */
  key(name: string): string;
}

/** `clientCredentials[2].certificateDiskPath`: the spelling of {@link BoundClientCredentialOptions}. */
export function renderCanonicalPath(path: readonly PathSegment[], root = ""): string {
  let text = root;
  for (const segment of path) {
    if (typeof segment === "number") {
      text += `[${segment}]`;
    } else {
      text += text === "" ? segment : `.${segment}`;
    }
  }
  return text;
}

/** The naming of the options object itself. */
export const canonicalNaming: PathNaming = {
  render: (path) => renderCanonicalPath(path),
  key: (name) => name,
};

/**
 * A naming that looks paths up in a table filled in by a front end as it converts its input; a
 * path that is not in the table (a field the user did not write at all) is spelled from its
 * longest known prefix plus the remaining keys passed through `spellKey`.
 */
export class MappedNaming implements PathNaming {
  readonly #table = new Map<string, { spelled: string; canonicalTail: boolean }>();
  readonly #root: string;
  readonly #spellKey: (name: string) => string;

  /**
   * @param root - the spelling of the empty path, for example `AzureAd`
   * @param spellKey - spells a key the user did not write (PascalCase for a section, for example)
   */
  constructor(root: string, spellKey: (name: string) => string) {
    this.#root = root;
    this.#spellKey = spellKey;
  }

  /**
   * Records that the canonical `path` came from `spelled` in the user's input. With
   * `canonicalTail`, paths below it keep their canonical spelling (options given in code).
   */
  set(path: readonly PathSegment[], spelled: string, canonicalTail = false): void {
    this.#table.set(renderCanonicalPath(path), { spelled, canonicalTail });
  }

  render(path: readonly PathSegment[]): string {
    for (let length = path.length; length >= 0; length--) {
      const known = this.#table.get(renderCanonicalPath(path.slice(0, length)));
      if (known === undefined && length > 0) continue;
      let text = known?.spelled ?? this.#root;
      for (const segment of path.slice(length)) {
        if (typeof segment === "number") {
          text += `[${segment}]`;
        } else {
          const spelled = known?.canonicalTail === true ? segment : this.#spellKey(segment);
          text += text === "" ? spelled : `.${spelled}`;
        }
      }
      return text;
    }
    return this.#root;
  }

  key(name: string): string {
    return this.#spellKey(name);
  }
}

/** `certificateDiskPath` → `CertificateDiskPath`. */
export function pascalCase(name: string): string {
  return name.length === 0 ? name : name[0]!.toUpperCase() + name.slice(1);
}
