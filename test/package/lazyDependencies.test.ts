/**
 * Importing the package loads none of its heavy dependencies and changes no global: each is loaded
 * when a configuration first uses it (src/dependencies.ts), and package.json declares the entry
 * free of side effects. Each check runs in a new Node.js process that records every module it
 * loads with a `module.registerHooks` load hook (it sees `import` and `require` alike), for the
 * sources and for both builds. The same process then loads two of those dependencies itself, so
 * a hook that saw nothing, or a global check that cannot see a global, fails the test.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, test } from "node:test";
import { promisify } from "node:util";

const ROOT = resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

/** The dependencies that only some configurations use. */
const HEAVY = ["undici", "@azure/msal-node", "@azure/msal-common", "node-forge", "@azure/keyvault-secrets", "jose", "@peculiar/x509", "reflect-metadata", "@azure/identity"];

interface Observation {
  /** Packages (by node_modules name) loaded by the import and the credential's constructor. */
  readonly packages: string[];
  /** Own properties that the import added to `globalThis` and to `Reflect`. */
  readonly newGlobals: string[];
  readonly reflectGetMetadata: string;
  /** The control: packages and `Reflect.getMetadata` after importing msal-node and reflect-metadata directly. */
  readonly controlPackages: string[];
  readonly controlReflectGetMetadata: string;
}

/** The child: `how` is "import" or "require", `entry` the file URL of the entry. */
const CHILD = String.raw`
import { registerHooks, createRequire } from "node:module";
const loaded = new Set();
registerHooks({ load(url, context, next) { loaded.add(url); return next(url, context); } });
const packagesOf = () => [...new Set([...loaded].map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter(Boolean))].sort();
const globalsBefore = new Set([...Object.getOwnPropertyNames(globalThis), ...Reflect.ownKeys(Reflect).map((k) => "Reflect." + String(k))]);
const [how, entry] = process.argv.slice(1);
const main = how === "require" ? createRequire(import.meta.url)(new URL(entry).pathname) : await import(entry);
new main.BoundClientCredential({ tenantId: "contoso.onmicrosoft.com", clientId: "00000000-0000-0000-0000-000000000001", clientCredentials: [{ sourceType: "ClientSecret", clientSecret: "not-a-secret" }, { sourceType: "Path", certificateDiskPath: "/nonexistent/app.pfx", useBoundCredential: true }] });
const packages = packagesOf();
const newGlobals = [...Object.getOwnPropertyNames(globalThis), ...Reflect.ownKeys(Reflect).map((k) => "Reflect." + String(k))].filter((k) => !globalsBefore.has(k));
const reflectGetMetadata = typeof Reflect.getMetadata;
const local = createRequire(new URL(entry));
await import(pathToFileURL(local.resolve("@azure/msal-node")).href);
local("reflect-metadata");
process.stdout.write(JSON.stringify({ packages, newGlobals, reflectGetMetadata, controlPackages: packagesOf(), controlReflectGetMetadata: typeof Reflect.getMetadata }));
`;

async function observe(how: "import" | "require", entry: string): Promise<Observation> {
  const source = `import { pathToFileURL } from "node:url";\n${CHILD}`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", source, how, pathToFileURL(resolve(ROOT, entry)).href], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: "" },
    timeout: 60_000,
  });
  return JSON.parse(stdout) as Observation;
}

function assertLean(observation: Observation): void {
  // The control first: the hook sees a package loaded later, and the global check sees a global.
  assert.ok(observation.controlPackages.includes("@azure/msal-node"), `the load hook saw: ${observation.controlPackages.join(", ")}`);
  assert.equal(observation.controlReflectGetMetadata, "function");
  const heavy = observation.packages.filter((name) => HEAVY.includes(name));
  assert.deepEqual(heavy, [], `loaded by the import and a constructor: ${observation.packages.join(", ")}`);
  assert.equal(observation.reflectGetMetadata, "undefined");
  assert.deepEqual(observation.newGlobals, []);
}

describe("importing the package", () => {
  test("from the sources: no heavy dependency is loaded and no global is defined", async () => {
    assertLean(await observe("import", "src/index.ts"));
  });

  for (const [how, entry] of [
    ["import", "dist/esm/index.js"],
    ["require", "dist/commonjs/index.js"],
  ] as const) {
    test(`${how}() of ${entry}: no heavy dependency is loaded and no global is defined`, async () => {
      assert.ok(existsSync(resolve(ROOT, entry)), `${entry} is missing: run npm run build before npm test`);
      assertLean(await observe(how, entry));
    });
  }
});
