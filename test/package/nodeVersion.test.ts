/** The Node.js version guard that the entry points load first, and its agreement with engines.node. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { MINIMUM_NODE_VERSION, unsupportedNodeVersion } from "../../src/nodeVersion.ts";

const ROOT = resolve(import.meta.dirname, "../..");

test("engines.node in package.json is the guard's minimum", () => {
  const manifest = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
  assert.equal(manifest.engines.node, `>=${MINIMUM_NODE_VERSION}`);
});

test("older releases get one sentence naming the version needed; the minimum and later pass", () => {
  for (const version of ["20.18.1", "v22.11.0", "22.9.9", "18.20.4", "21.99.0"]) {
    const reason = unsupportedNodeVersion(version);
    assert.equal(reason, `bound-client-credential requires Node.js 22.12.0 or later, but this is Node.js ${version.replace(/^v/, "")}.`);
    assert.equal(reason?.split(". ").length, 1, "one sentence");
  }
  for (const version of ["22.12.0", "v22.12.0", "22.20.1", "23.0.0", "24.21.0", "26.1.0"]) {
    assert.equal(unsupportedNodeVersion(version), undefined, version);
  }
  assert.equal(unsupportedNodeVersion(process.versions.node), undefined, "the Node.js running the tests is supported");
});

test("each entry point loads the guard before anything else", () => {
  for (const [file, specifier] of [
    ["src/index.ts", "./nodeVersion.ts"],
    ["src/emulator/index.ts", "../nodeVersion.ts"],
    ["src/cli/main.ts", "../nodeVersion.ts"],
  ] as const) {
    const text = readFileSync(resolve(ROOT, file), "utf8");
    const first = /^(?:import|export)\b(?!\s+type\b)[^;]*?(?:from\s+)?"([^"]+)"/m.exec(text);
    assert.equal(first?.[1], specifier, `${file}: the first runtime import`);
  }
});
