// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect polyfill first.
import type { ComputeUnitId } from "../transport/imdsV2.ts";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import type { BindingKey } from "./bindingKey.ts";

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
  readonly key: BindingKey;
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

/**
 * Builds the PKCS#10 request of IMDS v2 `issuecredential` (wire-protocol §2.5) and returns it as
 * one line of base64 DER, as MSAL.NET sends it.
 *
 * - subject `CN=<clientId>, DC=<tenantId>`: in DER the DC RDN comes first, then CN, as .NET's
 *   `X500DistinguishedName` encodes that string; CN as PrintableString (UTF8String if it has
 *   characters PrintableString lacks) and DC as IA5String, byte-for-byte with MSAL.NET;
 * - one attribute, {@link CUID_ATTRIBUTE_OID}, whose value is a UTF8String of the cuId JSON;
 * - signed with {@link BINDING_CSR_SIGNATURE}.
 */
export async function createBindingCsr(input: BindingCsrInput): Promise<string> {
  const algorithm = { name: BINDING_CSR_SIGNATURE.name, hash: BINDING_CSR_SIGNATURE.hash };
  const subtle = globalThis.crypto.subtle;
  const keys = {
    privateKey: await subtle.importKey(
      "pkcs8",
      new Uint8Array(input.key.privateKey.export({ type: "pkcs8", format: "der" })),
      algorithm,
      false,
      ["sign"],
    ),
    publicKey: await subtle.importKey("spki", new Uint8Array(input.key.publicKeySpki), algorithm, true, ["verify"]),
  };
  const commonName = x509.Name.isPrintableString(input.clientId)
    ? { printableString: input.clientId }
    : { utf8String: input.clientId };
  const name = new x509.Name([{ DC: [{ ia5String: input.tenantId }] }, { CN: [commonName] }]);
  const cuIdValue = derUtf8String(serializeComputeUnitId(input.cuId));
  // Node's WebCrypto is passed explicitly rather than set as @peculiar/x509's global provider.
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name,
      keys,
      signingAlgorithm: BINDING_CSR_SIGNATURE,
      attributes: [new x509.Attribute(CUID_ATTRIBUTE_OID, [cuIdValue])],
    },
    globalThis.crypto,
  );
  return Buffer.from(csr.rawData).toString("base64");
}

/**
 * DER `UTF8String` (tag 12). @peculiar/x509 takes attribute values as encoded ASN.1 and exports
 * no string encoder; the ASN.1 libraries under it are not dependencies of this package, so the
 * one primitive TLV is written here (definite length, short or long form).
 */
function derUtf8String(text: string): ArrayBuffer {
  const content = Buffer.from(text, "utf8");
  const length = content.length;
  let header: number[];
  if (length < 0x80) {
    header = [0x0c, length];
  } else {
    const lengthBytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
    header = [0x0c, 0x80 | lengthBytes.length, ...lengthBytes];
  }
  const der = new Uint8Array(header.length + length);
  der.set(header, 0);
  der.set(content, header.length);
  return der.buffer;
}
