import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { Base64EncodedCredentialDescription } from "../configuration/types.ts";
import { CachedSource } from "./cachedSource.ts";
import { MAX_CERTIFICATE_INPUT_BYTES, parseCertificateBytes } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import { withContextAsync } from "./reasons.ts";
import { SourceUnavailableError, type SourceMaterial } from "./types.ts";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A `Base64Encoded` entry: the bytes of a PFX (or, leniently, of a PEM file) in base64. */
export class Base64Source extends CachedSource {
  readonly #value: string;
  readonly #password: string | undefined;

  constructor(entry: NormalizedEntry, description: Readonly<Base64EncodedCredentialDescription>, now: () => number) {
    super(entry, now);
    this.#value = description.base64EncodedValue;
    this.#password = description.certificatePassword;
  }

  protected override async read(): Promise<SourceMaterial> {
    const certificate = await withContextAsync("the base64-encoded certificate", async () => {
      const parsed = await parseCertificateBytes(decodeBase64(this.#value), this.#password);
      assertCertificateTimeValid(parsed, this.now());
      return parsed;
    });
    return { kind: "certificate", certificate };
  }
}

/**
 * Decodes strict base64 (line breaks and spaces allowed, as in wrapped exports). Node's decoder
 * silently skips invalid characters, which would turn a pasting mistake into a baffling parse
 * error later; this refuses it up front.
 *
 * @throws SourceUnavailableError - when the text is empty, too large or not base64
 */
export function decodeBase64(value: string): Buffer {
  const compact = value.replace(/\s+/g, "");
  if (compact === "") throw new SourceUnavailableError("the base64 value is empty");
  if (compact.length > Math.ceil((MAX_CERTIFICATE_INPUT_BYTES * 4) / 3) + 4) {
    throw new SourceUnavailableError(
      `the base64 value decodes to more than ${MAX_CERTIFICATE_INPUT_BYTES / (1024 * 1024)} MiB, which no certificate is`,
    );
  }
  if (compact.length % 4 === 1 || !BASE64.test(compact)) {
    throw new SourceUnavailableError(
      "the value is not valid base64 (only A-Z, a-z, 0-9, +, / and = padding are allowed); encode the PFX bytes with base64",
    );
  }
  return Buffer.from(compact, "base64");
}
