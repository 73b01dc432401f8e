import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import {
  startEmulator,
  type Emulator,
  type RegisteredApp,
  type RegisteredManagedIdentity,
} from "../../src/emulator/index.ts";
import {
  aadsts,
  closeAgents,
  createBindingCsr,
  decodeClaims,
  derToPem,
  get,
  JWT_BEARER,
  JWT_POP,
  postToken,
  x5tS256,
  type ClientTls,
} from "./helpers.ts";

const METADATA = { metadata: "true" };
const TOKEN_EXCHANGE = "api://AzureADTokenExchange/.default";

describe("federated credentials with managed identities", () => {
  let emulator: Emulator;
  let identity: RegisteredManagedIdentity;
  let app: RegisteredApp;

  before(async () => {
    emulator = await startEmulator();
    identity = emulator.registerManagedIdentity({ kind: "user" });
    app = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(identity)] });
  });
  after(async () => {
    await closeAgents();
    await emulator.close();
  });

  /** IMDS v2: platform metadata, CSR, issued binding certificate. */
  async function mintBindingCertificate(): Promise<ClientTls & { clientId: string; tenantId: string; endpoint: string }> {
    const meta = await get(
      emulator,
      `${emulator.imdsEndpoint}/metadata/identity/getplatformmetadata?cred-api-version=2.0&client_id=${identity.clientId}`,
      METADATA,
    );
    const { csrBase64, privateKeyPem } = await createBindingCsr({
      subject: `DC=${String(meta.json["tenantId"])}, CN=${String(meta.json["clientId"])}`,
      cuIdJson: JSON.stringify(meta.json["cuId"]),
    });
    const { request } = await import("undici");
    const response = await request(
      `${emulator.imdsEndpoint}/metadata/identity/issuecredential?cred-api-version=2.0&client_id=${identity.clientId}`,
      { method: "POST", headers: { ...METADATA, "content-type": "application/json" }, body: JSON.stringify({ csr: csrBase64 }) },
    );
    const issued = (await response.body.json()) as Record<string, string>;
    assert.equal(response.statusCode, 200, JSON.stringify(issued));
    assert.equal(issued["identity_type"], "UserAssigned");
    return {
      certificatePem: derToPem(issued["certificate"] ?? ""),
      privateKeyPem,
      clientId: issued["client_id"] ?? "",
      tenantId: issued["tenant_id"] ?? "",
      endpoint: issued["mtls_authentication_endpoint"] ?? "",
    };
  }

  /** Leg 1: the managed identity's mtls_pop token for the token exchange audience. */
  async function leg1(binding: ClientTls & { clientId: string; tenantId: string }, tokenType = "mtls_pop") {
    return postToken(
      emulator,
      { client_id: binding.clientId, grant_type: "client_credentials", scope: TOKEN_EXCHANGE, token_type: tokenType },
      { host: "mtls", tenant: binding.tenantId, client: binding },
    );
  }

  test("bound FIC: IMDS v2 certificate → leg 1 mtls_pop token → leg 2 jwt-pop gives the app a Bearer token", async () => {
    const binding = await mintBindingCertificate();
    assert.equal(binding.endpoint, emulator.mtlsAuthorityHost);
    const first = await leg1(binding);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal(first.json["token_type"], "mtls_pop");
    const assertion = String(first.json["access_token"]);
    const claims = decodeClaims(assertion);
    assert.deepEqual(claims["cnf"], { "x5t#S256": x5tS256(binding.certificatePem) });
    assert.equal(claims["iss"], `${emulator.authorityHost}/${emulator.tenantId}/v2.0`);
    assert.equal(claims["sub"], identity.objectId);
    assert.equal(claims["aud"], "api://AzureADTokenExchange");
    assert.equal(claims["ver"], "2.0");

    const second = await postToken(
      emulator,
      {
        client_id: app.clientId,
        grant_type: "client_credentials",
        scope: "https://storage.azure.com/.default",
        client_info: "2",
        client_assertion_type: JWT_POP,
        client_assertion: assertion,
      },
      { host: "mtls", client: binding },
    );
    assert.equal(second.status, 200, JSON.stringify(second.json));
    assert.equal(second.json["token_type"], "Bearer");
    const appClaims = decodeClaims(String(second.json["access_token"]));
    assert.equal(appClaims["appid"], app.clientId);
    assert.equal(appClaims["iss"], `https://sts.windows.net/${emulator.tenantId}/`);
    assert.equal(appClaims["cnf"], undefined);

    const popSecond = await postToken(
      emulator,
      {
        client_id: app.clientId,
        grant_type: "client_credentials",
        scope: "https://storage.azure.com/.default",
        client_assertion_type: JWT_POP,
        client_assertion: assertion,
        token_type: "mtls_pop",
      },
      { host: "mtls", client: binding },
    );
    assert.equal(popSecond.json["token_type"], "mtls_pop");
  });

  test("leg 2 over another certificate than the one the assertion is bound to is AADSTS500181", async () => {
    const binding = await mintBindingCertificate();
    const assertion = String((await leg1(binding)).json["access_token"]);
    const otherBinding = await mintBindingCertificate();
    const response = await postToken(
      emulator,
      {
        client_id: app.clientId,
        grant_type: "client_credentials",
        scope: "https://storage.azure.com/.default",
        client_assertion_type: JWT_POP,
        client_assertion: assertion,
      },
      { host: "mtls", client: otherBinding },
    );
    assert.equal(response.status, 401);
    assert.equal(response.json["error"], "invalid_client");
    assert.equal(aadsts(response), 500181);
  });

  test("a binding certificate authenticates only its own identity; a look-alike from another CA does not", async () => {
    const binding = await mintBindingCertificate();
    const other = emulator.registerManagedIdentity({ kind: "user" });
    const wrongIdentity = await postToken(
      emulator,
      { client_id: other.clientId, grant_type: "client_credentials", scope: TOKEN_EXCHANGE, token_type: "mtls_pop" },
      { host: "mtls", client: binding },
    );
    assert.equal(aadsts(wrongIdentity), 700027);
    const selfIssued = await emulator.issueCertificate({ subject: `CN=${identity.clientId}` });
    const forged = await leg1({
      certificatePem: selfIssued.certificatePem,
      privateKeyPem: selfIssued.privateKeyPem,
      clientId: identity.clientId,
      tenantId: emulator.tenantId,
    });
    assert.equal(aadsts(forged), 700027);
    const bearer = await leg1(binding, "bearer");
    assert.equal(bearer.json["token_type"], "Bearer");
    const withAssertion = await postToken(
      emulator,
      {
        client_id: binding.clientId,
        grant_type: "client_credentials",
        scope: TOKEN_EXCHANGE,
        client_assertion_type: JWT_BEARER,
        client_assertion: await emulator.createFederatedAssertion({ subject: "x" }),
      },
      { host: "mtls", client: binding },
    );
    assert.equal(aadsts(withAssertion), 392189);
    assert.match(new X509Certificate(binding.certificatePem).subject, new RegExp(identity.clientId));
  });

  test("federated credential mismatches: issuer AADSTS700211, subject AADSTS700213, audience AADSTS700212", async () => {
    const binding = await mintBindingCertificate();
    const assertion = String((await leg1(binding)).json["access_token"]);
    const legTwo = (clientId: string) =>
      postToken(
        emulator,
        {
          client_id: clientId,
          grant_type: "client_credentials",
          scope: "https://storage.azure.com/.default",
          client_assertion_type: JWT_POP,
          client_assertion: assertion,
        },
        { host: "mtls", client: binding },
      );
    const trust = emulator.federatedCredentialFor(identity);
    const otherIssuer = emulator.registerApp({ federatedCredentials: [{ ...trust, issuer: "https://issuer.example" }] });
    assert.equal(aadsts(await legTwo(otherIssuer.clientId)), 700211);
    const otherSubject = emulator.registerApp({ federatedCredentials: [{ ...trust, subject: "someone-else" }] });
    assert.equal(aadsts(await legTwo(otherSubject.clientId)), 700213);
    const otherAudience = emulator.registerApp({ federatedCredentials: [{ ...trust, audiences: ["api://other"] }] });
    assert.equal(aadsts(await legTwo(otherAudience.clientId)), 700212);
  });

  test("unbound FIC: an IMDS v1 token for api://AzureADTokenExchange is a jwt-bearer assertion on the login host", async () => {
    const mi = await get(
      emulator,
      `${emulator.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://AzureADTokenExchange&client_id=${identity.clientId}`,
      METADATA,
    );
    assert.equal(mi.status, 200);
    const form = {
      client_id: app.clientId,
      grant_type: "client_credentials",
      scope: "https://vault.azure.net/.default",
      client_assertion_type: JWT_BEARER,
      client_assertion: String(mi.json["access_token"]),
    };
    const response = await postToken(emulator, form);
    assert.equal(response.status, 200, JSON.stringify(response.json));
    assert.equal(decodeClaims(String(response.json["access_token"]))["appid"], app.clientId);
    // A token for another audience does not match the federated credential.
    const storage = await get(
      emulator,
      `${emulator.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com&client_id=${identity.clientId}`,
      METADATA,
    );
    assert.equal(aadsts(await postToken(emulator, { ...form, client_assertion: String(storage.json["access_token"]) })), 700211);
  });

  test("createFederatedAssertion makes assertions for other issuers; expired ones are AADSTS700024, forged ones AADSTS700027", async () => {
    const workload = emulator.registerApp({
      federatedCredentials: [{ issuer: "https://oidc.cluster.example", subject: "system:serviceaccount:ns:sa" }],
    });
    const form = async (assertion: string) => ({
      client_id: workload.clientId,
      grant_type: "client_credentials",
      scope: "https://vault.azure.net/.default",
      client_assertion_type: JWT_BEARER,
      client_assertion: assertion,
    });
    const good = await emulator.createFederatedAssertion({ issuer: "https://oidc.cluster.example", subject: "system:serviceaccount:ns:sa" });
    assert.equal((await postToken(emulator, await form(good))).status, 200);
    const expired = await emulator.createFederatedAssertion({
      issuer: "https://oidc.cluster.example",
      subject: "system:serviceaccount:ns:sa",
      notBefore: new Date(Date.now() - 7200_000),
      lifetimeSeconds: 600,
    });
    assert.equal(aadsts(await postToken(emulator, await form(expired))), 700024);
    const [header, payload] = good.split(".");
    const forged = `${header}.${payload}.${Buffer.from("not the signature").toString("base64url")}`;
    assert.equal(aadsts(await postToken(emulator, await form(forged))), 700027);
  });

  test("a federated jwt-bearer assertion on the mTLS host is AADSTS392189", async () => {
    const binding = await mintBindingCertificate();
    const assertion = String((await leg1(binding)).json["access_token"]);
    const response = await postToken(
      emulator,
      {
        client_id: app.clientId,
        grant_type: "client_credentials",
        scope: "https://storage.azure.com/.default",
        client_assertion_type: JWT_BEARER,
        client_assertion: assertion,
      },
      { host: "mtls", client: binding },
    );
    assert.equal(aadsts(response), 392189);
  });
});
