import { readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import type { Base64EncodedCredentialDescription } from "../configuration/types.ts";
import { CachedSource } from "./cachedSource.ts";
import { MAX_CERTIFICATE_INPUT_BYTES, parseCertificateBytes } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import type { Normalized, SourceDescriptor } from "./descriptor.ts";
import { withContextAsync } from "./reasons.ts";
import { SourceUnavailableError, type SourceMaterial } from "./types.ts";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A `Base64Encoded` entry: the bytes of a PFX (or, leniently, of a PEM file) in base64. */
export class Base64Source extends CachedSource {
  readonly #value: string;
  readonly #password: string | undefined;

  constructor(entry: NormalizedEntryOf<NormalizedBase64EncodedDescription>, now: () => number) {
    super(entry, now);
    this.#value = entry.description.base64EncodedValue;
    this.#password = entry.description.certificatePassword;
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

/** A `Base64Encoded` entry as validated. */
export type NormalizedBase64EncodedDescription = Normalized<Base64EncodedCredentialDescription>;

/** The `Base64Encoded` source type. */
export const base64EncodedSourceType: SourceDescriptor<"Base64Encoded", NormalizedBase64EncodedDescription> = {
  sourceType: "Base64Encoded",
  keys: ["base64EncodedValue", "certificatePassword"],
  read({ c, entry, path }) {
    const base64EncodedValue = readString(c, entry, "base64EncodedValue", path, {
      required: true,
      requiredFor: "a Base64Encoded entry",
      meaning: "the PFX bytes in base64",
    })!;
    const compact = base64EncodedValue.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
      c.fail(
        "BCC_INVALID_VALUE",
        [...path, "base64EncodedValue"],
        "is not valid base64.",
        "Give the PFX file's bytes encoded in base64 (for example the output of `base64 -w0 app.pfx`).",
      );
    }
    const certificatePassword = readString(c, entry, "certificatePassword", path, {
      allowEmpty: true,
      meaning: "the password of the PFX",
    });
    return {
      description: {
        sourceType: "Base64Encoded",
        base64EncodedValue,
        ...(certificatePassword === undefined ? {} : { certificatePassword }),
      },
      detail: "Base64Encoded",
    };
  },
  create: (entry, context) => new Base64Source(entry, context.now),
};
