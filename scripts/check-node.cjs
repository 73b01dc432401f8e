// Runs before the npm scripts of this repository, which run the TypeScript sources directly: on a
// Node.js without type stripping they would fail with "Unknown file extension .ts". Plain
// CommonJS, so that any Node.js can run it and say what is needed instead.
"use strict";
const features = process.features || {};
if (!features.typescript) {
  process.stderr.write(
    `Node.js 22.18 or later is required to work on this repository (it runs the TypeScript sources directly); this is Node.js ${process.versions.node}.\n`,
  );
  process.exit(1);
}
