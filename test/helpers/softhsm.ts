/**
 * SoftHSM tokens for the PKCS#11 tests: a configuration whose token directory is a temporary
 * folder (`SOFTHSM2_CONF`, read by the module when it initializes), tokens made with
 * `softhsm2-util --init-token --free`, and keys imported as sensitive and non-extractable by
 * `softhsmTokenTool.ts` in a process of its own.
 *
 * Without softhsm2 the tests are skipped with that reason, except under CI (`CI` set), where they
 * run and fail: CI installs softhsm2 and the OpenSSL pkcs11 engine (`.ci/run`).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where distributions install SoftHSM's module. */
const MODULE_CANDIDATES = [
  "/usr/lib/softhsm/libsofthsm2.so",
  "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib64/pkcs11/libsofthsm2.so",
  "/usr/local/lib/softhsm/libsofthsm2.so",
  "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/** SoftHSM's module, when installed. */
export const SOFTHSM_MODULE = MODULE_CANDIDATES.find((path) => existsSync(path));

const TOOL = new URL("./softhsmTokenTool.ts", import.meta.url).pathname;

/**
 * Why the PKCS#11 tests cannot run here, or false. Under CI the answer is always false, so that a
 * missing softhsm2 fails the tests instead of hiding them.
 */
export async function softhsmSkipReason(): Promise<string | false> {
  if (process.env["CI"] !== undefined && process.env["CI"] !== "" && process.env["CI"] !== "false") return false;
  if (SOFTHSM_MODULE === undefined) return "softhsm2 is not installed (apt-get install softhsm2 libengine-pkcs11-openssl)";
  try {
    await run("softhsm2-util", ["--version"]);
  } catch {
    return "softhsm2-util is not on the PATH (apt-get install softhsm2)";
  }
  try {
    // Not a literal: the type check must not need the optional dependency's types.
    const binding: string = "pkcs11js";
    await import(binding);
  } catch {
    return "the optional dependency pkcs11js is not installed";
  }
  return false;
}

/** A SoftHSM token directory of its own, for this process. */
export interface SoftHsm {
  readonly module: string;
  readonly directory: string;
  /** Makes a token; its slot is whatever SoftHSM assigns. */
  initToken(label: string, pin: string): Promise<void>;
  /** Imports a private key (PKCS#8 PEM) as sensitive and non-extractable, and/or a certificate, under `idHex` and `label`. */
  importObjects(options: { token: string; pin: string; idHex: string; label: string; keyPem?: string; certificatePem?: string }): Promise<void>;
  /** The key's attributes as the token reports them. */
  inspectKey(options: { token: string; pin: string; idHex: string }): Promise<{ sensitive: boolean; extractable: boolean; neverExtractable: boolean; privateExponent: string }>;
  /** The private keys on the token with `label`: id, flags and modulus. */
  listKeys(options: { token: string; pin: string; label: string }): Promise<TokenKeyFacts[]>;
  remove(): Promise<void>;
}

/** What the token says of one private key. */
export interface TokenKeyFacts {
  readonly idHex: string;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  /** CKA_TOKEN: a token object, which outlives the session that made it. */
  readonly tokenObject: boolean;
  readonly modulusHex: string;
}

/**
 * Sets up SoftHSM with a token directory of its own and points `SOFTHSM2_CONF` at it, for this
 * process and its children. Call it before anything in the process initializes the module.
 *
 * @throws when softhsm2 is missing (under CI, where the tests must not be skipped)
 */
export async function createSoftHsm(): Promise<SoftHsm> {
  const module = SOFTHSM_MODULE;
  if (module === undefined) throw new Error("softhsm2 is not installed: apt-get install softhsm2 libengine-pkcs11-openssl");
  const directory = await mkdtemp(join(tmpdir(), "bcc-softhsm-"));
  const tokens = join(directory, "tokens");
  await run("mkdir", ["-p", tokens]);
  const conf = join(directory, "softhsm2.conf");
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env["SOFTHSM2_CONF"] = conf;
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const tool = (command: Record<string, unknown>): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(process.execPath, [TOOL], { env }, (error, stdout) => (error === null ? resolve(stdout) : reject(error)));
      child.stdin?.end(JSON.stringify({ module, ...command }));
    });
  return {
    module,
    directory,
    async initToken(label, pin) {
      await run("softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", `${pin}-so`], { env });
    },
    async importObjects(options) {
      await tool({ op: "import", ...options });
    },
    async inspectKey(options) {
      return JSON.parse(await tool({ op: "inspect", label: "", ...options })) as Awaited<ReturnType<SoftHsm["inspectKey"]>>;
    },
    async listKeys(options) {
      return JSON.parse(await tool({ op: "list", idHex: "", ...options })) as TokenKeyFacts[];
    },
    async remove() {
      await rm(directory, { recursive: true, force: true });
    },
  };
}
