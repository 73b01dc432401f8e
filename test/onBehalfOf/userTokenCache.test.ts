// The pieces of the users' token cache, directly: the key never names the token, and the store
// drops the least recently used users beyond its bound.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { onBehalfOfKind, userAssertionHash } from "../../src/acquisition/onBehalfOf/userAssertion.ts";
import { grantFields } from "../../src/acquisition/onBehalfOf/grant.ts";
import { cacheKey } from "../../src/cache/tokenCache.ts";
import { MemoryTokenStore } from "../../src/cache/tokenStore.ts";

const JWT = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJjYW5hcnkifQ.c2lnbmF0dXJlLWNhbmFyeQ";

test("the user's key is the SHA-256 of the token, and names nothing of it", () => {
  const kind = onBehalfOfKind(JWT, "test");
  assert.equal(kind.userAssertionHash, createHash("sha256").update(JWT).digest("base64url"));
  assert.equal(kind.userAssertionHash, userAssertionHash(JWT));
  const key = cacheKey({ tenantId: "t", scopes: ["s"], enableCae: false, userAssertionHash: kind.userAssertionHash });
  for (const part of JWT.split(".")) assert.ok(!key.includes(part));
  assert.notEqual(key, cacheKey({ tenantId: "t", scopes: ["s"], enableCae: false }), "a user's token never serves app calls");
  assert.notEqual(key, cacheKey({ tenantId: "t", scopes: ["s"], enableCae: false, userAssertionHash: userAssertionHash(`${JWT}x`) }));
  assert.equal(JSON.stringify(kind).includes("signature"), false);
  assert.equal(JSON.stringify(kind).includes(JWT), false);
});

test("grant fields: client credentials, and On-Behalf-Of with the assertion revealed only there", () => {
  assert.deepEqual(grantFields({ grant: "client_credentials" }), { grant_type: "client_credentials", client_info: "2" });
  assert.deepEqual(grantFields(onBehalfOfKind(JWT, "test")), {
    grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
    requested_token_use: "on_behalf_of",
    assertion: JWT,
    client_info: "1",
  });
});

test("the store keeps at most maxEntries, dropping the least recently used", () => {
  const store = new MemoryTokenStore(() => 0, { maxEntries: 3 });
  const token = (name: string) => ({ token: name, expiresOnTimestamp: 10_000, refreshAfterTimestamp: 5_000 });
  for (const name of ["a", "b", "c"]) store.set(name, token(name));
  assert.equal(store.get("a")?.token, "a"); // a is now the most recently used
  store.set("d", token("d"));
  assert.equal(store.size, 3);
  assert.equal(store.get("b"), undefined, "b was the least recently used");
  assert.deepEqual(["a", "c", "d"].map((name) => store.get(name)?.token), ["a", "c", "d"]);
  for (let i = 0; i < 1000; i++) store.set(`user-${i}`, token(`user-${i}`));
  assert.equal(store.size, 3);
  const unbounded = new MemoryTokenStore(() => 0);
  for (let i = 0; i < 100; i++) unbounded.set(`k${i}`, token("x"));
  assert.equal(unbounded.size, 100);
});
