import { KeyObject } from "node:crypto";
import { type Checker, describeType, readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import type { CertificateCredentialDescription } from "../configuration/types.ts";
import { CachedSource } from "./cachedSource.ts";
import { parseDerCertificate, parsePemCertificate } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import type { EntryFields, Normalized, ReadEntry, SourceDescriptor } from "./descriptor.ts";
import type { LoadedCertificate } from "./loadedCertificate.ts";
import { withContext } from "./reasons.ts";
import type { SourceMaterial } from "./types.ts";

/**
 * A `Certificate` entry: a PEM or DER certificate (with its chain) and a private key given in
 * memory, as PEM, encrypted PEM or `KeyObject`. Parsed once; `reload` parses again, which only
 * matters once the certificate has expired.
 */
export class CertificateSource extends CachedSource {
  readonly #description: NormalizedCertificateDescription;

  constructor(entry: NormalizedEntryOf<NormalizedCertificateDescription>, now: () => number) {
    super(entry, now);
    this.#description = entry.description;
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

/** A `Certificate` entry as validated. */
export type NormalizedCertificateDescription = Normalized<CertificateCredentialDescription>;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----/;
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** The `Certificate` source type. */
export const certificateSourceType: SourceDescriptor<"Certificate", NormalizedCertificateDescription> = {
  sourceType: "Certificate",
  keys: ["certificate", "privateKey", "privateKeyPassword"],
  // A configuration file cannot hold a certificate object; Path, Base64Encoded and KeyVault can.
  codeOnlyKeys: ["certificate", "privateKey", "privateKeyPassword"],
  read: readCertificate,
  create: (entry, context) => new CertificateSource(entry, context.now),
};

function readCertificate(fields: EntryFields): ReadEntry<NormalizedCertificateDescription> {
  // Annotated, so that `c.fail` (which never returns) narrows what follows it.
  const c: Checker = fields.c;
  const { entry: e, path } = fields;
  const at = [...path, "certificate"];
  const raw = e["certificate"];
  let certificate: string | Uint8Array;
  if (raw === undefined) {
    c.fail(
      "BCC_MISSING_FIELD",
      at,
      "is required for a Certificate entry but is missing.",
      "Set it to the PEM text of the certificate or its DER bytes; for a file use sourceType Path instead.",
    );
  } else if (typeof raw === "string") {
    if (raw.trim() === "") {
      c.fail("BCC_EMPTY_FIELD", at, "is empty.", "Set it to the PEM text of the certificate (-----BEGIN CERTIFICATE----- …).");
    }
    if (!PEM_CERTIFICATE.test(raw)) {
      c.fail(
        "BCC_INVALID_VALUE",
        at,
        "is a string without a -----BEGIN CERTIFICATE----- block.",
        "Give the PEM text of the certificate, DER bytes as a Uint8Array, or use sourceType Path with certificateDiskPath for a file.",
      );
    }
    certificate = raw;
  } else if (raw instanceof Uint8Array) {
    if (raw.byteLength === 0) {
      c.fail("BCC_EMPTY_FIELD", at, "is an empty byte array.", "Give the DER bytes of the certificate, or its PEM text.");
    }
    // Copied so that later changes to the caller's buffer cannot change the configured certificate.
    certificate = Uint8Array.from(raw);
  } else {
    c.fail(
      "BCC_INVALID_TYPE",
      at,
      `must be a string (PEM) or a Uint8Array (DER) but is ${describeType(raw)}.`,
      "Give the PEM text of the certificate or its DER bytes.",
    );
  }

  const keyAt = [...path, "privateKey"];
  const rawKey = e["privateKey"];
  let privateKey: string | KeyObject | undefined;
  if (rawKey === undefined) {
    if (typeof certificate !== "string" || !PEM_PRIVATE_KEY.test(certificate)) {
      c.fail(
        "BCC_MISSING_FIELD",
        keyAt,
        "is required because the certificate holds no private key.",
        "Set privateKey to the PEM private key or a KeyObject, or give a PEM certificate that includes its private key.",
      );
    }
  } else if (typeof rawKey === "string") {
    if (!PEM_PRIVATE_KEY.test(rawKey)) {
      c.fail(
        "BCC_INVALID_VALUE",
        keyAt,
        "is a string without a -----BEGIN … PRIVATE KEY----- block.",
        "Give the private key as PEM (PKCS#8, PKCS#1 or SEC1) or as a KeyObject from crypto.createPrivateKey().",
      );
    }
    privateKey = rawKey;
  } else if (rawKey instanceof KeyObject) {
    if (rawKey.type !== "private") {
      c.fail("BCC_INVALID_VALUE", keyAt, `is a ${rawKey.type} KeyObject, not a private key.`, "Pass the private key, for example from crypto.createPrivateKey().");
    }
    privateKey = rawKey;
  } else {
    c.fail(
      "BCC_INVALID_TYPE",
      keyAt,
      `must be a PEM string or a KeyObject but is ${describeType(rawKey)}.`,
      "Give the private key as PEM or as a KeyObject from crypto.createPrivateKey().",
    );
  }
  const privateKeyPassword = readString(c, e, "privateKeyPassword", path, {
    allowEmpty: true,
    meaning: "the password of the encrypted PEM private key",
  });
  return {
    description: {
      sourceType: "Certificate",
      certificate,
      ...(privateKey === undefined ? {} : { privateKey }),
      ...(privateKeyPassword === undefined ? {} : { privateKeyPassword }),
    },
    detail: "Certificate in memory",
  };
}
