/**
 * Imports go one way. The credential (`boundClientCredential.ts`) is the only place where the
 * layers meet: configuration and sources ← acquisition ← the credential, with the token cache beside
 * acquisition. Configuration reads entries through the source registry (`sources/index.ts`), and
 * the sources use configuration's checks and types; no module reaches back into the module that
 * reaches it (the runtime import graph has no cycle). Transport is the bottom layer: any of them
 * may use it, and it imports none of them. The emulator is a separate product that imports nothing
 * of the library, not even its constants, so a bug in one cannot hide the same bug in the other.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../../src");
const SHARED = ["abortable.ts", "constants.ts", "dependencies.ts", "errors.ts", "logging.ts", "nodeVersion.ts", "text.ts", "tracing.ts"];

/** For each area, the areas its modules may import (besides itself and the shared modules). */
const ALLOWED: Record<string, readonly string[]> = {
  transport: [],
  // Configuration reads entries through the source registry and names the second-level store's interface.
  configuration: ["sources", "transport", "cache"],
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

/** The only modules of `sources/` that configuration may import: the registry and the descriptor contract. */
const SOURCE_GATES = ["sources/index.ts", "sources/descriptor.ts"];

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

interface Import {
  readonly target: string;
  /** `import type` / `export type`: erased from the JavaScript. */
  readonly typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const found: Import[] = [];
  for (const match of text.matchAll(/^\s*(import|export)\b(\s+type\b)?[^;]*?from\s+"(\.[^"]+)"/gms)) {
    found.push({ target: resolve(dirname(file), match[3] ?? ""), typeOnly: match[2] !== undefined });
  }
  for (const match of text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g)) {
    found.push({ target: resolve(dirname(file), match[1] ?? ""), typeOnly: false });
  }
  return found;
}

const files = [...sourceFiles(ROOT)];
const graph = new Map(files.map((file) => [file, importsOf(file)]));

test("every relative import respects the layers", () => {
  const violations: string[] = [];
  let checked = 0;
  for (const [file, imports] of graph) {
    const from = areaOf(file);
    for (const { target } of imports) {
      const to = areaOf(target);
      checked++;
      if (from === "emulator" && to !== "emulator") {
        violations.push(`${relative(ROOT, file)} (emulator) imports ${relative(ROOT, target)}: the emulator shares nothing with the library`);
        continue;
      }
      if (to === "emulator" && from !== "emulator" && from !== "cli") {
        violations.push(`${relative(ROOT, file)} imports the emulator`);
        continue;
      }
      if (to === from || to === "(shared)") continue;
      if (from === "(shared)") {
        violations.push(`${relative(ROOT, file)} (shared) imports ${relative(ROOT, target)}`);
        continue;
      }
      const allowed = ALLOWED[from] ?? [];
      if (!allowed.includes("*") && !allowed.includes(to)) {
        violations.push(`${relative(ROOT, file)} (${from}) imports ${relative(ROOT, target)} (${to})`);
      }
      if (from === "configuration" && to === "sources" && !SOURCE_GATES.includes(relative(ROOT, target))) {
        violations.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)}: configuration reaches sources through the registry only`);
      }
    }
  }
  assert.ok(checked > 100, `only ${checked} imports were read; the scan is broken`);
  assert.deepEqual(violations, []);
});

test("the runtime import graph has no cycle", () => {
  const state = new Map<string, "visiting" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, trail: string[]): void => {
    const seen = state.get(file);
    if (seen === "done") return;
    if (seen === "visiting") {
      cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => relative(ROOT, f)).join(" → "));
      return;
    }
    state.set(file, "visiting");
    for (const { target, typeOnly } of graph.get(file) ?? []) {
      if (!typeOnly && graph.has(target)) visit(target, [...trail, file]);
    }
    state.set(file, "done");
  };
  for (const file of files) visit(file, []);
  const typeOnly = [...graph.values()].flat().filter((i) => i.typeOnly).length;
  assert.ok(typeOnly > 10, `only ${typeOnly} type-only imports were recognised; the scan is broken`);
  assert.deepEqual(cycles, []);
});

test("the emulator defines its own constants", () => {
  const constants = join(ROOT, "emulator", "constants.ts");
  assert.ok(graph.has(constants), "src/emulator/constants.ts exists");
  const users = [...graph].filter(([, imports]) => imports.some((i) => i.target === constants)).map(([file]) => areaOf(file));
  assert.ok(users.length > 0 && users.every((area) => area === "emulator"), `used by: ${users.join(", ")}`);
});

test("no source file turns TLS verification off", () => {
  const offenders: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    if (/NODE_TLS_REJECT_UNAUTHORIZED/.test(text)) offenders.push(relative(ROOT, file));
    // Only a server may decline to verify its clients' chains (Entra authenticates client
    // certificates by registration, not by CA); a client never does.
    if (/rejectUnauthorized:\s*false/.test(text) && !/requestCert/.test(text)) offenders.push(relative(ROOT, file));
  }
  assert.deepEqual(offenders, []);
});

test("the library imports its heavy dependencies only through their loaders", () => {
  // The emulator and the CLI are entries of their own; the library's entry loads these on first use.
  const heavy = /^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s+"(undici|@azure\/msal-node|node-forge|@azure\/keyvault-secrets|jose|@peculiar\/x509|reflect-metadata|@azure\/identity)"|^\s*import\s+"(reflect-metadata|@peculiar\/x509)"/gm;
  const offenders: string[] = [];
  let scanned = 0;
  for (const file of files) {
    const area = areaOf(file);
    if (area === "emulator" || area === "cli") continue;
    scanned++;
    for (const match of readFileSync(file, "utf8").matchAll(heavy)) offenders.push(`${relative(ROOT, file)}: ${match[1] ?? match[2]}`);
  }
  assert.ok(scanned > 50, `only ${scanned} files were scanned`);
  assert.deepEqual(offenders, []);
});
