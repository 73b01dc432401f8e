import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import type forgeTypes from "node-forge";
import { loadForge, type Forge } from "../dependencies.ts";
import { LoadedCertificate } from "./loadedCertificate.ts";
import { decodeWithOffThreadDerivation, IterationLimitError } from "./pkcs12KeyDerivation.ts";
import { SourceUnavailableError } from "./types.ts";

/**
 * The largest certificate input accepted (PEM text, DER or PFX bytes). Real certificate files are a
 * few kilobytes; the bound keeps a wrong path (a log file, a disk image) from being parsed for
 * seconds by a pure-JavaScript ASN.1 decoder.
 */
export const MAX_CERTIFICATE_INPUT_BYTES = 4 * 1024 * 1024;

/** The private key that goes with a certificate, when it is given apart from it. */
export interface PrivateKeyInput {
  /** PEM (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8 or legacy encrypted PEM) or a `KeyObject`. */
  readonly privateKey?: string | KeyObject | undefined;
  /** The password of an encrypted PEM key. Never put into a message. */
  readonly password?: string | undefined;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const PRIVATE_KEY_LABELS = new Set(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"]);
const DER_SEQUENCE = 0x30;

/**
 * Parses PEM text holding certificates (leaf and chain, in any order) and usually the private key.
 *
 * @param pem - the PEM text
 * @param key - a private key given apart from the PEM, and the password of an encrypted key
 * @returns the certificate chain ordered leaf first, with the key that matches the leaf
 * @throws SourceUnavailableError - with a reason that names the problem and never the password
 */
export function parsePemCertificate(pem: string, key: PrivateKeyInput = {}): LoadedCertificate {
  if (Buffer.byteLength(pem, "utf8") > MAX_CERTIFICATE_INPUT_BYTES) throw tooLarge();
  const text = pem.replace(/^\uFEFF/, "");
  if (text.trim() === "") throw new SourceUnavailableError("the certificate is empty");
  const certificates: X509Certificate[] = [];
  const keyBlocks: string[] = [];
  let blockCount = 0;
  for (const match of text.matchAll(PEM_BLOCK)) {
    blockCount++;
    const label = match[1] ?? "";
    const block = match[0];
    if (label === "CERTIFICATE" || label === "X509 CERTIFICATE") {
      certificates.push(parseCertificateBlock(block, certificates.length + 1));
    } else if (PRIVATE_KEY_LABELS.has(label)) {
      keyBlocks.push(block);
    }
  }
  if (blockCount === 0) {
    throw new SourceUnavailableError(
      "this is not a certificate: no PEM block was found (expected -----BEGIN CERTIFICATE-----)",
    );
  }
  if (certificates.length === 0) {
    throw new SourceUnavailableError(
      "no certificate was found in the PEM text, only other blocks (expected -----BEGIN CERTIFICATE-----)",
    );
  }
  const keys =
    key.privateKey !== undefined
      ? [toPrivateKey(key.privateKey, key.password)]
      : keyBlocks.map((block) => pemPrivateKey(block, key.password));
  return assemble(certificates, keys);
}

/**
 * Parses a DER certificate (the leaf alone) with its private key given apart.
 *
 * @throws SourceUnavailableError - when the bytes are not a certificate or the key is missing or
 *   does not match
 */
export function parseDerCertificate(der: Uint8Array, key: PrivateKeyInput): LoadedCertificate {
  if (der.byteLength > MAX_CERTIFICATE_INPUT_BYTES) throw tooLarge();
  if (der.byteLength === 0) throw new SourceUnavailableError("the certificate is empty");
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (error) {
    throw new SourceUnavailableError("this is not a certificate: the bytes are neither PEM nor a DER X.509 certificate", {
      cause: error,
    });
  }
  const keys = key.privateKey === undefined ? [] : [toPrivateKey(key.privateKey, key.password)];
  return assemble([certificate], keys);
}

/**
 * Parses certificate bytes of unknown kind, looking at the content rather than a file extension:
 * PEM text, or a PKCS#12 (PFX/P12) file. A lone DER certificate is refused, as it has no key.
 *
 * @param bytes - the file content
 * @param password - the PFX password, or the password of an encrypted PEM key
 */
export async function parseCertificateBytes(bytes: Uint8Array, password: string | undefined): Promise<LoadedCertificate> {
  if (bytes.byteLength > MAX_CERTIFICATE_INPUT_BYTES) throw tooLarge();
  if (bytes.byteLength === 0) throw new SourceUnavailableError("the certificate is empty");
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (looksLikePem(buffer)) return parsePemCertificate(buffer.toString("utf8"), { password });
  if (buffer[0] !== DER_SEQUENCE) {
    throw new SourceUnavailableError("this is not a certificate: the content is neither a PKCS#12 (PFX/P12) file nor PEM");
  }
  if (isDerCertificate(buffer)) {
    throw new SourceUnavailableError(
      "no private key was found: this is a lone DER certificate; use a PFX/P12 file or a PEM file that holds the private key too",
    );
  }
  return parsePkcs12(buffer, password);
}

/**
 * Parses a PKCS#12 (PFX/P12) file with node-forge, which reads both the modern (PBES2, AES,
 * PBKDF2) and the legacy (RC2, 3DES) encryptions, RSA and EC keys alike; OpenSSL 3, behind
 * Node's TLS `pfx`, refuses the legacy ones that older Windows exports still produce. Its key
 * derivations run off the main thread (see `pkcs12KeyDerivation.ts`), so a file of any
 * iteration count never holds up the event loop.
 *
 * @param bytes - the PFX bytes
 * @param password - the password; when missing or empty, both the empty and the absent password are
 *   tried, as Windows and OpenSSL write either for "no password"
 */
export async function parsePkcs12(bytes: Uint8Array, password: string | undefined): Promise<LoadedCertificate> {
  if (bytes.byteLength > MAX_CERTIFICATE_INPUT_BYTES) throw tooLarge();
  if (bytes.byteLength === 0) throw new SourceUnavailableError("the PFX is empty");
  // node-forge is loaded by the first PFX, not by importing the package.
  const forge = await loadForge();
  let pfxAsn1: forgeTypes.asn1.Asn1;
  try {
    pfxAsn1 = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(bytes).toString("binary")));
  } catch (error) {
    throw new SourceUnavailableError("this is not a certificate: the content is not a readable PKCS#12 (PFX/P12) file", {
      cause: sanitizedCause(error),
    });
  }
  const candidates: (string | null)[] = password === undefined || password === "" ? ["", null] : [password];
  let pfx: forgeTypes.pkcs12.Pkcs12Pfx | undefined;
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      pfx = await decodeWithOffThreadDerivation(forge, () => forge.pkcs12.pkcs12FromAsn1(pfxAsn1, false, candidate as string));
      break;
    } catch (error) {
      if (error instanceof IterationLimitError) {
        throw new SourceUnavailableError(`${error.message}; export it again with fewer iterations (OpenSSL: -iter 600000 or less)`);
      }
      lastError = error;
      if (!isPasswordError(error)) break;
    }
  }
  if (pfx === undefined) {
    if (isPasswordError(lastError)) {
      throw new SourceUnavailableError("the PFX password is wrong or missing", { cause: sanitizedCause(lastError) });
    }
    throw new SourceUnavailableError(
      "this is not a certificate: the content is not a readable PKCS#12 (PFX/P12) file, or it uses an encryption that is not supported",
      { cause: sanitizedCause(lastError) },
    );
  }
  return assemble(pfxCertificates(forge, pfx), pfxPrivateKeys(forge, pfx));
}

