/**
 * The built package as a user loads it, by its own name (Node resolves a package's self-reference
 * through its `exports`): ESM and CommonJS, the main entry and the emulator subpath, and the bin.
 * CI builds before it tests; without a build these tests fail and say so, rather than skip.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";

const ROOT = resolve(import.meta.dirname, "../..");
const require = createRequire(import.meta.url);
/** Imported by a computed name, so type-checking does not depend on a build being there. */
const load = (specifier: string): Promise<Record<string, unknown>> => import(specifier) as Promise<Record<string, unknown>>;

type ErrorClass = new (...args: never[]) => Error;
/** `instanceof` as a function, so that one check does not narrow the value for the next. */
const isInstance = (value: unknown, cls: ErrorClass): boolean => value instanceof cls;

describe("package exports", () => {
  test("the package is built (npm run build), as CI does before testing", () => {
    for (const file of ["dist/esm/index.js", "dist/commonjs/index.js", "dist/esm/emulator/index.js", "dist/esm/cli/main.js"]) {
      assert.ok(existsSync(resolve(ROOT, file)), `${file} is missing: run npm run build before npm test`);
    }
  });

  test("ESM: the main entry exports the credential and its error classes, and nothing internal", async () => {
    const main = await load("bound-client-credential");
    assert.equal(typeof main["BoundClientCredential"], "function");
    for (const name of ["BoundCredentialConfigurationError", "BoundCredentialError", "CredentialUnavailableError", "AuthenticationError"]) {
      assert.equal(typeof main[name], "function", name);
    }
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

  test("an error made by one build is an instanceof the other build's class, and of no unrelated one", async () => {
    const esm = await load("bound-client-credential");
    const cjs = require("bound-client-credential") as Record<string, unknown>;
    assert.notEqual(esm["BoundCredentialConfigurationError"], cjs["BoundCredentialConfigurationError"], "two copies of each class");
    const classOf = (build: Record<string, unknown>, name: string): ErrorClass => build[name] as ErrorClass;
    const made = {
      configuration: (build: Record<string, unknown>): unknown => {
        const Credential = build["BoundClientCredential"] as new (options: unknown) => unknown;
        try {
          new Credential({ tenantId: "contoso.onmicrosoft.com", clientId: "app", clientCredentials: {} });
        } catch (error) {
          return error;
        }
        return assert.fail("the options were accepted");
      },
      unavailable: (build: Record<string, unknown>): unknown => new (classOf(build, "CredentialUnavailableError") as unknown as new (m: string) => Error)("none"),
      authentication: (build: Record<string, unknown>): unknown =>
        new (classOf(build, "AuthenticationError") as unknown as new (s: number, b: object) => Error)(401, { error: "invalid_client", error_description: "no" }),
    };
    for (const [from, to] of [
      [esm, cjs],
      [cjs, esm],
    ] as const) {
      const configuration = made.configuration(from);
      assert.ok(isInstance(configuration, classOf(to, "BoundCredentialConfigurationError")));
      assert.ok(isInstance(configuration, classOf(to, "BoundCredentialError")));
      assert.ok(configuration instanceof TypeError);
      assert.ok(!(isInstance(configuration, classOf(to, "CredentialUnavailableError"))));
      const unavailable = made.unavailable(from);
      assert.ok(isInstance(unavailable, classOf(to, "CredentialUnavailableError")));
      assert.ok(isInstance(unavailable, classOf(to, "BoundCredentialError")));
      assert.ok(!(isInstance(unavailable, classOf(to, "AuthenticationError"))));
      assert.ok(!(isInstance(unavailable, classOf(to, "BoundCredentialConfigurationError"))));
      const authentication = made.authentication(from);
      assert.ok(isInstance(authentication, classOf(to, "AuthenticationError")));
      assert.ok(!(isInstance(authentication, classOf(to, "CredentialUnavailableError"))));
      const plain: unknown = new Error("plain");
      assert.ok(!(isInstance(plain, classOf(to, "BoundCredentialError"))));
    }
  });

  test("the bin runs: --help exits 0 and prints the usage", async () => {
    const bin = resolve(ROOT, (require("../../package.json") as { bin: Record<string, string> }).bin["bound-credential"] ?? "");
    const { stdout } = await promisify(execFile)(process.execPath, [bin, "--help"], { cwd: ROOT });
    assert.match(stdout, /bound-credential/);
    assert.match(stdout, /token/);
  });
});
