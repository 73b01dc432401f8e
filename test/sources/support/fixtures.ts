import { HttpClient } from "../../../src/transport/httpClient.ts";
/**
 * Fixtures for the source tests: certificates from the emulator's PKI, a three-level chain, PFX
 * files made by the OpenSSL CLI, JWTs, temporary directories, and entries/options built directly
 * (the sources take validated entries; validation has its own tests).
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { SignJWT } from "jose";
import { execFile } from "node:child_process";
import { createPrivateKey, generateKeyPairSync, type KeyObject, webcrypto } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { NormalizedEntry, NormalizedEntryOf, NormalizedOptions } from "../../../src/configuration/normalized.ts";
import { DEFAULT_AUTHORITY_HOST } from "../../../src/constants.ts";
import { defaultTokenExchangeUrl } from "../../../src/sources/managedIdentitySourceType.ts";
import type { CredentialDescription } from "../../../src/configuration/types.ts";
import type { SourceContext } from "../../../src/sources/index.ts";

export { createCertificateAuthority } from "../../../src/emulator/pki.ts";
export type { CertificateAuthority, IssuedCertificate } from "../../../src/emulator/pki.ts";

x509.cryptoProvider.set(webcrypto as Crypto);

/** Canaries: none of these may ever appear in a reason, `JSON.stringify` or `util.inspect`. */
export const CANARY_PASSWORD = "canary-Passw0rd-5e1f0c";
export const CANARY_SECRET = "canary-client-secret-a71d9e";

const RSA: RsaHashedKeyGenParams & RsaHashedImportParams = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const DAY = 86_400_000;

/** A root → intermediate → leaf chain, PEM, with the leaf's key. */
export interface ThreeLevelChain {
  readonly rootPem: string;
  readonly intermediatePem: string;
  readonly leafPem: string;
  readonly leafKey: KeyObject;
  readonly leafKeyPem: string;
}

async function cryptoKeys(pair: { privateKey: KeyObject; publicKey: KeyObject }): Promise<CryptoKeyPair> {
  return {
    privateKey: await webcrypto.subtle.importKey(
      "pkcs8",
      pair.privateKey.export({ type: "pkcs8", format: "der" }),
      RSA,
      true,
      ["sign"],
    ),
    publicKey: await webcrypto.subtle.importKey(
      "spki",
      pair.publicKey.export({ type: "spki", format: "der" }),
      RSA,
      true,
      ["verify"],
    ),
  } as CryptoKeyPair;
}

/** Builds a root, an intermediate signed by it, and a client leaf signed by the intermediate. */
export async function createThreeLevelChain(): Promise<ThreeLevelChain> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + DAY);
  const rootPair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const intermediatePair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const leafPair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const [rootKeys, intermediateKeys, leafKeys] = await Promise.all([
    cryptoKeys(rootPair),
    cryptoKeys(intermediatePair),
    cryptoKeys(leafPair),
  ]);
  const caExtensions = async (keys: CryptoKeyPair) => [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=Chain Test Root",
    notBefore,
    notAfter,
    signingAlgorithm: RSA,
    keys: rootKeys,
    extensions: await caExtensions(rootKeys),
  });
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=Chain Test Intermediate",
    issuer: root.subject,
    notBefore,
    notAfter,
    signingAlgorithm: RSA,
    publicKey: intermediateKeys.publicKey,
    signingKey: rootKeys.privateKey,
    extensions: await caExtensions(intermediateKeys),
  });
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "03",
    subject: "CN=Chain Test Leaf",
    issuer: intermediate.subject,
    notBefore,
    notAfter,
    signingAlgorithm: RSA,
    publicKey: leafKeys.publicKey,
    signingKey: intermediateKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  return {
    rootPem: root.toString("pem") + "\n",
    intermediatePem: intermediate.toString("pem") + "\n",
    leafPem: leaf.toString("pem") + "\n",
    leafKey: leafPair.privateKey,
    leafKeyPem: leafPair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

/** The key of `privateKeyPem` re-encoded: PKCS#1 (RSA), SEC1 (EC), or encrypted PKCS#8. */
export function reencodeKey(
  privateKeyPem: string,
  form: "pkcs1" | "sec1" | "encrypted-pkcs8" | "encrypted-pkcs1",
  passphrase = CANARY_PASSWORD,
): string {
  const key = createPrivateKey(privateKeyPem);
  switch (form) {
    case "pkcs1":
      return key.export({ type: "pkcs1", format: "pem" }).toString();
    case "sec1":
      return key.export({ type: "sec1", format: "pem" }).toString();
    case "encrypted-pkcs8":
      return key.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase }).toString();
    case "encrypted-pkcs1":
      return key.export({ type: "pkcs1", format: "pem", cipher: "aes-256-cbc", passphrase }).toString();
  }
}

/** A temporary directory, removed by the returned function. */
export async function temporaryDirectory(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "bcc-sources-"));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

const execFileAsync = promisify(execFile);