function pfxCertificates(forge: Forge, pfx: forgeTypes.pkcs12.Pkcs12Pfx): X509Certificate[] {
  const oids = forge.pki.oids;
  const certBagOid = oids["certBag"] ?? "1.2.840.113549.1.12.10.1.3";
  const bags = pfx.getBags({ bagType: certBagOid })[certBagOid] ?? [];
  const certificates: X509Certificate[] = [];
  for (const bag of bags) {
    // forge decodes RSA certificates into `cert` and leaves the others (EC) as raw ASN.1.
    const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : (bag.asn1 as forgeTypes.asn1.Asn1 | undefined);
    if (asn1 === undefined) continue;
    try {
      certificates.push(new X509Certificate(Buffer.from(forge.asn1.toDer(asn1).getBytes(), "binary")));
    } catch (error) {
      throw new SourceUnavailableError("the PFX holds a certificate that cannot be read", { cause: sanitizedCause(error) });
    }
  }
  if (certificates.length === 0) throw new SourceUnavailableError("the PFX holds no certificate");
  return certificates;
}

function pfxPrivateKeys(forge: Forge, pfx: forgeTypes.pkcs12.Pkcs12Pfx): KeyObject[] {
  const oids = forge.pki.oids;
  const shroudedOid = oids["pkcs8ShroudedKeyBag"] ?? "1.2.840.113549.1.12.10.1.2";
  const plainOid = oids["keyBag"] ?? "1.2.840.113549.1.12.10.1.1";
  const bags = [
    ...(pfx.getBags({ bagType: shroudedOid })[shroudedOid] ?? []),
    ...(pfx.getBags({ bagType: plainOid })[plainOid] ?? []),
  ];
  const keys: KeyObject[] = [];
  for (const bag of bags) {
    // forge decodes RSA keys into `key`; for other types (EC) `asn1` is the decrypted PrivateKeyInfo.
    const privateKeyInfo = bag.key
      ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key))
      : (bag.asn1 as forgeTypes.asn1.Asn1 | undefined);
    if (privateKeyInfo === undefined) continue;
    try {
      const der = Buffer.from(forge.asn1.toDer(privateKeyInfo).getBytes(), "binary");
      keys.push(createPrivateKey({ key: der, format: "der", type: "pkcs8" }));
    } catch (error) {
      throw new SourceUnavailableError("the PFX holds a private key that cannot be read", {
        cause: sanitizedCause(error),
      });
    }
  }
  return keys;
}

