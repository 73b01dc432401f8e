/**
 * What every use of a PKCS#11 token shares, whether it holds a certificate's key (`Pkcs11`
 * entries) or a managed identity's binding keys: reading the URI, module and PIN fields of an
 * entry, reading a `pin-source` file, finding OpenSSL's pkcs11 engine for a bound key, and the
 * reasons given when any of it fails.
 */
import { readString } from "../../configuration/checks.ts";
import { createEngineContext } from "../../transport/httpClient.ts";
import type { EntryFields } from "../descriptor.ts";
import { readFileSnapshot } from "../fileReading.ts";
import type { EngineKeyReference } from "../loadedCertificate.ts";
import { SecretValue, SourceUnavailableError } from "../types.ts";
import { findEngineDirectory, INSTALL_ENGINE, opensslMajor } from "./engine.ts";
import type { Pkcs11Selector } from "./program.ts";
import { describePkcs11Uri, type Pkcs11Uri, parsePkcs11Uri, Pkcs11UriError } from "./uri.ts";

/** A PIN file is a line or two; anything larger is not one. */
const MAX_PIN_FILE_BYTES = 4096;

/** The PKCS#11 fields of an entry, checked: the URI decoded, the module resolved, the PIN wrapped. */
export interface Pkcs11Fields {
  /** The URI as given; it may hold the PIN, so it is never shown. */
  readonly text: string;
  readonly uri: Pkcs11Uri;
  /** The URI without its PIN, for messages and entry ids. */
  readonly described: string;
  readonly selector: Pkcs11Selector;
  /** `pkcs11ModulePath`, the URI's `module-path` or `PKCS11_MODULE_PATH`. */
  readonly modulePath: string;
  /** `pkcs11Pin` as given, to keep in the description. */
  readonly pkcs11Pin: string | undefined;
  /** The PIN from `pkcs11Pin` or `pin-value`. */
  readonly pin: SecretValue | undefined;
  /** The file the PIN is read from (`pin-source`). */
  readonly pinSource: string | undefined;
}

/**
 * Reads the URI field `uriKey` with `pkcs11ModulePath` and `pkcs11Pin` of an entry, failing with the
 * configuration error of the first mistake.
 *
 * @param uriKey - `pkcs11Uri` or `bindingKeyPkcs11Uri`
 * @param rules - whether the URI is required and must name a key, and what it names, for messages
 */
export function readPkcs11Fields(
  { c, entry, path, context }: EntryFields,
  uriKey: string,
  rules: {
    readonly required: boolean;
    readonly requiredFor: string;
    readonly meaning: string;
    /** Whether the URI must name a key (`object` or `id`); a token for keys yet to be generated need not. */
    readonly namesKey: boolean;
  },
): Pkcs11Fields | undefined {
  const text = readString(c, entry, uriKey, path, rules);
  if (text === undefined) return undefined;
  let uri: Pkcs11Uri;
  try {
    uri = parsePkcs11Uri(text, { namesKey: rules.namesKey });
  } catch (error) {
    if (error instanceof Pkcs11UriError) c.fail("BCC_INVALID_VALUE", [...path, uriKey], error.problem, error.remedy);
    throw error;
  }
  const uriName = c.key(uriKey);
  const givenModule = readString(c, entry, "pkcs11ModulePath", path, { meaning: "the path of the PKCS#11 module (a .so, .dylib or .dll)" });
  if (givenModule !== undefined && uri.modulePath !== undefined && givenModule !== uri.modulePath) {
    c.fail("BCC_CONFLICTING_FIELDS", [...path, "pkcs11ModulePath"], `names another module than the module-path of ${uriName}.`, "Give the module once: in pkcs11ModulePath or as module-path in the URI.");
  }
  const envModule = context.env["PKCS11_MODULE_PATH"];
  const modulePath = givenModule ?? uri.modulePath ?? (envModule === "" ? undefined : envModule);
  if (modulePath === undefined) {
    return c.fail(
      "BCC_MISSING_FIELD",
      [...path, "pkcs11ModulePath"],
      `is required for ${rules.requiredFor} when PKCS11_MODULE_PATH is not set and ${uriName} has no module-path.`,
      "Set it to the PKCS#11 module, such as /usr/lib/softhsm/libsofthsm2.so (SoftHSM) or /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so (tpm2-pkcs11).",
    );
  }
  const pkcs11Pin = readString(c, entry, "pkcs11Pin", path, { allowEmpty: true, meaning: "the user PIN of the token" });
  if (pkcs11Pin !== undefined && (uri.pinValue !== undefined || uri.pinSource !== undefined)) {
    c.fail("BCC_CONFLICTING_FIELDS", [...path, "pkcs11Pin"], `is set, and ${uriName} has ${uri.pinValue !== undefined ? "pin-value" : "pin-source"} too.`, "Give the PIN one way only.");
  }
  const pin = pkcs11Pin ?? uri.pinValue;
  const selector: Pkcs11Selector = Object.freeze({
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
  });
  return {
    text,
    uri,
    described: describePkcs11Uri(uri),
    selector,
    modulePath,
    pkcs11Pin,
    pin: pin === undefined ? undefined : new SecretValue(pin),
    pinSource: uri.pinSource,
  };
}

