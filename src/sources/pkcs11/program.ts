/**
 * The program that talks to the PKCS#11 module, in a child process of its own (one per entry). It is
 * sent as source text (`node -e`), so the library needs no separate file in its ESM and CommonJS
 * builds; it loads `pkcs11js` from the path the parent resolved. A process of its own, rather than
 * a worker thread, because a module that hangs in a call would keep a worker's thread, and with it
 * the parent's exit, forever, and a module that crashes would take the parent with it; a child can
 * be killed. It also gives each entry a login of its own (see `login` below).
 *
 * Calls follow PKCS#11 v2.40 (https://docs.oasis-open.org/pkcs11/pkcs11-base/v2.40/os/pkcs11-base-v2.40-os.html):
 * C_Initialize with CKF_OS_LOCKING_OK, one session, C_Login, C_FindObjects for the key and its
 * certificate, and C_Sign with CKM_SHA256_RSA_PKCS_PSS for each assertion. Nothing reads a private
 * attribute of the key: a sensitive, non-extractable key works. For a managed identity's binding
 * keys, a read-write session on the token, C_GenerateKeyPair with CKM_RSA_PKCS_KEY_PAIR_GEN
 * (section 2.1.4 of the PKCS#11 v2.40 mechanisms) and C_DestroyObject once a key is retired.
 */

/** What the main thread asks for: which module, token and key. */
export interface Pkcs11Selector {
  readonly token?: string | undefined;
  readonly manufacturer?: string | undefined;
  readonly serial?: string | undefined;
  readonly model?: string | undefined;
  readonly slotId?: number | undefined;
  readonly slotDescription?: string | undefined;
  readonly slotManufacturer?: string | undefined;
  readonly libraryManufacturer?: string | undefined;
  readonly libraryDescription?: string | undefined;
  readonly libraryVersion?: { readonly major: number; readonly minor: number } | undefined;
  readonly object?: string | undefined;
  /** CKA_ID in hex. */
  readonly idHex?: string | undefined;
}

/** What the program found once the session is open. */
export interface OpenedKey {
  /**
   * `verified`: C_Login checked the PIN; `already-logged-in`: the module said the token was logged
   * in already, which a process of its own should never see.
   */
  readonly login: "verified" | "already-logged-in";
  readonly token: { readonly label: string; readonly serial: string };
  readonly key: {
    readonly idHex: string | undefined;
    readonly label: string | undefined;
    /** CKA_MODULUS and CKA_PUBLIC_EXPONENT (public attributes of an RSA private key), base64. */
    readonly modulus: string;
    readonly exponent: string;
    readonly sensitive: boolean;
    readonly extractable: boolean;
  };
  /** CKA_VALUE of the certificate objects with the key's id (or label), base64 DER. */
  readonly certificates: readonly string[];
}

/** Why the program failed; `kind` tells the main thread which reason to give. */
export interface ProgramFailure {
  readonly kind: "binding" | "module" | "token-not-found" | "key-not-found" | "pin-incorrect" | "pin-locked" | "not-rsa" | "pkcs11";
  /** The PKCS#11 return value's name (`CKR_…`) or a short description; never a PIN. */
  readonly detail: string;
}

/** What the program found when it opened a token without a key (`op: "token"`). */
export interface OpenedToken {
  /** As {@link OpenedKey.login}. */
  readonly login: "verified" | "already-logged-in";
  readonly token: { readonly label: string; readonly serial: string };
}

/** A key pair the program generated in the token. */
export interface GeneratedKey {
  readonly idHex: string;
  /** CKA_MODULUS and CKA_PUBLIC_EXPONENT of the public key, base64. */
  readonly modulus: string;
  readonly exponent: string;
  /** CKA_SENSITIVE and CKA_EXTRACTABLE of the private key as the token reports them. */
  readonly sensitive: boolean;
  readonly extractable: boolean;
}

