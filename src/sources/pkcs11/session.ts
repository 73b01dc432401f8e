/**
 * The main thread's side of a PKCS#11 session: a worker thread that holds the session (PKCS#11
 * calls are synchronous and may wait on a device or a network HSM, so none runs on the event loop),
 * and a one-shot process that checks a PIN where the token is not logged in yet.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { SourceUnavailableError } from "../types.ts";
import { type OpenedKey, type PinCheckInput, pkcs11Program, type Pkcs11Selector, type ProgramFailure, type WorkerReply, type WorkerRequest } from "./program.ts";

/** Longest wait for the module to open the session (C_Initialize, C_Login, the object search). */
export const OPEN_TIMEOUT_MS = 30_000;
/** Longest wait for one signature. */
export const SIGN_TIMEOUT_MS = 10_000;

const WORKER_SOURCE = `(${pkcs11Program.toString()})("worker");`;
const CHECK_SOURCE = `(${pkcs11Program.toString()})("check");`;

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

/**
 * Loads `pkcs11js` (an optional dependency, imported only when a Pkcs11 entry is used) and returns
 * the file the worker loads it from.
 *
 * @throws SourceUnavailableError naming what to install
 */
export function loadBinding(): Promise<string> {
  bindingPath ??= (async () => {
    try {
      const binding = (await import("pkcs11js")) as { PKCS11?: unknown; default?: { PKCS11?: unknown } };
      if (typeof (binding.PKCS11 ?? binding.default?.PKCS11) !== "function") throw new Error("pkcs11js exports no PKCS11 class");
      return createRequire(ownFile()).resolve("pkcs11js");
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
      return `pkcs11js could not be loaded in the worker (${failure.detail}): ${INSTALL_BINDING}`;
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

/**
 * One session on one token, in a worker thread of its own. Requests are answered in order (the
 * worker runs one PKCS#11 call at a time, which a session requires), each bounded by a timeout;
 * a worker that does not answer in time is ended, and the next request starts another. The worker
 * does not keep the process alive.
 */
export class Pkcs11Session {
  readonly #binding: string;
  readonly #modulePath: string;
  #worker: Worker | undefined;
  /** What the last successful open asked for, and the worker that holds its session. */
  #opened: { readonly selector: Pkcs11Selector; readonly pin: string | undefined; readonly worker: Worker | undefined } | undefined;
  #nextId = 0;
  readonly #pending = new Map<number, { resolve(reply: WorkerReply): void; reject(error: Error): void; timer: NodeJS.Timeout }>();

  constructor(binding: string, modulePath: string) {
    this.#binding = binding;
    this.#modulePath = modulePath;
  }

  /** Opens the session and logs in; the worker's previous session, if any, is replaced. */
  async open(selector: Pkcs11Selector, pin: string | undefined): Promise<OpenedKey> {
    const reply = await this.#request({ op: "open", selector, pin }, OPEN_TIMEOUT_MS, "open the session");
    if (reply.opened === undefined) throw new SourceUnavailableError("the PKCS#11 worker answered without the key");
    this.#opened = { selector, pin, worker: this.#worker };
    return reply.opened;
  }

  /**
   * RSASSA-PSS SHA-256 of `data` by the token's key. A worker that ended (a timeout, a crash) is
   * replaced, and the new one opens the session again with the PIN already checked.
   */
  async sign(data: Uint8Array): Promise<Buffer> {
    const opened = this.#opened;
    if (opened !== undefined && (this.#worker === undefined || this.#worker !== opened.worker)) {
      await this.open(opened.selector, opened.pin);
    }
    const reply = await this.#request({ op: "sign", data }, SIGN_TIMEOUT_MS, "sign");
    if (reply.signature === undefined) throw new SourceUnavailableError("the PKCS#11 worker answered without a signature");
    return Buffer.from(reply.signature);
  }

  /** Ends the worker; its session closes with it. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#opened = undefined;
    if (worker !== undefined) await worker.terminate();
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: "bound-client-credential pkcs11",
      workerData: { binding: this.#binding, modulePath: this.#modulePath },
    });
    worker.unref();
    worker.on("message", (reply: WorkerReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      clearTimeout(pending.timer);
      pending.resolve(reply);
    });
    const fail = (error: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id);
        clearTimeout(pending.timer);
        pending.reject(error);
      }
    };
    worker.on("error", (error) => fail(new SourceUnavailableError(`the PKCS#11 worker failed: ${error.message.split("\n")[0] ?? ""}`)));
    worker.on("exit", (code) => fail(new SourceUnavailableError(`the PKCS#11 worker ended (exit code ${code})`)));
    this.#worker = worker;
    return worker;
  }

  #request(request: Omit<WorkerRequest, "id"> & ({ op: "open"; selector: Pkcs11Selector; pin: string | undefined } | { op: "sign"; data: Uint8Array }), timeoutMs: number, what: string): Promise<WorkerReply & { ok: true }> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise<WorkerReply & { ok: true }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        // A module that hangs holds the worker's thread: end it, so that the next request starts afresh.
        if (this.#worker === worker) this.#worker = undefined;
        worker.terminate().catch(() => undefined);
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
      worker.postMessage({ ...request, id } as WorkerRequest);
    });
  }
}

/**
 * Checks `pin` with C_Login in a process of its own, where no other session of the token is logged
 * in: inside this process, a token another entry (or the TLS engine) logged into answers any PIN
 * with CKR_USER_ALREADY_LOGGED_IN (PKCS#11 v2.40 section 5.6). The PIN goes over the child's
 * standard input, never its arguments or environment.
 *
 * @throws SourceUnavailableError when the PIN is wrong, or the check cannot be made
 */
export function checkPinInFreshProcess(binding: string, modulePath: string, selector: Pkcs11Selector, pin: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", CHECK_SOURCE], { stdio: ["pipe", "pipe", "ignore"], windowsHide: true });
    const out: Buffer[] = [];
    let settled = false;
    const settle = (error: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      settle(new SourceUnavailableError(`the PKCS#11 module did not check the PIN within ${OPEN_TIMEOUT_MS / 1000} s`));
    }, OPEN_TIMEOUT_MS);
    timer.unref();
    child.stdout.on("data", (chunk: Buffer) => {
      if (out.reduce((n, b) => n + b.length, 0) < 64 * 1024) out.push(chunk);
    });
    child.on("error", (error) => settle(new SourceUnavailableError(`the PIN check could not start: ${error.message}`)));
    child.on("close", () => {
      let outcome: { ok: boolean; login?: string; failure?: ProgramFailure };
      try {
        outcome = JSON.parse(Buffer.concat(out).toString("utf8")) as typeof outcome;
      } catch {
        settle(new SourceUnavailableError("the PIN check ended without an answer"));
        return;
      }
      if (outcome.ok && outcome.login === "verified") settle(undefined);
      else if (outcome.ok) settle(new SourceUnavailableError("the PIN could not be checked: a fresh process found the token logged in already"));
      else settle(new Pkcs11UnavailableError(outcome.failure ?? { kind: "pkcs11", detail: "no answer" }, modulePath));
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(JSON.stringify({ binding, modulePath, selector, pin } satisfies PinCheckInput));
  });
}
