/**
 * What a failure of one entry means for the list, for each kind of error the acquisition paths
 * raise: our own (by class), msal-node's (by name and fields, with its real `ServerError`), and
 * anything else.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ServerError } from "@azure/msal-node";
import { UnexpectedTokenTypeError } from "../../src/acquisition/bound/mtlsAcquirer.ts";
import { classifyFailure } from "../../src/acquisition/classifyFailure.ts";
import { CLIENT_CREDENTIALS } from "../../src/acquisition/types.ts";
import type { NormalizedEntry } from "../../src/configuration/normalized.ts";
import { SourceUnavailableError } from "../../src/sources/types.ts";
import { MtlsEndpointUnsupportedError } from "../../src/transport/endpoints.ts";
import { parseEntraError } from "../../src/transport/entraError.ts";
import { TransportError } from "../../src/transport/errors.ts";
import { TokenResponseError } from "../../src/transport/tokenResponse.ts";

function entry(bound: boolean): NormalizedEntry {
  return {
    index: 0,
    id: `clientCredentials[0] (Path /certs/app.pfx${bound ? ", bound" : ""})`,
    bound,
    skip: false,
    description: { sourceType: "Path", certificateDiskPath: "/certs/app.pfx" },
  };
}
const unbound = entry(false);
const bound = entry(true);

function entraAnswer(status: number, body: Record<string, unknown>) {
  return parseEntraError({ status, headers: {}, body: JSON.stringify(body) }, "login.example");
}

describe("classifyFailure", () => {
  test("a source that cannot be had is unavailable, with its reason", () => {
    const f = classifyFailure(unbound, new SourceUnavailableError("the file /certs/app.pfx does not exist"), CLIENT_CREDENTIALS);
    assert.equal(f.outcome, "unavailable");
    assert.equal(f.code, "BCC_SOURCE_UNAVAILABLE");
    assert.equal(f.reason, "the file /certs/app.pfx does not exist.");
  });

  test("an unreachable host makes the entry unavailable; the login host timing out stops the list, the mTLS host timing out does not", () => {
    const connect = new TransportError("connect", "login.example", "Could not connect to login.example.");
    assert.deepEqual([classifyFailure(unbound, connect).outcome, classifyFailure(unbound, connect).code], ["unavailable", "BCC_CONNECT_FAILED"]);
    assert.equal(classifyFailure(bound, connect).outcome, "unavailable");
    const timeout = new TransportError("timeout", "mtlsauth.example", "The request timed out.");
    assert.deepEqual([classifyFailure(unbound, timeout).outcome, classifyFailure(unbound, timeout).code], ["stop", "BCC_TIMEOUT"]);
    assert.equal(classifyFailure(bound, timeout).outcome, "unavailable");
    const tls = new TransportError("tls", "mtlsauth.example", "The TLS handshake failed.");
    assert.equal(classifyFailure(bound, tls).code, "BCC_TLS_FAILED");
  });

  test("an abort stops the list, whether our transport or the signal raised it", () => {
    const transport = classifyFailure(unbound, new TransportError("aborted", "login.example", "aborted"));
    assert.deepEqual([transport.outcome, transport.code], ["stop", "BCC_ABORTED"]);
    const signal = classifyFailure(unbound, new DOMException("The operation was aborted.", "AbortError"));
    assert.deepEqual([signal.outcome, signal.code, signal.reason], ["stop", "BCC_ABORTED", "the request was aborted."]);
  });

  test("msal-node's network_error is read through to our transport error it wraps", () => {
    const wrapped = new Error("network_error", { cause: new TransportError("connect", "login.example", "refused") });
    assert.equal(classifyFailure(unbound, wrapped).code, "BCC_CONNECT_FAILED");
  });

  test("Entra's AADSTS codes decide: a bad credential is rejected with its remedy, a wrong request stops", () => {
    const badSecret = classifyFailure(unbound, entraAnswer(401, { error: "invalid_client", error_description: "AADSTS7000215: Invalid client secret provided.", error_codes: [7000215] }));
    assert.equal(badSecret.outcome, "rejected");
    assert.equal(badSecret.code, "BCC_ENTRA_ERROR");
    assert.equal(badSecret.aadsts, 7000215);
    assert.equal(badSecret.statusCode, 401);
    assert.match(badSecret.reason, /^AADSTS7000215 \(HTTP 401\): AADSTS7000215: Invalid client secret provided\. The client secret is wrong/);
    const badScope = classifyFailure(unbound, entraAnswer(400, { error: "invalid_scope", error_description: "AADSTS70011: bad scope", error_codes: [70011] }));
    assert.equal(badScope.outcome, "stop");
    const notEnabled = classifyFailure(bound, entraAnswer(400, { error: "invalid_request", error_description: "AADSTS51000: no mTLS", error_codes: [51000] }));
    assert.equal(notEnabled.outcome, "unavailable");
  });

  test("without a known code: 5xx and 429 stop (Entra is failing), invalid_client is rejected, the rest stop", () => {
    assert.equal(classifyFailure(unbound, entraAnswer(503, { error: "temporarily_unavailable", error_description: "busy" })).outcome, "stop");
    assert.match(classifyFailure(unbound, entraAnswer(429, { error: "throttled", error_description: "slow down" })).reason, /try again later/);
    assert.equal(classifyFailure(unbound, entraAnswer(401, { error: "invalid_client", error_description: "no" })).outcome, "rejected");
    assert.equal(classifyFailure(unbound, entraAnswer(400, { error: "invalid_request", error_description: "no" })).outcome, "stop");
  });

  test("msal-node's ServerError: the AADSTS number from errorNo, the description without msal's wrapping", () => {
    const error = new ServerError(
      "invalid_client",
      "corr",
      "Error(s): 7000215 - Timestamp: 2026-01-01 - Description: AADSTS7000215: Invalid client secret provided. - Trace ID: x - Correlation ID: y",
      undefined,
      "7000215",
      401,
    );
    const f = classifyFailure(unbound, error);
    assert.equal(f.outcome, "rejected");
    assert.equal(f.aadsts, 7000215);
    assert.equal(f.statusCode, 401);
    assert.match(f.reason, /^AADSTS7000215 \(HTTP 401\): AADSTS7000215: Invalid client secret provided\. The client secret/);
    assert.doesNotMatch(f.reason, /Trace ID/);
  });

  test("a token of another type, an invalid token response, a host without mTLS, anything else: the list stops, each with its code", () => {
    assert.equal(classifyFailure(bound, new UnexpectedTokenTypeError("mtls_pop", "mtlsauth.example")).code, "BCC_UNEXPECTED_TOKEN_TYPE");
    assert.equal(classifyFailure(bound, new TokenResponseError("expires_in", "expires_in is missing")).code, "BCC_INVALID_TOKEN_RESPONSE");
    assert.equal(classifyFailure(bound, new MtlsEndpointUnsupportedError("no mTLS here", undefined)).code, "BCC_MTLS_ENDPOINT_UNSUPPORTED");
    const other = classifyFailure(unbound, "a string was thrown");
    assert.deepEqual([other.outcome, other.code, other.reason], ["stop", "BCC_UNEXPECTED_ERROR", "a string was thrown."]);
  });

  test("a very long first line of a description is cut, and only the first line is kept", () => {
    const f = classifyFailure(unbound, entraAnswer(400, { error: "invalid_request", error_description: `${"x".repeat(500)}\nsecond line` }));
    assert.ok(f.reason.length < 400, `${f.reason.length}`);
    assert.doesNotMatch(f.reason, /second line/);
  });
});
