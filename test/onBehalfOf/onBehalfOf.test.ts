// On-Behalf-Of end to end against the emulator over real TLS: users' tokens issued and signed by
// the emulator, every token request authenticated and checked there. Nothing of the library is mocked.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { after, before, describe, test } from "node:test";
import { ChainedTokenCredential } from "@azure/identity";
import { AuthenticationError, AuthenticationRequiredError, CredentialUnavailableError } from "../../src/errors.ts";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { BoundOnBehalfOfCredential, type BoundOnBehalfOfCredentialOptions } from "../../src/boundOnBehalfOfCredential.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { journalHash, type IssuedCertificate, type RegisteredManagedIdentity } from "../../src/emulator/index.ts";
import { captureLogs, everyTextOf, Harness, rejectionOf, type RegisteredApp } from "../credential/support.ts";
import { withSeams } from "../helpers/index.ts";

const STORAGE_USER = "https://storage.azure.com/user_impersonation";
const VAULT_USER = "https://vault.azure.net/user_impersonation";
const OBO_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";

let harness: Harness;
let certificate: IssuedCertificate;
let api: RegisteredApp;
let identity: RegisteredManagedIdentity;
let bound: CredentialDescription;
let unbound: CredentialDescription;
let secret: CredentialDescription;

before(async () => {
  harness = await Harness.start();
  const emulator = harness.emulator;
  certificate = await emulator.issueCertificate({ subject: "CN=web api" });
  identity = emulator.registerManagedIdentity({ kind: "user" });
  api = emulator.registerApp({
    certificates: [certificate.certificatePem],
    secrets: ["api-secret"],
    federatedCredentials: [emulator.federatedCredentialFor(identity)],
  });
  const pem = { sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem } as const;
  bound = { ...pem, useBoundCredential: true };
  unbound = { ...pem };
  secret = { sourceType: "ClientSecret", clientSecret: "api-secret" };
});
after(async () => {
  await harness.close();
});

async function userToken(oid: string = randomUUID(), extra: Partial<Parameters<Harness["emulator"]["issueUserToken"]>[0]> = {}) {
  return harness.emulator.issueUserToken({ app: api, user: { oid, name: `user ${oid.slice(0, 8)}` }, ...extra });
}

/** Issues the user's token and checks the downstream token carries the user. */
async function expectUser(token: AccessToken | null, oid: string): Promise<Record<string, unknown>> {
  assert.ok(token);
  const claims = await harness.emulator.verifyAccessToken(token.token);
  assert.equal(claims["oid"], oid);
  assert.equal(claims["appid"], api.clientId);
  assert.equal(claims["idtyp"], "user");
  return claims;
}

