/**
 * Writes keys and certificates into a SoftHSM token, in a process of its own so that the process
 * under test never has the token initialized or logged in by the fixture. Run as
 * `node softhsmTokenTool.ts` with JSON on its standard input (keys and PINs stay out of its arguments), which names the module, the token, the PIN and what to do.
 *
 * The private key is created with CKA_SENSITIVE true and CKA_EXTRACTABLE false (PKCS#11 v2.40
 * section 4.9): the token never reveals it, which the `inspect` command checks.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

interface Command {
  readonly module: string;
  readonly token: string;
  readonly pin: string;
  readonly op: "import" | "inspect" | "list";
  /** PKCS#8 PEM of the key to import. */
  readonly keyPem?: string;
  /** PEM of the certificate to import, with the key's id. */
  readonly certificatePem?: string;
  readonly idHex: string;
  readonly label: string;
}

type Attr = { type: number; value?: number | boolean | string | Buffer };
interface Api {
  load(path: string): void;
  C_Initialize(options?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetSlotList(present?: boolean): Buffer[];
  C_GetTokenInfo(slot: Buffer): { label: string };
  C_OpenSession(slot: Buffer, flags: number): Buffer;
  C_Login(session: Buffer, type: number, pin: string): void;
  C_CreateObject(session: Buffer, template: Attr[]): Buffer;
  C_FindObjectsInit(session: Buffer, template: Attr[]): void;
  C_FindObjects(session: Buffer, max: number): Buffer[];
  C_FindObjectsFinal(session: Buffer): void;
  C_GetAttributeValue(session: Buffer, object: Buffer, template: Attr[]): { type: number; value?: Buffer }[];
}

const require = createRequire(import.meta.url);
const p11 = require("pkcs11js") as Record<string, number> & { PKCS11: new () => Api };
const command = JSON.parse(readFileSync(0, "utf8")) as Command;
const api = new p11.PKCS11();
api.load(command.module);
api.C_Initialize({ flags: p11["CKF_OS_LOCKING_OK"]! });
const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trim() === command.token);
if (slot === undefined) throw new Error(`no token ${command.token}`);
const session = api.C_OpenSession(slot, p11["CKF_SERIAL_SESSION"]! | p11["CKF_RW_SESSION"]!);
api.C_Login(session, p11["CKU_USER"]!, command.pin);
const id = Buffer.from(command.idHex, "hex");
const k = (name: string): number => p11[name]!;

if (command.op === "import") {
  if (command.keyPem !== undefined) {
    const jwk = createPrivateKey(command.keyPem).export({ format: "jwk" });
    const b = (value: string | undefined): Buffer => Buffer.from(value ?? "", "base64url");
    api.C_CreateObject(session, [
      { type: k("CKA_CLASS"), value: k("CKO_PRIVATE_KEY") },
      { type: k("CKA_KEY_TYPE"), value: k("CKK_RSA") },
      { type: k("CKA_TOKEN"), value: true },
      { type: k("CKA_PRIVATE"), value: true },
      { type: k("CKA_SENSITIVE"), value: true },
      { type: k("CKA_EXTRACTABLE"), value: false },
      { type: k("CKA_SIGN"), value: true },
      { type: k("CKA_ID"), value: id },
      { type: k("CKA_LABEL"), value: command.label },
      { type: k("CKA_MODULUS"), value: b(jwk.n) },
      { type: k("CKA_PUBLIC_EXPONENT"), value: b(jwk.e) },
      { type: k("CKA_PRIVATE_EXPONENT"), value: b(jwk.d) },
      { type: k("CKA_PRIME_1"), value: b(jwk.p) },
      { type: k("CKA_PRIME_2"), value: b(jwk.q) },
      { type: k("CKA_EXPONENT_1"), value: b(jwk.dp) },
      { type: k("CKA_EXPONENT_2"), value: b(jwk.dq) },
      { type: k("CKA_COEFFICIENT"), value: b(jwk.qi) },
    ]);
  }
  if (command.certificatePem !== undefined) {
    const certificate = new x509.X509Certificate(command.certificatePem);
    api.C_CreateObject(session, [
      { type: k("CKA_CLASS"), value: k("CKO_CERTIFICATE") },
      { type: k("CKA_CERTIFICATE_TYPE"), value: k("CKC_X_509") },
      { type: k("CKA_TOKEN"), value: true },
      { type: k("CKA_ID"), value: id },
      { type: k("CKA_LABEL"), value: command.label },
      { type: k("CKA_SUBJECT"), value: Buffer.from(certificate.subjectName.toArrayBuffer()) },
      { type: k("CKA_VALUE"), value: Buffer.from(certificate.rawData) },
    ]);
  }
  process.stdout.write("{}");
} else if (command.op === "list") {
  // Every private key with the label: its id, flags and modulus (a public attribute).
  api.C_FindObjectsInit(session, [
    { type: k("CKA_CLASS"), value: k("CKO_PRIVATE_KEY") },
    { type: k("CKA_LABEL"), value: command.label },
  ]);
  const keys = api.C_FindObjects(session, 64);
  api.C_FindObjectsFinal(session);
  const value = (key: Buffer, name: string): Buffer => api.C_GetAttributeValue(session, key, [{ type: k(name) }])[0]?.value ?? Buffer.alloc(0);
  process.stdout.write(
    JSON.stringify(
      keys.map((key) => ({
        idHex: value(key, "CKA_ID").toString("hex"),
        sensitive: value(key, "CKA_SENSITIVE")[0] === 1,
        extractable: value(key, "CKA_EXTRACTABLE")[0] === 1,
        tokenObject: value(key, "CKA_TOKEN")[0] === 1,
        modulusHex: value(key, "CKA_MODULUS").toString("hex"),
      })),
    ),
  );
} else {
  api.C_FindObjectsInit(session, [
    { type: k("CKA_CLASS"), value: k("CKO_PRIVATE_KEY") },
    { type: k("CKA_ID"), value: id },
  ]);
  const [key] = api.C_FindObjects(session, 1);
  api.C_FindObjectsFinal(session);
  if (key === undefined) throw new Error("no key");
  const flag = (name: string): boolean => (api.C_GetAttributeValue(session, key, [{ type: k(name) }])[0]?.value?.[0] ?? 0) !== 0;
  let privateExponent: string;
  try {
    api.C_GetAttributeValue(session, key, [{ type: k("CKA_PRIVATE_EXPONENT") }]);
    privateExponent = "readable";
  } catch (error) {
    privateExponent = /CKR_[A-Z_]+/.exec(String(error))?.[0] ?? String(error);
  }
  process.stdout.write(JSON.stringify({ sensitive: flag("CKA_SENSITIVE"), extractable: flag("CKA_EXTRACTABLE"), neverExtractable: flag("CKA_NEVER_EXTRACTABLE"), privateExponent }));
}
api.C_Finalize();
