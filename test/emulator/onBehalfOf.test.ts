// The emulator's On-Behalf-Of grant, with hand-built requests: real TLS handshakes with real
// client certificates, client assertions signed with jose, downstream tokens verified against the
// emulator's JWKS with jose.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import {
  journalHash,
  startEmulator,
  type Emulator,
  type IssuedCertificate,
  type RegisteredApp,
  type RegisteredManagedIdentity,
} from "../../src/emulator/index.ts";
import {
  aadsts,
  closeAgents,
  createBindingCsr,
  derToPem,
  get,
  JWT_BEARER,
  JWT_POP,
  postToken,
  signClientAssertion,
  x5tS256,
  type ClientTls,
} from "./helpers.ts";

const OBO_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const STORAGE_USER = "https://storage.azure.com/user_impersonation";
const METADATA = { metadata: "true" };

describe("the emulator's On-Behalf-Of grant", () => {
  let emulator: Emulator;
  let certificate: IssuedCertificate;
  let api: RegisteredApp;
  let jwks: ReturnType<typeof createLocalJWKSet>;

  before(async () => {
    emulator = await startEmulator();
    certificate = await emulator.issueCertificate({ subject: "CN=middle-tier api" });
    api = emulator.registerApp({ certificates: [certificate.certificatePem], secrets: ["api-secret"] });
    const keys = await get(emulator, `${emulator.authorityHost}/${emulator.tenantId}/discovery/v2.0/keys`);
    jwks = createLocalJWKSet(keys.json as unknown as JSONWebKeySet);
  });
  after(async () => {
    await closeAgents();
    await emulator.close();
  });

  const oboForm = (assertion: string, extra: Record<string, string> = {}) => ({
    grant_type: OBO_GRANT,
    requested_token_use: "on_behalf_of",
    client_id: api.clientId,
    assertion,
    scope: `${STORAGE_USER} openid profile offline_access`,
    client_info: "1",
    ...extra,
  });
  const certificateAssertion = async (audience: string) => ({
    client_assertion_type: JWT_BEARER,
    client_assertion: await signClientAssertion({ certificate, clientId: api.clientId, audience, x5c: "array" }),
  });

  /** Verifies a downstream token's signature and claims as a resource would. */
  async function verifyDownstream(token: string): Promise<Record<string, unknown>> {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: `https://sts.windows.net/${emulator.tenantId}/`,
      audience: "https://storage.azure.com",
    });
    return payload;
  }

  test("issueUserToken signs a v2 user token for the middle-tier app, verifiable with the JWKS", async () => {
    const oid = randomUUID();
    const token = await emulator.issueUserToken({ app: api, user: { oid, name: "Ada Lovelace", preferredUsername: "ada@contoso.test" } });
    const { payload } = await jwtVerify(token, jwks, { issuer: `${emulator.authorityHost}/${emulator.tenantId}/v2.0`, audience: api.clientId });
    assert.equal(payload["oid"], oid);
    assert.equal(payload["sub"], oid);
    assert.equal(payload["scp"], "access_as_user");
    assert.equal(payload["tid"], emulator.tenantId);
    assert.equal(payload["name"], "Ada Lovelace");
    assert.equal(payload["ver"], "2.0");
    await assert.rejects(emulator.issueUserToken({ app: api, scopes: [] }), /scopes must be a non-empty array/);
    await assert.rejects(emulator.issueUserToken({ app: api, lifetimeSeconds: 0 }), /lifetimeSeconds/);
  });

  test("bound certificate over mTLS: the TLS certificate and the user's oid are in the journal, and in the downstream token", async () => {
    const oid = randomUUID();
    const assertion = await emulator.issueUserToken({ app: api, user: { oid, preferredUsername: "grace@contoso.test" } });
    emulator.journal.clear();
    const response = await postToken(
      emulator,
      oboForm(assertion, await certificateAssertion(emulator.mtlsTokenEndpoint())),
      { host: "mtls", client: certificate },
    );
    assert.equal(response.status, 200, JSON.stringify(response.json));
    assert.equal(response.json["token_type"], "Bearer");
    assert.equal(response.json["scope"], STORAGE_USER);
    const clientInfo = JSON.parse(Buffer.from(String(response.json["client_info"]), "base64url").toString("utf8")) as Record<string, string>;
    assert.deepEqual(clientInfo, { uid: oid, utid: emulator.tenantId });
    const claims = await verifyDownstream(String(response.json["access_token"]));
    assert.equal(claims["oid"], oid);
    assert.equal(claims["sub"], oid);
    assert.equal(claims["scp"], "user_impersonation");
    assert.equal(claims["appid"], api.clientId);
    assert.equal(claims["idtyp"], "user");
    assert.equal(claims["upn"], "grace@contoso.test");
    assert.equal(claims["appidacr"], "2");
    assert.equal(claims["cnf"], undefined);
    const entry = emulator.journal.last("mtls.token");
    assert.ok(entry);
    assert.equal(entry.clientCertificateThumbprintSha256, Buffer.from(x5tS256(certificate.certificatePem), "base64url").toString("hex").toUpperCase());
    assert.equal(entry.tokenObjectId, oid);
    assert.equal(entry.clientId, api.clientId);
    assert.equal(entry.form["requested_token_use"], "on_behalf_of");
    assert.equal(entry.form["assertion"], journalHash(assertion));
    assert.ok(!JSON.stringify(emulator.journal.entries).includes(assertion), "the user assertion is never in the journal in clear");
  });

  test("over mTLS the assertion must be signed by the TLS certificate (AADSTS500181), and a secret is refused (392189)", async () => {
    const other = await emulator.issueCertificate({ subject: "CN=another" });
    api.addCertificate(other.certificatePem);
    const assertion = await emulator.issueUserToken({ app: api });
    const mismatch = await postToken(
      emulator,
      oboForm(assertion, await certificateAssertion(emulator.mtlsTokenEndpoint())),
      { host: "mtls", client: other },
    );
    assert.equal(aadsts(mismatch), 500181);
    const secret = await postToken(emulator, oboForm(assertion, { client_secret: "api-secret" }), { host: "mtls", client: certificate });
    assert.equal(aadsts(secret), 392189);
    const noCertificate = await postToken(emulator, oboForm(assertion, await certificateAssertion(emulator.mtlsTokenEndpoint())), { host: "mtls" });
    assert.equal(aadsts(noCertificate), 392200);
  });

  test("login host: an unbound certificate assertion and a client secret both authenticate the middle tier", async () => {
    const oid = randomUUID();
    const assertion = await emulator.issueUserToken({ app: api, user: { oid } });
    const byCertificate = await postToken(emulator, oboForm(assertion, await certificateAssertion(emulator.tokenEndpoint())));
    assert.equal(byCertificate.status, 200, JSON.stringify(byCertificate.json));
    assert.equal((await verifyDownstream(String(byCertificate.json["access_token"])))["oid"], oid);
    const bySecret = await postToken(emulator, oboForm(assertion, { client_secret: "api-secret" }));
    assert.equal(bySecret.status, 200, JSON.stringify(bySecret.json));
    const claims = await verifyDownstream(String(bySecret.json["access_token"]));
    assert.equal(claims["oid"], oid);
    assert.equal(claims["appidacr"], "1");
    const wrongSecret = await postToken(emulator, oboForm(assertion, { client_secret: "wrong" }));
    assert.equal(aadsts(wrongSecret), 7000215);
  });

  test("the user assertion is checked: signature, audience, tenant, times, and that it is a user's token", async () => {
    const authenticate = () => ({ client_secret: "api-secret" });
    const send = async (assertion: string) => postToken(emulator, oboForm(assertion, authenticate()));

    const foreignKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const forged = await new SignJWT({
      aud: api.clientId,
      iss: `${emulator.authorityHost}/${emulator.tenantId}/v2.0`,
      tid: emulator.tenantId,
      oid: randomUUID(),
      scp: "access_as_user",
    })
      .setProtectedHeader({ alg: "RS256" })
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(foreignKey);
    const forgedAnswer = await send(forged);
    assert.equal(forgedAnswer.status, 400);
    assert.equal(forgedAnswer.json["error"], "invalid_grant");
    assert.equal(aadsts(forgedAnswer), 50013);

    const otherApi = emulator.registerApp({ secrets: ["other"] });
    const forOtherApi = await send(await emulator.issueUserToken({ app: otherApi }));
    assert.equal(forOtherApi.json["error"], "invalid_grant");
    assert.equal(aadsts(forOtherApi), 50013);
    assert.match(String(forOtherApi.json["error_description"]), /Assertion audience does not match/);

    const expired = await send(
      await emulator.issueUserToken({ app: api, notBefore: new Date(Date.now() - 2 * 3600_000), lifetimeSeconds: 3600 }),
    );
    assert.equal(expired.json["error"], "invalid_grant");
    assert.equal(aadsts(expired), 500133);

    const wrongTenant = await send(await emulator.issueUserToken({ app: api, tenantId: randomUUID() }));
    assert.equal(aadsts(wrongTenant), 50013);

    const appToken = await postToken(emulator, {
      grant_type: "client_credentials",
      client_id: otherApi.clientId,
      client_secret: "other",
      scope: `api://${api.clientId}/.default`,
    });
    assert.equal(appToken.status, 200, JSON.stringify(appToken.json));
    const appOnly = await send(String(appToken.json["access_token"]));
    assert.equal(aadsts(appOnly), 50013);
    assert.match(String(appOnly.json["error_description"]), /app-only token/);

    assert.equal(aadsts(await send("not-a-jwt")), 50013);
  });

  test("request shape: requested_token_use and assertion are required; scopes name one resource", async () => {
    const assertion = await emulator.issueUserToken({ app: api });
    const { requested_token_use: _use, ...withoutUse } = oboForm(assertion, { client_secret: "api-secret" });
    assert.equal(aadsts(await postToken(emulator, withoutUse)), 900144);
    const { assertion: _assertion, ...withoutAssertion } = oboForm(assertion, { client_secret: "api-secret" });
    assert.equal(aadsts(await postToken(emulator, withoutAssertion)), 900144);
    const twoResources = await postToken(
      emulator,
      oboForm(assertion, { client_secret: "api-secret", scope: `${STORAGE_USER} https://vault.azure.net/user_impersonation` }),
    );
    assert.equal(twoResources.json["error"], "invalid_scope");
    const onlyOpenId = await postToken(emulator, oboForm(assertion, { client_secret: "api-secret", scope: "openid profile offline_access" }));
    assert.equal(onlyOpenId.json["error"], "invalid_scope");
    const byDefault = await postToken(emulator, oboForm(assertion, { client_secret: "api-secret", scope: "https://storage.azure.com/.default" }));
    assert.equal(byDefault.status, 200, JSON.stringify(byDefault.json));
    assert.equal((await verifyDownstream(String(byDefault.json["access_token"])))["scp"], "user_impersonation");
    const unknown = await postToken(emulator, oboForm(assertion, { client_secret: "api-secret", scope: "https://unknown.example/read" }));
    assert.equal(aadsts(unknown), 500011);
  });

  test("scripted user-flow faults: interaction_required with a claims challenge, consent", async () => {
    const assertion = await emulator.issueUserToken({ app: api });
    const challenge = JSON.stringify({ access_token: { capolids: { essential: true, values: [randomUUID()] } } });
    for (const code of [50076, 50079, 53003]) {
      emulator.faults.add({ route: "login.token", status: 400, error: "interaction_required", errorCode: code, claims: challenge });
      const answer = await postToken(emulator, oboForm(assertion, { client_secret: "api-secret" }));
      assert.equal(answer.status, 400);
      assert.equal(answer.json["error"], "interaction_required");
      assert.equal(aadsts(answer), code);
      assert.equal(answer.json["claims"], challenge);
      assert.match(String(answer.json["error_description"]), new RegExp(`^AADSTS${code}: `));
    }
    emulator.faults.add({ route: "mtls.token", status: 400, error: "invalid_grant", errorCode: 65001, suberror: "consent_required" });
    const consent = await postToken(
      emulator,
      oboForm(assertion, await certificateAssertion(emulator.mtlsTokenEndpoint())),
      { host: "mtls", client: certificate },
    );
    assert.equal(consent.json["error"], "invalid_grant");
    assert.equal(consent.json["suberror"], "consent_required");
    assert.match(String(consent.json["error_description"]), /^AADSTS65001: The user or administrator has not consented/);
  });

  describe("managed identity and OIDC federated assertions", () => {
    let identity: RegisteredManagedIdentity;

    before(() => {
      identity = emulator.registerManagedIdentity({ kind: "user" });
    });

    async function bindingCertificate(): Promise<ClientTls & { clientId: string; tenantId: string }> {
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
      return {
        certificatePem: derToPem(issued["certificate"] ?? ""),
        privateKeyPem,
        clientId: issued["client_id"] ?? "",
        tenantId: issued["tenant_id"] ?? "",
      };
    }

    /** A token for `api://AzureADTokenExchange` over mTLS with the binding certificate (`mtls_pop`, bound to it). */
    async function popTokenFor(clientId: string, binding: ClientTls, assertion?: string): Promise<string> {
      const answer = await postToken(
        emulator,
        {
          client_id: clientId,
          grant_type: "client_credentials",
          scope: "api://AzureADTokenExchange/.default",
          token_type: "mtls_pop",
          ...(assertion === undefined ? {} : { client_assertion_type: JWT_POP, client_assertion: assertion }),
        },
        { host: "mtls", client: binding },
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      assert.equal(answer.json["token_type"], "mtls_pop");
      return String(answer.json["access_token"]);
    }

    test("a bound managed identity as OBO client: jwt-pop over mTLS with its binding certificate", async () => {
      const middleTier = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(identity)] });
      const binding = await bindingCertificate();
      const miToken = await popTokenFor(identity.clientId, binding);
      const oid = randomUUID();
      const userToken = await emulator.issueUserToken({ app: middleTier, user: { oid } });
      const answer = await postToken(
        emulator,
        {
          grant_type: OBO_GRANT,
          requested_token_use: "on_behalf_of",
          client_id: middleTier.clientId,
          assertion: userToken,
          scope: STORAGE_USER,
          client_assertion_type: JWT_POP,
          client_assertion: miToken,
        },
        { host: "mtls", client: binding },
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      assert.equal((await verifyDownstream(String(answer.json["access_token"])))["oid"], oid);
      assert.equal(emulator.journal.last("mtls.token")?.tokenObjectId, oid);
    });

    test("OIDC federated credential, bound: managed identity → OIDC app (mtls_pop) → final app (jwt-pop), one certificate", async () => {
      const oidcApp = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(identity)] });
      const finalApp = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(oidcApp)] });
      const binding = await bindingCertificate();
      const legOne = await popTokenFor(identity.clientId, binding);
      const legTwo = await popTokenFor(oidcApp.clientId, binding, legOne);
      const legTwoClaims = await jwtVerify(legTwo, jwks, { issuer: `${emulator.authorityHost}/${emulator.tenantId}/v2.0` });
      assert.equal(legTwoClaims.payload["sub"], oidcApp.objectId);
      assert.deepEqual(legTwoClaims.payload["cnf"], { "x5t#S256": x5tS256(binding.certificatePem) });
      const legThree = await postToken(
        emulator,
        {
          client_id: finalApp.clientId,
          grant_type: "client_credentials",
          scope: "https://vault.azure.net/.default",
          client_assertion_type: JWT_POP,
          client_assertion: legTwo,
        },
        { host: "mtls", client: binding },
      );
      assert.equal(legThree.status, 200, JSON.stringify(legThree.json));
      assert.equal(legThree.json["token_type"], "Bearer");
      assert.equal(emulator.journal.last("mtls.token")?.tokenObjectId, finalApp.objectId);
      // The same assertion over another certificate is refused: the binding is checked.
      const other = await bindingCertificate();
      const stolen = await postToken(
        emulator,
        {
          client_id: finalApp.clientId,
          grant_type: "client_credentials",
          scope: "https://vault.azure.net/.default",
          client_assertion_type: JWT_POP,
          client_assertion: legTwo,
        },
        { host: "mtls", client: other },
      );
      assert.equal(aadsts(stolen), 500181);
    });

    test("OIDC federated credential, unbound: the OIDC app's token is the final app's jwt-bearer assertion", async () => {
      const oidcApp = emulator.registerApp({ secrets: ["oidc-secret"] });
      const finalApp = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(oidcApp)] });
      const inner = await postToken(emulator, {
        client_id: oidcApp.clientId,
        grant_type: "client_credentials",
        client_secret: "oidc-secret",
        scope: "api://AzureADTokenExchange/.default",
      });
      assert.equal(inner.status, 200, JSON.stringify(inner.json));
      const outer = await postToken(emulator, {
        client_id: finalApp.clientId,
        grant_type: "client_credentials",
        scope: "https://vault.azure.net/.default",
        client_assertion_type: JWT_BEARER,
        client_assertion: String(inner.json["access_token"]),
      });
      assert.equal(outer.status, 200, JSON.stringify(outer.json));
      const unrelated = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(identity)] });
      const refused = await postToken(emulator, {
        client_id: unrelated.clientId,
        grant_type: "client_credentials",
        scope: "https://vault.azure.net/.default",
        client_assertion_type: JWT_BEARER,
        client_assertion: String(inner.json["access_token"]),
      });
      assert.equal(aadsts(refused), 700213);
    });
  });
});
