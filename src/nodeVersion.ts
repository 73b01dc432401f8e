/**
 * The Node.js versions this package runs on, checked before anything else is loaded: below them a
 * dependency would fail at import with an error that names neither Node nor the version needed
 * (the Azure SDK packages need 22; `require()` of the ES-module-only `jose` from the CommonJS build
 * needs 22.12, where `require(esm)` is on by default). The entry points import this module first.
 */

/** The oldest supported Node.js release; `engines.node` in package.json says the same. */
export const MINIMUM_NODE_VERSION = "22.12.0";

/**
 * The one-sentence reason this Node.js cannot run the package, or `undefined` when it can.
 *
 * @param version - a Node.js version such as `22.12.0` or `v20.18.1`
 */
export function unsupportedNodeVersion(version: string): string | undefined {
  const have = version.replace(/^v/, "").split(".").map((part) => Number.parseInt(part, 10));
  const need = MINIMUM_NODE_VERSION.split(".").map(Number);
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0;
    const b = need[i]!;
    if (Number.isNaN(a) || a < b) {
      return `bound-client-credential requires Node.js ${MINIMUM_NODE_VERSION} or later, but this is Node.js ${version.replace(/^v/, "")}.`;
    }
    if (a > b) return undefined;
  }
  return undefined;
}

// Only where there is a Node.js to check (a bundler targeting another runtime has no process.versions.node).
const running = typeof process === "object" && process !== null ? process.versions?.node : undefined;
const reason = typeof running === "string" ? unsupportedNodeVersion(running) : undefined;
if (reason !== undefined) throw new Error(reason);
