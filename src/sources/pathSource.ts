import { readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import type { PathCredentialDescription } from "../configuration/types.ts";
import { credentialLogger } from "../logging.ts";
import { CachedSource } from "./cachedSource.ts";
import { MAX_CERTIFICATE_INPUT_BYTES, parseCertificateBytes } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import type { Normalized, SourceDescriptor } from "./descriptor.ts";
import { type FileFingerprint, readFileSnapshot } from "./fileReading.ts";
import type { LoadedCertificate } from "./loadedCertificate.ts";
import { messageOf } from "../text.ts";
import { withContext, withContextAsync } from "./reasons.ts";
import { SourceUnavailableError, type SourceMaterial } from "./types.ts";

const logger = credentialLogger("BoundClientCredential");

/** A certificate read from the file, with the fingerprint of the bytes it came from. */
interface FileCertificate {
  readonly fingerprint: FileFingerprint;
  readonly certificate: LoadedCertificate;
}

/**
 * A `Path` entry: a PFX/P12 or PEM file, told apart by content, not by extension. The file is read
 * on the first `load`; `hasChanged` notices a replaced file and `reload` reads it again. Each new
 * content yields a new `LoadedCertificate`, so material already handed out stays as it was.
 *
 * The rotation check compares content hashes, so a `touch` or a rewrite with the same content
 * costs a read and a hash, not a parse; and a parse that failed (a wrong password, a malformed
 * file) is remembered for the same bytes, so an entry retried at each call does not run the PFX key
 * derivation again until the file changes. A file that changed into something that cannot be loaded (half
 * written, deleted, a wrong password) does not replace the certificate already loaded: the
 * rotation check keeps serving it, says so once in the log, and picks up the file once it loads.
 */
export class PathSource extends CachedSource {
  readonly #path: string;
  readonly #password: string | undefined;
  /** The fingerprint of the content the served certificate came from. */
  #fingerprint: FileFingerprint | undefined;
  /** The last parse that failed, by content hash, while it runs and after. */
  #lastFailure: { readonly sha256: string; readonly outcome: Promise<LoadedCertificate> } | undefined;
  /** New content that the rotation check found loadable, for the reload that follows it. */
  #validated: FileCertificate | undefined;
  #brokenReported = false;

  constructor(entry: NormalizedEntryOf<NormalizedPathDescription>, now: () => number) {
    super(entry, now);
    this.#path = entry.description.certificateDiskPath;
    this.#password = entry.description.certificatePassword;
  }

  protected override async read(): Promise<SourceMaterial> {
    const validated = this.#validated;
    this.#validated = undefined;
    const { fingerprint, certificate } = validated ?? (await this.#readCertificate());
    withContext(this.#what(), () => assertCertificateTimeValid(certificate, this.now()));
    this.#fingerprint = fingerprint;
    this.#brokenReported = false;
    return { kind: "certificate", certificate };
  }

  /**
   * Whether the file on disk holds a new certificate that loads: false when its content is the
   * one loaded (only its mtime moved), and false, with one log line, when it changed into
   * something that cannot be loaded, so that the loaded certificate goes on serving. False before
   * the first load.
   */
  async hasChanged(): Promise<boolean> {
    const fingerprint = this.#fingerprint;
    if (fingerprint === undefined) return false;
    let next: FileCertificate;
    try {
      const snapshot = await readFileSnapshot(this.#path, MAX_CERTIFICATE_INPUT_BYTES, "the certificate file");
      if (snapshot.fingerprint.sha256 === fingerprint.sha256) {
        this.#fingerprint = snapshot.fingerprint;
        return false;
      }
      next = { fingerprint: snapshot.fingerprint, certificate: await this.#parse(snapshot.bytes, snapshot.fingerprint.sha256) };
      withContext(this.#what(), () => assertCertificateTimeValid(next.certificate, this.now()));
    } catch (error) {
      this.#reportBroken(error);
      return false;
    }
    this.#validated = next;
    return true;
  }

  async #readCertificate(): Promise<FileCertificate> {
    const { bytes, fingerprint } = await readFileSnapshot(this.#path, MAX_CERTIFICATE_INPUT_BYTES, "the certificate file");
    return { fingerprint, certificate: await this.#parse(bytes, fingerprint.sha256) };
  }

  /**
   * Parses `bytes` into a new certificate, or fails as the last failed parse of the same bytes did.
   * Only a failure that says what is wrong with the bytes is remembered; anything else may not
   * happen again.
   */
  #parse(bytes: Buffer, sha256: string): Promise<LoadedCertificate> {
    const last = this.#lastFailure;
    if (last?.sha256 === sha256) return last.outcome;
    const outcome = withContextAsync(this.#what(), async () => {
      if (bytes.byteLength === 0) throw new SourceUnavailableError("the file is empty");
      return parseCertificateBytes(bytes, this.#password);
    });
    const parse = { sha256, outcome };
    this.#lastFailure = parse;
    outcome.then(
      () => {
        if (this.#lastFailure === parse) this.#lastFailure = undefined;
      },
      (error: unknown) => {
        if (!(error instanceof SourceUnavailableError) && this.#lastFailure === parse) this.#lastFailure = undefined;
      },
    );
    return outcome;
  }

  #reportBroken(error: unknown): void {
    if (this.#brokenReported) return;
    this.#brokenReported = true;
    const reason = error instanceof SourceUnavailableError ? error.reason : `it could not be read (${messageOf(error)})`;
    logger.warning(
      `${this.entryId} => the certificate file changed but cannot be loaded: ${reason}. The certificate loaded before goes on serving until a file that loads replaces it.`,
    );
  }

  #what(): string {
    return `the certificate file ${this.#path}`;
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
