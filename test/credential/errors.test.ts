// The coded errors: our final errors against @azure/identity's own classes (same name, fields and
// message), the brand's instanceof and the codes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as identity from "@azure/identity";
import { UnexpectedTokenTypeError } from "../../src/acquisition/bound/mtlsAcquirer.ts";
import {
  AuthenticationError,
  BoundCredentialConfigurationError,
  BoundCredentialError,
  CredentialUnavailableError,
} from "../../src/errors.ts";
import { MtlsEndpointUnsupportedError } from "../../src/transport/endpoints.ts";

describe("final errors", () => {
  test("AuthenticationError has @azure/identity's name, fields and message", () => {
    const body = { error: "invalid_client", error_description: "AADSTS7000215: Invalid client secret.", error_codes: [7000215], correlation_id: "corr" };
    const ours = new AuthenticationError(401, body);
    const theirs = new identity.AuthenticationError(401, body);
    assert.equal(ours.name, theirs.name);
    assert.equal(ours.message, theirs.message);
    assert.equal(ours.statusCode, theirs.statusCode);
    assert.deepEqual(JSON.parse(JSON.stringify(ours.errorResponse)), JSON.parse(JSON.stringify(theirs.errorResponse)));
    assert.equal(ours.code, "BCC_AUTHENTICATION_FAILED");
    assert.deepEqual(ours.entries, []);
  });

  test("CredentialUnavailableError has @azure/identity's name and message", () => {
    const ours = new CredentialUnavailableError("nothing here");
    const theirs = new identity.CredentialUnavailableError("nothing here");
    assert.equal(ours.name, theirs.name);
    assert.equal(ours.message, theirs.message);
    assert.equal(ours.code, "BCC_CREDENTIAL_UNAVAILABLE");
  });

  test("instanceof: every error of the package is a BoundCredentialError; no class takes another's errors", () => {
    const unavailable: unknown = new CredentialUnavailableError("x");
    const authentication: unknown = new AuthenticationError(400, { error: "e", error_description: "d" });
    const configuration: unknown = new BoundCredentialConfigurationError("BCC_INVALID_VALUE", "p", "bad.", "fix.");
    const tokenType: unknown = new UnexpectedTokenTypeError("pop", "host");
    const mtls: unknown = new MtlsEndpointUnsupportedError("none", undefined);
    for (const error of [unavailable, authentication, configuration, tokenType, mtls]) assert.ok(error instanceof BoundCredentialError);
    assert.ok(!(unavailable instanceof AuthenticationError));
    assert.ok(!(authentication instanceof CredentialUnavailableError));
    assert.ok(!(unavailable instanceof UnexpectedTokenTypeError), "a subclass without a brand of its own is checked by prototype");
    assert.ok(!(mtls instanceof UnexpectedTokenTypeError));
    assert.ok(tokenType instanceof UnexpectedTokenTypeError);
    assert.ok(configuration instanceof TypeError);
    assert.ok(!(new Error("plain") instanceof BoundCredentialError));
    assert.equal((tokenType as UnexpectedTokenTypeError).code, "BCC_UNEXPECTED_TOKEN_TYPE");
    assert.equal((mtls as MtlsEndpointUnsupportedError).code, "BCC_MTLS_ENDPOINT_UNSUPPORTED");
  });

  test("a user's subclass of a final error does not claim the parent's errors", () => {
    class Mine extends CredentialUnavailableError {}
    const parent: unknown = new CredentialUnavailableError("x");
    assert.ok(!(parent instanceof Mine));
    assert.ok(new Mine("y") instanceof CredentialUnavailableError);
  });
});
