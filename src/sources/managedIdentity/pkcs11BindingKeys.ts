/**
 * Binding keys generated in a PKCS#11 token (an HSM, a TPM through tpm2-pkcs11), for a bound
 * managed identity whose key must not live in the process's memory, as MSAL.NET's IMDS v2 source
 * insists on a KeyGuard key (`ManagedIdentity/V2/ImdsV2ManagedIdentitySource.cs`). Each key is
 * generated in the token as a sensitive, non-extractable token object (so that OpenSSL's pkcs11
 * engine, which presents it in TLS handshakes, finds it), signs its CSR through the token, and is
 * destroyed once its certificate is no longer used.
 *
 * Calls to the token go through a {@link Pkcs11Session}: a child process that logs in with the
 * entry's PIN in a process of its own, so the PIN is really checked, and a module that hangs or
 * crashes costs only that process.
 */
import { createHash, createPublicKey, randomBytes, type X509Certificate } from "node:crypto";
import { readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { inspect } from "node:util";
import { credentialLogger } from "../../logging.ts";
import type { BindingKeyPair } from "../bindingKey.ts";
import type { EngineKeyReference, TokenKey } from "../loadedCertificate.ts";
import { checkEngineKey, engineDirectoryFor, inPkcs11Context, type Pkcs11Fields, readPin, withPkcs11Context } from "../pkcs11/fields.ts";
import type { OpenedToken } from "../pkcs11/program.ts";
import { loadBinding, Pkcs11Session, type Pkcs11Timeouts, Pkcs11UnavailableError } from "../pkcs11/session.ts";
import { engineKeyUri } from "../pkcs11/uri.ts";
import { type SecretValue, SourceUnavailableError } from "../types.ts";
import { BindingKeySupply } from "./keySupply.ts";

const logger = credentialLogger("BoundClientCredential");

/** The CKA_LABEL of generated binding keys when the URI names no `object`. */
export const DEFAULT_BINDING_KEY_LABEL = "bound-client-credential binding key";

/**
 * How long a retired key stays on the token: connections made with its certificate may still be
 * finishing requests (the transport closes a retired certificate's agent once they are done).
 */
export const RETIRED_KEY_GRACE_MS = 60_000;

/**
 * Who makes keys here: four bytes of the SHA-256 of the host name and the process id namespace
 * (Linux's `/proc/self/ns/pid`), so that process ids in key ids are only ever compared within the
 * namespace that gave them out.
 */
const MAKER_TAG = createHash("sha256")
  .update(`${hostname()}\0${pidNamespace()}`)
  .digest()
  .subarray(0, 4);

function pidNamespace(): string {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return "";
  }
}

/** A generated key's CKA_ID: {@link MAKER_TAG}, this process's id (4 bytes, big-endian), 8 random bytes. */
export function newBindingKeyId(): string {
  const pid = Buffer.alloc(4);
  pid.writeUInt32BE(process.pid >>> 0);
  return Buffer.concat([MAKER_TAG, pid, randomBytes(8)]).toString("hex");
}

/**
 * Whether the key `idHex` was made by a process of this host and namespace that has ended: only
 * then can it be destroyed without asking anyone. A process that still runs (`kill(pid, 0)`
 * answering anything but ESRCH, a reused id included) keeps its keys.
 */
