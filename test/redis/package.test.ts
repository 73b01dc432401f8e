/**
 * The `./redis` subpath as a user loads it from the built package, ESM and CommonJS; loading it
 * resolves nothing of `redis` (the application passes its own client), and the main entry does not
 * load the subpath.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { describe, test } from "node:test";

const root = resolve(import.meta.dirname, "../..");
const built = existsSync(resolve(root, "dist/esm/redis/index.js")) && existsSync(resolve(root, "dist/commonjs/redis/index.js"));
const skip = built ? false : "the package is not built (npm run build)";

/** The specifiers a fresh Node process resolves while it runs `body` (an ES module). */
function resolvedBy(body: string): string[] {
  const script = `
    import { registerHooks } from "node:module";
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { seen.push(specifier); return next(specifier, context); } });
    ${body}
    process.stdout.write(JSON.stringify(seen));`;
  return JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8" })) as string[];
}

describe("package subpath ./redis", { skip }, () => {
  test("ESM: createRedisTokenCache, and nothing of redis is resolved", () => {
    const seen = resolvedBy(`const m = await import("bound-client-credential/redis"); if (typeof m.createRedisTokenCache !== "function") throw new Error("missing export");`);
    assert.ok(seen.includes("bound-client-credential/redis"));
    assert.deepEqual(seen.filter((specifier) => /^(redis|@redis\/)/.test(specifier)), []);
  });

  test("the main entry does not load the Redis store", () => {
    const seen = resolvedBy(`await import("bound-client-credential");`);
    assert.deepEqual(seen.filter((specifier) => /redis/i.test(specifier)), []);
  });

  test("CommonJS: require() gives the same API and loads nothing of redis", () => {
    const require = createRequire(resolve(root, "package.json"));
    const redisStore = require("bound-client-credential/redis") as Record<string, unknown>;
    assert.equal(typeof redisStore["createRedisTokenCache"], "function");
    const loaded = Object.keys(require.cache).filter((path) => /node_modules[\\/](redis|@redis)[\\/]/.test(path));
    assert.deepEqual(loaded, []);
  });
});
