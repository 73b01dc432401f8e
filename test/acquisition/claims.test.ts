import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildClaimsParameter, capabilitiesFor } from "../../src/acquisition/claims.ts";

describe("buildClaimsParameter", () => {
  test("nothing to send: undefined", () => {
    assert.equal(buildClaimsParameter(undefined, []), undefined);
  });

  test("capabilities alone, as MSAL sends them", () => {
    assert.equal(buildClaimsParameter(undefined, ["cp1"]), '{"access_token":{"xms_cc":{"values":["cp1"]}}}');
  });

  test("a challenge alone is passed on as it is (re-serialised)", () => {
    const challenge = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}';
    assert.deepEqual(JSON.parse(buildClaimsParameter(challenge, []) ?? ""), JSON.parse(challenge));
  });

  test("a challenge and capabilities are merged: the challenge's access_token claims keep, xms_cc is added", () => {
    const merged = JSON.parse(buildClaimsParameter('{"access_token":{"nbf":{"essential":true}},"id_token":{"x":1}}', ["cp1", "llt"]) ?? "");
    assert.deepEqual(merged, { access_token: { nbf: { essential: true }, xms_cc: { values: ["cp1", "llt"] } }, id_token: { x: 1 } });
  });

  test("an empty or blank challenge counts as none", () => {
    assert.equal(buildClaimsParameter("  ", ["cp1"]), '{"access_token":{"xms_cc":{"values":["cp1"]}}}');
  });

  test("a challenge that is not a JSON object is refused with what to pass", () => {
    assert.throws(() => buildClaimsParameter("not json", []), (e: unknown) => e instanceof TypeError && /not valid JSON/.test(e.message));
    assert.throws(() => buildClaimsParameter("[1]", []), /must be a JSON object/);
    assert.throws(() => buildClaimsParameter("null", []), /must be a JSON object/);
  });
});

describe("capabilitiesFor", () => {
  test("CAE adds cp1 once", () => {
    assert.deepEqual(capabilitiesFor([], true), ["cp1"]);
    assert.deepEqual(capabilitiesFor(["cp1"], true), ["cp1"]);
    assert.deepEqual(capabilitiesFor(["llt"], true), ["llt", "cp1"]);
  });
  test("without CAE the configured capabilities are used as they are", () => {
    const configured = ["llt"];
    assert.equal(capabilitiesFor(configured, false), configured);
  });
});
