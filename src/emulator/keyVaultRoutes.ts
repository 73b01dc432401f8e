/**
 * A minimal Key Vault: `GET /secrets/{name}[/{version}]` behind the Bearer challenge that
 * `@azure/keyvault-secrets` expects, with tokens checked for the emulator's signature, the Key
 * Vault audience, the vault's tenant and their times. Certificates are kept as Key Vault keeps
 * them in their backing secret (base64 PKCS#12 without password, or PEM).
 */
import { randomBytes } from "node:crypto";
import type { IncomingCall, Reply, RouteMatch } from "./httpHost.ts";
import type { IssuedCertificate } from "./pki.ts";
import type { TokenService } from "./tokenService.ts";
import type { EmulatorKeyVault, FaultSpec, KeyVaultSecretOptions } from "./types.ts";

/** Audiences Key Vault accepts: its resource URI (with or without slash) and its app id. */
const KEY_VAULT_AUDIENCES = new Set(["https://vault.azure.net", "https://vault.azure.net/", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"]);

const SECRET_PATH = /^\/secrets\/([^/]+)(?:\/([^/]*))?\/?$/;

interface SecretVersion {
  readonly version: string;
  readonly value: string;
  readonly contentType: string | undefined;
  readonly created: number;
  readonly expiresOn: Date | undefined;
  readonly managedCertificate: boolean;
}

/** What the Key Vault routes need from the emulator. */
export interface KeyVaultContext {
  readonly tokens: TokenService;
  readonly urls: { authorityHost: string; keyVaultUrl: string };
  readonly tenantId: string;
  readonly clock: () => number;
}

function keyVaultError(call: IncomingCall, status: number, code: string, message: string, headers: Record<string, string> = {}): Reply {
  call.journal.error = code;
  return { status, headers, body: { error: { code, message } } };
}

/** The reply of a scripted `status` fault on the Key Vault route. */
export function keyVaultFaultReply(fault: FaultSpec & { status: number }, call: IncomingCall): Reply {
  const code = fault.error ?? (fault.status === 429 ? "Throttled" : fault.status >= 500 ? "ServiceUnavailable" : "BadParameter");
  return keyVaultError(call, fault.status, code, `Scripted emulator fault: HTTP ${fault.status}.`);
}

/** The emulator's vault: secrets by name, each with its versions (newest last). */
export class KeyVaultStore implements EmulatorKeyVault {
  readonly #secrets = new Map<string, SecretVersion[]>();
  readonly #clock: () => number;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  setSecret(name: string, value: string, options: KeyVaultSecretOptions = {}): string {
    return this.#add(name, value, options.contentType, options.expiresOn, options.version, false);
  }

  setCertificate(name: string, certificate: IssuedCertificate, options: { format?: "pfx" | "pem"; version?: string } = {}): string {
    const pem = options.format === "pem";
    const value = pem
      ? `${certificate.privateKeyPem}${certificate.certificatePem}`
      : certificate.toPfx("").toString("base64");
    return this.#add(name, value, pem ? "application/x-pem-file" : "application/x-pkcs12", undefined, options.version, true);
  }

  deleteSecret(name: string): void {
    this.#secrets.delete(name.toLowerCase());
  }

  /** The newest version, or the named one. */
  find(name: string, version: string | undefined): SecretVersion | undefined {
    const versions = this.#secrets.get(name.toLowerCase());
    if (versions === undefined) return undefined;
    return version === undefined || version === "" ? versions.at(-1) : versions.find((entry) => entry.version === version);
  }

  #add(
    name: string,
    value: string,
    contentType: string | undefined,
    expiresOn: Date | undefined,
    version: string | undefined,
    managedCertificate: boolean,
  ): string {
    if (!/^[0-9a-zA-Z-]{1,127}$/.test(name)) {
      throw new TypeError(`Key Vault secret names are 1-127 letters, digits and dashes; got '${name}'.`);
    }
    const id = version ?? randomBytes(16).toString("hex");
    const versions = this.#secrets.get(name.toLowerCase()) ?? [];
    versions.push({ version: id, value, contentType, created: Math.floor(this.#clock() / 1000), expiresOn, managedCertificate });
    this.#secrets.set(name.toLowerCase(), versions);
    return id;
  }
}

/** Routes of the Key Vault host. */
export function keyVaultRoutes(context: KeyVaultContext, store: KeyVaultStore): (method: string, path: string) => RouteMatch {
  return (method, path) => {
    const match = SECRET_PATH.exec(path);
    if (match === null || method !== "GET") {
      return {
        route: undefined,
        handle: async (call) => keyVaultError(call, 404, "NotFound", "The emulator's Key Vault serves only GET /secrets/{name}[/{version}]."),
      };
    }
    const name = decodeURIComponent(match[1] ?? "");
    const version = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    return { route: "keyVault.secret", handle: async (call) => getSecret(call, context, store, name, version) };
  };
}

async function getSecret(
  call: IncomingCall,
  context: KeyVaultContext,
  store: KeyVaultStore,
  name: string,
  version: string | undefined,
): Promise<Reply> {
  const unauthorized = await authenticate(call, context);
  if (unauthorized !== undefined) return unauthorized;
  if (call.query.get("api-version") === null) {
    return keyVaultError(call, 400, "BadParameter", "The request URI contains an invalid or missing api-version.");
  }
  const secret = store.find(name, version);
  if (secret === undefined) {
    return keyVaultError(
      call,
      404,
      "SecretNotFound",
      `A secret with (name/id) ${version ? `${name}/${version}` : name} was not found in this key vault.`,
    );
  }
  const base = context.urls.keyVaultUrl;
  return {
    status: 200,
    body: {
      value: secret.value,
      ...(secret.contentType === undefined ? {} : { contentType: secret.contentType }),
      id: `${base}/secrets/${name}/${secret.version}`,
      attributes: {
        enabled: true,
        created: secret.created,
        updated: secret.created,
        recoveryLevel: "Recoverable+Purgeable",
        recoverableDays: 90,
        ...(secret.expiresOn === undefined ? {} : { exp: Math.floor(secret.expiresOn.getTime() / 1000) }),
      },
      tags: {},
      ...(secret.managedCertificate ? { kid: `${base}/keys/${name}/${secret.version}`, managed: true } : {}),
    },
  };
}

/** The 401 challenge, or undefined when the Bearer token is good. */
async function authenticate(call: IncomingCall, context: KeyVaultContext): Promise<Reply | undefined> {
  const challenge = {
    "www-authenticate": `Bearer authorization="${context.urls.authorityHost}/${context.tenantId}", resource="https://vault.azure.net"`,
  };
  const header = call.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
  const token = match?.[1];
  if (token === undefined) {
    return keyVaultError(call, 401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", challenge);
  }
  let payload: Record<string, unknown>;
  try {
    payload = (await context.tokens.verify(token)).payload;
  } catch {
    return keyVaultError(call, 401, "Unauthorized", "AKV10031: The token signature is not valid.", challenge);
  }
  const aud = payload["aud"];
  if (typeof aud !== "string" || !KEY_VAULT_AUDIENCES.has(aud)) {
    return keyVaultError(call, 401, "Unauthorized", `AKV10022: Invalid audience. Expected https://vault.azure.net, found: ${String(aud)}.`, challenge);
  }
  if (payload["tid"] !== context.tenantId) {
    return keyVaultError(
      call,
      401,
      "Unauthorized",
      `AKV10032: Invalid issuer. Expected a token of tenant ${context.tenantId}, found tenant ${String(payload["tid"])}.`,
      challenge,
    );
  }
  const now = context.clock() / 1000;
  const exp = payload["exp"];
  const nbf = payload["nbf"];
  if (typeof exp !== "number" || now >= exp || (typeof nbf === "number" && now < nbf)) {
    return keyVaultError(call, 401, "Unauthorized", "AKV10032: Token is expired or not yet valid.", challenge);
  }
  call.journal.clientId = typeof payload["appid"] === "string" ? payload["appid"] : undefined;
  return undefined;
}
