import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createCertificateAuthority } from "../../src/emulator/pki.ts";
import { startEmulator, type Emulator, type IssuedCertificate, type RegisteredApp } from "../../src/emulator/index.ts";
import {
  aadsts,
  agentFor,
  closeAgents,
  decodeClaims,
  JWT_BEARER,
  JWT_POP,
  postToken,
  signClientAssertion,
  x5tS256,
} from "./helpers.ts";

const VAULT = "https://vault.azure.net/.default";

describe("mTLS host token endpoint", () => {
  let emulator: Emulator;
  let certificate: IssuedCertificate;
  let app: RegisteredApp;

  before(async () => {
    emulator = await startEmulator();
    certificate = await emulator.issueCertificate({ subject: "CN=mtls test app" });
    app = emulator.registerApp({ certificates: [certificate.certificatePem], secrets: ["secret"] });
  });
  after(async () => {
    await closeAgents();
    await emulator.close();
  });

  const form = (extra: Record<string, string> = {}) => ({
    grant_type: "client_credentials",
    client_id: app.clientId,
    scope: VAULT,
    client_info: "2",
    ...extra,
  });
  const boundAssertion = async (signer = certificate) => ({
    client_assertion_type: JWT_BEARER,
    client_assertion: await signClientAssertion({
      certificate: signer,
      clientId: app.clientId,
      audience: emulator.mtlsTokenEndpoint(),
      x5c: "string",
    }),
  });

  test("no client certificate in TLS is AADSTS392200", async () => {
    const response = await postToken(emulator, form(await boundAssertion()), { host: "mtls" });
    assert.equal(response.status, 401);
    assert.equal(aadsts(response), 392200);
  });

  test("Bearer over mTLS with a jwt-bearer assertion signed by the TLS certificate (MSAL.NET ≥ 4.84.2)", async () => {
    const response = await postToken(emulator, form(await boundAssertion()), { host: "mtls", client: certificate });
    assert.equal(response.status, 200, JSON.stringify(response.json));
    assert.equal(response.json["token_type"], "Bearer");
    const claims = decodeClaims(String(response.json["access_token"]));
    assert.equal(claims["aud"], "https://vault.azure.net");
    assert.equal(claims["iss"], `https://sts.windows.net/${emulator.tenantId}/`);
    assert.equal(claims["cnf"], undefined);
    const entry = emulator.journal.last("mtls.token");
    assert.equal(entry?.clientCertificateThumbprintSha256, certificate.thumbprintSha256);
  });

  test("certificate only: Bearer without token_type, mtls_pop with cnf.x5t#S256 of the TLS certificate", async () => {
    const bearer = await postToken(emulator, form(), { host: "mtls", client: certificate });
    assert.equal(bearer.status, 200, JSON.stringify(bearer.json));
    assert.equal(bearer.json["token_type"], "Bearer");
    const pop = await postToken(emulator, form({ token_type: "mtls_pop" }), { host: "mtls", client: certificate });
    assert.equal(pop.status, 200);
    assert.equal(pop.json["token_type"], "mtls_pop");
    assert.deepEqual(decodeClaims(String(pop.json["access_token"]))["cnf"], { "x5t#S256": x5tS256(certificate.certificatePem) });
    assert.equal(emulator.journal.last("mtls.token")?.tokenType, "mtls_pop");
    const explicitBearer = await postToken(emulator, form({ token_type: "bearer" }), { host: "mtls", client: certificate });
    assert.equal(explicitBearer.json["token_type"], "Bearer");
  });

  test("an assertion signed by another registered certificate than the TLS one is AADSTS500181", async () => {
    const second = await emulator.issueCertificate();
    app.addCertificate(second.certificatePem);
    const response = await postToken(emulator, form(await boundAssertion(second)), { host: "mtls", client: certificate });
    assert.equal(response.status, 401);
    assert.equal(aadsts(response), 500181);
    app.removeCertificate(second.thumbprintSha256);
  });

  test("a TLS certificate the app does not have is AADSTS700027", async () => {
    const stranger = await emulator.issueCertificate();
    const response = await postToken(emulator, form(), { host: "mtls", client: stranger });
    assert.equal(aadsts(response), 700027);
    const expired = await emulator.issueCertificate({ notBefore: new Date("2020-01-01"), notAfter: new Date("2020-06-01") });
    app.addCertificate(expired.certificatePem);
    assert.equal(aadsts(await postToken(emulator, form(), { host: "mtls", client: expired })), 700027);
  });

  test("an app without mTLS client auth gets 412 AADSTS51000", async () => {
    app.setMtlsClientAuth(false);
    try {
      const response = await postToken(emulator, form(), { host: "mtls", client: certificate });
      assert.equal(response.status, 412);
      assert.equal(aadsts(response), 51000);
    } finally {
      app.setMtlsClientAuth(true);
    }
  });

  test("a client secret on the mTLS host is AADSTS392189", async () => {
    const response = await postToken(emulator, form({ client_secret: "secret" }), { host: "mtls", client: certificate });
    assert.equal(aadsts(response), 392189);
  });

  test("a jwt-pop assertion without cnf is AADSTS500181, or AADSTS392199 when mtls_pop is asked", async () => {
    const unbound = await emulator.createFederatedAssertion({ subject: "someone" });
    const bearer = await postToken(emulator, form({ client_assertion_type: JWT_POP, client_assertion: unbound }), {
      host: "mtls",
      client: certificate,
    });
    assert.equal(aadsts(bearer), 500181);
    const pop = await postToken(
      emulator,
      form({ client_assertion_type: JWT_POP, client_assertion: unbound, token_type: "mtls_pop" }),
      { host: "mtls", client: certificate },
    );
    assert.equal(pop.status, 400);
    assert.equal(aadsts(pop), 392199);
  });

  test("subject name and issuer: a TLS chain to a trusted root authenticates an SN/I app", async () => {
    const externalRoot = await createCertificateAuthority({ commonName: "external root" });
    const sni = await startEmulator({ trustedRootCertificates: [externalRoot.certificatePem] });
    try {
      const sniApp = sni.registerApp({ certificates: [{ subjectName: "CN=sni-app", issuerName: "CN=external root" }] });
      const good = await externalRoot.issueCertificate({ subject: "CN=sni-app" });
      const fromEmulatorCa = await sni.issueCertificate({ subject: "CN=sni-app" });
      const request = (client: IssuedCertificate) =>
        postToken(sni, { grant_type: "client_credentials", client_id: sniApp.clientId, scope: VAULT }, { host: "mtls", client });
      assert.equal((await request(good)).status, 200);
      // Right subject, trusted CA, but not the issuer the app names.
      assert.equal(aadsts(await request(fromEmulatorCa)), 700027);
    } finally {
      await sni.close();
    }
  });

  test("one agent reuses one TLS connection: one handshake, one connection id, the certificate in every entry", async () => {
    emulator.journal.clear();
    const before = emulator.stats.handshakes.mtls;
    const agent = agentFor(emulator, certificate);
    for (let index = 0; index < 3; index += 1) {
      const response = await postToken(emulator, form(), { host: "mtls", agent });
      assert.equal(response.status, 200);
    }
    assert.equal(emulator.stats.handshakes.mtls - before, 1);
    const entries = emulator.journal.ofRoute("mtls.token");
    assert.equal(entries.length, 3);
    assert.equal(new Set(entries.map((entry) => entry.connectionId)).size, 1);
    assert.ok(entries.every((entry) => entry.clientCertificateThumbprintSha256 === certificate.thumbprintSha256));
    assert.ok(entries.every((entry) => entry.host === "mtls" && entry.tlsSessionReused === false));
  });
});
