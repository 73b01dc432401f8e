/**
 * Where OpenSSL's pkcs11 engine (libp11, https://github.com/OpenSC/libp11) is, and whether this
 * Node.js can use engines at all. Node's `privateKeyEngine` loads an engine by id from the
 * directory in `OPENSSL_ENGINES`; the engine then reads its module from `PKCS11_MODULE_PATH`.
 * Engines are OpenSSL 3's legacy interface: a Node.js built without them (OPENSSL_NO_ENGINE) or on
 * an OpenSSL without them cannot present a token's key in a TLS handshake.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The engine's file name in an OpenSSL 3 engines directory. */
const ENGINE_FILE = "pkcs11.so";

/** Where distributions install OpenSSL 3 engines (Debian/Ubuntu multiarch, Fedora/RHEL, source builds, Homebrew). */
const ENGINE_DIRECTORIES = [
  "/usr/lib/x86_64-linux-gnu/engines-3",
  "/usr/lib/aarch64-linux-gnu/engines-3",
  "/usr/lib64/engines-3",
  "/usr/lib/engines-3",
  "/usr/local/lib/engines-3",
  "/usr/local/lib64/engines-3",
  "/opt/homebrew/lib/engines-3",
];

/** What to install for the engine. */
export const INSTALL_ENGINE =
  "install OpenSSL's pkcs11 engine (Debian/Ubuntu: apt-get install libengine-pkcs11-openssl; Fedora/RHEL: dnf install openssl-pkcs11), or set OPENSSL_ENGINES to the directory that holds pkcs11.so";

/**
 * The directory that holds `pkcs11.so`: `OPENSSL_ENGINES` when set, else the first of the usual
 * directories that has it; undefined when there is none.
 */
export function findEngineDirectory(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const configured = env["OPENSSL_ENGINES"];
  if (configured !== undefined && configured !== "") return existsSync(join(configured, ENGINE_FILE)) ? configured : undefined;
  return ENGINE_DIRECTORIES.find((directory) => existsSync(join(directory, ENGINE_FILE)));
}

/** Whether this Node.js's OpenSSL is 3.x, whose engine interface libengine-pkcs11-openssl 0.4 implements. */
export function opensslMajor(): number {
  return Number.parseInt(process.versions.openssl?.split(".")[0] ?? "0", 10);
}
