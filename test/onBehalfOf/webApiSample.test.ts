// The web API sample runs against the emulator and Azurite: two users, two calls each, one bad
// caller. Storage accepted the users' tokens the API obtained over mutual TLS; nothing prints a token.
import assert from "node:assert/strict";
import { test } from "node:test";
import { resolvePackageToSources } from "../helpers/sourceCondition.ts";

resolvePackageToSources();
const { main } = await import("../../samples/web-api-obo-bound.ts");

const JWT = /eyJ[\w-]+\.eyJ[\w-]+\./;

test("web-api-obo-bound: On-Behalf-Of with a bound certificate, blobs written per user in Azurite", async () => {
  const lines: string[] = [];
  const result = await main({ env: {}, print: (line) => lines.push(line) });
  assert.equal(result.mode, "emulator");
  const [ada1, ada2, grace1, grace2, bad, ...rest] = result.calls;
  assert.equal(rest.length, 0);
  for (const call of [ada1, ada2, grace1, grace2]) assert.equal(call?.status, 200, call?.error);
  assert.equal(ada1?.user, ada2?.user);
  assert.notEqual(ada1?.user, grace1?.user);
  assert.equal(ada1?.blob, `user-${ada1?.user?.slice(0, 8)}/hello.txt`);
  assert.equal(grace2?.blob, `user-${grace1?.user?.slice(0, 8)}/hello.txt`);
  assert.equal(bad?.status, 401);
  // One On-Behalf-Of request per user, over mutual TLS; the second call of each user is a cache hit.
  assert.deepEqual(result.tokenRequests, { mtls: 2, login: 0 });
  assert.doesNotMatch(lines.join("\n"), JWT);
  assert.doesNotMatch(JSON.stringify(result), JWT);
});
