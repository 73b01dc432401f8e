// Requests built by @azure/msal-node are accepted unchanged: msal only gets the emulator's metadata
// (so it needs no discovery) and a network client that trusts the emulator CA.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  ConfidentialClientApplication,
  ManagedIdentityApplication,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from "@azure/msal-node";
import { Agent, request } from "undici";
import { startEmulator, type Emulator, type IssuedCertificate, type RegisteredApp } from "../../src/emulator/index.ts";

/** msal's INetworkModule on undici, trusting the emulator's CA. */
class UndiciNetworkClient implements INetworkModule {
  readonly #agent: Agent;
  /** The last form body msal posted, to look at what it built. */
  lastPostBody: string | undefined;
  constructor(ca: string) {
    this.#agent = new Agent({ connect: { ca } });
  }
  async sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.#send<T>("GET", url, options);
  }
  async sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    this.lastPostBody = options?.body;
    return this.#send<T>("POST", url, options);
  }
  async #send<T>(method: "GET" | "POST", url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const response = await request(url, {
      method,
      dispatcher: this.#agent,
      ...(options?.headers === undefined ? {} : { headers: options.headers }),
      ...(options?.body === undefined ? {} : { body: options.body }),
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    return { status: response.statusCode, headers, body: (await response.body.json()) as T };
  }
  close(): Promise<void> {
    return this.#agent.close();
  }
}

describe("requests built by @azure/msal-node", () => {
  let emulator: Emulator;
  let network: UndiciNetworkClient;
  let certificate: IssuedCertificate;
  let app: RegisteredApp;

  before(async () => {
    emulator = await startEmulator();
    network = new UndiciNetworkClient(emulator.caCertificatePem);
    certificate = await emulator.issueCertificate({ subject: "CN=msal app" });
    app = emulator.registerApp({ certificates: [certificate.certificatePem], secrets: ["msal-secret"] });
  });
  after(async () => {
    await network.close();
    await emulator.close();
  });

  function client(credential: { clientSecret: string } | { clientCertificate: { thumbprintSha256: string; privateKey: string; x5c?: string } }) {
    return new ConfidentialClientApplication({
      auth: {
        clientId: app.clientId,
        authority: `${emulator.authorityHost}/${emulator.tenantId}`,
        knownAuthorities: [new URL(emulator.authorityHost).host],
        authorityMetadata: JSON.stringify(emulator.openIdConfiguration()),
        cloudDiscoveryMetadata: JSON.stringify(emulator.instanceDiscovery()),
        ...credential,
      },
      system: { networkClient: network },
    });
  }

  test("a client secret", async () => {
    const result = await client({ clientSecret: "msal-secret" }).acquireTokenByClientCredential({
      scopes: ["https://storage.azure.com/.default"],
    });
    assert.equal(result?.tokenType, "Bearer");
    assert.equal((await emulator.verifyAccessToken(result?.accessToken ?? ""))["appid"], app.clientId);
    const entry = emulator.journal.last("login.token");
    assert.equal(entry?.form["x-client-SKU"], "msal.js.node");
    assert.match(String(entry?.query["client-request-id"]), /^[0-9a-f-]{36}$/);
  });

  test("a certificate (PS256, x5t#S256, x5c)", async () => {
    const result = await client({
      clientCertificate: {
        thumbprintSha256: certificate.thumbprintSha256,
        privateKey: certificate.privateKeyPem,
        x5c: certificate.certificatePem,
      },
    }).acquireTokenByClientCredential({ scopes: ["https://vault.azure.net/.default"], skipCache: true });
    assert.equal(result?.tokenType, "Bearer");
    const claims = await emulator.verifyAccessToken(result?.accessToken ?? "");
    assert.equal(claims["aud"], "https://vault.azure.net");
    assert.equal(claims["appidacr"], "2");
    const entry = emulator.journal.last("login.token");
    assert.equal(entry?.status, 200);
    assert.match(String(entry?.form["client_assertion"]), /^sha256:/);
    // What msal built, unchanged: PS256, x5t#S256, x5c as an array.
    const assertion = new URLSearchParams(network.lastPostBody).get("client_assertion") ?? "";
    const header = JSON.parse(Buffer.from(assertion.split(".")[0] ?? "", "base64url").toString()) as Record<string, unknown>;
    assert.equal(header["alg"], "PS256");
    assert.equal(typeof header["x5t#S256"], "string");
    assert.ok(Array.isArray(header["x5c"]));
  });

  test("Entra errors reach msal as ServerError with the AADSTS code", async () => {
    await assert.rejects(
      client({ clientSecret: "wrong" }).acquireTokenByClientCredential({ scopes: ["https://storage.azure.com/.default"] }),
      (error: Error & { errorCode?: string; errorNo?: string | number }) => {
        assert.equal(error.errorCode, "invalid_client");
        assert.match(error.message, /AADSTS7000215/);
        return true;
      },
    );
    assert.equal(emulator.journal.last("login.token")?.errorCode, 7000215);
  });

  test("msal-node managed identity (IMDS v1, via AZURE_POD_IDENTITY_AUTHORITY_HOST) reads the emulator's answer", async () => {
    const identity = emulator.registerManagedIdentity({ kind: "user" });
    const previous = process.env["AZURE_POD_IDENTITY_AUTHORITY_HOST"];
    process.env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = emulator.imdsEndpoint;
    try {
      const managed = new ManagedIdentityApplication({
        managedIdentityIdParams: { userAssignedClientId: identity.clientId },
        system: { networkClient: network },
      });
      const result = await managed.acquireToken({ resource: "https://storage.azure.com" });
      assert.equal((await emulator.verifyAccessToken(result.accessToken))["appid"], identity.clientId);
      assert.ok(result.expiresOn !== null && result.expiresOn.getTime() > Date.now() + 3600_000);
    } finally {
      if (previous === undefined) delete process.env["AZURE_POD_IDENTITY_AUTHORITY_HOST"];
      else process.env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = previous;
    }
  });
});
