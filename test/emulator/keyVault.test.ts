import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { X509Certificate } from "node:crypto";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { SecretClient } from "@azure/keyvault-secrets";
import forge from "node-forge";
import { startEmulator, type Emulator, type RegisteredApp } from "../../src/emulator/index.ts";
import { closeAgents, get, postToken } from "./helpers.ts";

describe("Key Vault", () => {
  let emulator: Emulator;
  let app: RegisteredApp;
  let offsetMs = 0;

  before(async () => {
    emulator = await startEmulator({ clock: () => Date.now() + offsetMs });
    app = emulator.registerApp({ secrets: ["kv-secret"] });
  });
  afterEach(() => {
    offsetMs = 0;
  });
  after(async () => {
    await closeAgents();
    await emulator.close();
  });

  async function tokenFor(scope: string): Promise<string> {
    const response = await postToken(emulator, {
      grant_type: "client_credentials",
      client_id: app.clientId,
      client_secret: "kv-secret",
      scope,
    });
    return String(response.json["access_token"]);
  }

  test("without a token: 401 with the challenge @azure/keyvault-secrets parses", async () => {
    emulator.keyVault.setSecret("plain", "value");
    const response = await get(emulator, `${emulator.keyVaultUrl}/secrets/plain/?api-version=7.5`);
    assert.equal(response.status, 401);
    assert.equal(
      response.headers["www-authenticate"],
      `Bearer authorization="${emulator.authorityHost}/${emulator.tenantId}", resource="https://vault.azure.net"`,
    );
    assert.equal((response.json["error"] as Record<string, string>)["code"], "Unauthorized");
  });

  test("a Key Vault token reads the newest version or a named one", async () => {
    const first = emulator.keyVault.setSecret("versioned", "one");
    emulator.keyVault.setSecret("versioned", "two", { contentType: "text/plain" });
    const authorization = { authorization: `Bearer ${await tokenFor("https://vault.azure.net/.default")}` };
    const latest = await get(emulator, `${emulator.keyVaultUrl}/secrets/versioned/?api-version=7.5`, authorization);
    assert.equal(latest.status, 200);
    assert.equal(latest.json["value"], "two");
    assert.equal(latest.json["contentType"], "text/plain");
    const named = await get(emulator, `${emulator.keyVaultUrl}/secrets/versioned/${first}?api-version=7.5`, authorization);
    assert.equal(named.json["value"], "one");
    assert.equal(named.json["id"], `${emulator.keyVaultUrl}/secrets/versioned/${first}`);
    const missing = await get(emulator, `${emulator.keyVaultUrl}/secrets/absent?api-version=7.5`, authorization);
    assert.equal(missing.status, 404);
    assert.equal((missing.json["error"] as Record<string, string>)["code"], "SecretNotFound");
    const noVersion = await get(emulator, `${emulator.keyVaultUrl}/secrets/versioned`, authorization);
    assert.equal(noVersion.status, 400);
  });

  test("tokens for another audience, expired, or not signed by the emulator get 401", async () => {
    emulator.keyVault.setSecret("guarded", "value");
    const url = `${emulator.keyVaultUrl}/secrets/guarded?api-version=7.5`;
    const storageToken = await tokenFor("https://storage.azure.com/.default");
    const wrongAudience = await get(emulator, url, { authorization: `Bearer ${storageToken}` });
    assert.equal(wrongAudience.status, 401);
    assert.match(String((wrongAudience.json["error"] as Record<string, string>)["message"]), /AKV10022/);
    const vaultToken = await tokenFor("https://vault.azure.net/.default");
    const [header, payload] = vaultToken.split(".");
    const forged = await get(emulator, url, { authorization: `Bearer ${header}.${payload}.AAAA` });
    assert.equal(forged.status, 401);
    offsetMs = 2 * 3600_000;
    const expired = await get(emulator, url, { authorization: `Bearer ${vaultToken}` });
    assert.equal(expired.status, 401);
    assert.match(String((expired.json["error"] as Record<string, string>)["message"]), /expired/);
  });

  test("a certificate is stored as Key Vault stores it: base64 PKCS#12 without password, or PEM", async () => {
    const certificate = await emulator.issueCertificate({ subject: "CN=kv cert" });
    emulator.keyVault.setCertificate("app-cert", certificate);
    emulator.keyVault.setCertificate("app-cert-pem", certificate, { format: "pem" });
    const authorization = { authorization: `Bearer ${await tokenFor("https://vault.azure.net/.default")}` };
    const pfx = await get(emulator, `${emulator.keyVaultUrl}/secrets/app-cert/?api-version=7.5`, authorization);
    assert.equal(pfx.json["contentType"], "application/x-pkcs12");
    assert.equal(pfx.json["managed"], true);
    const der = Buffer.from(String(pfx.json["value"]), "base64");
    const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(der.toString("binary"))), false, "");
    const certBag = forge.pki.oids["certBag"] ?? "";
    const bags = p12.getBags({ bagType: certBag })[certBag] ?? [];
    const leafDer = forge.asn1.toDer(forge.pki.certificateToAsn1(bags[0]?.cert as forge.pki.Certificate)).getBytes();
    assert.equal(new X509Certificate(Buffer.from(leafDer, "binary")).fingerprint256.replaceAll(":", ""), certificate.thumbprintSha256);
    const pem = await get(emulator, `${emulator.keyVaultUrl}/secrets/app-cert-pem/?api-version=7.5`, authorization);
    assert.equal(pem.json["contentType"], "application/x-pem-file");
    assert.match(String(pem.json["value"]), /BEGIN PRIVATE KEY[\s\S]+BEGIN CERTIFICATE/);
  });

  test("a real SecretClient (challenge, tenant from the challenge, Bearer) reads a secret", async () => {
    emulator.keyVault.setSecret("sdk-secret", "from the emulator");
    const scopesSeen: string[][] = [];
    const tenantsSeen: (string | undefined)[] = [];
    const credential: TokenCredential = {
      async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
        const list = Array.isArray(scopes) ? scopes : [scopes];
        scopesSeen.push(list);
        tenantsSeen.push(options?.tenantId);
        const token = await tokenFor(list[0] ?? "");
        return { token, expiresOnTimestamp: Date.now() + 3600_000, tokenType: "Bearer" };
      },
    };
    const agent = new https.Agent({ ca: emulator.caCertificatePem, keepAlive: false });
    try {
      const client = new SecretClient(emulator.keyVaultUrl, credential, {
        disableChallengeResourceVerification: true,
        retryOptions: { maxRetries: 0 },
        additionalPolicies: [
          {
            position: "perCall",
            policy: {
              name: "trustEmulatorCa",
              sendRequest: (request, next) => {
                request.agent = agent;
                return next(request);
              },
            },
          },
        ],
      });
      const secret = await client.getSecret("sdk-secret");
      assert.equal(secret.value, "from the emulator");
      assert.deepEqual(scopesSeen[0], ["https://vault.azure.net/.default"]);
      assert.equal(tenantsSeen[0], emulator.tenantId);
      const entries = emulator.journal.ofRoute("keyVault.secret");
      assert.deepEqual(entries.slice(-2).map((entry) => entry.status), [401, 200]);
      assert.equal(entries.at(-1)?.clientId, app.clientId);
      assert.match(String(entries.at(-1)?.headers["authorization"]), /^Bearer sha256:/);
    } finally {
      agent.destroy();
    }
  });
});
