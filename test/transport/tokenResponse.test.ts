import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inspect } from "node:util";
import fc from "fast-check";
import { parseTokenResponse, TokenResponseError } from "../../src/transport/tokenResponse.ts";

const TOKEN = "eyJ0eXAiOiJKV1QifQ.canary-access-token.sig";
const now = Date.parse("2026-01-01T00:00:00Z");

function fails(body: string, field: string, options: Parameters<typeof parseTokenResponse>[1] = {}): void {
  assert.throws(
    () => parseTokenResponse(body, { now: () => now, ...options }),
    (err: unknown) => {
      assert.ok(err instanceof TokenResponseError, String(err));
      assert.equal(err.field, field);
      assert.ok(!err.message.includes(TOKEN), "the token never appears in the message");
      assert.ok(err.message.includes(field === "body" ? "JSON" : field), err.message);
      return true;
    },
  );
}

describe("parseTokenResponse: valid bodies", () => {
  test("Entra response with numbers", () => {
    const response = parseTokenResponse(
      JSON.stringify({ token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, refresh_in: 1800, access_token: TOKEN, scope: "s/.default" }),
    );
    assert.equal(response.accessToken, TOKEN);
    assert.equal(response.tokenType, "Bearer");
    assert.equal(response.expiresInSeconds, 3599);
    assert.equal(response.extExpiresInSeconds, 3599);
    assert.equal(response.refreshInSeconds, 1800);
    assert.equal(response.scope, "s/.default");
  });

  test("numeric strings, as MSAL mocks send them", () => {
    const response = parseTokenResponse(JSON.stringify({ token_type: "mtls_pop", expires_in: "3599", ext_expires_in: "3599", access_token: TOKEN }));
    assert.equal(response.expiresInSeconds, 3599);
    assert.equal(response.refreshInSeconds, undefined);
    assert.equal(response.tokenType, "mtls_pop");
  });

  test("IMDS response: strings and expires_on (absolute epoch seconds)", () => {
    const expiresOn = now / 1000 + 86_399;
    const response = parseTokenResponse(
      JSON.stringify({
        access_token: TOKEN,
        client_id: "cid",
        expires_on: String(expiresOn),
        ext_expires_in: "86399",
        not_before: String(now / 1000 - 60),
        resource: "api://AzureADTokenExchange",
        token_type: "Bearer",
      }),
      { now: () => now },
    );
    assert.equal(response.expiresInSeconds, 86_399);
  });

  test("expires_in wins over expires_on; expires_on may be a number, relative, or ISO 8601", () => {
    const both = parseTokenResponse(JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 100, expires_on: now / 1000 + 5000 }), { now: () => now });
    assert.equal(both.expiresInSeconds, 100);
    const relative = parseTokenResponse(JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_on: 3600 }), { now: () => now });
    assert.equal(relative.expiresInSeconds, 3600);
    const iso = parseTokenResponse(JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_on: "2026-01-01T01:00:00Z" }), { now: () => now });
    assert.equal(iso.expiresInSeconds, 3600);
    const past = parseTokenResponse(JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_on: now / 1000 - 10 }), { now: () => now });
    assert.equal(past.expiresInSeconds, 0);
  });

  test("expected token type is compared case-insensitively", () => {
    const response = parseTokenResponse(JSON.stringify({ access_token: TOKEN, token_type: "bearer", expires_in: 1 }), { expectedTokenType: "Bearer" });
    assert.equal(response.tokenType, "bearer");
  });

  test("the token stays out of JSON.stringify and util.inspect", () => {
    const response = parseTokenResponse(JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 1 }));
    assert.ok(!JSON.stringify(response).includes(TOKEN));
    assert.ok(!inspect(response, { depth: 5, showHidden: true }).includes(TOKEN));
    assert.ok(!JSON.stringify({ nested: response }).includes(TOKEN));
    assert.ok(Object.isFrozen(response));
  });
});

