/**
 * Validation of the PKCS#10 request that IMDS v2 `issuecredential` receives (wire-protocol §2.5):
 * subject `CN=<clientId>, DC=<tenantId>`, an RSA-2048 key, an RSASSA-PSS/SHA-256 signature that
 * verifies, and attribute 1.3.6.1.4.1.311.90.2.10 holding the `cuId` JSON as a UTF8String.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createPublicKey } from "node:crypto";

/** The attribute that carries the compute unit id (`cuId`) JSON. */
export const CU_ID_ATTRIBUTE_OID = "1.3.6.1.4.1.311.90.2.10";

/** A CSR that IMDS refuses, with the reason it answers. */
export class CsrRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CsrRejectedError";
  }
}

/** What the CSR must contain. */
export interface CsrExpectation {
  readonly clientId: string;
  readonly tenantId: string;
  readonly cuId: Readonly<Record<string, string>>;
}

/**
 * Checks a base64 DER CSR; returns the SubjectPublicKeyInfo DER of its key.
 *
 * @throws CsrRejectedError naming what is wrong
 */
export async function validateBindingCsr(base64Der: string, expected: CsrExpectation): Promise<Uint8Array<ArrayBuffer>> {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64Der)) {
    throw new CsrRejectedError("The CSR must be the single-line base64 of a DER PKCS#10 request.");
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(Buffer.from(base64Der, "base64"));
  } catch {
    throw new CsrRejectedError("The CSR could not be parsed as a DER PKCS#10 request.");
  }
  checkSubject(csr, expected);
  const spki = new Uint8Array(csr.publicKey.rawData);
  const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  if (key.asymmetricKeyType !== "rsa" || key.asymmetricKeyDetails?.modulusLength !== 2048) {
    throw new CsrRejectedError(
      `The CSR key must be RSA 2048 (rsaEncryption); got ${key.asymmetricKeyType ?? "unknown"} ${String(key.asymmetricKeyDetails?.modulusLength ?? "")}.`.trim(),
    );
  }
  const algorithm = csr.signatureAlgorithm as { name?: string; hash?: { name?: string } };
  if (algorithm.name !== "RSA-PSS" || algorithm.hash?.name !== "SHA-256") {
    throw new CsrRejectedError(
      `The CSR must be signed with RSASSA-PSS and SHA-256; got ${algorithm.name ?? "unknown"}/${algorithm.hash?.name ?? "unknown"}.`,
    );
  }
  let verified = false;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) throw new CsrRejectedError("The CSR signature does not verify with its public key.");
  checkCuId(csr, expected.cuId);
  const copy = new Uint8Array(new ArrayBuffer(spki.byteLength));
  copy.set(spki);
  return copy;
}

function checkSubject(csr: x509.Pkcs10CertificateRequest, expected: CsrExpectation): void {
  const attributes = csr.subjectName.toJSON().flatMap((rdn) => Object.entries(rdn));
  const values = (type: string) => attributes.filter(([name]) => name === type).flatMap(([, value]) => value);
  const cn = values("CN");
  const dc = values("DC");
  const subject = csr.subject;
  const matches =
    attributes.length === 2 &&
    cn.length === 1 &&
    dc.length === 1 &&
    cn[0]?.toLowerCase() === expected.clientId.toLowerCase() &&
    dc[0]?.toLowerCase() === expected.tenantId.toLowerCase();
  if (!matches) {
    throw new CsrRejectedError(
      `The CSR subject must be CN=${expected.clientId}, DC=${expected.tenantId} (from getplatformmetadata); got ${subject}.`,
    );
  }
}

function checkCuId(csr: x509.Pkcs10CertificateRequest, expected: Readonly<Record<string, string>>): void {
  const attributes = csr.attributes.filter((attribute) => attribute.type === CU_ID_ATTRIBUTE_OID);
  const only = attributes[0];
  if (attributes.length !== 1 || only === undefined || only.values.length !== 1 || only.values[0] === undefined) {
    throw new CsrRejectedError(`The CSR must carry exactly one attribute ${CU_ID_ATTRIBUTE_OID} with one value.`);
  }
  const text = decodeUtf8String(new Uint8Array(only.values[0]));
  if (text === undefined) {
    throw new CsrRejectedError(`The value of attribute ${CU_ID_ATTRIBUTE_OID} must be a DER UTF8String.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CsrRejectedError(`The value of attribute ${CU_ID_ATTRIBUTE_OID} must be the cuId JSON; got '${text}'.`);
  }
  if (!sameCuId(parsed, expected)) {
    throw new CsrRejectedError(
      `The cuId in the CSR (${text}) differs from the one getplatformmetadata returned (${JSON.stringify(expected)}).`,
    );
  }
}

/** Same members (nulls count as absent, as .NET omits them), in any order. */
function sameCuId(actual: unknown, expected: Readonly<Record<string, string>>): boolean {
  if (typeof actual !== "object" || actual === null || Array.isArray(actual)) return false;
  const present = Object.entries(actual).filter(([, value]) => value !== null);
  const wanted = Object.entries(expected);
  return present.length === wanted.length && wanted.every(([name, value]) => (actual as Record<string, unknown>)[name] === value);
}

/** The text of a DER UTF8String (tag 12), or undefined when `der` is anything else. */
function decodeUtf8String(der: Uint8Array): string | undefined {
  if (der.length < 2 || der[0] !== 0x0c) return undefined;
  const first = der[1] ?? 0;
  let length = first;
  let offset = 2;
  if (first & 0x80) {
    const octets = first & 0x7f;
    if (octets === 0 || octets > 3 || der.length < 2 + octets) return undefined;
    length = 0;
    for (let index = 0; index < octets; index += 1) length = length * 256 + (der[2 + index] ?? 0);
    offset = 2 + octets;
  }
  if (offset + length !== der.length) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(der.subarray(offset));
  } catch {
    return undefined;
  }
}