/**
 * A PFX made by the OpenSSL CLI (`-legacy`: RC2-40 certificates, 3DES key, SHA-1 MAC, as older
 * Windows exports), or the reason it could not be made (no openssl, no legacy provider).
 */
export async function opensslPfx(
  directory: string,
  certificatePem: string,
  privateKeyPem: string,
  password: string,
  options: { legacy: boolean; chainPem?: string },
): Promise<Buffer | { skip: string }> {
  const certificatePath = join(directory, "openssl-cert.pem");
  const keyPath = join(directory, "openssl-key.pem");
  const outputPath = join(directory, options.legacy ? "openssl-legacy.pfx" : "openssl-modern.pfx");
  await writeFile(certificatePath, certificatePem);
  await writeFile(keyPath, privateKeyPem);
  const args = ["pkcs12", "-export", "-in", certificatePath, "-inkey", keyPath, "-out", outputPath];
  args.push("-passout", `pass:${password}`);
  if (options.chainPem !== undefined) {
    const chainPath = join(directory, "openssl-chain.pem");
    await writeFile(chainPath, options.chainPem);
    args.push("-certfile", chainPath);
  }
  if (options.legacy) args.push("-legacy");
  try {
    await execFileAsync("openssl", args, { timeout: 20_000 });
  } catch (error) {
    return { skip: `openssl could not make the PFX: ${(error as Error).message.split("\n")[0] ?? ""}` };
  }
  return readFile(outputPath);
}

/** A signed JWT with the given `exp` (seconds) and nothing secret but its signature. */
export async function signedJwt(exp: number | undefined, marker = "assertion"): Promise<string> {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwt = new SignJWT({ marker }).setProtectedHeader({ alg: "ES256" }).setIssuer("https://issuer.test");
  if (exp !== undefined) jwt.setExpirationTime(exp);
  return jwt.sign(privateKey);
}

/**
 * A validated entry of one source type, built directly (so that a test can give a source what
 * validation would refuse, such as an empty secret), for the source's own constructor.
 */
export function entryOf<D extends Exclude<CredentialDescription, { sourceType: "SignedAssertionFromManagedIdentity" }>>(
  description: D,
  options: { bound?: boolean; index?: number } = {},
): NormalizedEntryOf<Readonly<D>> {
  const index = options.index ?? 0;
  const bound = options.bound ?? description.useBoundCredential ?? false;
  return Object.freeze({
    index,
    id: `clientCredentials[${index}] (${description.sourceType}${bound ? ", bound" : ""})`,
    bound,
    skip: description.skip ?? false,
    description: Object.freeze({ ...description } as D),
  });
}

/**
 * An entry of any source type, built directly with the defaults validation applies (the public
 * cloud's token exchange audience), for `createSource`.
 */
export function anyEntryOf(description: CredentialDescription, options: { index?: number } = {}): NormalizedEntry {
  const index = options.index ?? 0;
  const bound = description.useBoundCredential ?? false;
  const withDefaults =
    description.sourceType === "SignedAssertionFromManagedIdentity"
      ? { ...description, tokenExchangeUrl: description.tokenExchangeUrl ?? defaultTokenExchangeUrl(DEFAULT_AUTHORITY_HOST) }
      : description;
  // Built by hand rather than by the validator, which refuses what some tests hand a source on purpose.
  return Object.freeze({
    index,
    id: `clientCredentials[${index}] (${description.sourceType}${bound ? ", bound" : ""})`,
    bound,
    skip: description.skip ?? false,
    description: Object.freeze({ ...withDefaults }),
  }) as NormalizedEntry;
}

/** Validated options, built directly, with the given overrides. */
export function optionsWith(overrides: Partial<NormalizedOptions> = {}): NormalizedOptions {
  return Object.freeze({
    tenantId: "11111111-1111-1111-1111-111111111111",
    clientId: "22222222-2222-2222-2222-222222222222",
    entries: [],
    authorityHost: "https://login.microsoftonline.com",
    mtlsAuthorityHost: undefined,
    azureRegion: undefined,
    imdsEndpoint: "http://169.254.169.254",
    additionallyAllowedTenants: [],
    sendCertificateChain: false,
    clientCapabilities: [],
    tlsCa: [],
    allowLoggingAccountIdentifiers: false,
    enableUnsafeSupportLogging: false,
    keyVaultCredential: undefined,
    customSignedAssertionProviders: {},
    attestationProvider: undefined,
    ...overrides,
  });
}

/** A source context with a settable clock. */
export function contextWith(
  overrides: { options?: NormalizedOptions; now?: () => number; env?: Record<string, string | undefined> } = {},
): SourceContext {
  return {
    options: overrides.options ?? optionsWith(),
    now: overrides.now ?? (() => Date.now()),
    env: overrides.env ?? {},
    // No test of these sources sends a request through it, so it never opens a socket.
    http: new HttpClient(),
  };
}

/** The shared test clock, by the name these tests know it. */
export { TestClock as ManualClock } from "../../helpers/index.ts";
