/**
 * The parent's side of a PKCS#11 session: a child process per entry holds the session. PKCS#11
 * calls are synchronous and may wait on a device or a network HSM, so none runs on the event loop;
 * a module that hangs or crashes takes only its child with it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { SourceUnavailableError } from "../types.ts";
import { type GeneratedKey, type OpenedKey, type OpenedToken, pkcs11Program, type Pkcs11Selector, type ProgramFailure, type ProgramReply, type ProgramRequest } from "./program.ts";

/** Longest wait for the module to open the session (C_Initialize, C_Login, the object search). */
export const OPEN_TIMEOUT_MS = 30_000;
/** Longest wait for one signature, and for destroying a key. */
export const SIGN_TIMEOUT_MS = 10_000;
/** Longest wait for a key pair to be generated: a TPM takes seconds for an RSA-2048 key. */
export const GENERATE_TIMEOUT_MS = 60_000;

const PROGRAM_SOURCE = `(${pkcs11Program.toString()})();`;

/** What to install when the binding cannot be loaded. */
const INSTALL_BINDING =
  "install the optional dependency pkcs11js (npm install pkcs11js; building it needs a C++ compiler, Python and the Node.js headers)";

/**
 * The file of this module, from V8's structured stack trace (https://v8.dev/docs/stack-trace-api):
 * the same source compiles to ESM and CommonJS, and neither `import.meta.url` nor `__filename`
 * exists in both.
 */
function ownFile(): string {
  const prepare = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_error, sites) => sites;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder);
    const sites = holder.stack as NodeJS.CallSite[] | undefined;
    const file = sites?.[0]?.getFileName();
    if (file === undefined || file === null) throw new Error("no file name in the stack trace");
    return file;
  } finally {
    Error.prepareStackTrace = prepare;
  }
}

let bindingPath: Promise<string> | undefined;

/** The optional dependency that talks to PKCS#11 modules. */
const PKCS11JS: string = "pkcs11js";

/**
 * Loads `pkcs11js` (an optional dependency, imported only when a Pkcs11 entry is used) and returns
 * the file the PKCS#11 process loads it from.
 *
 * @throws SourceUnavailableError naming what to install
 */
export function loadBinding(): Promise<string> {
  bindingPath ??= (async () => {
    try {
      // A specifier the compiler does not resolve: pkcs11js is optional, and where its native build
      // failed npm removes it, types included; the type check must not depend on it.
      const binding = (await import(PKCS11JS)) as { PKCS11?: unknown; default?: { PKCS11?: unknown } };
      if (typeof (binding.PKCS11 ?? binding.default?.PKCS11) !== "function") throw new Error("pkcs11js exports no PKCS11 class");
      return createRequire(ownFile()).resolve(PKCS11JS);
    } catch (error) {
      bindingPath = undefined;
      const code = (error as { code?: unknown }).code;
      const why = code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" ? "pkcs11js is not installed" : "pkcs11js could not be loaded (its native build may be missing or built for another Node.js)";
      throw new SourceUnavailableError(`${why}: ${INSTALL_BINDING}`, { cause: error instanceof Error ? new Error(error.message) : undefined });
    }
  })();
  return bindingPath;
}

/** A failure of the PKCS#11 program, with its kind, so that a wrong PIN can be told apart. */
export class Pkcs11UnavailableError extends SourceUnavailableError {
  readonly kind: ProgramFailure["kind"];
  constructor(failure: ProgramFailure, modulePath: string) {
    super(reasonOf(failure, modulePath));
    this.kind = failure.kind;
  }
}

/** The reason for a failure of the program. */
export function reasonOf(failure: ProgramFailure, modulePath: string): string {
  switch (failure.kind) {
    case "binding":
      return `pkcs11js could not be loaded in the PKCS#11 process (${failure.detail}): ${INSTALL_BINDING}`;
    case "module":
      return `the PKCS#11 module ${modulePath} cannot be used (${failure.detail}): check pkcs11ModulePath (or PKCS11_MODULE_PATH) and that the module's package is installed`;
    case "token-not-found":
      return `no token matches the pkcs11Uri (${failure.detail}): check its token, serial or slot attributes against the module's tokens (softhsm2-util --show-slots, pkcs11-tool -L)`;
    case "key-not-found":
      return `the token has no private key named by the pkcs11Uri (${failure.detail}): check its object and id attributes (pkcs11-tool --list-objects --login)`;
    case "pin-incorrect":
      return `the token's PIN is wrong (${failure.detail}): fix pkcs11Pin (or pin-value / pin-source); the PIN is not tried again by this entry, so that the token's retry counter is not used up`;
    case "pin-locked":
      return `the token's user PIN is locked or expired (${failure.detail}): unlock or reset it with the token's administration tool`;
    case "not-rsa":
      return failure.detail;
    case "pkcs11":
      return `the PKCS#11 module failed (${failure.detail})`;
  }
}

