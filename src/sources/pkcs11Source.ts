import { createHash, X509Certificate } from "node:crypto";
import { readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import type { Pkcs11CredentialDescription } from "../configuration/types.ts";
import { credentialLogger } from "../logging.ts";
import { CachedSource } from "./cachedSource.ts";
import { MAX_CERTIFICATE_INPUT_BYTES } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import type { Normalized, SourceContext, SourceDescriptor } from "./descriptor.ts";
import { readFileSnapshot } from "./fileReading.ts";
import { type EngineKeyReference, LoadedCertificate, type TokenKey } from "./loadedCertificate.ts";
import { checkEngineKey, engineDirectoryFor, inPkcs11Context, readPin, readPkcs11Fields, withPkcs11Context } from "./pkcs11/fields.ts";
import type { OpenedKey, Pkcs11Selector } from "./pkcs11/program.ts";
import { loadBinding, Pkcs11Session, Pkcs11UnavailableError } from "./pkcs11/session.ts";
import { engineKeyUri } from "./pkcs11/uri.ts";
import { withContext } from "./reasons.ts";
import { type SecretValue, SourceUnavailableError, type SourceMaterial } from "./types.ts";

const logger = credentialLogger("BoundClientCredential");

/**
 * A `Pkcs11` entry as validated: the user's fields with the module path resolved, plus the URI
 * decoded into a selector, the URI without its PIN for messages, and the PIN wrapped.
 */
export type NormalizedPkcs11Description = Normalized<Pkcs11CredentialDescription, { readonly pkcs11ModulePath: string }> & {
  readonly uri: string;
  readonly selector: Pkcs11Selector;
  /** The PIN from `pkcs11Pin` or `pin-value`. */
  readonly pin: SecretValue | undefined;
  /** The file the PIN is read from (`pin-source`). */
  readonly pinSource: string | undefined;
};

/**
 * A `Pkcs11` entry: a certificate whose private key stays in a PKCS#11 token. Each load opens a
 * session in the entry's own child process, logs in, finds the key and its certificate, and checks that they
 * match; assertions are signed by the token, and a bound entry's TLS handshakes go through
 * OpenSSL's pkcs11 engine. A wrong PIN is remembered and not tried again, so that the entry does
 * not use up the token's retry counter.
 */
export class Pkcs11Source extends CachedSource {
  readonly #description: NormalizedPkcs11Description;
  readonly #bound: boolean;
  readonly #env: Readonly<Record<string, string | undefined>>;
  #session: Pkcs11Session | undefined;
  /** The reason a PIN was refused, and the SHA-256 of that PIN: it is not tried again, a new PIN (a rewritten pin-source file) is. */
  #pinRefused: { readonly pinSha256: string; readonly error: SourceUnavailableError } | undefined;

  constructor(entry: NormalizedEntryOf<NormalizedPkcs11Description>, context: Pick<SourceContext, "now" | "env">) {
    super(entry, context.now);
    this.#description = entry.description;
    this.#bound = entry.bound;
    this.#env = context.env;
  }

  protected override async read(): Promise<SourceMaterial> {
    const d = this.#description;
    const what = `the PKCS#11 key ${d.uri}`;
    const binding = await withPkcs11Context(what, loadBinding);
    const engineDirectory = this.#bound ? engineDirectoryFor(what, this.#env) : undefined;
    const pin = await readPin(d, what);
    const pinSha256 = createHash("sha256").update(pin?.reveal() ?? "").digest("hex");
    if (this.#pinRefused?.pinSha256 === pinSha256) throw this.#pinRefused.error;
    this.#session ??= new Pkcs11Session(binding, d.pkcs11ModulePath);
    let opened: OpenedKey;
    try {
      opened = await this.#session.open(d.selector, pin?.reveal());
      if (opened.login === "already-logged-in" && pin !== undefined) {
        // The entry's own process made no login: the module keeps one across processes, and its
        // C_Login cannot tell whether this PIN is right. An unchecked PIN is not accepted.
        throw new SourceUnavailableError(
          "the module reports the token logged in already (CKR_USER_ALREADY_LOGGED_IN) in a process that did not log in, so the PIN cannot be checked: log the token out, or use a module that keeps logins per process",
        );
      }
    } catch (error) {
      const failure = inPkcs11Context(what, error);
      if (error instanceof Pkcs11UnavailableError && error.kind === "pin-incorrect") this.#pinRefused = { pinSha256, error: failure };
      throw failure;
    }
    const chain = await this.#chain(opened, what);
    const session = this.#session;
    const engineKey: EngineKeyReference | undefined =
      engineDirectory === undefined
        ? undefined
        : {
            engine: "pkcs11",
            identifier: engineKeyUri({ token: opened.token.label, serial: opened.token.serial, id: idBytes(opened.key.idHex), label: opened.key.label }, pin?.reveal()),
            environment: { OPENSSL_ENGINES: engineDirectory, PKCS11_MODULE_PATH: d.pkcs11ModulePath },
          };
    const tokenKey: TokenKey = { keyType: "rsa", signPs256: (data) => session.sign(data), engineKey };
    const certificate = new LoadedCertificate(chain, tokenKey);
    withContext(what, () => assertCertificateTimeValid(certificate, this.now()));
    if (engineKey !== undefined) checkEngineKey(engineKey, certificate.leaf.toString(), what);
    logger.verbose(
      `${this.entryId} => PKCS#11 key on token "${opened.token.label}" (${opened.key.sensitive ? "sensitive" : "not sensitive"}, ${opened.key.extractable ? "extractable" : "not extractable"}), ` +
        `PIN ${opened.login === "verified" ? "checked by C_Login in the entry's own process" : "not given (the token was logged in)"}, certificate from ${d.certificateDiskPath ?? "the token"}`,
    );
    return { kind: "certificate", certificate };
  }

  /** Ends the process that holds the session; a later load opens another. */
  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    await session?.close();
  }

  /** The certificate chain, leaf first: from certificateDiskPath or the token, checked against the token's key. */
  async #chain(opened: OpenedKey, what: string): Promise<X509Certificate[]> {
    const d = this.#description;
    let certificates: X509Certificate[];
    let from: string;
    if (d.certificateDiskPath !== undefined) {
      from = `the certificate file ${d.certificateDiskPath}`;
      const snapshot = await withPkcs11Context(from, () => readFileSnapshot(d.certificateDiskPath!, MAX_CERTIFICATE_INPUT_BYTES, "the certificate file"));
      certificates = withContext(from, () => parseCertificates(snapshot.bytes));
    } else {
      from = "the token";
      certificates = opened.certificates.flatMap((der) => {
        try {
          return [new X509Certificate(Buffer.from(der, "base64"))];
        } catch {
          return [];
        }
      });
      if (certificates.length === 0) {
        throw new SourceUnavailableError(
          `${what} cannot be used: the token has no certificate object with the key's ${opened.key.idHex === undefined ? "label" : "id"}: import it (pkcs11-tool --write-object cert.der --type cert --id <id>), or give certificateDiskPath`,
        );
      }
    }
    const n = Buffer.from(opened.key.modulus, "base64");
    const e = Buffer.from(opened.key.exponent, "base64");
    const leaf = certificates.find((c) => publicKeyMatches(c, n, e));
    if (leaf === undefined) {
      throw new SourceUnavailableError(`${what} cannot be used: the key does not match the certificate from ${from} (their RSA public keys differ): give the certificate issued for this key`);
    }
    return [leaf, ...certificates.filter((c) => c !== leaf)];
  }
}

