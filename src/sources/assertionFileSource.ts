import { inspect } from "node:util";
import { readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import type { SignedAssertionFilePathCredentialDescription } from "../configuration/types.ts";
import { loadJose } from "../dependencies.ts";
import { AssertionValue } from "./assertionValue.ts";
import { CachedSource } from "./cachedSource.ts";
import type { Normalized, SourceDescriptor } from "./descriptor.ts";
import { readFileSnapshot } from "./fileReading.ts";
import { type AssertionResult, SourceUnavailableError, type SourceMaterial } from "./types.ts";

/** The environment variable that AKS workload identity (and `@azure/identity`) use for the file. */
export const FEDERATED_TOKEN_FILE_VARIABLE = "AZURE_FEDERATED_TOKEN_FILE";

/** A JWT file is small; anything larger is the wrong file. */
const MAX_ASSERTION_FILE_BYTES = 256 * 1024;
/** Re-read this long before `exp`, so that a request never carries an assertion about to expire. */
const REFRESH_MARGIN_MS = 5 * 60_000;
/** How long an assertion without `exp` is reused before the file is read again. */
const NO_EXPIRY_REUSE_MS = 5 * 60_000;

/**
 * A `SignedAssertionFilePath` entry: a JWT in a file that something else keeps fresh, such as the
 * token AKS workload identity projects into the pod. The assertion is reused until shortly before
 * its `exp`, then the file is read again.
 */
export class AssertionFileSource extends CachedSource {
  readonly #path: string | undefined;

  constructor(entry: NormalizedEntryOf<NormalizedSignedAssertionFilePathDescription>, now: () => number) {
    super(entry, now);
    this.#path = entry.description.signedAssertionFileDiskPath;
  }

  protected override async read(): Promise<SourceMaterial> {
    const path = this.#path;
    if (path === undefined) {
      throw new SourceUnavailableError(
        `no assertion file is configured: set signedAssertionFileDiskPath, or ${FEDERATED_TOKEN_FILE_VARIABLE} as workload identity does`,
      );
    }
    const now = () => this.now();
    return new AssertionFileMaterial(path, await readAssertionFile(path, now()), now);
  }
}

interface FileAssertion {
  readonly value: AssertionValue;
  /** ms since epoch from which the file is read again. */
  readonly refreshAt: number;
}

/** The loaded material: hands out the cached assertion and re-reads the file when it is due. */
class AssertionFileMaterial {
  readonly kind = "assertion" as const;
  readonly #path: string;
  readonly #now: () => number;
  #current: FileAssertion;
  #reading: Promise<FileAssertion> | undefined;

  constructor(path: string, first: FileAssertion, now: () => number) {
    this.#path = path;
    this.#current = first;
    this.#now = now;
  }

  async getAssertion(): Promise<AssertionResult> {
    const now = this.#now();
    if (now < this.#current.refreshAt) return this.#current.value;
    this.#reading ??= readAssertionFile(this.#path, now).finally(() => {
      this.#reading = undefined;
    });
    try {
      this.#current = await this.#reading;
    } catch (error) {
      // The old assertion is still good until its exp: a file being rewritten is no reason to fail.
      const expiresOn = this.#current.value.expiresOnTimestamp;
      if (expiresOn !== undefined && this.#now() < expiresOn) return this.#current.value;
      throw error;
    }
    return this.#current.value;
  }

  toJSON(): Record<string, string> {
    return { kind: this.kind, path: this.#path };
  }

  [inspect.custom](): string {
    return `AssertionFileMaterial ${inspect(this.toJSON())}`;
  }
}

async function readAssertionFile(path: string, now: number): Promise<FileAssertion> {
  const what = "the assertion file";
  const { bytes } = await readFileSnapshot(path, MAX_ASSERTION_FILE_BYTES, what);
  const assertion = bytes.toString("utf8").trim();
  if (assertion === "") throw new SourceUnavailableError(`${what} ${path} is empty`);
  const { decodeJwt } = await loadJose();
  let expiresOn: number | undefined;
  try {
    const { exp } = decodeJwt(assertion);
    expiresOn = typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    throw new SourceUnavailableError(`${what} ${path} does not hold a JWT (expected header.payload.signature)`);
  }
  if (expiresOn !== undefined && !Number.isFinite(new Date(expiresOn).getTime())) {
    throw new SourceUnavailableError(`${what} ${path} holds a JWT whose exp is not a time`);
  }
  if (expiresOn !== undefined && now >= expiresOn) {
    throw new SourceUnavailableError(
      `the assertion in ${path} expired at ${new Date(expiresOn).toISOString()}; whatever writes the file (for example the AKS workload identity webhook) is not refreshing it`,
    );
  }
  const refreshAt =
    expiresOn === undefined
      ? now + NO_EXPIRY_REUSE_MS
      : Math.max(now + (expiresOn - now) / 2, expiresOn - REFRESH_MARGIN_MS);
  return { value: new AssertionValue(assertion, expiresOn), refreshAt };
}

/**
 * A `SignedAssertionFilePath` entry as validated: `signedAssertionFileDiskPath` is the configured
 * path, else `AZURE_FEDERATED_TOKEN_FILE`, else absent (the entry is then unavailable).
 */
export type NormalizedSignedAssertionFilePathDescription = Normalized<SignedAssertionFilePathCredentialDescription>;

/** The `SignedAssertionFilePath` source type. */
export const signedAssertionFilePathSourceType: SourceDescriptor<
  "SignedAssertionFilePath",
  NormalizedSignedAssertionFilePathDescription
> = {
  sourceType: "SignedAssertionFilePath",
  keys: ["signedAssertionFileDiskPath"],
  cannotBind: "an assertion read from a file carries no binding certificate",
  read({ c, entry, path, context }) {
    const given = readString(c, entry, "signedAssertionFileDiskPath", path, {
      meaning: "the path of the file that holds the signed assertion (JWT)",
    });
    const fromEnv = context.env[FEDERATED_TOKEN_FILE_VARIABLE];
    const signedAssertionFileDiskPath = given ?? (fromEnv !== undefined && fromEnv.trim() !== "" ? fromEnv : undefined);
    return {
      description: {
        sourceType: "SignedAssertionFilePath",
        ...(signedAssertionFileDiskPath === undefined ? {} : { signedAssertionFileDiskPath }),
      },
      detail: `SignedAssertionFilePath ${signedAssertionFileDiskPath ?? `${FEDERATED_TOKEN_FILE_VARIABLE} (not set)`}`,
    };
  },
  create: (entry, context) => new AssertionFileSource(entry, context.now),
};
