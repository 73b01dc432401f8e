/**
 * PKCS#12 key derivation off the main thread. node-forge decodes PFX files well (modern PBES2/AES
 * and the legacy RC2/3DES of older Windows exports alike), but derives its keys in JavaScript on the
 * thread that calls it: seconds at 600,000 iterations, during which nothing else in the process
 * runs. The derivations are its only slow part, so forge's decoder is run as it is, with its three
 * key derivation functions swapped, for the duration of one synchronous call, for lookups in keys
 * derived beforehand:
 *
 * - PBKDF2 (RFC 8018 §5.2, PBES2 bags) by Node's asynchronous `crypto.pbkdf2`, in libuv's pool;
 * - the PKCS#12 derivation of RFC 7292 Appendix B.2 (the MAC key, and the legacy PBE key and IV),
 *   which Node does not offer, in a worker thread, using Node's native hashes.
 *
 * A derivation the decoder asks for that was not derived yet stops the call; it is derived off the
 * thread and the call is run again. A PFX needs three to five derivations, so three to six calls,
 * each a few milliseconds of ASN.1 and AES on small buffers.
 */
import { createHash, pbkdf2 } from "node:crypto";
import { availableParallelism } from "node:os";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import type { Forge } from "../dependencies.ts";

/**
 * The most iterations accepted for one derivation. OpenSSL writes 2,048 by default, Windows 2,000,
 * OWASP recommends 600,000 for PBKDF2-SHA256; a file asking for more than this is refused rather
 * than left to keep a core busy for minutes.
 */
export const MAX_PFX_ITERATIONS = 10_000_000;

/** Thrown when a PFX asks for more than {@link MAX_PFX_ITERATIONS} iterations. */
export class IterationLimitError extends Error {
  readonly iterations: number;
  constructor(iterations: number) {
    super(`the PFX asks for ${iterations} key derivation iterations, more than the ${MAX_PFX_ITERATIONS} accepted`);
    this.name = "IterationLimitError";
    this.iterations = iterations;
  }
}

/** One derivation the decoder asked for. */
interface Derivation {
  readonly kind: "pbkdf2" | "pkcs12";
  readonly password: Buffer;
  readonly salt: Buffer;
  readonly iterations: number;
  readonly keyLength: number;
  /** Node's name of the hash. */
  readonly digest: string;
  /** PKCS#12 only: the purpose byte (1 key, 2 IV, 3 MAC key), and the hash's output and block sizes. */
  readonly id: number;
  readonly u: number;
  readonly v: number;
}

/** Stops a decoder call at a derivation that was not made yet. */
class MissingDerivation extends Error {
  readonly key: string;
  readonly derivation: Derivation;
  constructor(key: string, derivation: Derivation) {
    super("a key derivation is pending");
    this.key = key;
    this.derivation = derivation;
  }
}

/** Enough rounds for any PFX: one MAC, and a key (and IV) per encrypted bag. */
const MAX_ROUNDS = 64;

/**
 * Runs `decode`, which calls node-forge's PKCS#12 decoding synchronously, with every key derivation
 * it needs made off the main thread beforehand.
 *
 * @throws IterationLimitError - for a derivation of more than {@link MAX_PFX_ITERATIONS} iterations
 * @throws what `decode` throws (a wrong password, a malformed file)
 */
export async function decodeWithOffThreadDerivation<T>(forge: Forge, decode: () => T): Promise<T> {
  const derived = new Map<string, string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    try {
      return withDerivedKeys(forge, derived, decode);
    } catch (error) {
      if (!(error instanceof MissingDerivation)) throw error;
      derived.set(error.key, await derive(error.derivation));
    }
  }
  throw new Error(`the PFX needs more than ${MAX_ROUNDS} key derivations, more than any PFX does`);
}

/** The parts of node-forge's API that derive keys; forge looks them up at each call. */
interface ForgeDerivations {
  pkcs5: { pbkdf2: (...args: unknown[]) => unknown };
  pkcs12: { generateKey: (...args: unknown[]) => unknown };
  pki: { pbe: { generatePkcs12Key: (...args: unknown[]) => unknown } };
}

interface ForgeDigest {
  readonly algorithm: string;
  readonly digestLength: number;
  readonly blockLength: number;
}

/**
 * Calls `decode` with forge's derivations answered from `derived`. The swap lasts exactly one
 * synchronous call, so no other code, inside the library or the application, ever sees it.
 */
