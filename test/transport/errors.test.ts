import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fromUndiciError, hostOf, TransportError, type TransportErrorKind } from "../../src/transport/errors.ts";

const URL_ = "https://mtlsauth.example.test:8443/tenant/oauth2/v2.0/token";
const withCode = (code: string, message = `failure ${code}`): Error => Object.assign(new Error(message), { code });

describe("fromUndiciError", () => {
  const table: [string, unknown, TransportErrorKind][] = [
    ["ECONNREFUSED", withCode("ECONNREFUSED"), "connect"],
    ["ENOTFOUND", withCode("ENOTFOUND"), "connect"],
    ["EAI_AGAIN", withCode("EAI_AGAIN"), "connect"],
    ["EHOSTUNREACH", withCode("EHOSTUNREACH"), "connect"],
    ["ENETUNREACH", withCode("ENETUNREACH"), "connect"],
    ["ETIMEDOUT", withCode("ETIMEDOUT"), "connect"],
    ["UND_ERR_CONNECT_TIMEOUT", Object.assign(withCode("UND_ERR_CONNECT_TIMEOUT"), { name: "ConnectTimeoutError" }), "connect"],
    ["ECONNRESET", withCode("ECONNRESET"), "reset"],
    ["EPIPE", withCode("EPIPE"), "reset"],
    ["UND_ERR_SOCKET", Object.assign(withCode("UND_ERR_SOCKET", "other side closed"), { name: "SocketError" }), "reset"],
    ["ERR_TLS_CERT_ALTNAME_INVALID", withCode("ERR_TLS_CERT_ALTNAME_INVALID"), "tls"],
    ["ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE", withCode("ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE"), "tls"],
    ["ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", withCode("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"), "tls"],
    ["CERT_HAS_EXPIRED", withCode("CERT_HAS_EXPIRED"), "tls"],
    ["SELF_SIGNED_CERT_IN_CHAIN", withCode("SELF_SIGNED_CERT_IN_CHAIN"), "tls"],
    ["DEPTH_ZERO_SELF_SIGNED_CERT", withCode("DEPTH_ZERO_SELF_SIGNED_CERT"), "tls"],
    ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", withCode("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), "tls"],
    ["UNABLE_TO_GET_ISSUER_CERT_LOCALLY", withCode("UNABLE_TO_GET_ISSUER_CERT_LOCALLY"), "tls"],
    ["UND_ERR_HEADERS_TIMEOUT", withCode("UND_ERR_HEADERS_TIMEOUT"), "timeout"],
    ["UND_ERR_BODY_TIMEOUT", withCode("UND_ERR_BODY_TIMEOUT"), "timeout"],
    ["HEADERS_TIMEOUT (Node's pool)", withCode("HEADERS_TIMEOUT"), "timeout"],
    ["BODY_TIMEOUT (Node's pool)", withCode("BODY_TIMEOUT"), "timeout"],
    ["CONNECT_TIMEOUT (Node's pool)", withCode("CONNECT_TIMEOUT"), "connect"],
    ["TimeoutError DOMException", new DOMException("The operation was aborted due to timeout", "TimeoutError"), "timeout"],
    ["AbortError DOMException", new DOMException("This operation was aborted", "AbortError"), "aborted"],
    ["UND_ERR_ABORTED", Object.assign(withCode("UND_ERR_ABORTED"), { name: "AbortError" }), "aborted"],
    ["UND_ERR_RES_EXCEEDED_MAX_SIZE", withCode("UND_ERR_RES_EXCEEDED_MAX_SIZE"), "body-too-large"],
    ["HPE_INVALID_CONSTANT", Object.assign(withCode("HPE_INVALID_CONSTANT"), { name: "HTTPParserError" }), "protocol"],
    ["HTTPParserError without code", Object.assign(new Error("bad"), { name: "HTTPParserError" }), "protocol"],
    ["UND_ERR_HEADERS_OVERFLOW", withCode("UND_ERR_HEADERS_OVERFLOW"), "protocol"],
    ["an unknown code", withCode("E_SOMETHING_NEW"), "protocol"],
    ["a plain Error", new Error("odd"), "protocol"],
    ["a string", "odd", "protocol"],
    ["undefined", undefined, "protocol"],
    ["a code in the cause chain", Object.assign(new Error("fetch failed"), { cause: withCode("ECONNREFUSED") }), "connect"],
    ["a generic undici code with a specific cause", Object.assign(withCode("UND_ERR"), { cause: withCode("ECONNRESET") }), "reset"],
    ["happy eyeballs AggregateError", new AggregateError([withCode("ECONNREFUSED"), withCode("ECONNREFUSED")], ""), "connect"],
  ];
  for (const [name, error, kind] of table) {
    test(`${name} → ${kind}`, () => {
      const mapped = fromUndiciError(error, URL_);
      assert.ok(mapped instanceof TransportError);
      assert.equal(mapped.kind, kind);
      assert.equal(mapped.host, "mtlsauth.example.test:8443");
      assert.ok(mapped.message.includes("mtlsauth.example.test:8443"), mapped.message);
      assert.equal(mapped.name, "TransportError");
      if (error !== undefined) assert.equal(mapped.cause, error);
    });
  }

  test("a TransportError is returned as it is", () => {
    const original = new TransportError("tls", "h", "m");
    assert.equal(fromUndiciError(original, URL_), original);
  });

  test("messages say what happened in words", () => {
    assert.match(fromUndiciError(withCode("ECONNREFUSED"), URL_).message, /connection was refused \(ECONNREFUSED\)/);
    assert.match(fromUndiciError(withCode("SELF_SIGNED_CERT_IN_CHAIN"), URL_).message, /not trusted/);
    assert.match(fromUndiciError(withCode("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"), URL_).message, /client certificate/);
    assert.match(fromUndiciError(withCode("CERT_HAS_EXPIRED"), URL_).message, /expired/);
  });

  test("hostOf", () => {
    assert.equal(hostOf("http://169.254.169.254/metadata"), "169.254.169.254");
    assert.equal(hostOf(new URL("https://a.example:1/")), "a.example:1");
    assert.equal(hostOf("not a url"), "not a url");
  });
});