/** A request to the program. */
export type ProgramRequest =
  | { readonly id: number; readonly op: "open"; readonly selector: Pkcs11Selector; readonly pin: string | undefined }
  | { readonly id: number; readonly op: "token"; readonly selector: Pkcs11Selector; readonly pin: string | undefined }
  | { readonly id: number; readonly op: "generate"; readonly label: string; readonly idHex: string }
  | { readonly id: number; readonly op: "destroy"; readonly label: string; readonly idHex: string }
  | { readonly id: number; readonly op: "list"; readonly label: string }
  /** `keyIdHex`: a generated key's CKA_ID; the opened key when absent. */
  | { readonly id: number; readonly op: "sign"; readonly data: Uint8Array; readonly keyIdHex?: string | undefined };

/** A reply of the program. */
export type ProgramReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly opened?: OpenedKey;
      readonly token?: OpenedToken;
      readonly generated?: GeneratedKey;
      /** CKA_ID, hex, of the private keys with a label (`op: "list"`). */
      readonly keyIds?: readonly string[];
      readonly signature?: Uint8Array;
    }
  | { readonly id: number; readonly ok: false; readonly failure: ProgramFailure };

/**
 * The program: `node -e <this> <binding> <module>`, requests and replies over the IPC channel. It
 * ends when the channel closes (the parent ended or killed it).
 *
 * PKCS#11 logs an application (a process), not a session, into a token (PKCS#11 v2.40 section
 * 5.6): where another part of a process logged in, C_Login answers CKR_USER_ALREADY_LOGGED_IN
 * whatever the PIN. OpenSSL's pkcs11 engine and other entries log in in the parent; each entry's
 * program logs in in its own process, so its PIN is really checked.
 */