/** Finds the leaf (the certificate that matches a key) and orders the rest of the chain after it. */
function assemble(certificates: readonly X509Certificate[], keys: readonly KeyObject[]): LoadedCertificate {
  const unique = dedupe(certificates);
  const first = unique[0];
  if (first === undefined) throw new SourceUnavailableError("no certificate was found");
  if (keys.length === 0) {
    throw new SourceUnavailableError(
      `no private key was found with the certificate ${thumbprint(first)}; supply the private key with it`,
    );
  }
  for (const key of keys) {
    const leaf = unique.find((certificate) => keyMatches(certificate, key));
    if (leaf !== undefined) return new LoadedCertificate(orderChain(leaf, unique), key);
  }
  throw new SourceUnavailableError(
    `the private key does not match the certificate ${thumbprint(first)} (subject ${first.subject.replaceAll("\n", ", ")}); ` +
      "supply the key that belongs to this certificate",
  );
}

/** Leaf first, then each issuer in turn; certificates that link to nothing keep their order at the end. */
function orderChain(leaf: X509Certificate, certificates: readonly X509Certificate[]): X509Certificate[] {
  const chain = [leaf];
  const remaining = certificates.filter((certificate) => certificate !== leaf);
  let current = leaf;
  while (!isSelfIssued(current)) {
    const index = remaining.findIndex((candidate) => isIssuedBy(current, candidate));
    const issuer = index < 0 ? undefined : remaining.splice(index, 1)[0];
    if (issuer === undefined) break;
    chain.push(issuer);
    current = issuer;
  }
  return [...chain, ...remaining];
}

