/**
 * What `npm pack` would publish: the built code, its declarations, the README, LICENSE and
 * CHANGELOG, and nothing that points at files left out (no source maps into `src/`, which is not
 * shipped). Every export target a consumer's conditions reach, and the bin, are in the package.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");
const built = existsSync(resolve(ROOT, "dist/esm/index.js")) && existsSync(resolve(ROOT, "dist/commonjs/index.js"));
/** Selects the repository's own sources; no consumer sets it. */
const SOURCE_CONDITION = "bound-client-credential-source";

function packedFiles(): string[] {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const out = execFileSync(npm, ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const [pack] = JSON.parse(out) as [{ files: { path: string }[] }];
  return pack.files.map((file) => file.path);
}

/** Every file path an `exports` tree names, except under the sources' own condition. */
function targets(node: unknown): string[] {
  if (typeof node === "string") return [node];
  if (node === null || typeof node !== "object") return [];
  return Object.entries(node).flatMap(([key, value]) => (key === SOURCE_CONDITION ? [] : targets(value)));
}

describe("package contents", { skip: built ? false : "the package is not built (npm run build)" }, () => {
  const files = built ? packedFiles() : [];

  test("only dist/ and the documents a package owes its users", () => {
    assert.ok(files.length > 50, `only ${files.length} files`);
    const others = files.filter((file) => !file.startsWith("dist/")).sort();
    assert.deepEqual(others, ["CHANGELOG.md", "LICENSE", "README.md", "package.json"]);
    assert.match(readFileSync(resolve(ROOT, "LICENSE"), "utf8"), /^MIT License/);
  });

  test("no source maps, and no shipped file names one", () => {
    assert.deepEqual(files.filter((file) => file.endsWith(".map")), []);
    const naming = files
      .filter((file) => /\.(c|m)?js$|\.d\.ts$/.test(file))
      .filter((file) => /sourceMappingURL=/.test(readFileSync(resolve(ROOT, file), "utf8")));
    assert.deepEqual(naming, []);
  });

  test("every export target and the bin are in the package", () => {
    const manifest = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { exports: unknown; bin: Record<string, string>; main: string; types: string };
    const wanted = [...targets(manifest.exports), ...Object.values(manifest.bin), manifest.main, manifest.types].map((target) => target.replace(/^\.\//, ""));
    assert.ok(wanted.length >= 8);
    const shipped = new Set(files);
    assert.deepEqual(wanted.filter((target) => !shipped.has(target)), []);
  });
});
