import { createHash, X509Certificate } from "node:crypto";
import { readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import type { Pkcs11CredentialDescription } from "../configuration/types.ts";
import { credentialLogger } from "../logging.ts";
import { createEngineContext } from "../transport/httpClient.ts";
import { CachedSource } from "./cachedSource.ts";
import { MAX_CERTIFICATE_INPUT_BYTES } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import type { Normalized, SourceContext, SourceDescriptor } from "./descriptor.ts";
import { readFileSnapshot } from "./fileReading.ts";
import { type EngineKeyReference, LoadedCertificate, type TokenKey } from "./loadedCertificate.ts";
import { findEngineDirectory, INSTALL_ENGINE, opensslMajor } from "./pkcs11/engine.ts";
import type { OpenedKey, Pkcs11Selector } from "./pkcs11/program.ts";
import { loadBinding, Pkcs11Session, Pkcs11UnavailableError } from "./pkcs11/session.ts";
import { describePkcs11Uri, engineKeyUri, parsePkcs11Uri, Pkcs11UriError } from "./pkcs11/uri.ts";
import { withContext } from "./reasons.ts";
import { SecretValue, SourceUnavailableError, type SourceMaterial } from "./types.ts";

const logger = credentialLogger("BoundClientCredential");

/** A PIN file is a line or two; anything larger is not one. */
const MAX_PIN_FILE_BYTES = 4096;

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
    const binding = await withContextAsyncKeep(what, loadBinding);
    const engineDirectory = this.#bound ? this.#engineDirectory(what) : undefined;
    const pin = await this.#pin(what);
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
      const failure = inContext(what, error);
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
    if (engineKey !== undefined) this.#checkEngine(engineKey, certificate, what);
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

  #engineDirectory(what: string): string {
    if (opensslMajor() !== 3) {
      throw new SourceUnavailableError(
        `${what} cannot be bound: this Node.js uses OpenSSL ${process.versions.openssl}, and the pkcs11 engine needs OpenSSL 3's engine interface; use a Node.js built with OpenSSL 3 (Node.js 22 or 24 from nodejs.org or Debian/Ubuntu), or drop useBoundCredential`,
      );
    }
    const directory = findEngineDirectory(this.#env);
    if (directory === undefined) throw new SourceUnavailableError(`${what} cannot be bound: OpenSSL's pkcs11 engine (pkcs11.so) was not found: ${INSTALL_ENGINE}`);
    return directory;
  }

  /** Loads the key through the engine once, so that a missing engine or a refused key is known before a handshake needs it. */
  #checkEngine(engineKey: EngineKeyReference, certificate: LoadedCertificate, what: string): void {
    try {
      createEngineContext(engineKey, { cert: certificate.leaf.toString() });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // Node.js built without OpenSSL engines (OPENSSL_NO_ENGINE) throws this code for any privateKeyEngine.
      if ((error as { code?: unknown }).code === "ERR_CRYPTO_CUSTOM_ENGINE_NOT_SUPPORTED") {
        throw new SourceUnavailableError(
          `${what} cannot be bound: this Node.js (${process.version}, OpenSSL ${process.versions.openssl}) was built without OpenSSL engines, which a token's key in TLS needs: use a Node.js from nodejs.org or your distribution, or drop useBoundCredential (unbound entries need no engine)`,
        );
      }
      const cause = /engine|DSO/i.test(message) ? `OpenSSL's pkcs11 engine could not load the key (${firstLine(message)}): ${INSTALL_ENGINE}` : `OpenSSL refused the key for TLS (${firstLine(message)})`;
      throw new SourceUnavailableError(`${what} cannot be bound: ${cause}`);
    }
  }

  async #pin(what: string): Promise<SecretValue | undefined> {
    const d = this.#description;
    if (d.pinSource === undefined) return d.pin;
    const snapshot = await withContextAsyncKeep(what, () => readFileSnapshot(d.pinSource!, MAX_PIN_FILE_BYTES, "the pin-source file"));
    // A PIN file holds the PIN on its first line, as p11-kit and libp11 read pin-source files.
    const pin = snapshot.bytes.toString("utf8").split(/\r?\n/)[0] ?? "";
    return new SecretValue(pin);
  }

  /** The certificate chain, leaf first: from certificateDiskPath or the token, checked against the token's key. */
  async #chain(opened: OpenedKey, what: string): Promise<X509Certificate[]> {
    const d = this.#description;
    let certificates: X509Certificate[];
    let from: string;
    if (d.certificateDiskPath !== undefined) {
      from = `the certificate file ${d.certificateDiskPath}`;
      const snapshot = await withContextAsyncKeep(from, () => readFileSnapshot(d.certificateDiskPath!, MAX_CERTIFICATE_INPUT_BYTES, "the certificate file"));
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

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? "").slice(0, 200);
}