function withDerivedKeys<T>(forge: Forge, derived: ReadonlyMap<string, string>, decode: () => T): T {
  const api = forge as unknown as ForgeDerivations;
  const original = { pbkdf2: api.pkcs5.pbkdf2, macKey: api.pkcs12.generateKey, pbeKey: api.pki.pbe.generatePkcs12Key };
  const lookup = (derivation: Derivation): string => {
    if (derivation.iterations > MAX_PFX_ITERATIONS) throw new IterationLimitError(derivation.iterations);
    const key = derivationKey(derivation);
    const value = derived.get(key);
    if (value === undefined) throw new MissingDerivation(key, derivation);
    return value;
  };
  const pkcs12Key = (...args: unknown[]): unknown => {
    const [password, salt, id, iterations, keyLength, md] = args;
    const digest = asDigest(md) ?? asDigest(forge.md.sha1.create());
    if (digest === undefined || typeof id !== "number" || typeof iterations !== "number" || typeof keyLength !== "number") {
      return original.macKey(...args);
    }
    if (!(iterations >= 1)) return original.macKey(...args);
    const value = lookup({
      kind: "pkcs12",
      password: bmpPassword(password),
      salt: Buffer.from(byteBufferBytes(salt), "binary"),
      iterations,
      keyLength,
      digest: nodeDigest(digest.algorithm),
      id,
      u: digest.digestLength,
      v: digest.blockLength,
    });
    return forge.util.createBuffer(value);
  };
  const pbkdf2Key = (...args: unknown[]): unknown => {
    const [password, salt, iterations, keyLength, md, callback] = args;
    const digest = md === undefined || md === null ? "sha1" : typeof md === "string" ? md : asDigest(md)?.algorithm;
    if (
      callback !== undefined ||
      digest === undefined ||
      typeof password !== "string" ||
      typeof salt !== "string" ||
      typeof iterations !== "number" ||
      typeof keyLength !== "number"
    ) {
      return original.pbkdf2(...args);
    }
    return lookup({
      kind: "pbkdf2",
      // forge hands PBKDF2 the password as a binary string, one byte per character.
      password: Buffer.from(password, "binary"),
      salt: Buffer.from(salt, "binary"),
      iterations,
      keyLength,
      digest: nodeDigest(digest),
      id: 0,
      u: 0,
      v: 0,
    });
  };
  api.pkcs5.pbkdf2 = pbkdf2Key;
  api.pkcs12.generateKey = pkcs12Key;
  api.pki.pbe.generatePkcs12Key = pkcs12Key;
  try {
    return decode();
  } finally {
    api.pkcs5.pbkdf2 = original.pbkdf2;
    api.pkcs12.generateKey = original.macKey;
    api.pki.pbe.generatePkcs12Key = original.pbeKey;
  }
}

const pbkdf2Async = promisify(pbkdf2);

async function derive(derivation: Derivation): Promise<string> {
  if (derivation.kind === "pbkdf2") {
    const key = await pbkdf2Async(derivation.password, derivation.salt, derivation.iterations, derivation.keyLength, derivation.digest);
    return key.toString("binary");
  }
  return (await pool.run(derivation)).toString("binary");
}

/** A key for the map of derived keys; a hash, so the map holds no password. */
function derivationKey(d: Derivation): string {
  return createHash("sha256")
    .update(JSON.stringify([d.kind, d.digest, d.id, d.iterations, d.keyLength, d.u, d.v]))
    .update(d.salt)
    .update("\u0000")
    .update(d.password)
    .digest("base64");
}

function asDigest(md: unknown): ForgeDigest | undefined {
  if (typeof md !== "object" || md === null) return undefined;
  const { algorithm, digestLength, blockLength } = md as Partial<ForgeDigest>;
  if (typeof algorithm !== "string" || typeof digestLength !== "number" || typeof blockLength !== "number") return undefined;
  return { algorithm, digestLength, blockLength };
}

/** forge's `sha512/256` is Node's `sha512-256`. */
function nodeDigest(algorithm: string): string {
  return algorithm.toLowerCase().replace("/", "-");
}

function byteBufferBytes(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && typeof (value as { bytes?: unknown }).bytes === "function") {
    return (value as { bytes: () => string }).bytes();
  }
  return "";
}

/** RFC 7292 B.1: the password as big-endian UTF-16 with a terminating zero; none is empty. */
function bmpPassword(password: unknown): Buffer {
  if (typeof password !== "string") return Buffer.alloc(0);
  const bytes = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) bytes.writeUInt16BE(password.charCodeAt(i), i * 2);
  return bytes;
}

/**
 * The worker's program. It is sent as source text (`eval`), so the library needs no separate
 * worker file in its ESM and CommonJS builds; it uses Node's built-in modules only.
 */