describe("appCredential.onBehalfOf", () => {
  test("bound certificate: over mTLS with the certificate in the handshake; the journal shows it and the user's oid", async () => {
    const emulator = harness.emulator;
    const app = harness.credential(harness.options(api, [bound]));
    const oid = randomUUID();
    const assertion = await userToken(oid);
    emulator.journal.clear();
    const token = await app.onBehalfOf(assertion).getToken(STORAGE_USER);
    const claims = await expectUser(token, oid);
    assert.equal(claims["scp"], "user_impersonation");
    assert.equal(claims["aud"], "https://storage.azure.com");
    const [request, ...others] = emulator.journal.ofRoute("mtls.token");
    assert.equal(others.length, 0);
    assert.equal(emulator.journal.ofRoute("login.token").length, 0);
    assert.ok(request);
    assert.equal(request.status, 200);
    assert.equal(request.form["grant_type"], OBO_GRANT);
    assert.equal(request.form["requested_token_use"], "on_behalf_of");
    assert.equal(request.form["assertion"], journalHash(assertion));
    assert.equal(request.form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    assert.equal(request.tokenObjectId, oid);
    assert.equal(request.clientCertificateThumbprintSha256, new (await import("node:crypto")).X509Certificate(certificate.certificatePem).fingerprint256.replaceAll(":", ""));
    // Cached per user: the same user's next call is served from memory; the app path is untouched.
    const again = await app.onBehalfOf(assertion).getToken(STORAGE_USER);
    assert.equal(again?.token, token?.token);
    assert.equal(emulator.journal.ofRoute("mtls.token").length, 1);
    const appToken = await app.getToken("https://storage.azure.com/.default");
    assert.equal((await emulator.verifyAccessToken(appToken.token))["idtyp"], "app");
    assert.equal(app.lastServed?.bound, true);
  });

  test("unbound certificate: msal-node's acquireTokenOnBehalfOf on the login host", async () => {
    const emulator = harness.emulator;
    const app = harness.credential(harness.options(api, [unbound]));
    const oid = randomUUID();
    emulator.journal.clear();
    await expectUser(await app.onBehalfOf(await userToken(oid)).getToken([STORAGE_USER]), oid);
    const [request, ...others] = emulator.journal.ofRoute("login.token");
    assert.equal(others.length, 0);
    assert.equal(request?.form["grant_type"], OBO_GRANT);
    assert.equal(request?.form["requested_token_use"], "on_behalf_of");
    assert.equal(request?.form["client_info"], "1");
    assert.equal(request?.clientCertificateThumbprintSha256, undefined);
    assert.equal(request?.tokenObjectId, oid);
    assert.equal(emulator.journal.ofRoute("mtls.token").length, 0);
  });

  test("client secret, and a managed identity's assertion (unbound: IMDS v1; bound: jwt-pop over mTLS)", async () => {
    const emulator = harness.emulator;
    const bySecret = harness.credential(harness.options(api, [secret]));
    const oid = randomUUID();
    const claims = await expectUser(await bySecret.onBehalfOf(await userToken(oid)).getToken(VAULT_USER), oid);
    assert.equal(claims["appidacr"], "1");

    const miUnbound = harness.credential(
      harness.options(api, [{ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId }]),
    );
    emulator.journal.clear();
    await expectUser(await miUnbound.onBehalfOf(await userToken(oid)).getToken(STORAGE_USER), oid);
    assert.equal(emulator.journal.ofRoute("imds.token").length, 1);
    assert.equal(emulator.journal.last("login.token")?.tokenObjectId, oid);

    const miBound = harness.credential(
      harness.options(api, [
        { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId, useBoundCredential: true },
      ]),
    );
    emulator.journal.clear();
    await expectUser(await miBound.onBehalfOf(await userToken(oid)).getToken(STORAGE_USER), oid);
    const [leg1, obo, ...rest] = emulator.journal.ofRoute("mtls.token");
    assert.equal(rest.length, 0);
    assert.equal(leg1?.tokenType, "mtls_pop");
    assert.equal(obo?.form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-pop");
    assert.equal(obo?.form["grant_type"], OBO_GRANT);
    assert.equal(obo?.clientCertificateThumbprintSha256, leg1?.clientCertificateThumbprintSha256);
    assert.equal(obo?.tokenObjectId, oid);
  });

  test("1,000 users × 10 concurrent calls: one token request per user and scope; each user gets their own token", async () => {
    const emulator = harness.emulator;
    const app = harness.credential(harness.options(api, [bound]));
    const users = await Promise.all(
      Array.from({ length: 1000 }, async () => {
        const oid = randomUUID();
        return { oid, assertion: await userToken(oid) };
      }),
    );
    emulator.journal.clear();
    const results = await Promise.all(
      users.flatMap((user) =>
        Array.from({ length: 10 }, async () => ({ oid: user.oid, token: await app.onBehalfOf(user.assertion).getToken(STORAGE_USER) })),
      ),
    );
    const requests = emulator.journal.ofRoute("mtls.token");
    assert.equal(requests.length, 1000);
    assert.equal(new Set(requests.map((entry) => entry.tokenObjectId)).size, 1000);
    const byUser = new Map<string, Set<string>>();
    for (const { oid, token } of results) {
      assert.ok(token);
      const set = byUser.get(oid) ?? new Set<string>();
      set.add(token.token);
      byUser.set(oid, set);
    }
    assert.equal(byUser.size, 1000);
    for (const tokens of byUser.values()) assert.equal(tokens.size, 1, "the 10 calls of one user share one token");
    // Every token is the user's own, never another user's.
    const sample = results.filter((_, index) => index % 97 === 0);
    for (const { oid, token } of sample) await expectUser(token, oid);
    // A second scope is a second request per user.
    const [first] = users;
    assert.ok(first);
    await Promise.all(Array.from({ length: 10 }, () => app.onBehalfOf(first.assertion).getToken(VAULT_USER)));
    assert.equal(emulator.journal.ofRoute("mtls.token").length, 1001);
  });
});

describe("user-flow errors", () => {
  test("an expired or foreign user token stops at once (AADSTS500133, 50013): the next entry is not tried", async () => {
    const emulator = harness.emulator;
    const app = harness.credential(harness.options(api, [bound, secret]));
    emulator.journal.clear();
    const expired = await userToken(randomUUID(), { notBefore: new Date(Date.now() - 3 * 3600_000), lifetimeSeconds: 3600 });
    const expiredError = await rejectionOf(app.onBehalfOf(expired).getToken(STORAGE_USER));
    assert.ok(expiredError instanceof AuthenticationError, expiredError.name);
    assert.match(expiredError.message, /AADSTS500133/);
    assert.match(expiredError.message, /acquire a fresh token/);
    assert.match(expiredError.message, /clientCredentials\[1\].*not tried/);
    assert.equal(emulator.journal.ofRoute("mtls.token").length, 1);
    assert.equal(emulator.journal.ofRoute("login.token").length, 0);

    const other = emulator.registerApp();
    const foreign = await emulator.issueUserToken({ app: other });
    const foreignError = await rejectionOf(app.onBehalfOf(foreign).getToken(STORAGE_USER));
    assert.ok(foreignError instanceof AuthenticationError);
    assert.match(foreignError.message, /AADSTS50013/);
    assert.equal(emulator.journal.ofRoute("login.token").length, 0, "a bad user token is not the entry's fault");
    // The entry is not benched: a good token for the same app works at once, over mTLS.
    const oid = randomUUID();
    await expectUser(await app.onBehalfOf(await userToken(oid)).getToken(STORAGE_USER), oid);
    assert.equal(emulator.journal.last("mtls.token")?.tokenObjectId, oid);
  });

  for (const [path, route, entry] of [
    ["bound", "mtls.token", () => bound],
    ["unbound (msal-node)", "login.token", () => unbound],
  ] as const) {
    test(`interaction_required with a claims challenge is an AuthenticationRequiredError carrying the claims (${path})`, async () => {
      const emulator = harness.emulator;
      const app = harness.credential(harness.options(api, [entry(), secret]));
      for (const code of [50076, 50079, 53003]) {
        const claims = JSON.stringify({ access_token: { capolids: { essential: true, values: [randomUUID()] } } });
        emulator.faults.add({ route, status: 400, error: "interaction_required", errorCode: code, claims });
        const error = await rejectionOf(app.onBehalfOf(await userToken()).getToken(STORAGE_USER));
        assert.ok(error instanceof AuthenticationRequiredError, `${code}: ${error.name}: ${error.message}`);
        assert.equal(error.getTokenOptions?.claims, claims);
        assert.deepEqual(error.scopes, [STORAGE_USER]);
        assert.match(error.message, new RegExp(`AADSTS${code}`));
      }
      assert.equal(emulator.faults.pending(), 0);
    });
  }

  test("AADSTS65001 names the remedy: admin consent", async () => {
    const app = harness.credential(harness.options(api, [bound]));
    harness.emulator.faults.add({ route: "mtls.token", status: 400, error: "invalid_grant", errorCode: 65001, suberror: "consent_required" });
    const error = await rejectionOf(app.onBehalfOf(await userToken()).getToken(STORAGE_USER));
    assert.ok(error instanceof AuthenticationError);
    assert.match(error.message, /AADSTS65001/);
    assert.match(error.message, /admin consent/);
  });

  test("a missing or malformed user token is refused before any request, without echoing it", () => {
    const app = harness.credential(harness.options(api, [bound]));
    assert.throws(() => app.onBehalfOf(""), /onBehalfOf\(userAssertionToken\): The user's token is missing/);
    const notJwt = "Bearer canary-not-a-jwt-1234";
    assert.throws(
      () => app.onBehalfOf(notJwt),
      (error: Error) => error.name === "BoundCredentialConfigurationError" && !error.message.includes("canary") && /not a JWT/.test(error.message),
    );
  });
});

test("secret hygiene: a canary user token never reaches logs, errors, inspect or JSON", async () => {
  const emulator = harness.emulator;
  const canary = await userToken(randomUUID(), { user: { oid: randomUUID(), name: "CANARY-USER" } });
  const expiredCanary = await userToken(randomUUID(), { notBefore: new Date(Date.now() - 3 * 3600_000), lifetimeSeconds: 3600 });
  const logs = captureLogs("verbose");
  const texts: string[] = [];
  try {
    for (const entry of [bound, unbound, secret]) {
      const app = harness.credential(harness.options(api, [entry], { loggingOptions: { allowLoggingAccountIdentifiers: true } }));
      const perRequest = app.onBehalfOf(canary);
      await perRequest.getToken(STORAGE_USER);
      texts.push(inspect(perRequest, { depth: 10 }), JSON.stringify(perRequest), inspect(app, { depth: 10 }), JSON.stringify(app));
      const failure = await rejectionOf(app.onBehalfOf(expiredCanary).getToken(STORAGE_USER));
      texts.push(...everyTextOf(failure, (value) => inspect(value, { depth: 10, showHidden: true })));
      emulator.faults.add({
        route: entry === bound ? "mtls.token" : "login.token",
        status: 400,
        error: "interaction_required",
        errorCode: 50076,
        claims: "{}",
      });
      const challenge = await rejectionOf(app.onBehalfOf(canary).getToken(VAULT_USER));
      texts.push(...everyTextOf(challenge, (value) => inspect(value, { depth: 10, showHidden: true })));
    }
    const dropIn = new BoundOnBehalfOfCredential(
      withSeams({ ...emulator.credentialOptions(api), clientSecret: "api-secret", userAssertionToken: canary }, { env: {} }),
    );
    texts.push(inspect(dropIn, { depth: 10 }), JSON.stringify(dropIn));
    await dropIn.close();
  } finally {
    logs.stop();
  }
  assert.ok(logs.lines.length > 0);
  texts.push(...logs.lines, JSON.stringify(emulator.journal.entries));
  for (const text of texts) {
    assert.ok(!text.includes(canary), `the user's token leaked: ${text.slice(0, 200)}`);
    assert.ok(!text.includes(expiredCanary), `the expired user token leaked: ${text.slice(0, 200)}`);
    // Its signature alone would be enough to replay it.
    assert.ok(!text.includes(canary.split(".")[2] ?? "-"), "the user's token signature leaked");
  }
});

describe("BoundOnBehalfOfCredential: the drop-in arguments of OnBehalfOfCredential", () => {
  let pemPath: string;
  before(async () => {
    pemPath = await harness.file("api.pem", `${certificate.privateKeyPem}\n${certificate.certificatePem}`);
  });
  const make = (options: BoundOnBehalfOfCredentialOptions) =>
    new BoundOnBehalfOfCredential(options === null ? options : withSeams(options, { env: {} }));

  test("certificatePath with useBoundCredential over mTLS; without it on the login host; clientSecret; getAssertion", async () => {
    const emulator = harness.emulator;
    const base = emulator.credentialOptions(api);
    const cases: { options: BoundOnBehalfOfCredentialOptions; route: "mtls.token" | "login.token" }[] = [
      { options: { ...base, certificatePath: pemPath, useBoundCredential: true, userAssertionToken: "" }, route: "mtls.token" },
      { options: { ...base, certificatePath: pemPath, sendCertificateChain: true, userAssertionToken: "" }, route: "login.token" },
      { options: { ...base, clientSecret: "api-secret", userAssertionToken: "" }, route: "login.token" },
      {
        options: {
          ...base,
          getAssertion: () => emulator.createFederatedAssertion({ subject: identity.objectId, lifetimeSeconds: 600 }),
          userAssertionToken: "",
        },
        route: "login.token",
      },
      { options: { ...base, clientCredentials: [secret, bound], userAssertionToken: "" }, route: "login.token" },
    ];
    for (const { options, route } of cases) {
      const oid = randomUUID();
      const credential = make({ ...options, userAssertionToken: await userToken(oid) });
      emulator.journal.clear();
      await expectUser(await credential.getToken(STORAGE_USER), oid);
      assert.equal(emulator.journal.last(route)?.tokenObjectId, oid, route);
      await credential.close();
    }
  });

  test("mistakes are reported at construction: no credential, two credentials, list and drop-in mixed, no token", async () => {
    const base = harness.emulator.credentialOptions(api);
    const token = await userToken();
    assert.throws(() => make({ ...base, userAssertionToken: token } as BoundOnBehalfOfCredentialOptions), /No credential is given/);
    assert.throws(
      () => make({ ...base, userAssertionToken: token, clientSecret: "a", certificatePath: pemPath } as BoundOnBehalfOfCredentialOptions),
      /More than one credential/,
    );
    assert.throws(
      () => make({ ...base, userAssertionToken: token, clientCredentials: [secret], clientSecret: "a" } as BoundOnBehalfOfCredentialOptions),
      /clientCredentials is given together/,
    );
    assert.throws(() => make({ ...base, userAssertionToken: "", clientSecret: "a" }), /userAssertionToken: The user's token is missing/);
    assert.throws(() => make(null as unknown as BoundOnBehalfOfCredentialOptions), /takes an options object, got null/);
    assert.throws(
      () => make({ ...base, clientSecret: "api-secret", userAssertionToken: 42 } as unknown as BoundOnBehalfOfCredentialOptions),
      /userAssertionToken: The user's token is missing or empty/,
    );
    assert.throws(
      () => make({ ...base, userAssertionToken: token, getAssertion: "not a function" } as unknown as BoundOnBehalfOfCredentialOptions),
      /getAssertion: Expected a function/,
    );
    assert.throws(
      () => make({ ...base, userAssertionToken: token, clientSecret: "api-secret", useBoundCredential: true }),
      (error: Error) => error.name === "BoundCredentialConfigurationError",
    );
  });

  test("ChainedTokenCredential: serves through the chain; a list of unavailable entries lets the chain move on", async () => {
    const oid = randomUUID();
    const assertion = await userToken(oid);
    const obo = make({ ...harness.emulator.credentialOptions(api), certificatePath: pemPath, useBoundCredential: true, userAssertionToken: assertion });
    await expectUser(await new ChainedTokenCredential(obo).getToken(STORAGE_USER), oid);
    const missing = make({
      ...harness.emulator.credentialOptions(api),
      certificatePath: `${pemPath}.missing`,
      useBoundCredential: true,
      userAssertionToken: assertion,
    });
    const direct = await rejectionOf(missing.getToken(STORAGE_USER));
    assert.ok(direct instanceof CredentialUnavailableError, direct.name);
    const fallback: TokenCredential = { getToken: async () => ({ token: "fallback", expiresOnTimestamp: Date.now() + 3600_000 }) };
    const chained = await new ChainedTokenCredential(missing, fallback).getToken(STORAGE_USER);
    assert.equal(chained?.token, "fallback");
    await obo.close();
    await missing.close();
  });
});
