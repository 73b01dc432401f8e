/**
 * The built package as a user loads it, by its own name (Node resolves a package's self-reference
 * through its `exports`): ESM and CommonJS, the main entry and the emulator subpath. CI builds
 * before it tests; a bare `npm test` without a build skips these with that reason.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { describe, test } from "node:test";

const built = existsSync(resolve(import.meta.dirname, "../../dist/esm/index.js")) && existsSync(resolve(import.meta.dirname, "../../dist/commonjs/index.js"));
const skip = built ? false : "the package is not built (npm run build)";
const require = createRequire(import.meta.url);
/** Imported by a computed name, so type-checking does not depend on a build being there. */
const load = (specifier: string): Promise<Record<string, unknown>> => import(specifier) as Promise<Record<string, unknown>>;

describe("package exports", { skip }, () => {
  test("ESM: the main entry exports the credential and its error class, and nothing internal", async () => {
    const main = await load("bound-client-credential");
    assert.equal(typeof main["BoundClientCredential"], "function");
    assert.equal(typeof main["BoundCredentialConfigurationError"], "function");
    assert.equal("withInternalHooks" in main, false);
    assert.equal("createRuntime" in main, false);
    assert.equal("startEmulator" in main, false, "the emulator is a subpath of its own");
  });

  test("ESM: the emulator subpath", async () => {
    const emulator = await load("bound-client-credential/emulator");
    assert.equal(typeof emulator["startEmulator"], "function");
  });

  test("CommonJS: require() of both entries gives the same API", () => {
    const main = require("bound-client-credential") as Record<string, unknown>;
    const emulator = require("bound-client-credential/emulator") as Record<string, unknown>;
    assert.equal(typeof main["BoundClientCredential"], "function");
    assert.equal(typeof emulator["startEmulator"], "function");
  });

  test("CommonJS: a credential constructed from the CommonJS build validates its options", () => {
    const main = require("bound-client-credential") as { BoundClientCredential: new (options: unknown) => unknown };
    assert.throws(
      () => new main.BoundClientCredential({ tenantId: "contoso.onmicrosoft.com", clientId: "app", clientCredentials: {} }),
      (e: unknown) => e instanceof TypeError && (e as { code?: string }).code === "BCC_CREDENTIALS_NOT_ARRAY",
    );
  });

  test("the bin entry is built and executable", () => {
    assert.ok(existsSync(resolve(import.meta.dirname, "../../dist/esm/cli/main.js")));
  });
});