/** How long a {@link Pkcs11Session} waits for each kind of request. */
export interface Pkcs11Timeouts {
  /** Opening the session: C_Initialize, C_Login, the object search. */
  readonly openMs: number;
  /** One signature; destroying a key. */
  readonly signMs: number;
  /** Generating a key pair. */
  readonly generateMs: number;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * One session on one token, in a child process of its own. Requests are answered in order (the
 * program runs one PKCS#11 call at a time, which a session requires), each bounded by a timeout; a
 * child that does not answer in time is killed, and the next request starts another. The child
 * keeps the parent alive only while a request waits for it.
 */
export class Pkcs11Session {
  readonly #binding: string;
  readonly #modulePath: string;
  readonly #timeouts: Pkcs11Timeouts;
  #child: ChildProcess | undefined;
  /** What the last successful open asked for, and the child that holds its session. */
  #opened:
    | { readonly op: "open" | "token"; readonly selector: Pkcs11Selector; readonly pin: string | undefined; readonly child: ChildProcess | undefined }
    | undefined;
  #nextId = 0;
  readonly #pending = new Map<number, { resolve(reply: ProgramReply): void; reject(error: Error): void; timer: NodeJS.Timeout }>();

  /**
   * @param binding - the file pkcs11js loads from
   * @param modulePath - the PKCS#11 module
   * @param timeouts - how long to wait to open the session and for one signature
   */
  constructor(binding: string, modulePath: string, timeouts: Partial<Pkcs11Timeouts> = {}) {
    this.#binding = binding;
    this.#modulePath = modulePath;
    this.#timeouts = { openMs: OPEN_TIMEOUT_MS, signMs: SIGN_TIMEOUT_MS, generateMs: GENERATE_TIMEOUT_MS, ...timeouts };
  }

  /** Opens the session and logs in; the child's previous session, if any, is replaced. */
  async open(selector: Pkcs11Selector, pin: string | undefined): Promise<OpenedKey> {
    const reply = await this.#request({ op: "open", selector, pin }, this.#timeouts.openMs, "open the session");
    if (reply.opened === undefined) throw new SourceUnavailableError("the PKCS#11 process answered without the key");
    this.#opened = { op: "open", selector, pin, child: this.#child };
    return reply.opened;
  }

  /**
   * Opens a read-write session on the token and logs in, without looking for a key: for
   * {@link Pkcs11Session.generate}. The child's previous session, if any, is replaced.
   */
  async openToken(selector: Pkcs11Selector, pin: string | undefined): Promise<OpenedToken> {
    const reply = await this.#request({ op: "token", selector, pin }, this.#timeouts.openMs, "open the session");
    if (reply.token === undefined) throw new SourceUnavailableError("the PKCS#11 process answered without the token");
    this.#opened = { op: "token", selector, pin, child: this.#child };
    return reply.token;
  }

  /** Generates an RSA-2048 key pair on the token under `label` and `idHex` (after {@link Pkcs11Session.openToken}). */
  async generate(label: string, idHex: string): Promise<GeneratedKey> {
    await this.#reopened();
    const reply = await this.#request({ op: "generate", label, idHex }, this.#timeouts.generateMs, "generate a key pair");
    if (reply.generated === undefined) throw new SourceUnavailableError("the PKCS#11 process answered without the key pair");
    return reply.generated;
  }

  /** Destroys the key pair with `label` and `idHex` that {@link Pkcs11Session.generate} made. */
  async destroy(label: string, idHex: string): Promise<void> {
    await this.#reopened();
    await this.#request({ op: "destroy", label, idHex }, this.#timeouts.signMs, "destroy a key");
  }

  /** The CKA_IDs (hex) of the private keys on the token with `label`. */
  async listKeys(label: string): Promise<readonly string[]> {
    await this.#reopened();
    const reply = await this.#request({ op: "list", label }, this.#timeouts.signMs, "list keys");
    return reply.keyIds ?? [];
  }

  /**
   * RSASSA-PSS SHA-256 of `data` by the token's key, or by the generated key `keyIdHex`. A child
   * that ended (a timeout, a crash) is replaced, and the new one opens the session again with the
   * PIN already checked.
   */
  async sign(data: Uint8Array, keyIdHex?: string): Promise<Buffer> {
    await this.#reopened();
    const reply = await this.#request({ op: "sign", data, keyIdHex }, this.#timeouts.signMs, "sign");
    if (reply.signature === undefined) throw new SourceUnavailableError("the PKCS#11 process answered without a signature");
    return Buffer.from(reply.signature);
  }

  /** Opens the session again in a new child when the one that held it has ended. */
  async #reopened(): Promise<void> {
    const opened = this.#opened;
    if (opened === undefined || (this.#child !== undefined && this.#child === opened.child)) return;
    if (opened.op === "open") await this.open(opened.selector, opened.pin);
    else await this.openToken(opened.selector, opened.pin);
  }

  /** Ends the child; its session closes with it. */
  async close(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    this.#opened = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    // Referenced until it has gone: a caller awaiting close() with nothing else to do (a CLI about
    // to end) would otherwise see its process end with the await unsettled.
    child.ref();
    child.kill("SIGKILL");
    await exited;
  }

  #start(): ChildProcess {
    if (this.#child !== undefined) return this.#child;
    const child = spawn(process.execPath, ["-e", PROGRAM_SOURCE, this.#binding, this.#modulePath], {
      stdio: ["ignore", "ignore", "ignore", "ipc"],
      serialization: "advanced",
      windowsHide: true,
    });
    child.unref();
    child.channel?.unref();
    child.on("message", (reply: ProgramReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#settled(reply.id, pending);
      pending.resolve(reply);
    });
    const fail = (error: Error): void => {
      if (this.#child === child) this.#child = undefined;
      for (const [id, pending] of this.#pending) {
        this.#settled(id, pending);
        pending.reject(error);
      }
    };
    child.on("error", (error) => fail(new SourceUnavailableError(`the PKCS#11 process failed: ${error.message.split("\n")[0] ?? ""}`)));
    child.on("exit", (code, signal) => fail(new SourceUnavailableError(`the PKCS#11 process ended (${signal ?? `exit code ${code}`}); the module may have crashed`)));
    this.#child = child;
    return child;
  }

  /** Forgets a request; the child stops holding the parent alive once none waits. */
  #settled(id: number, pending: { timer: NodeJS.Timeout }): void {
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (this.#pending.size === 0) {
      this.#child?.unref();
      this.#child?.channel?.unref();
    }
  }

  #request(request: DistributiveOmit<ProgramRequest, "id">, timeoutMs: number, what: string): Promise<ProgramReply & { ok: true }> {
    const child = this.#start();
    const id = this.#nextId++;
    return new Promise<ProgramReply & { ok: true }>((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = this.#pending.get(id);
        if (pending !== undefined) this.#settled(id, pending);
        // A module that hangs holds the child: kill it, so that the next request starts afresh.
        if (this.#child === child) this.#child = undefined;
        child.kill("SIGKILL");
        reject(new SourceUnavailableError(`the PKCS#11 module did not ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, {
        resolve: (reply) => {
          if (reply.ok) resolve(reply);
          else reject(new Pkcs11UnavailableError(reply.failure, this.#modulePath));
        },
        reject,
        timer,
      });
      // While a request waits, the child keeps the parent alive: an application awaiting a token has nothing else to.
      child.ref();
      child.channel?.ref();
      child.send({ ...request, id } satisfies ProgramRequest, (error) => {
        if (error === null) return;
        const pending = this.#pending.get(id);
        if (pending === undefined) return;
        this.#settled(id, pending);
        reject(new SourceUnavailableError(`the PKCS#11 process could not be reached: ${error.message}`));
      });
    });
  }
}
