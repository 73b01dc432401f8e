import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { CertificateCredentialDescription } from "../configuration/types.ts";
import { CachedSource } from "./cachedSource.ts";
import { parseDerCertificate, parsePemCertificate } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import type { LoadedCertificate } from "./loadedCertificate.ts";
import { withContext } from "./reasons.ts";
import type { SourceMaterial } from "./types.ts";

/**
 * A `Certificate` entry: a PEM or DER certificate (with its chain) and a private key given in
 * memory, as PEM, encrypted PEM or `KeyObject`. Parsed once; `reload` parses again, which only
 * matters once the certificate has expired.
 */
export class CertificateSource extends CachedSource {
  readonly #description: Readonly<CertificateCredentialDescription>;

  constructor(entry: NormalizedEntry, description: Readonly<CertificateCredentialDescription>, now: () => number) {
    super(entry, now);
    this.#description = description;
  }

  protected override async read(): Promise<SourceMaterial> {
    const certificate = withContext("the in-memory certificate", () => {
      const parsed = this.#parse();
      assertCertificateTimeValid(parsed, this.now());
      return parsed;
    });
    return { kind: "certificate", certificate };
  }

  #parse(): LoadedCertificate {
    const { certificate, privateKey, privateKeyPassword } = this.#description;
    const key = { privateKey, password: privateKeyPassword };
    if (typeof certificate === "string") return parsePemCertificate(certificate, key);
    const bytes = Buffer.from(certificate.buffer, certificate.byteOffset, certificate.byteLength);
    if (bytes.subarray(0, 64 * 1024).toString("latin1").includes("-----BEGIN ")) {
      return parsePemCertificate(bytes.toString("utf8"), key);
    }
    return parseDerCertificate(bytes, key);
  }
}
