import { readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import type { PathCredentialDescription } from "../configuration/types.ts";
import { CachedSource } from "./cachedSource.ts";
import { MAX_CERTIFICATE_INPUT_BYTES, parseCertificateBytes } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import type { Normalized, SourceDescriptor } from "./descriptor.ts";
import { fileChanged, type FileFingerprint, readFileSnapshot } from "./fileReading.ts";
import { withContext } from "./reasons.ts";
import { SourceUnavailableError, type SourceMaterial } from "./types.ts";

/**
 * A `Path` entry: a PFX/P12 or PEM file, told apart by content, not by extension. The file is read
 * on the first `load`; `hasChanged` notices a replaced file cheaply and `reload` reads it again.
 * Each read yields a new `LoadedCertificate`, so material already handed out stays as it was.
 */
export class PathSource extends CachedSource {
  readonly #path: string;
  readonly #password: string | undefined;
  #fingerprint: FileFingerprint | undefined;

  constructor(entry: NormalizedEntryOf<NormalizedPathDescription>, now: () => number) {
    super(entry, now);
    this.#path = entry.description.certificateDiskPath;
    this.#password = entry.description.certificatePassword;
  }

  protected override async read(): Promise<SourceMaterial> {
    const what = `the certificate file ${this.#path}`;
    const { bytes, fingerprint } = await readFileSnapshot(this.#path, MAX_CERTIFICATE_INPUT_BYTES, "the certificate file");
    const certificate = withContext(what, () => {
      if (bytes.byteLength === 0) throw new SourceUnavailableError("the file is empty");
      const parsed = parseCertificateBytes(bytes, this.#password);
      assertCertificateTimeValid(parsed, this.now());
      return parsed;
    });
    this.#fingerprint = fingerprint;
    return { kind: "certificate", certificate };
  }

  /**
   * Whether the file on disk is no longer the one last loaded: mtime or size moved, or the content
   * hash differs; also true when it can no longer be read. False before the first load.
   */
  async hasChanged(): Promise<boolean> {
    const fingerprint = this.#fingerprint;
    if (fingerprint === undefined) return false;
    return fileChanged(this.#path, fingerprint, MAX_CERTIFICATE_INPUT_BYTES);
  }
}

/** A `Path` entry as validated. */
export type NormalizedPathDescription = Normalized<PathCredentialDescription>;

/** The `Path` source type. */
export const pathSourceType: SourceDescriptor<"Path", NormalizedPathDescription> = {
  sourceType: "Path",
  keys: ["certificateDiskPath", "certificatePassword"],
  read({ c, entry, path }) {
    const certificateDiskPath = readString(c, entry, "certificateDiskPath", path, {
      required: true,
      requiredFor: "a Path entry",
      meaning: "the path of the PFX/P12 or PEM file",
    })!;
    const certificatePassword = readString(c, entry, "certificatePassword", path, {
      allowEmpty: true,
      meaning: "the password of the PFX or of the encrypted private key",
    });
    return {
      description: { sourceType: "Path", certificateDiskPath, ...(certificatePassword === undefined ? {} : { certificatePassword }) },
      detail: `Path ${certificateDiskPath}`,
    };
  },
  create: (entry, context) => new PathSource(entry, context.now),
};