/** A SourceUnavailableError whose reason starts with `what`; a reason that already names it is kept. */
function inContext(what: string, error: unknown): SourceUnavailableError {
  if (error instanceof SourceUnavailableError) return new SourceUnavailableError(`${what} cannot be used: ${error.reason}`);
  return new SourceUnavailableError(`${what} cannot be used: ${firstLine(error instanceof Error ? error.message : String(error))}`);
}

async function withContextAsyncKeep<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw inContext(what, error);
  }
}

/** The `Pkcs11` source type. */
export const pkcs11SourceType: SourceDescriptor<"Pkcs11", NormalizedPkcs11Description> = {
  sourceType: "Pkcs11",
  keys: ["pkcs11Uri", "pkcs11ModulePath", "pkcs11Pin", "certificateDiskPath"],
  read({ c, entry, path, context }) {
    const text = readString(c, entry, "pkcs11Uri", path, {
      required: true,
      requiredFor: "a Pkcs11 entry",
      meaning: 'an RFC 7512 URI of the private key, such as "pkcs11:token=app;object=signing;type=private"',
    })!;
    let uri;
    try {
      uri = parsePkcs11Uri(text);
    } catch (error) {
      if (error instanceof Pkcs11UriError) c.fail("BCC_INVALID_VALUE", [...path, "pkcs11Uri"], error.problem, error.remedy);
      throw error;
    }
    const givenModule = readString(c, entry, "pkcs11ModulePath", path, { meaning: "the path of the PKCS#11 module (a .so, .dylib or .dll)" });
    if (givenModule !== undefined && uri.modulePath !== undefined && givenModule !== uri.modulePath) {
      c.fail("BCC_CONFLICTING_FIELDS", [...path, "pkcs11ModulePath"], "names another module than the module-path of pkcs11Uri.", "Give the module once: in pkcs11ModulePath or as module-path in the URI.");
    }
    const envModule = context.env["PKCS11_MODULE_PATH"];
    const pkcs11ModulePath = givenModule ?? uri.modulePath ?? (envModule === "" ? undefined : envModule);
    if (pkcs11ModulePath === undefined) {
      return c.fail(
        "BCC_MISSING_FIELD",
        [...path, "pkcs11ModulePath"],
        "is required for a Pkcs11 entry when PKCS11_MODULE_PATH is not set and pkcs11Uri has no module-path.",
        "Set it to the PKCS#11 module, such as /usr/lib/softhsm/libsofthsm2.so (SoftHSM) or /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so (tpm2-pkcs11).",
      );
    }
    const pkcs11Pin = readString(c, entry, "pkcs11Pin", path, { allowEmpty: true, meaning: "the user PIN of the token" });
    if (pkcs11Pin !== undefined && (uri.pinValue !== undefined || uri.pinSource !== undefined)) {
      c.fail("BCC_CONFLICTING_FIELDS", [...path, "pkcs11Pin"], `is set, and pkcs11Uri has ${uri.pinValue !== undefined ? "pin-value" : "pin-source"} too.`, "Give the PIN one way only.");
    }
    const certificateDiskPath = readString(c, entry, "certificateDiskPath", path, { meaning: "the path of the certificate (PEM or DER) issued for the token's key" });
    const pin = pkcs11Pin ?? uri.pinValue;
    const selector: Pkcs11Selector = {
      token: uri.token,
      manufacturer: uri.manufacturer,
      serial: uri.serial,
      model: uri.model,
      slotId: uri.slotId,
      slotDescription: uri.slotDescription,
      slotManufacturer: uri.slotManufacturer,
      libraryManufacturer: uri.libraryManufacturer,
      libraryDescription: uri.libraryDescription,
      libraryVersion: uri.libraryVersion,
      object: uri.object,
      idHex: uri.id?.toString("hex"),
    };
    const described = describePkcs11Uri(uri);
    return {
      description: {
        sourceType: "Pkcs11",
        pkcs11Uri: text,
        pkcs11ModulePath,
        ...(pkcs11Pin === undefined ? {} : { pkcs11Pin }),
        ...(certificateDiskPath === undefined ? {} : { certificateDiskPath }),
        uri: described,
        selector: Object.freeze(selector),
        pin: pin === undefined ? undefined : new SecretValue(pin),
        pinSource: uri.pinSource,
      },
      detail: `Pkcs11 ${described}`,
    };
  },
  create: (entry, context) => new Pkcs11Source(entry, context),
};
