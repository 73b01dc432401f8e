/**
 * A PKCS#11 module that hangs or crashes costs the entry, never the application: its calls run in
 * the entry's own process, which a timeout kills. The modules are built here with the C compiler
 * that builds pkcs11js; without one (and outside CI) the tests are skipped with that reason.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { loadBinding, Pkcs11Session } from "../../../src/sources/pkcs11/session.ts";
import { SourceUnavailableError } from "../../../src/sources/types.ts";

const run = promisify(execFile);

/** A module whose C_Initialize does `behaviour`; every other function answers CKR_FUNCTION_NOT_SUPPORTED. */
const moduleSource = (behaviour: string): string => `
#include <stdlib.h>
#include <unistd.h>
typedef unsigned long CK_RV;
static CK_RV initialize(void *args) { (void)args; ${behaviour}; return 0; }
static CK_RV not_supported(void) { return 0x54; }
static struct { unsigned char major, minor; void *functions[68]; } list;
CK_RV C_GetFunctionList(void **out) {
  list.major = 2; list.minor = 40;
  for (int i = 0; i < 68; i++) list.functions[i] = (void *)not_supported;
  list.functions[0] = (void *)initialize;
  *out = &list;
  return 0;
}
`;

async function skipReason(): Promise<string | false> {
  if (process.env["CI"] !== undefined && process.env["CI"] !== "" && process.env["CI"] !== "false") return false;
  try {
    await run("cc", ["--version"]);
  } catch {
    return "no C compiler (cc) to build the misbehaving modules";
  }
  try {
    await loadBinding();
  } catch {
    return "the optional dependency pkcs11js is not installed";
  }
  return false;
}

describe("a PKCS#11 module that misbehaves", { skip: await skipReason() }, () => {
  let dir: string;
  let hanging: string;
  let crashing: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "bcc-modules-"));
    hanging = join(dir, "hanging.so");
    crashing = join(dir, "crashing.so");
    await writeFile(join(dir, "hanging.c"), moduleSource("for (;;) sleep(3600)"));
    await writeFile(join(dir, "crashing.c"), moduleSource("abort()"));
    await run("cc", ["-shared", "-fPIC", "-o", hanging, join(dir, "hanging.c")]);
    await run("cc", ["-shared", "-fPIC", "-o", crashing, join(dir, "crashing.c")]);
  });

  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test("a hanging C_Initialize: the open times out, the event loop keeps running, and the process can exit", async () => {
    const session = new Pkcs11Session(await loadBinding(), hanging, { openMs: 1_000, signMs: 1_000 });
    let ticks = 0;
    const interval = setInterval(() => ticks++, 50);
    const started = performance.now();
    const error: unknown = await session.open({ object: "k" }, undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    clearInterval(interval);
    assert.ok(error instanceof SourceUnavailableError);
    assert.match(error.reason, /did not open the session within 1 s/);
    assert.ok(performance.now() - started < 5_000);
    assert.ok(ticks >= 10, `the event loop ran meanwhile (${ticks} ticks)`);
    await session.close();

    // A process whose entry's module hung ends when its work is done.
    const script = `
      (async () => {
        const { loadBinding, Pkcs11Session } = await import(${JSON.stringify(new URL("../../../src/sources/pkcs11/session.ts", import.meta.url).href)});
        const session = new Pkcs11Session(await loadBinding(), ${JSON.stringify(hanging)}, { openMs: 500, signMs: 500 });
        await session.open({ object: "k" }, undefined).catch(() => undefined);
        process.stdout.write("done");
      })();`;
    const exit = await run(process.execPath, ["-e", script], { timeout: 15_000 });
    assert.equal(exit.stdout, "done");
  });

  test("a crashing C_Initialize: the entry's process dies, the application does not", async () => {
    const session = new Pkcs11Session(await loadBinding(), crashing, { openMs: 10_000, signMs: 1_000 });
    const error: unknown = await session.open({ object: "k" }, undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof SourceUnavailableError);
    assert.match(error.reason, /the PKCS#11 process ended \(SIGABRT\); the module may have crashed/);
    await session.close();
  });
});