function isIssuedBy(subject: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function isSelfIssued(certificate: X509Certificate): boolean {
  return certificate.subject === certificate.issuer && isIssuedBy(certificate, certificate);
}

function keyMatches(certificate: X509Certificate, key: KeyObject): boolean {
  try {
    return certificate.checkPrivateKey(key);
  } catch {
    return false;
  }
}

function dedupe(certificates: readonly X509Certificate[]): X509Certificate[] {
  const unique: X509Certificate[] = [];
  for (const certificate of certificates) {
    if (!unique.some((seen) => seen.raw.equals(certificate.raw))) unique.push(certificate);
  }
  return unique;
}

function parseCertificateBlock(block: string, position: number): X509Certificate {
  try {
    return new X509Certificate(block);
  } catch (error) {
    throw new SourceUnavailableError(`certificate number ${position} in the PEM text cannot be read`, { cause: error });
  }
}

function toPrivateKey(key: string | KeyObject, password: string | undefined): KeyObject {
  if (typeof key === "string") {
    const block = key.match(PEM_BLOCK)?.find((candidate) => PRIVATE_KEY_LABELS.has(pemLabel(candidate)));
    if (block === undefined) {
      throw new SourceUnavailableError(
        "the private key is not a PEM private key (expected -----BEGIN PRIVATE KEY----- or a PKCS#1/SEC1/encrypted variant)",
      );
    }
    return pemPrivateKey(block, password);
  }
  if (key.type !== "private") {
    throw new SourceUnavailableError(`the private key KeyObject is a ${key.type} key, not a private key`);
  }
  return key;
}

function pemPrivateKey(block: string, password: string | undefined): KeyObject {
  const encrypted = pemLabel(block) === "ENCRYPTED PRIVATE KEY" || /Proc-Type:\s*4,ENCRYPTED/.test(block);
  if (encrypted && (password === undefined || password === "")) {
    throw new SourceUnavailableError("the private key is encrypted and no password was given for it");
  }
  try {
    return createPrivateKey(encrypted && password !== undefined ? { key: block, passphrase: password } : { key: block });
  } catch (error) {
    const code = errorCode(error);
    if (code === "ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED" || code === "ERR_MISSING_PASSPHRASE") {
      throw new SourceUnavailableError("the private key is encrypted and no password was given for it");
    }
    if (encrypted) {
      throw new SourceUnavailableError("the private key password is wrong", { cause: sanitizedCause(error) });
    }
    throw new SourceUnavailableError("the private key cannot be read (it is not a valid PEM private key)", {
      cause: sanitizedCause(error),
    });
  }
}

function pemLabel(block: string): string {
  return /-----BEGIN ([A-Z0-9 ]+)-----/.exec(block)?.[1] ?? "";
}

function looksLikePem(buffer: Buffer): boolean {
  return buffer.subarray(0, 64 * 1024).toString("latin1").includes("-----BEGIN ");
}

function isDerCertificate(buffer: Buffer): boolean {
  try {
    new X509Certificate(buffer);
    return true;
  } catch {
    return false;
  }
}

function isPasswordError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : "";
  return /MAC could not be verified|Invalid password|wrong password|Unable to decrypt/i.test(message);
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}

/**
 * node-forge and OpenSSL errors carry fixed texts, but some hold the parsed ASN.1 or buffers;
 * keep only the message and code so a cause that ends up in a log holds nothing of the input.
 */
function sanitizedCause(error: unknown): Error | undefined {
  if (!(error instanceof Error)) return undefined;
  const clean = new Error(error.message);
  const code = errorCode(error);
  if (code !== undefined) Object.assign(clean, { code });
  return clean;
}

function thumbprint(certificate: X509Certificate): string {
  return certificate.fingerprint256.replaceAll(":", "");
}

function tooLarge(): SourceUnavailableError {
  return new SourceUnavailableError(
    `the certificate input is larger than ${MAX_CERTIFICATE_INPUT_BYTES / (1024 * 1024)} MiB, which no certificate file is; check that it names the right file`,
  );
}
