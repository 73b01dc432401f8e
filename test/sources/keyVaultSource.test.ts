import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import { isAzureVaultHost, KeyVaultSource } from "../../src/sources/keyVaultSource.ts";
import type { LoadedCertificate } from "../../src/sources/loadedCertificate.ts";
import { type SourceMaterial, SourceUnavailableError } from "../../src/sources/types.ts";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  entryOf,
  type IssuedCertificate,
  optionsWith,
} from "./support/fixtures.ts";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const VAULT_TOKEN = "vault-access-token-canary-3c9e";
const CHALLENGE = `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.azure.net"`;

interface StoredSecret {
  readonly value: string;
  readonly contentType?: string;
}

interface TokenCall {
  readonly scopes: string[];
  readonly tenantId: string | undefined;
}

/** A Key Vault that answers the GET secret route the way the real one does, 401 challenge first. */
class LocalVault {
  readonly secrets = new Map<string, Map<string, StoredSecret>>();
  readonly requests: { path: string; authorization: string | undefined; apiVersion: string | null }[] = [];
  readonly #server: Server;
  url = "";

  constructor(server: IssuedCertificate) {
    this.#server = createServer({ cert: server.certificatePem, key: server.privateKeyPem }, (request, response) => {
      const url = new URL(request.url ?? "/", "https://127.0.0.1");
      const authorization = request.headers.authorization;
      this.requests.push({ path: url.pathname, authorization, apiVersion: url.searchParams.get("api-version") });
      const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        response.writeHead(status, { "content-type": "application/json", ...headers });
        response.end(JSON.stringify(body));
      };
      if (authorization === undefined) {
        return reply(401, { error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer token." } }, {
          "www-authenticate": CHALLENGE,
        });
      }
      if (authorization !== `Bearer ${VAULT_TOKEN}`) {
        return reply(401, { error: { code: "Unauthorized", message: "AKV10032: Invalid issuer." } }, {
          "www-authenticate": CHALLENGE,
        });
      }
      const match = /^\/secrets\/([^/]+)\/?([^/]*)$/.exec(url.pathname);
      if (request.method !== "GET" || match === null) return reply(400, { error: { code: "BadParameter", message: "?" } });
      const name = match[1] ?? "";
      const version = match[2] ?? "";
      if (name === "forbidden") {
        return reply(403, {
          error: { code: "Forbidden", message: "Caller is not authorized to perform action on resource." },
        });
      }
      const versions = this.secrets.get(name);
      const chosen = version === "" ? [...(versions?.keys() ?? [])].at(-1) : version;
      const secret = chosen === undefined ? undefined : versions?.get(chosen);
      if (secret === undefined || chosen === undefined) {
        return reply(404, {
          error: { code: "SecretNotFound", message: `A secret with (name/id) ${name}/${version} was not found in this key vault.` },
        });
      }
      reply(200, {
        value: secret.value,
        ...(secret.contentType === undefined ? {} : { contentType: secret.contentType }),
        id: `${this.url}/secrets/${name}/${chosen}`,
        managed: true,
        attributes: { enabled: true, created: 1_700_000_000, updated: 1_700_000_000, recoveryLevel: "Recoverable" },
      });
    });
  }

  put(name: string, version: string, secret: StoredSecret): void {
    const versions = this.secrets.get(name) ?? new Map<string, StoredSecret>();
    versions.set(version, secret);
    this.secrets.set(name, versions);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.url = `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

class RecordingCredential implements TokenCredential {
  readonly calls: TokenCall[] = [];
  readonly #token: string;
  constructor(token = VAULT_TOKEN) {
    this.#token = token;
  }
  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.calls.push({ scopes: [scopes].flat(), tenantId: options?.tenantId });
    return { token: this.#token, expiresOnTimestamp: Date.now() + 3_600_000, tokenType: "Bearer" };
  }
}

function certificateOf(material: SourceMaterial): LoadedCertificate {
  if (material.kind !== "certificate") throw new Error(`expected a certificate, got ${material.kind}`);
  return material.certificate;
}

async function unavailable(promise: Promise<unknown>, reason: RegExp): Promise<SourceUnavailableError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof SourceUnavailableError, `expected SourceUnavailableError, got ${inspect(error)}`);
  assert.match(error.reason, reason);
  assert.ok(!error.reason.includes(VAULT_TOKEN));
  return error;
}

describe("KeyVault source", () => {
  let ca: CertificateAuthority;
  let vault: LocalVault;
  let rsa: IssuedCertificate;
  let ec: IssuedCertificate;
  let expired: IssuedCertificate;

  before(async () => {
    ca = await createCertificateAuthority();
    const serverCertificate = await ca.issueCertificate({
      subject: "CN=localhost",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      extendedKeyUsage: ["serverAuth"],
    });
    [rsa, ec, expired] = await Promise.all([
      ca.issueCertificate({ subject: "CN=kv rsa" }),
      ca.issueCertificate({ subject: "CN=kv ec", keyType: "ec" }),
      ca.issueCertificate({
        subject: "CN=kv expired",
        notBefore: new Date(Date.now() - 3 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
      }),
    ]);
    vault = new LocalVault(serverCertificate);
    await vault.start();
    vault.put("app-pfx", "v1", { value: rsa.toPfx("").toString("base64"), contentType: "application/x-pkcs12" });
    vault.put("app-pfx", "v2", { value: ec.toPfx("", { legacy: true }).toString("base64"), contentType: "application/x-pkcs12" });
    vault.put("app-pem", "p1", { value: ec.privateKeyPem + ec.certificatePem + ca.certificatePem, contentType: "application/x-pem-file" });
    vault.put("plain", "1", { value: "just a password", contentType: "text/plain" });
    vault.put("expired", "1", { value: expired.toPfx("").toString("base64"), contentType: "application/x-pkcs12" });
  });
  after(async () => {
    await vault.stop();
  });

  function keyVaultSource(
    name: string,
    options: { version?: string; credential?: TokenCredential; optionsCredential?: TokenCredential; trust?: boolean; url?: string } = {},
  ): KeyVaultSource {
    const description = {
      sourceType: "KeyVault" as const,
      keyVaultUrl: options.url ?? vault.url,
      keyVaultCertificateName: name,
      ...(options.version === undefined ? {} : { keyVaultCertificateVersion: options.version }),
      ...(options.credential === undefined ? {} : { keyVaultCredential: options.credential }),
    };
    const normalized = optionsWith({
      tlsCa: options.trust === false ? [] : [ca.certificatePem],
      keyVaultCredential: options.optionsCredential,
    });
    return new KeyVaultSource(entryOf(description), normalized, Date.now, () => {
      throw new Error("these tests always give a credential");
    });
  }

  test("PKCS#12 content: the latest version, after the 401 challenge, with the challenge's scope and tenant", async () => {
    const credential = new RecordingCredential();
    const before = vault.requests.length;
    const loaded = certificateOf(await keyVaultSource("app-pfx", { credential }).load());
    assert.equal(loaded.thumbprintSha256, ec.thumbprintSha256);
    assert.equal(loaded.keyType, "ec");
    assert.deepEqual(credential.calls, [{ scopes: ["https://vault.azure.net/.default"], tenantId: TENANT }]);
    const requests = vault.requests.slice(before);
    assert.equal(requests.length, 2);
    assert.equal(requests[0]?.authorization, undefined, "the first request carries no token, as Key Vault expects");
    assert.equal(requests[1]?.authorization, `Bearer ${VAULT_TOKEN}`);
    assert.match(requests[1]?.path ?? "", /^\/secrets\/app-pfx\/?$/);
    assert.ok(requests[1]?.apiVersion, "api-version is sent");
  });

  test("a given version, with the options' credential", async () => {
    const credential = new RecordingCredential();
    const loaded = certificateOf(await keyVaultSource("app-pfx", { version: "v1", optionsCredential: credential }).load());
    assert.equal(loaded.thumbprintSha256, rsa.thumbprintSha256);
    assert.equal(credential.calls.length, 1);
    assert.equal(vault.requests.at(-1)?.path, "/secrets/app-pfx/v1");
  });

  test("the entry's credential wins over the options' credential", async () => {
    const entryCredential = new RecordingCredential();
    const optionsCredential = new RecordingCredential("wrong-token");
    await keyVaultSource("app-pfx", { credential: entryCredential, optionsCredential }).load();
    assert.equal(entryCredential.calls.length, 1);
    assert.equal(optionsCredential.calls.length, 0);
  });

  test("PEM content: key first, then the certificate and its CA", async () => {
    const source = keyVaultSource("app-pem", { credential: new RecordingCredential() });
    const material = await source.load();
    const loaded = certificateOf(material);
    assert.equal(loaded.thumbprintSha256, ec.thumbprintSha256);
    assert.equal(loaded.chain.length, 2);
    for (const value of [material, source]) {
      for (const text of [JSON.stringify(value), inspect(value, { depth: Infinity, showHidden: true, getters: true })]) {
        assert.ok(!text.includes("PRIVATE KEY") && !text.includes(VAULT_TOKEN), text);
      }
    }
  });

  test("cached until reload; reload reads the vault again", async () => {
    const source = keyVaultSource("app-pfx", { credential: new RecordingCredential() });
    const before = vault.requests.length;
    const first = await source.load();
    const [second, third] = await Promise.all([source.load(), source.load()]);
    assert.equal(second, first);
    assert.equal(third, first);
    const afterLoads = vault.requests.length;
    const reloaded = await source.reload();
    assert.notEqual(reloaded, first);
    assert.ok(vault.requests.length > afterLoads);
    assert.ok(afterLoads - before <= 2, "one challenge and one authorized request");
  });

  test("404, 403, 401, a non-certificate secret, an expired certificate", async () => {
    const missing = await unavailable(
      keyVaultSource("missing", { credential: new RecordingCredential() }).load(),
      /404 Not Found.*check keyVaultCertificateName/,
    );
    assert.ok(missing.reason.includes('"missing"'));
    assert.ok(missing.reason.includes(vault.url));
    await unavailable(
      keyVaultSource("forbidden", { credential: new RecordingCredential() }).load(),
      /403 Forbidden.*Key Vault Secrets User/,
    );
    await unavailable(
      keyVaultSource("app-pfx", { credential: new RecordingCredential("bad-token") }).load(),
      /refused the credential \(401/,
    );
    await unavailable(
      keyVaultSource("plain", { credential: new RecordingCredential() }).load(),
      /content type "text\/plain", which is not a certificate/,
    );
    await unavailable(keyVaultSource("expired", { credential: new RecordingCredential() }).load(), /has expired/);
  });

  test("a credential that fails", async () => {
    const failing: TokenCredential = {
      getToken: async () => {
        const error = new Error("ManagedIdentityCredential: no managed identity endpoint found");
        error.name = "CredentialUnavailableError";
        throw error;
      },
    };
    await unavailable(keyVaultSource("app-pfx", { credential: failing }).load(), /no token could be obtained for Key Vault/);
  });

  test("a vault whose TLS certificate is not trusted is unavailable: verification stays on", async () => {
    await unavailable(
      keyVaultSource("app-pfx", { credential: new RecordingCredential(), trust: false }).load(),
      /TLS certificate of Key Vault is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE.*add it to tls\.ca/,
    );
  });

  test("an unreachable vault and an http vault URL", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await unavailable(
      keyVaultSource("app-pfx", { credential: new RecordingCredential(), url: `https://127.0.0.1:${port}` }).load(),
      /Key Vault is unreachable.*ECONNREFUSED/,
    );
    await unavailable(
      keyVaultSource("app-pfx", { credential: new RecordingCredential(), url: "http://127.0.0.1:1" }).load(),
      /is not https/,
    );
  });

  test("Azure vault hosts keep the SDK's challenge verification", () => {
    assert.equal(isAzureVaultHost("myvault.vault.azure.net"), true);
    assert.equal(isAzureVaultHost("MYVAULT.VAULT.USGOVCLOUDAPI.NET"), true);
    assert.equal(isAzureVaultHost("myhsm.managedhsm.azure.net"), true);
    assert.equal(isAzureVaultHost("127.0.0.1"), false);
    assert.equal(isAzureVaultHost("vault.azure.net.evil.example"), false);
  });
});