export function pkcs11Program(): void {
  interface Api {
    load(path: string): void;
    C_Initialize(options?: { flags?: number }): void;
    C_GetInfo(): { manufacturerID: string; libraryDescription: string; libraryVersion: { major: number; minor: number } };
    C_GetSlotList(tokenPresent?: boolean): Buffer[];
    C_GetSlotInfo(slot: Buffer): { slotDescription: string; manufacturerID: string };
    C_GetTokenInfo(slot: Buffer): { label: string; manufacturerID: string; model: string; serialNumber: string };
    C_OpenSession(slot: Buffer, flags: number): Buffer;
    C_CloseSession(session: Buffer): void;
    C_Login(session: Buffer, userType: number, pin?: string): void;
    C_FindObjectsInit(session: Buffer, template: { type: number; value?: number | boolean | string | Buffer }[]): void;
    C_FindObjects(session: Buffer, max: number): Buffer[];
    C_FindObjectsFinal(session: Buffer): void;
    C_GetAttributeValue(session: Buffer, object: Buffer, template: { type: number }[]): { type: number; value?: Buffer }[];
    C_SignInit(session: Buffer, mechanism: { mechanism: number; parameter?: { type: number; hashAlg: number; mgf: number; saltLen: number } }, key: Buffer): void;
    C_Sign(session: Buffer, data: Buffer, out: Buffer): Buffer;
    C_GenerateKeyPair(
      session: Buffer,
      mechanism: { mechanism: number },
      publicTemplate: { type: number; value?: number | boolean | string | Buffer }[],
      privateTemplate: { type: number; value?: number | boolean | string | Buffer }[],
    ): { publicKey: Buffer; privateKey: Buffer };
    C_DestroyObject(session: Buffer, object: Buffer): void;
  }
  type Selector = Pkcs11Selector;
  class Failure extends Error {
    readonly failure: ProgramFailure;
    constructor(kind: ProgramFailure["kind"], detail: string) {
      super(detail);
      this.failure = { kind, detail };
    }
  }
  const { createRequire } = process.getBuiltinModule("node:module");
  let binding: Record<string, unknown> & { PKCS11: new () => Api };
  let api: Api | undefined;
  const k = (name: string): number => {
    const value = binding[name];
    if (typeof value !== "number") throw new Failure("binding", `pkcs11js has no constant ${name}`);
    return value;
  };
  /** The `CKR_…` name of a pkcs11js error, or its first line. */
  const ckr = (error: unknown): string => {
    const message = error instanceof Error ? error.message : String(error);
    return /CKR_[A-Z_]+/.exec(message)?.[0] ?? message.split("\n")[0]!.slice(0, 200);
  };
  const trim = (text: string): string => text.replace(/[\s\0]+$/, "");
  const loadModule = (bindingPath: string, modulePath: string): Api => {
    try {
      binding = createRequire(bindingPath)(bindingPath) as typeof binding;
    } catch (error) {
      throw new Failure("binding", error instanceof Error ? error.message.split("\n")[0]!.slice(0, 300) : "it could not be loaded");
    }
    const p = new binding.PKCS11();
    try {
      p.load(modulePath);
    } catch (error) {
      throw new Failure("module", error instanceof Error ? error.message.split("\n")[0]!.slice(0, 300) : "it could not be loaded");
    }
    try {
      p.C_Initialize({ flags: k("CKF_OS_LOCKING_OK") });
    } catch (error) {
      // Another part of the process (the TLS engine, another entry) initialized it: one
      // initialization serves the whole process (PKCS#11 v2.40 section 5.4).
      if (ckr(error) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") throw new Failure("module", `C_Initialize failed: ${ckr(error)}`);
    }
    return p;
  };
  const findSlot = (p: Api, s: Selector): { slot: Buffer; label: string; serial: string } => {
    if (s.libraryManufacturer !== undefined || s.libraryDescription !== undefined || s.libraryVersion !== undefined) {
      const info = p.C_GetInfo();
      if (
        (s.libraryManufacturer !== undefined && trim(info.manufacturerID) !== s.libraryManufacturer) ||
        (s.libraryDescription !== undefined && trim(info.libraryDescription) !== s.libraryDescription) ||
        (s.libraryVersion !== undefined && (info.libraryVersion.major !== s.libraryVersion.major || info.libraryVersion.minor !== s.libraryVersion.minor))
      ) {
        throw new Failure("token-not-found", "the module does not match the URI's library attributes");
      }
    }
    for (const slot of p.C_GetSlotList(true)) {
      const slotId = slot.length >= 8 ? Number(slot.readBigUInt64LE(0)) : slot.readUInt32LE(0);
      if (s.slotId !== undefined && slotId !== s.slotId) continue;
      if (s.slotDescription !== undefined || s.slotManufacturer !== undefined) {
        const info = p.C_GetSlotInfo(slot);
        if (s.slotDescription !== undefined && trim(info.slotDescription) !== s.slotDescription) continue;
        if (s.slotManufacturer !== undefined && trim(info.manufacturerID) !== s.slotManufacturer) continue;
      }
      const token = p.C_GetTokenInfo(slot);
      if (s.token !== undefined && trim(token.label) !== s.token) continue;
      if (s.manufacturer !== undefined && trim(token.manufacturerID) !== s.manufacturer) continue;
      if (s.serial !== undefined && trim(token.serialNumber) !== s.serial) continue;
      if (s.model !== undefined && trim(token.model) !== s.model) continue;
      return { slot, label: trim(token.label), serial: trim(token.serialNumber) };
    }
    throw new Failure("token-not-found", "no token present matches the URI");
  };
  /** C_Login; CKR_USER_ALREADY_LOGGED_IN means the PIN was not checked. */
  const login = (p: Api, session: Buffer, pin: string | undefined): "verified" | "already-logged-in" => {
    try {
      p.C_Login(session, k("CKU_USER"), pin);
      return "verified";
    } catch (error) {
      const code = ckr(error);
      if (code === "CKR_USER_ALREADY_LOGGED_IN") return "already-logged-in";
      if (code === "CKR_PIN_INCORRECT" || code === "CKR_PIN_LEN_RANGE" || code === "CKR_ARGUMENTS_BAD") throw new Failure("pin-incorrect", code);
      if (code === "CKR_PIN_LOCKED" || code === "CKR_PIN_EXPIRED") throw new Failure("pin-locked", code);
      throw new Failure("pkcs11", `C_Login failed: ${code}`);
    }
  };
  const find = (p: Api, session: Buffer, template: { type: number; value?: number | boolean | string | Buffer }[], max: number): Buffer[] => {
    p.C_FindObjectsInit(session, template);
    try {
      return p.C_FindObjects(session, max);
    } finally {
      p.C_FindObjectsFinal(session);
    }
  };
  const attribute = (p: Api, session: Buffer, object: Buffer, type: number): Buffer | undefined => {
    try {
      return p.C_GetAttributeValue(session, object, [{ type }])[0]?.value;
    } catch {
      return undefined;
    }
  };
  let session: Buffer | undefined;
  let keyHandle: Buffer | undefined;
  let pin: string | undefined;
  /** Handles of the keys this program generated, by CKA_ID in hex. */
  const generated = new Map<string, Buffer>();
  /** Opens a session on the token `s` selects (read-write to generate keys) and logs in. */
  const openToken = (bindingPath: string, modulePath: string, s: Selector, givenPin: string | undefined, write: boolean): OpenedToken => {
    api ??= loadModule(bindingPath, modulePath);
    const p = api;
    const { slot, label, serial } = findSlot(p, s);
    // A reopen (a reload of the entry) replaces the session; the old one closes only once the new
    // one is open, since closing a token's last session logs the application out.
    const previous = session;
    session = p.C_OpenSession(slot, k("CKF_SERIAL_SESSION") | (write ? k("CKF_RW_SESSION") : 0));
    if (previous !== undefined) {
      try {
        p.C_CloseSession(previous);
      } catch {
        // Already gone with a reset token: nothing to release.
      }
    }
    keyHandle = undefined;
    generated.clear();
    const loggedIn = login(p, session, givenPin);
    pin = givenPin;
    return { login: loggedIn, token: { label, serial } };
  };
  const open = (bindingPath: string, modulePath: string, s: Selector, givenPin: string | undefined): OpenedKey => {
    const { login: loggedIn, token: { label, serial } } = openToken(bindingPath, modulePath, s, givenPin, false);
    const p = api!;
    const current = session!;
    const template: { type: number; value?: number | boolean | string | Buffer }[] = [{ type: k("CKA_CLASS"), value: k("CKO_PRIVATE_KEY") }];
    if (s.idHex !== undefined) template.push({ type: k("CKA_ID"), value: Buffer.from(s.idHex, "hex") });
    if (s.object !== undefined) template.push({ type: k("CKA_LABEL"), value: s.object });
    const keys = find(p, current, template, 2);
    if (keys.length === 0) throw new Failure("key-not-found", "no private key on the token matches the URI's object and id");
    if (keys.length > 1) throw new Failure("key-not-found", "more than one private key matches the URI: add id= or object= to name one");
    keyHandle = keys[0]!;
    const keyType = attribute(p, current, keyHandle, k("CKA_KEY_TYPE"));
    if (keyType === undefined || keyType.readUIntLE(0, Math.min(keyType.length, 6)) !== k("CKK_RSA")) {
      throw new Failure("not-rsa", "the key is not an RSA key, and Entra ID accepts client assertions signed with RSA keys only (PS256)");
    }
    const flag = (type: string): boolean => (attribute(p, current, keyHandle!, k(type))?.[0] ?? 0) !== 0;
    const idBytes = attribute(p, current, keyHandle, k("CKA_ID"));
    const labelBytes = attribute(p, current, keyHandle, k("CKA_LABEL"));
    const modulus = attribute(p, current, keyHandle, k("CKA_MODULUS"));
    const exponent = attribute(p, current, keyHandle, k("CKA_PUBLIC_EXPONENT"));
    if (modulus === undefined || exponent === undefined) throw new Failure("pkcs11", "the key's modulus or public exponent cannot be read");
    const certificateTemplate: { type: number; value?: number | boolean | string | Buffer }[] = [{ type: k("CKA_CLASS"), value: k("CKO_CERTIFICATE") }];
    if (idBytes !== undefined && idBytes.length > 0) certificateTemplate.push({ type: k("CKA_ID"), value: idBytes });
    else if (labelBytes !== undefined && labelBytes.length > 0) certificateTemplate.push({ type: k("CKA_LABEL"), value: labelBytes.toString("utf8") });
    const certificates = certificateTemplate.length > 1 ? find(p, current, certificateTemplate, 8) : [];
    return {
      login: loggedIn,
      token: { label, serial },
      key: {
        idHex: idBytes === undefined || idBytes.length === 0 ? undefined : idBytes.toString("hex"),
        label: labelBytes === undefined || labelBytes.length === 0 ? undefined : labelBytes.toString("utf8"),
        modulus: modulus.toString("base64"),
        exponent: exponent.toString("base64"),
        sensitive: flag("CKA_SENSITIVE"),
        extractable: flag("CKA_EXTRACTABLE"),
      },
      certificates: certificates
        .map((handle) => attribute(p, current, handle, k("CKA_VALUE")))
        .filter((value): value is Buffer => value !== undefined && value.length > 0)
        .map((value) => value.toString("base64")),
    };
  };
  /** The handle of a key this program generated, found again by its CKA_ID after a reopen. */
  const generatedHandle = (idHex: string): Buffer => {
    const known = generated.get(idHex);
    if (known !== undefined) return known;
    const found = find(api!, session!, [
      { type: k("CKA_CLASS"), value: k("CKO_PRIVATE_KEY") },
      { type: k("CKA_ID"), value: Buffer.from(idHex, "hex") },
    ], 2);
    if (found.length !== 1) throw new Failure("key-not-found", `the generated key ${idHex} is no longer on the token`);
    generated.set(idHex, found[0]!);
    return found[0]!;
  };
  const signOnce = (data: Uint8Array, keyIdHex: string | undefined): Buffer => {
    const p = api!;
    // RFC 7518 section 3.5: PS256 is RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt.
    p.C_SignInit(
      session!,
      {
        mechanism: k("CKM_SHA256_RSA_PKCS_PSS"),
        parameter: { type: k("CK_PARAMS_RSA_PSS"), hashAlg: k("CKM_SHA256"), mgf: k("CKG_MGF1_SHA256"), saltLen: 32 },
      },
      keyIdHex === undefined ? keyHandle! : generatedHandle(keyIdHex),
    );
    return p.C_Sign(session!, Buffer.from(data), Buffer.alloc(1024));
  };
  const sign = (data: Uint8Array, keyIdHex: string | undefined): Buffer => {
    if (api === undefined || session === undefined || (keyIdHex === undefined && keyHandle === undefined)) throw new Failure("pkcs11", "the session is not open");
    try {
      return signOnce(data, keyIdHex);
    } catch (error) {
      if (error instanceof Failure) throw error;
      // The login is the application's, per token: it ends when the application's last session
      // on the token closes (PKCS#11 v2.40 section 5.6), so log in again with the PIN already checked.
      if (ckr(error) !== "CKR_USER_NOT_LOGGED_IN") throw new Failure("pkcs11", `C_Sign failed: ${ckr(error)}`);
      login(api, session, pin);
      try {
        return signOnce(data, keyIdHex);
      } catch (again) {
        throw new Failure("pkcs11", `C_Sign failed: ${ckr(again)}`);
      }
    }
  };
  /**
   * An RSA-2048 key pair (the size IMDS v2 takes, MSAL.NET `Constants.RsaKeySize`) on the token (CKA_TOKEN, so that OpenSSL's engine, in another process, finds
   * it): the private key CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, for signing only.
   */
  const generate = (label: string, idHex: string): GeneratedKey => {
    if (api === undefined || session === undefined) throw new Failure("pkcs11", "the session is not open");
    const p = api;
    const id = Buffer.from(idHex, "hex");
    const common = [
      { type: k("CKA_TOKEN"), value: true },
      { type: k("CKA_ID"), value: id },
      { type: k("CKA_LABEL"), value: label },
    ];
    let pair: { publicKey: Buffer; privateKey: Buffer };
    try {
      pair = p.C_GenerateKeyPair(
        session,
        { mechanism: k("CKM_RSA_PKCS_KEY_PAIR_GEN") },
        [...common, { type: k("CKA_PRIVATE"), value: false }, { type: k("CKA_VERIFY"), value: true }, { type: k("CKA_MODULUS_BITS"), value: 2048 }, { type: k("CKA_PUBLIC_EXPONENT"), value: Buffer.from([1, 0, 1]) }],
        [...common, { type: k("CKA_PRIVATE"), value: true }, { type: k("CKA_SENSITIVE"), value: true }, { type: k("CKA_EXTRACTABLE"), value: false }, { type: k("CKA_SIGN"), value: true }],
      );
    } catch (error) {
      throw new Failure("pkcs11", `C_GenerateKeyPair failed: ${ckr(error)}`);
    }
    generated.set(idHex, pair.privateKey);
    const modulus = attribute(p, session, pair.publicKey, k("CKA_MODULUS"));
    const exponent = attribute(p, session, pair.publicKey, k("CKA_PUBLIC_EXPONENT"));
    if (modulus === undefined || exponent === undefined) throw new Failure("pkcs11", "the generated key's modulus or public exponent cannot be read");
    const flag = (type: string): boolean => (attribute(p, session!, pair.privateKey, k(type))?.[0] ?? 0) !== 0;
    return { idHex, modulus: modulus.toString("base64"), exponent: exponent.toString("base64"), sensitive: flag("CKA_SENSITIVE"), extractable: flag("CKA_EXTRACTABLE") };
  };
  /** The CKA_IDs of the private keys with this label. */
  const list = (label: string): string[] => {
    if (api === undefined || session === undefined) throw new Failure("pkcs11", "the session is not open");
    const p = api;
    return find(p, session, [{ type: k("CKA_CLASS"), value: k("CKO_PRIVATE_KEY") }, { type: k("CKA_LABEL"), value: label }], 1024).map(
      (handle) => attribute(p, session!, handle, k("CKA_ID"))?.toString("hex") ?? "",
    );
  };
  /** Destroys the objects (both halves of a generated pair) with this id and label. */
  const destroy = (label: string, idHex: string): void => {
    if (api === undefined || session === undefined) throw new Failure("pkcs11", "the session is not open");
    const p = api;
    generated.delete(idHex);
    for (const object of find(p, session, [{ type: k("CKA_ID"), value: Buffer.from(idHex, "hex") }, { type: k("CKA_LABEL"), value: label }], 8)) {
      try {
        p.C_DestroyObject(session, object);
      } catch (error) {
        throw new Failure("pkcs11", `C_DestroyObject failed: ${ckr(error)}`);
      }
    }
  };
  const failureOf = (error: unknown): ProgramFailure =>
    error instanceof Failure ? error.failure : { kind: "pkcs11", detail: ckr(error) };

  const [bindingPath = "", modulePath = ""] = process.argv.slice(1);
  process.on("disconnect", () => process.exit(0));
  process.on("message", (request: ProgramRequest) => {
    let reply: ProgramReply;
    try {
      switch (request.op) {
        case "open":
          reply = { id: request.id, ok: true, opened: open(bindingPath, modulePath, request.selector, request.pin) };
          break;
        case "token":
          reply = { id: request.id, ok: true, token: openToken(bindingPath, modulePath, request.selector, request.pin, true) };
          break;
        case "generate":
          reply = { id: request.id, ok: true, generated: generate(request.label, request.idHex) };
          break;
        case "destroy":
          destroy(request.label, request.idHex);
          reply = { id: request.id, ok: true };
          break;
        case "list":
          reply = { id: request.id, ok: true, keyIds: list(request.label) };
          break;
        case "sign":
          reply = { id: request.id, ok: true, signature: sign(request.data, request.keyIdHex) };
          break;
      }
    } catch (error) {
      reply = { id: request.id, ok: false, failure: failureOf(error) };
    }
    process.send?.(reply);
  });
}