export function leftByEndedProcess(idHex: string): boolean {
  const id = Buffer.from(idHex, "hex");
  if (id.length !== 16 || !id.subarray(0, 4).equals(MAKER_TAG)) return false;
  const pid = id.readUInt32BE(4);
  if (pid === process.pid || pid === 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Where a binding service takes an identity's keys from, when not from the process's software supply. */
export interface BindingKeyStore {
  /** What tells its certificates apart from others of the same identity, for the binding cache key. */
  readonly label: string;
  readonly supply: BindingKeySupply;
  /** Removes every key it made and ends its session. */
  close(): Promise<void>;
}

/** What {@link Pkcs11BindingKeyStore} needs. */
export interface Pkcs11BindingKeyStoreOptions {
  /** The token's URI fields, module and PIN, as the entry gave them. */
  readonly fields: Pick<Pkcs11Fields, "selector" | "described" | "modulePath" | "pin" | "pinSource">;
  /** The environment, for `OPENSSL_ENGINES`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Default {@link RETIRED_KEY_GRACE_MS}. */
  readonly retiredKeyGraceMs?: number;
  /** The session's timeouts; the defaults of {@link Pkcs11Session} otherwise. */
  readonly timeouts?: Partial<Pkcs11Timeouts>;
}

/**
 * Binding keys generated in one PKCS#11 token, under the URI's `object` label (or
 * {@link DEFAULT_BINDING_KEY_LABEL}) and a CKA_ID of their own ({@link newBindingKeyId}). At most
 * three of its keys are on the token at a time in steady state: the current one, the one made
 * ahead for the next mint, and a retired one during its grace period; keys that ended processes of
 * this host left under the label are destroyed when the token is first opened. A wrong PIN is
 * remembered and not tried again, so that the token's retry counter is not used up.
 */
export class Pkcs11BindingKeyStore implements BindingKeyStore {
  readonly label: string;
  readonly supply: BindingKeySupply;
  readonly #options: Pkcs11BindingKeyStoreOptions;
  readonly #keyLabel: string;
  readonly #what: string;
  #session: Pkcs11Session | undefined;
  #token: Promise<{ readonly opened: OpenedToken; readonly pin: SecretValue | undefined }> | undefined;
  #pinRefused: { readonly pinSha256: string; readonly error: SourceUnavailableError } | undefined;
  readonly #live = new Set<Pkcs11BindingKey>();
  readonly #retiring = new Map<Pkcs11BindingKey, ReturnType<typeof setTimeout>>();

  constructor(options: Pkcs11BindingKeyStoreOptions) {
    this.#options = options;
    this.#keyLabel = options.fields.selector.object ?? DEFAULT_BINDING_KEY_LABEL;
    this.#what = `the PKCS#11 token ${options.fields.described} for binding keys`;
    this.label = `pkcs11:${options.fields.described}`;
    this.supply = new BindingKeySupply(() => this.#generate());
  }

  /** Destroys `key` after the grace period; at once when the store is closing. */
  retire(key: Pkcs11BindingKey): void {
    if (!this.#live.has(key) || this.#retiring.has(key)) return;
    const timer = setTimeout(() => {
      this.#retiring.delete(key);
      void this.#destroy(key);
    }, this.#options.retiredKeyGraceMs ?? RETIRED_KEY_GRACE_MS);
    // A key waiting to be destroyed is no reason to keep the process alive; one left behind by an
    // ending process carries the store's label, and can be listed and removed with pkcs11-tool.
    timer.unref();
    this.#retiring.set(key, timer);
  }

  /** Destroys every key this store made and ends its session; a later key opens a new one. */
  async close(): Promise<void> {
    await this.supply.drain().catch(() => undefined);
    for (const timer of this.#retiring.values()) clearTimeout(timer);
    this.#retiring.clear();
    await Promise.all([...this.#live].map((key) => this.#destroy(key)));
    const session = this.#session;
    this.#session = undefined;
    this.#token = undefined;
    await session?.close();
  }

  toJSON(): Record<string, string> {
    return { keys: this.label, keyLabel: this.#keyLabel };
  }

  [inspect.custom](): string {
    return `Pkcs11BindingKeyStore { ${this.label} }`;
  }

  async #generate(): Promise<Pkcs11BindingKey> {
    const what = this.#what;
    const { opened, pin } = await this.#open();
    const session = this.#session!;
    const idHex = newBindingKeyId();
    const generated = await withPkcs11Context(what, () => session.generate(this.#keyLabel, idHex));
    const engineKey: EngineKeyReference = {
      engine: "pkcs11",
      identifier: engineKeyUri({ token: opened.token.label, serial: opened.token.serial, id: Buffer.from(idHex, "hex"), label: undefined }, pin?.reveal()),
      environment: { OPENSSL_ENGINES: engineDirectoryFor(what, this.#options.env), PKCS11_MODULE_PATH: this.#options.fields.modulePath },
    };
    const tokenKey: TokenKey = { keyType: "rsa", signPs256: (data) => session.sign(data, idHex), engineKey };
    const publicKey = createPublicKey({
      key: { kty: "RSA", n: Buffer.from(generated.modulus, "base64").toString("base64url"), e: Buffer.from(generated.exponent, "base64").toString("base64url") },
      format: "jwk",
    });
    const key = new Pkcs11BindingKey(this, {
      idHex,
      publicKeySpki: publicKey.export({ type: "spki", format: "der" }),
      publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
      pkcs11Uri: engineKeyUri({ token: opened.token.label, serial: opened.token.serial, id: Buffer.from(idHex, "hex"), label: undefined }, undefined),
      tokenKey,
    });
    this.#live.add(key);
    try {
      if (generated.extractable || !generated.sensitive) {
        // A module that ignored the template: such a key could leave the token, which is what this store is for.
        throw new SourceUnavailableError(
          `${what} cannot be used: the module generated a key that is ${generated.extractable ? "extractable" : "not sensitive"} although CKA_EXTRACTABLE false and CKA_SENSITIVE true were asked for; use a token that honours them`,
        );
      }
      checkEngineKey(engineKey, undefined, what);
    } catch (error) {
      await this.#destroy(key);
      throw error;
    }
    logger.verbose(`${what}: generated binding key ${key.pkcs11Uri} (RSA-2048, sensitive, not extractable)`);
    return key;
  }

  /** The token's session, opened and logged in once; a failure is not kept, a refused PIN is. */
  async #open(): Promise<{ readonly opened: OpenedToken; readonly pin: SecretValue | undefined }> {
    const what = this.#what;
    this.#token ??= (async () => {
      const binding = await withPkcs11Context(what, loadBinding);
      engineDirectoryFor(what, this.#options.env);
      const pin = await readPin(this.#options.fields, what);
      const pinSha256 = createHash("sha256").update(pin?.reveal() ?? "").digest("hex");
      if (this.#pinRefused?.pinSha256 === pinSha256) throw this.#pinRefused.error;
      this.#session ??= new Pkcs11Session(binding, this.#options.fields.modulePath, this.#options.timeouts);
      try {
        const opened = await this.#session.openToken(this.#options.fields.selector, pin?.reveal());
        if (opened.login === "already-logged-in" && pin !== undefined) {
          throw new SourceUnavailableError(
            "the module reports the token logged in already (CKR_USER_ALREADY_LOGGED_IN) in a process that did not log in, so the PIN cannot be checked: log the token out, or use a module that keeps logins per process",
          );
        }
        await this.#removeLeftovers();
        return { opened, pin };
      } catch (error) {
        const failure = inPkcs11Context(what, error);
        if (error instanceof Pkcs11UnavailableError && error.kind === "pin-incorrect") this.#pinRefused = { pinSha256, error: failure };
        throw failure;
      }
    })();
    try {
      return await this.#token;
    } catch (error) {
      this.#token = undefined;
      throw error;
    }
  }

  /**
   * Destroys the keys under this store's label that processes of this host have left behind (ended
   * without `close()`, or killed): a service restarted a thousand times would otherwise leave two
   * thousand keys in its token.
   */
  async #removeLeftovers(): Promise<void> {
    const session = this.#session;
    if (session === undefined) return;
    try {
      const left = (await session.listKeys(this.#keyLabel)).filter(leftByEndedProcess);
      for (const idHex of left) await session.destroy(this.#keyLabel, idHex);
      if (left.length > 0) logger.info(`${this.#what}: destroyed ${left.length} binding key(s) left by ended processes of this host`);
    } catch (error) {
      // Cleaning up is no reason to refuse the token.
      logger.warning(`${this.#what}: binding keys left by ended processes could not be removed (${inPkcs11Context(this.#what, error).reason})`);
    }
  }

  async #destroy(key: Pkcs11BindingKey): Promise<void> {
    if (!this.#live.delete(key)) return;
    try {
      await this.#session?.destroy(this.#keyLabel, key.idHex);
    } catch (error) {
      logger.warning(`${this.#what}: the retired binding key ${key.pkcs11Uri} could not be destroyed (${inPkcs11Context(this.#what, error).reason}); remove it with pkcs11-tool --delete-object`);
    }
  }
}

/** A binding key pair in a token: the public half here, the private half only in the token. */
export class Pkcs11BindingKey implements BindingKeyPair {
  readonly storage = "pkcs11" as const;
  /** The CKA_ID of both halves, hex. */
  readonly idHex: string;
  readonly publicKeySpki: Buffer;
  readonly publicKeyPem: string;
  /** The private key's URI (token, serial, id), without the PIN. */
  readonly pkcs11Uri: string;
  readonly #store: Pkcs11BindingKeyStore;
  readonly #tokenKey: TokenKey;

  constructor(
    store: Pkcs11BindingKeyStore,
    parts: { readonly idHex: string; readonly publicKeySpki: Buffer; readonly publicKeyPem: string; readonly pkcs11Uri: string; readonly tokenKey: TokenKey },
  ) {
    this.#store = store;
    this.idHex = parts.idHex;
    this.publicKeySpki = parts.publicKeySpki;
    this.publicKeyPem = parts.publicKeyPem;
    this.pkcs11Uri = parts.pkcs11Uri;
    this.#tokenKey = parts.tokenKey;
  }

  /** The token's key, for the TLS handshake (through the engine) only. */
  get tlsKey(): TokenKey {
    return this.#tokenKey;
  }

  matches(certificate: X509Certificate): boolean {
    return certificate.publicKey.export({ type: "spki", format: "der" }).equals(this.publicKeySpki);
  }

  signPss(data: Buffer): Promise<Buffer> {
    return this.#tokenKey.signPs256(data);
  }

  retire(): void {
    this.#store.retire(this);
  }

  toJSON(): Record<string, string> {
    return { type: "rsa", bits: "2048", storage: "pkcs11", key: this.pkcs11Uri };
  }

  [inspect.custom](): string {
    return `Pkcs11BindingKey { ${this.pkcs11Uri} }`;
  }
}
