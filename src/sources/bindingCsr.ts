/**
 * The PKCS#10 certificate request of IMDS v2 `issuecredential`, as MSAL.NET builds it
 * (`ManagedIdentity/V2/Csr.cs`). The request has one fixed shape, so its DER is written here
 * directly (RFC 2986 §4, X.690 §8 and §10): a general ASN.1 library costs several milliseconds per
 * request and ~90 ms at import for this one structure, and signing goes to `node:crypto` on
 * libuv's thread pool.
 */
import type { ComputeUnitId } from "../transport/imdsV2.ts";
import type { BindingKeyPair } from "./bindingKey.ts";

/** The attribute IMDS v2 reads the compute unit id from (MSAL.NET `Csr.cs`). */
export const CUID_ATTRIBUTE_OID = "1.3.6.1.4.1.311.90.2.10";

/** The signature IMDS v2 expects: RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt. */
export const BINDING_CSR_SIGNATURE = { name: "RSA-PSS", hash: "SHA-256", saltLength: 32 } as const;

/** What goes into a binding CSR. */
export interface BindingCsrInput {
  /** The managed identity's client id from platform metadata: the subject CN. */
  readonly clientId: string;
  /** The tenant id from platform metadata: the subject DC. */
  readonly tenantId: string;
  readonly cuId: ComputeUnitId;
  /** The key pair: its public key goes into the request, which it signs. */
  readonly key: Pick<BindingKeyPair, "publicKeySpki" | "signPss">;
}

/**
 * The cuId JSON exactly as MSAL.NET writes it: compact, `vmId` then `vmssId`, members that are
 * null left out. Empty strings are left out too, because IMDS rejects a blank `vmssId`.
 */
export function serializeComputeUnitId(cuId: ComputeUnitId): string {
  const compact: Record<string, string> = {};
  if (typeof cuId.vmId === "string" && cuId.vmId !== "") compact["vmId"] = cuId.vmId;
  if (typeof cuId.vmssId === "string" && cuId.vmssId !== "") compact["vmssId"] = cuId.vmssId;
  return JSON.stringify(compact);
}

/** X.690 universal tags used here. */
const TAG = {
  integer: 0x02,
  bitString: 0x03,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  sequence: 0x30,
  set: 0x31,
  /** `[0] IMPLICIT`, constructed: the `attributes` of CertificationRequestInfo. */
  context0: 0xa0,
} as const;

/** `domainComponent` (RFC 4519), `commonName` (X.520). */
const OID_DC = "0.9.2342.19200300.100.1.25";
const OID_CN = "2.5.4.3";

/**
 * `AlgorithmIdentifier { id-RSASSA-PSS, RSASSA-PSS-params { sha256, mgf1SHA256, saltLength 32 } }`
 * (RFC 4055 §3.1, RFC 8017 A.2.3), the trailer field left at its DEFAULT as DER requires, and the
 * hash identifiers without parameters, as .NET's `RSASignaturePadding.Pss` writes them.
 */
const RSASSA_PSS_SHA256 = Buffer.from(
  "303d06092a864886f70d01010a3030a00d300b0609608648016503040201a11a301806092a864886f70d010108300b0609608648016503040201a203020120",
  "hex",
);

/** X.680 PrintableString's alphabet; a client id is a GUID, so in practice always. */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/**
 * Builds the PKCS#10 request of IMDS v2 `issuecredential` (MSAL.NET `ManagedIdentity/V2/Csr.cs`) and returns it as
 * one line of base64 DER, as MSAL.NET sends it.
 *
 * - subject `CN=<clientId>, DC=<tenantId>`: in DER the DC RDN comes first, then CN, as .NET's
 *   `X500DistinguishedName` encodes that string; CN as PrintableString (UTF8String if it has
 *   characters PrintableString lacks) and DC as IA5String, byte-for-byte with MSAL.NET;
 * - one attribute, {@link CUID_ATTRIBUTE_OID}, whose value is a UTF8String of the cuId JSON;
 * - signed with {@link BINDING_CSR_SIGNATURE}.
 */
export async function createBindingCsr(input: BindingCsrInput): Promise<string> {
  const subject = der(TAG.sequence, [
    der(TAG.set, [der(TAG.sequence, [oid(OID_DC), text(TAG.ia5String, input.tenantId)])]),
    der(TAG.set, [
      der(TAG.sequence, [oid(OID_CN), text(PRINTABLE.test(input.clientId) ? TAG.printableString : TAG.utf8String, input.clientId)]),
    ]),
  ]);
  const attributes = der(TAG.context0, [
    der(TAG.sequence, [oid(CUID_ATTRIBUTE_OID), der(TAG.set, [text(TAG.utf8String, serializeComputeUnitId(input.cuId))])]),
  ]);
  const info = der(TAG.sequence, [der(TAG.integer, [Buffer.from([0])]), subject, input.key.publicKeySpki, attributes]);
  // The key signs with BINDING_CSR_SIGNATURE, which RSASSA_PSS_SHA256 declares.
  const signature = await input.key.signPss(info);
  const request = der(TAG.sequence, [info, RSASSA_PSS_SHA256, der(TAG.bitString, [Buffer.from([0]), signature])]);
  return request.toString("base64");
}

/** One DER element: tag, definite length (short or long form), contents. */
function der(tag: number, contents: readonly Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const length = body.length;
  let header: number[];
  if (length < 0x80) {
    header = [tag, length];
  } else {
    const lengthBytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
    header = [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  }
  return Buffer.concat([Buffer.from(header), body]);
}

function text(tag: number, value: string): Buffer {
  return der(tag, [Buffer.from(value, tag === TAG.utf8String ? "utf8" : "latin1")]);
}

/** An OBJECT IDENTIFIER (X.690 §8.19): the first two arcs in one octet, then base-128 arcs. */
function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) chunk.unshift((value & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(TAG.oid, [Buffer.from(bytes)]);
}
