import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomUUID, X509Certificate, createPublicKey, generateKeyPairSync } from "node:crypto";
import { compactVerify, importJWK, type JWK } from "jose";
import { startEmulator, journalHash, type Emulator, type IssuedCertificate, type RegisteredApp } from "../../src/emulator/index.ts";
import { aadsts, closeAgents, decodeClaims, get, JWT_BEARER, postToken, signClientAssertion } from "./helpers.ts";

const STORAGE = "https://storage.azure.com/.default";

describe("login host token endpoint", () => {
  let emulator: Emulator;
  let offsetMs = 0;
  let certificate: IssuedCertificate;
  let app: RegisteredApp;

  before(async () => {
    emulator = await startEmulator({ clock: () => Date.now() + offsetMs, tokenLifetimeSeconds: 1800 });
    certificate = await emulator.issueCertificate({ subject: "CN=login test app" });
    app = emulator.registerApp({
      certificates: [certificate.certificatePem],
      secrets: ["current-secret", { value: "old-secret", expiresOn: new Date(Date.now() - 1000) }],
    });
  });
  afterEach(() => {
    offsetMs = 0;
  });
  after(async () => {
    await closeAgents();
    await emulator.close();
  });

  const form = (extra: Record<string, string>) => ({
    grant_type: "client_credentials",
    client_id: app.clientId,
    scope: STORAGE,
    ...extra,
  });
  const assertionForm = async (options: Partial<Parameters<typeof signClientAssertion>[0]> = {}) =>
    form({
      client_assertion_type: JWT_BEARER,
      client_assertion: await signClientAssertion({
        certificate,
        clientId: app.clientId,
        audience: emulator.tokenEndpoint(),
        ...options,
      }),
    });

  describe("client secrets", () => {
    test("a registered secret gets a Bearer token shaped as Entra's", async () => {
      const response = await postToken(emulator, form({ client_secret: "current-secret" }));
      assert.equal(response.status, 200);
      assert.equal(response.json["token_type"], "Bearer");
      assert.equal(response.json["expires_in"], 1800);
      assert.equal(response.json["ext_expires_in"], 1800);
      assert.equal(response.json["refresh_in"], 900);
      const claims = decodeClaims(String(response.json["access_token"]));
      assert.equal(claims["aud"], "https://storage.azure.com");
      assert.equal(claims["iss"], `https://sts.windows.net/${emulator.tenantId}/`);
      assert.equal(claims["tid"], emulator.tenantId);
      assert.equal(claims["appid"], app.clientId);
      assert.equal(claims["azp"], app.clientId);
      assert.equal(claims["oid"], app.objectId);
      assert.equal(claims["sub"], app.objectId);
      assert.equal(claims["ver"], "1.0");
      assert.equal(claims["appidacr"], "1");
      for (const name of ["iat", "nbf", "exp"]) assert.equal(typeof claims[name], "number");
      assert.ok(Number(claims["exp"]) - Date.now() / 1000 > 1790);
    });

    test("a wrong secret is AADSTS7000215 (401 invalid_client) with the Entra error shape", async () => {
      const response = await postToken(emulator, form({ client_secret: "nope" }));
      assert.equal(response.status, 401);
      assert.equal(response.json["error"], "invalid_client");
      assert.equal(aadsts(response), 7000215);
      assert.match(String(response.json["error_description"]), /^AADSTS7000215: .*\r\nTrace ID: .*\r\nCorrelation ID: .*\r\nTimestamp: /s);
      for (const name of ["trace_id", "correlation_id", "timestamp", "error_uri"]) assert.equal(typeof response.json[name], "string");
    });

    test("an expired secret is AADSTS7000222", async () => {
      const response = await postToken(emulator, form({ client_secret: "old-secret" }));
      assert.equal(response.status, 401);
      assert.equal(aadsts(response), 7000222);
    });

    test("no credential is AADSTS7000218, and both a secret and an assertion too", async () => {
      assert.equal(aadsts(await postToken(emulator, form({}))), 7000218);
      const both = await assertionForm();
      assert.equal(aadsts(await postToken(emulator, { ...both, client_secret: "current-secret" })), 7000218);
    });

    test("the journal keeps only a hash of the secret", async () => {
      emulator.journal.clear();
      await postToken(emulator, form({ client_secret: "current-secret" }));
      const entry = emulator.journal.last("login.token");
      assert.equal(entry?.form["client_secret"], journalHash("current-secret"));
      assert.ok(!JSON.stringify(emulator.journal.entries).includes("current-secret"));
      assert.equal(entry?.status, 200);
      assert.equal(entry?.clientId, app.clientId);
      assert.equal(entry?.clientCertificateThumbprintSha256, undefined);
    });
  });

  describe("certificate assertions", () => {
    test("PS256 with x5t#S256 and an x5c array (msal-node) is accepted", async () => {
      const response = await postToken(emulator, await assertionForm({ alg: "PS256", x5c: "array" }));
      assert.equal(response.status, 200, JSON.stringify(response.json));
      assert.equal(decodeClaims(String(response.json["access_token"]))["appidacr"], "2");
    });

    test("RS256 with the SHA-1 x5t is accepted", async () => {
      const response = await postToken(emulator, await assertionForm({ alg: "RS256", thumbprint: "x5t" }));
      assert.equal(response.status, 200, JSON.stringify(response.json));
    });

    test("MSAL.NET style: x5c as a single string and nbf/exp as numeric strings", async () => {
      const response = await postToken(emulator, await assertionForm({ x5c: "string", stringTimes: true }));
      assert.equal(response.status, 200, JSON.stringify(response.json));
    });

    test("the mTLS token URL is an accepted audience on the login host too", async () => {
      const response = await postToken(emulator, await assertionForm({ audience: emulator.mtlsTokenEndpoint() }));
      assert.equal(response.status, 200, JSON.stringify(response.json));
    });

    test("an unregistered certificate is AADSTS700027", async () => {
      const other = await emulator.issueCertificate();
      const response = await postToken(emulator, await assertionForm({ certificate: other }));
      assert.equal(response.status, 401);
      assert.equal(aadsts(response), 700027);
      assert.match(String(response.json["error_description"]), new RegExp(other.thumbprintSha256));
    });

    test("a signature by another key is AADSTS700027", async () => {
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const response = await postToken(emulator, await assertionForm({ signingKey: privateKey }));
      assert.equal(aadsts(response), 700027);
    });

    test("a registration past its expiry is AADSTS700027", async () => {
      const expiring = await emulator.issueCertificate();
      const expiringApp = emulator.registerApp({
        certificates: [{ certificatePem: expiring.certificatePem, expiresOn: new Date(Date.now() - 60_000) }],
      });
      const assertion = await signClientAssertion({
        certificate: expiring,
        clientId: expiringApp.clientId,
        audience: emulator.tokenEndpoint(),
      });
      const response = await postToken(emulator, {
        grant_type: "client_credentials",
        client_id: expiringApp.clientId,
        scope: STORAGE,
        client_assertion_type: JWT_BEARER,
        client_assertion: assertion,
      });
      assert.equal(aadsts(response), 700027);
      assert.match(String(response.json["error_description"]), /expired/);
    });

    test("iss/sub other than client_id is AADSTS700021", async () => {
      const response = await postToken(emulator, await assertionForm({ claims: { iss: randomUUID(), sub: randomUUID() } }));
      assert.equal(aadsts(response), 700021);
    });

    test("an audience that is not a token endpoint of the tenant is AADSTS700023", async () => {
      const response = await postToken(emulator, await assertionForm({ audience: `${emulator.authorityHost}/other-tenant/oauth2/v2.0/token` }));
      assert.equal(aadsts(response), 700023);
    });

    test("an expired assertion is AADSTS700024, within the 5 minute skew it is accepted", async () => {
      const now = Math.floor(Date.now() / 1000);
      const expired = await postToken(emulator, await assertionForm({ nowSeconds: now - 1200, lifetimeSeconds: 600 }));
      assert.equal(aadsts(expired), 700024);
      const skewed = await postToken(emulator, await assertionForm({ nowSeconds: now - 800, lifetimeSeconds: 600 }));
      assert.equal(skewed.status, 200, JSON.stringify(skewed.json));
    });

    test("an assertion not yet valid (nbf beyond the skew) is AADSTS700024", async () => {
      const response = await postToken(emulator, await assertionForm({ notBeforeOffsetSeconds: 900 }));
      assert.equal(aadsts(response), 700024);
    });

    test("the emulator clock decides: moved past the assertion's exp, it is AADSTS700024", async () => {
      const assertion = await assertionForm({ lifetimeSeconds: 600 });
      offsetMs = 20 * 60_000;
      assert.equal(aadsts(await postToken(emulator, assertion)), 700024);
    });

    test("an assertion living longer than one hour is AADSTS700024", async () => {
      const response = await postToken(emulator, await assertionForm({ lifetimeSeconds: 2 * 3600 }));
      assert.equal(aadsts(response), 700024);
    });

    test("a replayed jti is refused", async () => {
      const replayed = await assertionForm({ claims: { jti: "fixed-jti" } });
      assert.equal((await postToken(emulator, replayed)).status, 200);
      const again = await postToken(emulator, { ...replayed, client_assertion: await signClientAssertion({
        certificate,
        clientId: app.clientId,
        audience: emulator.tokenEndpoint(),
        claims: { jti: "fixed-jti" },
      }) });
      assert.equal(again.status, 401);
      assert.equal(aadsts(again), 700027);
      assert.match(String(again.json["error_description"]), /already used/);
    });

    test("with rejectReplayedAssertions: false, a repeated assertion is accepted, as msal-node re-sends one", async () => {
      const lenient = await startEmulator({ rejectReplayedAssertions: false });
      try {
        const lenientApp = lenient.registerApp({ certificates: [certificate.certificatePem] });
        const assertion = await signClientAssertion({ certificate, clientId: lenientApp.clientId, audience: lenient.tokenEndpoint(), claims: { jti: "same-jti" } });
        const body = { client_id: lenientApp.clientId, grant_type: "client_credentials", scope: "https://storage.azure.com/.default", client_assertion_type: JWT_BEARER, client_assertion: assertion };
        assert.equal((await postToken(lenient, body)).status, 200);
        assert.equal((await postToken(lenient, body)).status, 200);
      } finally {
        await lenient.close();
      }
    });

    test("a malformed assertion is AADSTS50027", async () => {
      const response = await postToken(emulator, form({ client_assertion_type: JWT_BEARER, client_assertion: "not-a-jwt" }));
      assert.equal(response.status, 400);
      assert.equal(aadsts(response), 50027);
    });

    test("a jwt-pop assertion or token_type=mtls_pop needs the mTLS host (AADSTS392200)", async () => {
      const pop = await assertionForm();
      assert.equal(aadsts(await postToken(emulator, { ...pop, client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-pop" })), 392200);
      assert.equal(aadsts(await postToken(emulator, { ...pop, token_type: "mtls_pop" })), 392200);
    });
  });

  describe("subject name and issuer apps", () => {
    test("x5c whose leaf has the subject and chains to the emulator CA is accepted; another subject is AADSTS700027", async () => {
      const sniApp = emulator.registerApp({ certificates: [{ subjectName: "CN=sni.contoso.test" }] });
      const good = await emulator.issueCertificate({ subject: "CN=sni.contoso.test" });
      const wrongSubject = await emulator.issueCertificate({ subject: "CN=other.contoso.test" });
      const selfSigned = await emulator.issueCertificate({ subject: "CN=sni.contoso.test", selfSigned: true });
      const request = async (cert: IssuedCertificate, x5c: "array" | "string" | undefined) =>
        postToken(emulator, {
          grant_type: "client_credentials",
          client_id: sniApp.clientId,
          scope: STORAGE,
          client_assertion_type: JWT_BEARER,
          client_assertion: await signClientAssertion({
            certificate: cert,
            clientId: sniApp.clientId,
            audience: emulator.tokenEndpoint(),
            ...(x5c === undefined ? {} : { x5c }),
          }),
        });
      assert.equal((await request(good, "array")).status, 200);
      assert.equal((await request(good, "string")).status, 200);
      assert.equal(aadsts(await request(good, undefined)), 700027);
      assert.equal(aadsts(await request(wrongSubject, "array")), 700027);
      assert.equal(aadsts(await request(selfSigned, "array")), 700027);
    });
  });

  describe("request checks", () => {
    test("an unknown tenant is AADSTS90002", async () => {
      const response = await postToken(emulator, form({ client_secret: "current-secret" }), { tenant: randomUUID() });
      assert.equal(response.status, 400);
      assert.equal(response.json["error"], "invalid_request");
      assert.equal(aadsts(response), 90002);
    });

    test("an unknown app is AADSTS700016", async () => {
      const response = await postToken(emulator, { ...form({ client_secret: "x" }), client_id: randomUUID() });
      assert.equal(response.json["error"], "unauthorized_client");
      assert.equal(aadsts(response), 700016);
    });

    test("an unknown resource is AADSTS500011", async () => {
      const response = await postToken(emulator, { ...form({ client_secret: "current-secret" }), scope: "https://nothing.example/.default" });
      assert.equal(response.json["error"], "invalid_resource");
      assert.equal(aadsts(response), 500011);
    });

    test("a scope without /.default is AADSTS1002012, two scopes AADSTS70011", async () => {
      const noDefault = await postToken(emulator, { ...form({ client_secret: "current-secret" }), scope: "https://storage.azure.com/user_impersonation" });
      assert.equal(noDefault.json["error"], "invalid_scope");
      assert.equal(aadsts(noDefault), 1002012);
      const two = await postToken(emulator, { ...form({ client_secret: "current-secret" }), scope: `${STORAGE} https://vault.azure.net/.default` });
      assert.equal(aadsts(two), 70011);
    });

    test("missing parameters are AADSTS900144 and other grants AADSTS70003", async () => {
      const { grant_type: _grant, ...withoutGrant } = form({ client_secret: "current-secret" });
      assert.equal(aadsts(await postToken(emulator, withoutGrant)), 900144);
      const { scope: _scope, ...withoutScope } = form({ client_secret: "current-secret" });
      assert.equal(aadsts(await postToken(emulator, withoutScope)), 900144);
      const password = await postToken(emulator, { ...form({ client_secret: "current-secret" }), grant_type: "password" });
      assert.equal(password.json["error"], "unsupported_grant_type");
      assert.equal(aadsts(password), 70003);
    });

    test("the app's own URI is a resource, and the per-app lifetime applies", async () => {
      const shortLived = emulator.registerApp({ secrets: ["s"], tokenLifetimeSeconds: 60 });
      const response = await postToken(emulator, {
        grant_type: "client_credentials",
        client_id: shortLived.clientId,
        client_secret: "s",
        scope: `api://${app.clientId}/.default`,
      });
      assert.equal(response.status, 200);
      assert.equal(response.json["expires_in"], 60);
      assert.equal(response.json["refresh_in"], 30);
      assert.equal(decodeClaims(String(response.json["access_token"]))["aud"], `api://${app.clientId}`);
    });

    test("client capabilities from claims become xms_cc", async () => {
      const response = await postToken(emulator, {
        ...form({ client_secret: "current-secret" }),
        claims: JSON.stringify({ access_token: { xms_cc: { values: ["cp1"] } } }),
      });
      assert.deepEqual(decodeClaims(String(response.json["access_token"]))["xms_cc"], ["cp1"]);
    });

    test("a multi-tenant app gets tokens in its additional tenant", async () => {
      const otherTenant = randomUUID();
      const multi = emulator.registerApp({ secrets: ["m"], additionalTenantIds: [otherTenant] });
      const response = await postToken(
        emulator,
        { grant_type: "client_credentials", client_id: multi.clientId, client_secret: "m", scope: STORAGE },
        { tenant: otherTenant },
      );
      assert.equal(response.status, 200);
      assert.equal(decodeClaims(String(response.json["access_token"]))["tid"], otherTenant);
    });

    test("client-request-id (query, as msal-node sends it) is echoed and used as correlation id", async () => {
      const id = randomUUID();
      const { request } = await import("undici");
      const { agentFor } = await import("./helpers.ts");
      const response = await request(`${emulator.tokenEndpoint()}?client-request-id=${id}`, {
        method: "POST",
        dispatcher: agentFor(emulator),
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form({ client_secret: "wrong" })).toString(),
      });
      const body = (await response.body.json()) as Record<string, unknown>;
      assert.equal(response.headers["client-request-id"], id);
      assert.equal(body["correlation_id"], id);
    });
  });

  describe("discovery", () => {
    test("instance discovery, OpenID configuration and JWKS are shaped as Entra's and point at the emulator", async () => {
      const authorize = `${emulator.authorityHost}/${emulator.tenantId}/oauth2/v2.0/authorize`;
      const discovery = await get(
        emulator,
        `${emulator.authorityHost}/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent(authorize)}`,
      );
      assert.equal(discovery.status, 200);
      const host = new URL(emulator.authorityHost).host;
      assert.deepEqual(discovery.json["metadata"], [{ preferred_network: host, preferred_cache: host, aliases: [host] }]);
      assert.equal(
        discovery.json["tenant_discovery_endpoint"],
        `${emulator.authorityHost}/${emulator.tenantId}/v2.0/.well-known/openid-configuration`,
      );

      const openId = await get(emulator, String(discovery.json["tenant_discovery_endpoint"]));
      assert.equal(openId.status, 200);
      assert.equal(openId.json["token_endpoint"], emulator.tokenEndpoint());
      assert.equal(openId.json["issuer"], `${emulator.authorityHost}/${emulator.tenantId}/v2.0`);
      assert.deepEqual(openId.json, emulator.openIdConfiguration());
      const common = await get(emulator, `${emulator.authorityHost}/common/v2.0/.well-known/openid-configuration`);
      assert.equal(common.json["issuer"], `${emulator.authorityHost}/{tenantid}/v2.0`);
      const unknown = await get(emulator, `${emulator.authorityHost}/${randomUUID()}/v2.0/.well-known/openid-configuration`);
      assert.equal(aadsts(unknown), 90002);

      const jwks = await get(emulator, String(openId.json["jwks_uri"]));
      const keys = jwks.json["keys"] as (JWK & { x5c: string[]; kid: string })[];
      assert.equal(keys.length, 1);
      const key = keys[0];
      assert.ok(key !== undefined);
      const signingCertificate = new X509Certificate(Buffer.from(key.x5c[0] ?? "", "base64"));
      assert.ok(signingCertificate.checkIssued(new X509Certificate(emulator.caCertificatePem)));
      // A token verifies with the published key.
      const token = String((await postToken(emulator, form({ client_secret: "current-secret" }))).json["access_token"]);
      const verified = await compactVerify(token, await importJWK(key, "RS256"));
      assert.equal(verified.protectedHeader.kid, key.kid);
      assert.ok(createPublicKey(signingCertificate.publicKey.export({ type: "spki", format: "pem" })));
      assert.equal((await emulator.verifyAccessToken(token))["appid"], app.clientId);
    });

    test("instance discovery for a foreign host is AADSTS50049", async () => {
      const response = await get(
        emulator,
        `${emulator.authorityHost}/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent("https://login.example.com/x/oauth2/v2.0/authorize")}`,
      );
      assert.equal(aadsts(response), 50049);
    });
  });
});