/** The certificates of a PEM or DER file. */
function parseCertificates(bytes: Buffer): X509Certificate[] {
  if (bytes.length === 0) throw new SourceUnavailableError("the file is empty");
  const text = bytes.toString("latin1");
  if (text.includes("-----BEGIN")) {
    const blocks = [...text.matchAll(/-----BEGIN (?:X509 )?CERTIFICATE-----[\s\S]+?-----END (?:X509 )?CERTIFICATE-----/g)];
    if (blocks.length === 0) throw new SourceUnavailableError("it has no PEM CERTIFICATE block");
    return blocks.map((block) => new X509Certificate(block[0]));
  }
  return [new X509Certificate(bytes)];
}

/** Whether the certificate's RSA public key is (n, e). */
function publicKeyMatches(certificate: X509Certificate, n: Buffer, e: Buffer): boolean {
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "rsa-pss") return false;
  const jwk = key.export({ format: "jwk" });
  const strip = (b: Buffer): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    return b.subarray(i);
  };
  return typeof jwk.n === "string" && typeof jwk.e === "string" && strip(Buffer.from(jwk.n, "base64url")).equals(strip(n)) && strip(Buffer.from(jwk.e, "base64url")).equals(strip(e));
}

function idBytes(idHex: string | undefined): Buffer | undefined {
  return idHex === undefined ? undefined : Buffer.from(idHex, "hex");
}

/** The `Pkcs11` source type. */
export const pkcs11SourceType: SourceDescriptor<"Pkcs11", NormalizedPkcs11Description> = {
  sourceType: "Pkcs11",
  keys: ["pkcs11Uri", "pkcs11ModulePath", "pkcs11Pin", "certificateDiskPath"],
  read(fields) {
    const { c, entry, path } = fields;
    const p = readPkcs11Fields(fields, "pkcs11Uri", {
      required: true,
      requiredFor: "a Pkcs11 entry",
      namesKey: true,
      meaning: 'an RFC 7512 URI of the private key, such as "pkcs11:token=app;object=signing;type=private"',
    })!;
    const certificateDiskPath = readString(c, entry, "certificateDiskPath", path, { meaning: "the path of the certificate (PEM or DER) issued for the token's key" });
    return {
      description: {
        sourceType: "Pkcs11",
        pkcs11Uri: p.text,
        pkcs11ModulePath: p.modulePath,
        ...(p.pkcs11Pin === undefined ? {} : { pkcs11Pin: p.pkcs11Pin }),
        ...(certificateDiskPath === undefined ? {} : { certificateDiskPath }),
        uri: p.described,
        selector: p.selector,
        pin: p.pin,
        pinSource: p.pinSource,
      },
      detail: `Pkcs11 ${p.described}`,
    };
  },
  create: (entry, context) => new Pkcs11Source(entry, context),
};
