import "reflect-metadata";
import { describe, test, before } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import * as asn1js from "asn1js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { RsaSaPssParams, id_RSASSA_PSS, id_mgf1, id_sha256, id_rsaEncryption } from "@peculiar/asn1-rsa";
import { BindingKey } from "../../src/sources/bindingKey.ts";
import { createBindingCsr, CUID_ATTRIBUTE_OID, serializeComputeUnitId } from "../../src/sources/bindingCsr.ts";

const CLIENT_ID = "7a3d0b5e-1f2c-4e8a-9b6d-0c1e2f3a4b5c";
const TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OID_DC = "0.9.2342.19200300.100.1.25";
const OID_CN = "2.5.4.3";

function parseRequest(base64: string): CertificationRequest {
  return AsnConvert.parse(Buffer.from(base64, "base64"), CertificationRequest);
}

/** Decodes one BER element and fails the test on trailing or malformed bytes. */
function decode(der: ArrayBuffer | Uint8Array): asn1js.AsnType {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  const parsed = asn1js.fromBER(bytes);
  assert.equal(parsed.offset, bytes.byteLength, "one ASN.1 element, no trailing bytes");
  return parsed.result;
}

describe("binding CSR (wire-protocol §2.5)", () => {
  let key: BindingKey;
  let csr: string;

  before(async () => {
    key = await BindingKey.generate();
    csr = await createBindingCsr({
      clientId: CLIENT_ID,
      tenantId: TENANT_ID,
      cuId: { vmId: "vm-0001", vmssId: null },
      key,
    });
  });

  test("is one line of base64 DER that @peculiar/x509 parses and verifies", async () => {
    assert.match(csr, /^[A-Za-z0-9+/]+=*$/);
    const request = new x509.Pkcs10CertificateRequest(csr);
    assert.equal(await request.verify(), true);
    assert.equal(Buffer.from(request.rawData).toString("base64"), csr);
  });

  test("is PKCS#10 version 0 with the binding key's RSA-2048 public key", () => {
    const info = parseRequest(csr).certificationRequestInfo;
    assert.equal(info.version, 0);
    assert.equal(info.subjectPKInfo.algorithm.algorithm, id_rsaEncryption);
    assert.deepEqual(Buffer.from(AsnConvert.serialize(info.subjectPKInfo)), key.publicKeySpki);
    assert.equal(key.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  });

  test("subject is DC=<tenant> then CN=<client> in DER, DC as IA5String and CN as PrintableString", () => {
    const subject = decode(AsnConvert.serialize(parseRequest(csr).certificationRequestInfo.subject));
    assert.ok(subject instanceof asn1js.Sequence);
    const rdns = subject.valueBlock.value;
    assert.equal(rdns.length, 2);
    const atv = (index: number): { oid: string; value: asn1js.AsnType } => {
      const rdn = rdns[index];
      assert.ok(rdn instanceof asn1js.Set);
      assert.equal(rdn.valueBlock.value.length, 1, "one attribute per RDN");
      const pair = rdn.valueBlock.value[0];
      assert.ok(pair instanceof asn1js.Sequence);
      const [type, value] = pair.valueBlock.value;
      assert.ok(type instanceof asn1js.ObjectIdentifier);
      assert.ok(value !== undefined);
      return { oid: type.valueBlock.toString(), value };
    };
    const dc = atv(0);
    assert.equal(dc.oid, OID_DC);
    assert.ok(dc.value instanceof asn1js.IA5String);
    assert.equal(dc.value.valueBlock.value, TENANT_ID);
    const cn = atv(1);
    assert.equal(cn.oid, OID_CN);
    assert.ok(cn.value instanceof asn1js.PrintableString);
    assert.equal(cn.value.valueBlock.value, CLIENT_ID);
  });

  test("has exactly one attribute: the cuId as a UTF8String of compact JSON without null members", () => {
    const attributes = parseRequest(csr).certificationRequestInfo.attributes;
    assert.equal(attributes.length, 1, "no extensionRequest or other attribute");
    const [attribute] = attributes;
    assert.ok(attribute !== undefined);
    assert.equal(attribute.type, CUID_ATTRIBUTE_OID);
    assert.equal(attribute.values.length, 1);
    const json = '{"vmId":"vm-0001"}';
    const expected = Buffer.concat([Buffer.from([0x0c, json.length]), Buffer.from(json, "utf8")]);
    assert.deepEqual(Buffer.from(attribute.values[0] as ArrayBuffer), expected);
  });

  test("is signed with RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32, default trailer", () => {
    const request = parseRequest(csr);
    assert.equal(request.signatureAlgorithm.algorithm, id_RSASSA_PSS);
    const parameters = request.signatureAlgorithm.parameters;
    assert.ok(parameters instanceof ArrayBuffer);
    const pss = AsnConvert.parse(parameters, RsaSaPssParams);
    assert.equal(pss.hashAlgorithm.algorithm, id_sha256);
    assert.equal(pss.maskGenAlgorithm.algorithm, id_mgf1);
    assert.ok(pss.maskGenAlgorithm.parameters instanceof ArrayBuffer);
    const mgfHash = decode(pss.maskGenAlgorithm.parameters);
    assert.ok(mgfHash instanceof asn1js.Sequence);
    const mgfHashOid = mgfHash.valueBlock.value[0];
    assert.ok(mgfHashOid instanceof asn1js.ObjectIdentifier);
    assert.equal(mgfHashOid.valueBlock.toString(), id_sha256);
    assert.equal(pss.saltLength, 32);
    assert.equal(pss.trailerField, 1);
    // The trailer is the DEFAULT and DER leaves it out; only [0], [1], [2] are present.
    const encoded = decode(parameters);
    assert.ok(encoded instanceof asn1js.Sequence);
    assert.deepEqual(
      encoded.valueBlock.value.map((element) => element.idBlock.tagNumber),
      [0, 1, 2],
    );
  });

  test("a scale-set cuId keeps vmId then vmssId, and a long value gets a long-form DER length", async () => {
    const vmssId = "s".repeat(300);
    const request = parseRequest(
      await createBindingCsr({ clientId: CLIENT_ID, tenantId: TENANT_ID, cuId: { vmssId, vmId: "vm-2" }, key }),
    );
    const value = request.certificationRequestInfo.attributes[0]?.values[0];
    assert.ok(value instanceof ArrayBuffer);
    const decoded = decode(value);
    assert.ok(decoded instanceof asn1js.Utf8String);
    const json = `{"vmId":"vm-2","vmssId":"${vmssId}"}`;
    assert.equal(decoded.valueBlock.value, json);
    const length = Buffer.byteLength(json);
    assert.ok(length > 255);
    assert.deepEqual([...new Uint8Array(value).subarray(0, 4)], [0x0c, 0x82, length >> 8, length & 0xff]);
  });

  test("a client id PrintableString cannot carry is encoded as UTF8String and still verifies", async () => {
    const base64 = await createBindingCsr({ clientId: "id_with_underscore", tenantId: TENANT_ID, cuId: { vmId: "v" }, key });
    assert.equal(await new x509.Pkcs10CertificateRequest(base64).verify(), true);
    const subject = decode(AsnConvert.serialize(parseRequest(base64).certificationRequestInfo.subject));
    assert.ok(subject instanceof asn1js.Sequence);
    const cnRdn = subject.valueBlock.value[1];
    assert.ok(cnRdn instanceof asn1js.Set);
    const cnPair = cnRdn.valueBlock.value[0];
    assert.ok(cnPair instanceof asn1js.Sequence);
    assert.ok(cnPair.valueBlock.value[1] instanceof asn1js.Utf8String);
  });
});

describe("serializeComputeUnitId", () => {
  test("drops null, missing and empty members and keeps the order vmId, vmssId", () => {
    assert.equal(serializeComputeUnitId({ vmId: "a", vmssId: null }), '{"vmId":"a"}');
    assert.equal(serializeComputeUnitId({ vmssId: "b", vmId: "a" }), '{"vmId":"a","vmssId":"b"}');
    assert.equal(serializeComputeUnitId({ vmId: null, vmssId: "b" }), '{"vmssId":"b"}');
    assert.equal(serializeComputeUnitId({ vmId: "a", vmssId: "" }), '{"vmId":"a"}');
  });
});

describe("BindingKey", () => {
  test("is RSA-2048, matches only its own certificate key, and never shows its private key", async () => {
    const key = await BindingKey.generate();
    const other = await BindingKey.generate();
    assert.equal(key.privateKey.asymmetricKeyType, "rsa");
    assert.equal(key.privateKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.ok(!key.publicKeySpki.equals(other.publicKeySpki));

    const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const keys = {
      privateKey: await crypto.subtle.importKey(
        "pkcs8",
        new Uint8Array(key.privateKey.export({ type: "pkcs8", format: "der" })),
        algorithm,
        false,
        ["sign"],
      ),
      publicKey: await crypto.subtle.importKey("spki", new Uint8Array(key.publicKeySpki), algorithm, true, ["verify"]),
    };
    const selfSigned = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=binding",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      keys,
    });
    const certificate = new X509Certificate(Buffer.from(selfSigned.rawData));
    assert.equal(key.matches(certificate), true);
    assert.equal(other.matches(certificate), false);

    const pem = key.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const body = pem.split("\n")[1] ?? "";
    for (const shown of [JSON.stringify(key), inspect(key), inspect({ nested: key }, { depth: 5 }), String(key)]) {
      assert.ok(!shown.includes(body), "private key material must not be shown");
      assert.ok(!shown.includes("PRIVATE KEY"));
    }
  });
});
