import { test } from "node:test";
import assert from "node:assert/strict";
import { closestMatch, editDistance, MAX_SUGGESTION_INPUT_LENGTH } from "../../src/configuration/suggest.ts";

test("suggests the closest candidate for a plausible typo, case-insensitively", () => {
  assert.equal(closestMatch("certificatePath", ["certificateDiskPath", "clientSecret"]), "certificateDiskPath");
  assert.equal(closestMatch("CLIENTSECRET", ["certificateDiskPath", "clientSecret"]), "clientSecret");
  assert.equal(closestMatch("zzz", ["certificateDiskPath", "clientSecret"]), undefined);
  assert.equal(editDistance("ab", "ba"), 1);
});

test("names longer than the limit get no suggestion, however close", () => {
  const long = "clientSecret" + "x".repeat(MAX_SUGGESTION_INPUT_LENGTH);
  assert.equal(closestMatch(long, [long]), undefined);
  const atLimit = "a".repeat(MAX_SUGGESTION_INPUT_LENGTH);
  assert.equal(closestMatch(atLimit, [atLimit]), atLimit);
});