describe("parseTokenResponse: hostile bodies", () => {
  const valid = { access_token: TOKEN, token_type: "Bearer", expires_in: 3599 };
  const cases: [string, string, string][] = [
    ["not JSON", "{not json", "body"],
    ["HTML", "<html><body>502 Bad Gateway</body></html>", "body"],
    ["empty", "", "body"],
    ["array", "[1,2]", "body"],
    ["string", '"token"', "body"],
    ["null", "null", "body"],
    ["missing access_token", JSON.stringify({ ...valid, access_token: undefined }), "access_token"],
    ["empty access_token", JSON.stringify({ ...valid, access_token: "" }), "access_token"],
    ["numeric access_token", JSON.stringify({ ...valid, access_token: 42 }), "access_token"],
    ["object access_token", JSON.stringify({ ...valid, access_token: { a: 1 } }), "access_token"],
    ["access_token with a line break", JSON.stringify({ ...valid, access_token: "abc\r\nX-Evil: 1" }), "access_token"],
    ["access_token with a space", JSON.stringify({ ...valid, access_token: "a b" }), "access_token"],
    ["non-ASCII access_token", JSON.stringify({ ...valid, access_token: "tøken" }), "access_token"],
    ["missing token_type", JSON.stringify({ ...valid, token_type: undefined }), "token_type"],
    ["blank token_type", JSON.stringify({ ...valid, token_type: "  " }), "token_type"],
    ["numeric token_type", JSON.stringify({ ...valid, token_type: 1 }), "token_type"],
    ["no lifetime", JSON.stringify({ ...valid, expires_in: undefined }), "expires_in"],
    ["negative expires_in", JSON.stringify({ ...valid, expires_in: -1 }), "expires_in"],
    ["non-numeric expires_in", JSON.stringify({ ...valid, expires_in: "soon" }), "expires_in"],
    ["hex expires_in", JSON.stringify({ ...valid, expires_in: "0x10" }), "expires_in"],
    ["boolean expires_in", JSON.stringify({ ...valid, expires_in: true }), "expires_in"],
    ["array expires_in", JSON.stringify({ ...valid, expires_in: [1] }), "expires_in"],
    ["absurd expires_in", JSON.stringify({ ...valid, expires_in: 1e300 }), "expires_in"],
    ["bad ext_expires_in", JSON.stringify({ ...valid, ext_expires_in: "x" }), "ext_expires_in"],
    ["bad refresh_in", JSON.stringify({ ...valid, refresh_in: -3 }), "refresh_in"],
    ["bad expires_on", JSON.stringify({ ...valid, expires_in: undefined, expires_on: "tomorrow" }), "expires_on"],
    ["absurd expires_on", JSON.stringify({ ...valid, expires_in: undefined, expires_on: 9e12 }), "expires_on"],
    ["inherited fields do not count", '{"__proto__":{"access_token":"x"},"token_type":"Bearer","expires_in":1}', "access_token"],
  ];
  for (const [name, body, field] of cases) {
    test(`${name} → ${field}`, () => fails(body, field));
  }

  test("a token type other than the requested one is refused, naming both", () => {
    assert.throws(
      () => parseTokenResponse(JSON.stringify({ ...valid, token_type: "mtls_pop" }), { expectedTokenType: "Bearer", source: "mtlsauth.example" }),
      (err: unknown) =>
        err instanceof TokenResponseError && err.field === "token_type" && /mtls_pop/.test(err.message) && /Bearer/.test(err.message) && /mtlsauth\.example/.test(err.message),
    );
  });

  test("property: any input gives a TokenResponse or a TokenResponseError, never anything else", () => {
    const fieldValue = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.integer(), { maxLength: 3 }),
      fc.stringMatching(/^\d{1,12}$/),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
    );
    const tokenLike = fc.record(
      {
        access_token: fieldValue,
        token_type: fc.oneof(fieldValue, fc.constantFrom("Bearer", "bearer", "mtls_pop")),
        expires_in: fieldValue,
        expires_on: fieldValue,
        ext_expires_in: fieldValue,
        refresh_in: fieldValue,
        scope: fieldValue,
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(fc.string(), fc.json(), tokenLike.map((value) => JSON.stringify(value)));
    fc.assert(
      fc.property(body, (text) => {
        try {
          const response = parseTokenResponse(text, { now: () => now });
          assert.ok(response.accessToken.length > 0);
          assert.ok(Number.isFinite(response.expiresInSeconds) && response.expiresInSeconds >= 0);
        } catch (err) {
          assert.ok(err instanceof TokenResponseError, `unexpected ${String(err)}`);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
