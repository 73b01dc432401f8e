/**
 * Imports go one way. The credential (`boundClientCredential.ts`) is the only place where the
 * layers meet: configuration ← sources ← acquisition ← the credential, with the token cache beside
 * acquisition. Transport is the bottom layer: any of them may use it, and it imports none of them.
 * The emulator is a separate product that shares no code with the library it stands in for, so a
 * bug in one cannot hide the same bug in the other.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../../src");
const SHARED = ["abortable.ts", "constants.ts", "errors.ts", "logging.ts", "nodeVersion.ts", "tracing.ts"];

/** For each area, the areas its modules may import (besides itself and the shared modules). */
const ALLOWED: Record<string, readonly string[]> = {
  transport: [],
  // The options name the second-level token store's interface.
  configuration: ["transport", "cache"],
  // Sources keep what they read with the cache's single-flight primitive.
  sources: ["configuration", "transport", "cache"],
  cache: [],
  acquisition: ["configuration", "sources", "transport", "cache"],
  emulator: [],
  // The Redis store (a subpath of its own) implements the second-level contract of the cache.
  redis: ["cache"],
  cli: ["*"],
  "(top)": ["*"],
};

function areaOf(file: string): string {
  const rel = relative(ROOT, file);
  const first = rel.split("/")[0] ?? "";
  if (SHARED.includes(rel)) return "(shared)";
  return rel.includes("/") ? first : "(top)";
}

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

test("every relative import respects the layers", () => {
  const violations: string[] = [];
  let checked = 0;
  for (const file of sourceFiles(ROOT)) {
    const from = areaOf(file);
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"(\.[^"]+)"/gms)) {
      const target = resolve(dirname(file), match[1] ?? "");
      const to = areaOf(target);
      checked++;
      if (to === from || to === "(shared)") continue;
      if (from === "(shared)") {
        violations.push(`${relative(ROOT, file)} (shared) imports ${relative(ROOT, target)}`);
        continue;
      }
      const allowed = ALLOWED[from] ?? [];
      if (!allowed.includes("*") && !allowed.includes(to)) {
        violations.push(`${relative(ROOT, file)} (${from}) imports ${relative(ROOT, target)} (${to})`);
      }
      if (to === "emulator" && from !== "cli") violations.push(`${relative(ROOT, file)} imports the emulator`);
    }
  }
  assert.ok(checked > 100, `only ${checked} imports were read; the scan is broken`);
  assert.deepEqual(violations, []);
});

test("no source file turns TLS verification off", () => {
  const offenders: string[] = [];
  for (const file of sourceFiles(ROOT)) {
    const text = readFileSync(file, "utf8");
    if (/NODE_TLS_REJECT_UNAUTHORIZED/.test(text)) offenders.push(relative(ROOT, file));
    // Only a server may decline to verify its clients' chains (Entra authenticates client
    // certificates by registration, not by CA); a client never does.
    if (/rejectUnauthorized:\s*false/.test(text) && !/requestCert/.test(text)) offenders.push(relative(ROOT, file));
  }
  assert.deepEqual(offenders, []);
});