/** The PIN: given, or the first line of the `pin-source` file, as p11-kit and libp11 read such files. */
export async function readPin(fields: Pick<Pkcs11Fields, "pin" | "pinSource">, what: string): Promise<SecretValue | undefined> {
  const source = fields.pinSource;
  if (source === undefined) return fields.pin;
  const snapshot = await withPkcs11Context(what, () => readFileSnapshot(source, MAX_PIN_FILE_BYTES, "the pin-source file"));
  return new SecretValue(snapshot.bytes.toString("utf8").split(/\r?\n/)[0] ?? "");
}

/**
 * The directory of OpenSSL's pkcs11 engine, for a key that goes into TLS handshakes.
 *
 * @throws SourceUnavailableError when this Node.js or this machine cannot use the engine
 */
export function engineDirectoryFor(what: string, env: Readonly<Record<string, string | undefined>>): string {
  if (opensslMajor() !== 3) {
    throw new SourceUnavailableError(
      `${what} cannot be bound: this Node.js uses OpenSSL ${process.versions.openssl}, and the pkcs11 engine needs OpenSSL 3's engine interface; use a Node.js built with OpenSSL 3 (Node.js 22 or 24 from nodejs.org or Debian/Ubuntu), or drop useBoundCredential`,
    );
  }
  const directory = findEngineDirectory(env);
  if (directory === undefined) throw new SourceUnavailableError(`${what} cannot be bound: OpenSSL's pkcs11 engine (pkcs11.so) was not found: ${INSTALL_ENGINE}`);
  return directory;
}

/**
 * Loads the key through the engine once, so that a missing engine or a refused key is known
 * before a handshake needs it; with the certificate, OpenSSL also checks that they match.
 */
export function checkEngineKey(engineKey: EngineKeyReference, certificatePem: string | undefined, what: string): void {
  try {
    createEngineContext(engineKey, certificatePem === undefined ? {} : { cert: certificatePem });
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

/**
 * A SourceUnavailableError whose reason starts with `what`. Unlike `withContext` of
 * `../reasons.ts`, an unexpected error keeps the first line of its message: a module's failures
 * are the only account of what went wrong in the token, and never carry the PIN.
 */
export function inPkcs11Context(what: string, error: unknown): SourceUnavailableError {
  if (error instanceof SourceUnavailableError) return new SourceUnavailableError(`${what} cannot be used: ${error.reason}`);
  return new SourceUnavailableError(`${what} cannot be used: ${firstLine(error instanceof Error ? error.message : String(error))}`);
}

/** Runs `work`, turning its failure into {@link inPkcs11Context}. */
export async function withPkcs11Context<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw inPkcs11Context(what, error);
  }
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? "").slice(0, 200);
}
