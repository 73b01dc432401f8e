// The pieces of the users' token cache, directly: the key never names the token, and the store
// drops the least recently used users beyond its bound.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { onBehalfOfKind, userAssertionHash } from "../../src/acquisition/onBehalfOf/userAssertion.ts";
import { grantFields } from "../../src/acquisition/bound/grants.ts";
import { cacheKey } from "../../src/cache/tokenCache.ts";

const JWT = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJjYW5hcnkifQ.c2lnbmF0dXJlLWNhbmFyeQ";

test("the user's key is the SHA-256 of the token, and names nothing of it", () => {
  const kind = onBehalfOfKind(JWT, "test");
  assert.equal(kind.userAssertionHash, createHash("sha256").update(JWT).digest("base64url"));
  assert.equal(kind.userAssertionHash, userAssertionHash(JWT));
  const base = { authorityHost: "https://login.example", tenantId: "t", clientId: "c", scopes: ["s"], enableCae: false };
  const key = cacheKey({ ...base, kind });
  for (const part of JWT.split(".")) assert.ok(!key.includes(part));
  assert.notEqual(key, cacheKey({ ...base, kind: { grant: "client_credentials" } }), "a user's token never serves app calls");
  assert.notEqual(key, cacheKey({ ...base, kind: { grant: "on_behalf_of", userAssertionHash: userAssertionHash(`${JWT}x`) } }));
  assert.equal(JSON.stringify(kind).includes("signature"), false);
  assert.equal(JSON.stringify(kind).includes(JWT), false);
});

test("grant fields: client credentials, and On-Behalf-Of with the assertion revealed only there", () => {
  assert.deepEqual(grantFields({ grant: "client_credentials" }), { grant_type: "client_credentials" });
  assert.deepEqual(grantFields(onBehalfOfKind(JWT, "test")), {
    grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
    requested_token_use: "on_behalf_of",
    assertion: JWT,
  });
});