function pkcs12KdfWorker(): void {
  const { parentPort } = process.getBuiltinModule("node:worker_threads");
  const { createHash: hash } = process.getBuiltinModule("node:crypto");
  // RFC 7292 Appendix B.2, the steps numbered as there.
  const derive = (m: { password: Uint8Array; salt: Uint8Array; id: number; iterations: number; keyLength: number; digest: string; u: number; v: number }): Buffer => {
    const { u, v } = m;
    const repeat = (source: Uint8Array, length: number): Buffer => {
      const out = Buffer.alloc(length);
      for (let i = 0; i < length; i++) out[i] = source[i % source.length] ?? 0;
      return out;
    };
    const D = Buffer.alloc(v, m.id);
    const S = repeat(m.salt, v * Math.ceil(m.salt.length / v));
    const P = repeat(m.password, v * Math.ceil(m.password.length / v));
    const I = Buffer.concat([S, P]);
    const c = Math.ceil(m.keyLength / u);
    const A: Buffer[] = [];
    for (let i = 1; i <= c; i++) {
      let Ai = hash(m.digest).update(D).update(I).digest();
      for (let round = 1; round < m.iterations; round++) Ai = hash(m.digest).update(Ai).digest();
      A.push(Ai);
      const B = repeat(Ai, v);
      for (let j = 0; j < I.length; j += v) {
        let carry = 1;
        for (let l = v - 1; l >= 0; l--) {
          const sum = (I[j + l] ?? 0) + (B[l] ?? 0) + carry;
          I[j + l] = sum & 0xff;
          carry = sum >> 8;
        }
      }
    }
    return Buffer.concat(A).subarray(0, m.keyLength);
  };
  parentPort?.on("message", (message: { job: number } & Parameters<typeof derive>[0]) => {
    try {
      parentPort.postMessage({ job: message.job, key: derive(message) });
    } catch (error) {
      parentPort.postMessage({ job: message.job, error: error instanceof Error ? error.message : String(error) });
    }
  });
}

const WORKER_SOURCE = `(${pkcs12KdfWorker.toString()})();`;
/** An idle worker is ended after this long; the next PFX starts a new one (about 30 ms, off the main thread). */
const IDLE_MS = 5_000;

interface Job {
  readonly derivation: Derivation;
  resolve(key: Buffer): void;
  reject(error: Error): void;
}

/**
 * A few workers, started when a PFX needs them and ended when idle, so a process that loads one
 * PFX at start-up does not keep a thread for the rest of its life. An idle worker does not keep
 * the process alive.
 */
class DerivationPool {
  readonly #size = Math.max(1, Math.min(4, availableParallelism()));
  readonly #queue: Job[] = [];
  readonly #idle: { worker: Worker; timer: NodeJS.Timeout }[] = [];
  #started = 0;
  #nextJob = 0;

  run(derivation: Derivation): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.#queue.push({ derivation, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const idle = this.#idle.pop();
      if (idle !== undefined) {
        clearTimeout(idle.timer);
        this.#assign(idle.worker);
      } else if (this.#started < this.#size) {
        this.#started++;
        this.#assign(new Worker(WORKER_SOURCE, { eval: true, name: "bound-client-credential pkcs12 key derivation" }));
      } else {
        return;
      }
    }
  }

  #assign(worker: Worker): void {
    const job = this.#queue.shift();
    if (job === undefined) return this.#park(worker);
    const id = this.#nextJob++;
    worker.ref();
    const settle = (): void => {
      worker.off("message", onMessage);
      worker.off("error", onFailure);
      worker.off("exit", onFailure);
    };
    const onMessage = (message: { job: number; key?: Uint8Array; error?: string }): void => {
      if (message.job !== id) return;
      settle();
      if (message.key === undefined) job.reject(new Error(`the key derivation failed: ${message.error ?? "no key"}`));
      else job.resolve(Buffer.from(message.key));
      this.#assign(worker);
    };
    const onFailure = (error?: unknown): void => {
      settle();
      this.#started--;
      void worker.terminate();
      job.reject(error instanceof Error ? error : new Error("the key derivation worker stopped"));
      this.#dispatch();
    };
    worker.on("message", onMessage);
    worker.on("error", onFailure);
    worker.on("exit", onFailure);
    const { password, salt, id: purpose, iterations, keyLength, digest, u, v } = job.derivation;
    worker.postMessage({ job: id, password, salt, id: purpose, iterations, keyLength, digest, u, v });
  }

  #park(worker: Worker): void {
    worker.unref();
    const timer = setTimeout(() => {
      const index = this.#idle.findIndex((entry) => entry.worker === worker);
      if (index >= 0) this.#idle.splice(index, 1);
      this.#started--;
      void worker.terminate();
    }, IDLE_MS);
    timer.unref();
    this.#idle.push({ worker, timer });
  }
}

const pool = new DerivationPool();
