import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { aadstsIn, EntraError, MAX_DESCRIPTION_LENGTH, parseEntraError } from "../../src/transport/entraError.ts";

const entraBody = {
  error: "invalid_client",
  error_description:
    "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1111\r\nCorrelation ID: 2222\r\nTimestamp: 2026-01-01 00:00:00Z",
  error_codes: [7000215],
  timestamp: "2026-01-01 00:00:00Z",
  trace_id: "trace-1111",
  correlation_id: "corr-2222",
  error_uri: "https://login.microsoftonline.com/error?code=7000215",
  suberror: "bad_token",
  claims: '{"access_token":{"nbf":{"essential":true}}}',
};

describe("parseEntraError", () => {
  test("reads every field of an Entra error", () => {
    const err = parseEntraError({ status: 401, headers: {}, body: JSON.stringify(entraBody) }, "login.example");
    assert.ok(err instanceof EntraError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "EntraError");
    assert.equal(err.status, 401);
    assert.equal(err.error, "invalid_client");
    assert.deepEqual(err.errorCodes, [7000215]);
    assert.equal(err.aadsts, 7000215);
    assert.equal(err.traceId, "trace-1111");
    assert.equal(err.correlationId, "corr-2222");
    assert.equal(err.timestamp, "2026-01-01 00:00:00Z");
    assert.equal(err.suberror, "bad_token");
    assert.equal(err.claims, entraBody.claims);
    assert.equal(err.retryAfterMs, undefined);
    assert.equal(err.host, "login.example");
    assert.match(err.description, /^AADSTS7000215: Invalid client secret provided\. Trace ID/);
    assert.ok(!/[\r\n]/.test(err.description), "no line breaks that could forge log lines");
    assert.match(err.message, /^login\.example answered 401 invalid_client \(AADSTS7000215\): AADSTS7000215/);
  });

  test("AADSTS from the description when error_codes is missing", () => {
    const err = parseEntraError({
      status: 400,
      headers: {},
      body: JSON.stringify({ error: "invalid_client", error_description: "AADSTS700027: Client assertion failed signature validation." }),
    });
    assert.equal(err.aadsts, 700027);
    assert.deepEqual(err.errorCodes, []);
    assert.equal(aadstsIn("nothing here"), undefined);
  });

  test("the first of several codes; string codes are accepted, junk ignored", () => {
    const err = parseEntraError({ status: 400, headers: {}, body: JSON.stringify({ error: "x", error_codes: ["392200", "junk", -1, 1.5, 500181] }) });
    assert.deepEqual(err.errorCodes, [392200, 500181]);
    assert.equal(err.aadsts, 392200);
  });

  test("Retry-After is parsed and capped", () => {
    const seconds = parseEntraError({ status: 429, headers: { "retry-after": "30" }, body: "{}" });
    assert.equal(seconds.retryAfterMs, 30_000);
    const capped = parseEntraError({ status: 503, headers: { "retry-after": "3600" }, body: "{}" });
    assert.equal(capped.retryAfterMs, 60_000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    const date = parseEntraError({ status: 503, headers: { "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" }, body: "{}" }, "h", now);
    assert.equal(date.retryAfterMs, 5000);
  });

  test("an HTML page gives invalid_request for 400 and unknown_error otherwise, without quoting the body", () => {
    const html = "<html><head><title>502 Bad Gateway</title></head><body>client_assertion=SECRET-CANARY</body></html>";
    const bad = parseEntraError({ status: 502, headers: { "content-type": "text/html; charset=utf-8", "x-ms-request-id": "req-1" }, body: html }, "proxy");
    assert.equal(bad.error, "unknown_error");
    assert.equal(bad.aadsts, undefined);
    assert.equal(bad.traceId, "req-1");
    assert.match(bad.description, /text\/html body titled "502 Bad Gateway"/);
    assert.ok(!bad.message.includes("SECRET-CANARY"));
    const invalid = parseEntraError({ status: 400, headers: {}, body: "Bad Request" });
    assert.equal(invalid.error, "invalid_request");
    assert.equal(parseEntraError({ status: 500, headers: {}, body: "" }).description, "The server sent an empty body.");
  });

  test("JSON that is not an object is treated as non-JSON", () => {
    assert.equal(parseEntraError({ status: 400, headers: {}, body: "[1,2]" }).error, "invalid_request");
    assert.equal(parseEntraError({ status: 500, headers: {}, body: '"oops"' }).error, "unknown_error");
  });

  test("the {error: {code, message}} shape of managed identity hosts", () => {
    const err = parseEntraError({ status: 400, headers: {}, body: JSON.stringify({ error: { code: "identity_not_found", message: "No identity" } }) });
    assert.equal(err.error, "identity_not_found");
    assert.equal(err.description, "No identity");
  });

  test("a JSON body without error gets a default error and description", () => {
    const err = parseEntraError({ status: 503, headers: {}, body: "{}" });
    assert.equal(err.error, "unknown_error");
    assert.equal(err.description, "The server gave no description.");
  });

  test("long server text is cut", () => {
    const err = parseEntraError({ status: 400, headers: {}, body: JSON.stringify({ error: "e".repeat(10_000), error_description: "d".repeat(100_000) }) });
    assert.ok(err.description.length <= MAX_DESCRIPTION_LENGTH + 1);
    assert.ok(err.error.length <= 201);
    assert.ok(err.message.length < 3000);
  });

  test("property: any body and status give an EntraError with sane fields", () => {
    const body = fc.oneof(
      fc.string(),
      fc.json(),
      fc
        .record(
          {
            error: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.record({ code: fc.string(), message: fc.string() })),
            error_description: fc.oneof(fc.string(), fc.integer()),
            error_codes: fc.oneof(fc.array(fc.oneof(fc.integer(), fc.string(), fc.double())), fc.string()),
            trace_id: fc.oneof(fc.string(), fc.integer()),
            correlation_id: fc.string(),
          },
          { requiredKeys: [] },
        )
        .map((value) => JSON.stringify(value)),
    );
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), body, fc.option(fc.string(), { nil: undefined }), (status, text, retryAfter) => {
        const err = parseEntraError({ status, headers: retryAfter === undefined ? {} : { "retry-after": retryAfter }, body: text });
        assert.ok(err instanceof EntraError);
        assert.equal(typeof err.error, "string");
        assert.ok(err.error.length > 0);
        assert.ok(err.description.length <= MAX_DESCRIPTION_LENGTH + 1);
        assert.ok(err.errorCodes.every((code) => Number.isSafeInteger(code) && code >= 0));
        assert.ok(err.retryAfterMs === undefined || (err.retryAfterMs >= 0 && err.retryAfterMs <= 60_000));
      }),
      { numRuns: 3000 },
    );
  });
});
