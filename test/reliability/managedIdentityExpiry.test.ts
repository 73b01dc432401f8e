// Every token answer is read by one strict parser. The managed identity's own token (IMDS v1 and
// the other managed identity hosts, through msal-node) used to be taken with whatever expiry it
// came with — `expires_in: -3600` or `"soon"` — while the login and mutual TLS paths refused
// those. A numeric string (`"3599"`, as IMDS and MSAL.NET's leg-1 test vectors send it) stays valid.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

const { createManagedIdentityAssertionSource } = await import("../../src/sources/managedIdentityAssertion.ts");
const { createManagedIdentityServices } = await import("../../src/sources/managedIdentity/services.ts");
const { managedIdentityTokenCredential } = await import("../../src/sources/managedIdentityTokenCredential.ts");
const { SourceUnavailableError } = await import("../../src/sources/types.ts");
const { HttpClient } = await import("../../src/transport/httpClient.ts");
const { parseTokenResponse } = await import("../../src/transport/tokenResponse.ts");
const { normalizeOptions } = await import("../../src/configuration/validate.ts");
const { json, startHttpServer } = await import("../transport/fixtures.ts");

const TOKEN = "mi-expiry-canary";
let imds: Awaited<ReturnType<typeof startHttpServer>>;
let http: InstanceType<typeof HttpClient>;
let answer: Record<string, unknown> = {};

before(async () => {
  http = new HttpClient();
  imds = await startHttpServer((_req, res) => json(res, 200, answer, { server: "IMDS/150.870.65.1854" }));
});
after(async () => {
  await http.close();
  await imds.close();
});

function context() {
  const options = normalizeOptions(
    {
      tenantId: "contoso.onmicrosoft.com",
      clientId: "00000000-0000-0000-0000-000000000001",
      clientCredentials: [{ sourceType: "SignedAssertionFromManagedIdentity" }],
      imdsEndpoint: imds.origin,
    },
    {},
  );
  const entry = options.entries[0];
  assert.ok(entry !== undefined);
  return { entry, options, now: Date.now, env: {}, http, sleep: async () => undefined };
}

async function assertionOf(body: Record<string, unknown>) {
  answer = body;
  const ctx = context();
  const material = await createManagedIdentityAssertionSource(ctx.entry, ctx).load();
  assert.equal(material.kind, "assertion");
  if (material.kind !== "assertion") throw new Error("unreachable");
  return material.getAssertion({ clientId: ctx.options.clientId, tenantId: ctx.options.tenantId, tokenEndpoint: "https://login.microsoftonline.com/t/oauth2/v2.0/token", bound: false });
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const token = (fields: Record<string, unknown>): Record<string, unknown> => ({
  access_token: TOKEN,
  token_type: "Bearer",
  resource: "api://AzureADTokenExchange",
  ...fields,
});

describe("the managed identity's own token: one strict parser for its expiry", () => {
  const refused: { name: string; body: Record<string, unknown>; field: RegExp }[] = [
    { name: "expires_in: -3600", body: token({ expires_in: -3600, expires_on: String(nowSeconds() + 3600) }), field: /invalid expires_in/ },
    { name: 'expires_in: "soon"', body: token({ expires_in: "soon", expires_on: String(nowSeconds() + 3600) }), field: /invalid expires_in/ },
    { name: 'expires_in: "-3600"', body: token({ expires_in: "-3600" }), field: /invalid expires_in/ },
    { name: 'no expires_in, expires_on: "soon"', body: token({ expires_on: "soon" }), field: /invalid expires_on/ },
    { name: "no expiry at all", body: token({}), field: /neither expires_in nor expires_on/ },
    { name: "a token_type other than Bearer", body: token({ token_type: "pop", expires_in: "3599" }), field: /token_type "pop"/ },
  ];
  for (const c of refused) {
    test(`${c.name}: the entry is unavailable, naming the field, never the token`, async () => {
      await assert.rejects(assertionOf(c.body), (error: unknown) => {
        assert.ok(error instanceof SourceUnavailableError, `got ${String(error)}`);
        assert.match(error.reason, /not a token response/);
        assert.match(error.reason, c.field);
        assert.ok(!error.message.includes(TOKEN));
        return true;
      });
    });
  }

  test('a numeric string (expires_in: "3599", as IMDS sends it) is accepted, with that lifetime', async () => {
    const before = Date.now();
    const result = await assertionOf(token({ expires_in: "3599", expires_on: String(nowSeconds() + 3599) }));
    const after = Date.now();
    assert.equal(result.assertion, TOKEN);
    const expiresOn = result.expiresOnTimestamp ?? 0;
    assert.ok(expiresOn >= before + 3599_000 && expiresOn <= after + 3599_000, `expires ${expiresOn - before} ms after the call began`);
  });

  test("expires_on alone (App Service, Service Fabric) is accepted", async () => {
    const expiresOnSeconds = nowSeconds() + 7200;
    const before = Date.now();
    const result = await assertionOf(token({ expires_on: String(expiresOnSeconds) }));
    const after = Date.now();
    // Whole seconds on the wire, and the remaining time is taken when the answer is read.
    const expiresOn = result.expiresOnTimestamp ?? 0;
    assert.ok(expiresOn >= expiresOnSeconds * 1000 - (after - before) - 2000 && expiresOn <= expiresOnSeconds * 1000 + (after - before), `expires ${expiresOn - expiresOnSeconds * 1000} ms off`);
  });

  test("Key Vault's managed identity reads its token with the same parser", async () => {
    answer = token({ expires_in: -3600, expires_on: String(nowSeconds() + 3600) });
    const ctx = context();
    const credential = managedIdentityTokenCredential("clientCredentials[0]", undefined, createManagedIdentityServices(ctx));
    await assert.rejects(credential.getToken("https://vault.azure.net/.default"), (error: unknown) => {
      assert.ok(error instanceof SourceUnavailableError);
      assert.match(error.reason, /invalid expires_in/);
      return true;
    });
  });

  test("leg 1's answer as MSAL.NET's test vector has it (expires_in as a string) passes the same parser", () => {
    const parsed = parseTokenResponse(
      JSON.stringify({ token_type: "mtls_pop", expires_in: "3599", access_token: TOKEN, resource: "api://AzureADTokenExchange" }),
      { expectedTokenType: "mtls_pop" },
    );
    assert.equal(parsed.expiresInSeconds, 3599);
    assert.throws(() => parseTokenResponse(JSON.stringify({ token_type: "mtls_pop", expires_in: -3600, access_token: TOKEN }), { expectedTokenType: "mtls_pop" }), /invalid expires_in/);
  });
});
