// Files that are not files: a character device that never ends (/dev/zero) and a named pipe that
// never gets a writer, given as a certificate path or an assertion file. Each must make only its
// own entry unavailable, with a reason naming the kind of file, without growing memory or holding
// one of libuv's threads, and the next entry of the list must serve.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Harness, STORAGE_SCOPE, type RegisteredApp } from "../credential/support.ts";
import { settlesWithin } from "./support.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";

const SECRET = "hostile-files-secret-4f1c";
let harness: Harness;
let app: RegisteredApp;
let fifo: string;

before(async () => {
  harness = await Harness.start();
  app = harness.emulator.registerApp({ secrets: [SECRET] });
  fifo = join(await harness.directory(), "never-written.fifo");
  execFileSync("mkfifo", [fifo]);
});
after(() => harness.close());

const secretEntry: CredentialDescription = { sourceType: "ClientSecret", clientSecret: SECRET };

async function servedBySecret(first: CredentialDescription, scope = STORAGE_SCOPE): Promise<string> {
  const credential = harness.credential(harness.options(app, [first, secretEntry]));
  const token = await settlesWithin(credential.getToken(scope), 10_000, "getToken");
  assert.ok(token);
  await harness.verify(token.token, app);
  return token.token;
}

describe("a character device as a path", { skip: !existsSync("/dev/zero") }, () => {
  test("/dev/zero as a certificate path is refused before reading, memory stays flat, the secret serves", async (t) => {
    const rssBefore = process.memoryUsage().rss;
    const credential = harness.credential(
      harness.options(app, [{ sourceType: "Path", certificateDiskPath: "/dev/zero" }, secretEntry]),
    );
    const token = await settlesWithin(credential.getToken(STORAGE_SCOPE), 10_000, "getToken");
    await harness.verify(token.token, app);
    const grownMiB = (process.memoryUsage().rss - rssBefore) / (1024 * 1024);
    t.diagnostic(`RSS after a call with /dev/zero as the certificate: ${grownMiB >= 0 ? "+" : ""}${grownMiB.toFixed(1)} MiB`);
    assert.ok(grownMiB < 64, `RSS grew by ${grownMiB.toFixed(0)} MiB`);
    const only = harness.credential(harness.options(app, [{ sourceType: "Path", certificateDiskPath: "/dev/zero" }]));
    await assert.rejects(settlesWithin(only.getToken(STORAGE_SCOPE), 10_000, "getToken"), /\/dev\/zero is a character device, not a regular file/);
  });

  test("/dev/zero as an assertion file is refused the same way", async () => {
    const only = harness.credential(
      harness.options(app, [{ sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: "/dev/zero" }]),
    );
    await assert.rejects(settlesWithin(only.getToken(STORAGE_SCOPE), 10_000, "getToken"), /\/dev\/zero is a character device, not a regular file/);
    await servedBySecret({ sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: "/dev/zero" });
  });
});

describe("a named pipe as a path", { skip: process.platform === "win32" }, () => {
  test("a FIFO as a certificate path does not hang getToken; the next entry serves", async () => {
    await servedBySecret({ sourceType: "Path", certificateDiskPath: fifo });
    const only = harness.credential(harness.options(app, [{ sourceType: "Path", certificateDiskPath: fifo }]));
    await assert.rejects(settlesWithin(only.getToken(STORAGE_SCOPE), 10_000, "getToken"), /is a named pipe \(FIFO\), not a regular file/);
  });

  test("eight credentials on FIFOs at once leave libuv's threads free for unrelated file reads", async () => {
    const credentials = Array.from({ length: 8 }, (_, i) =>
      harness.credential(
        harness.options(app, [
          i % 2 === 0
            ? { sourceType: "Path", certificateDiskPath: fifo }
            : { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: fifo },
        ]),
      ),
    );
    const calls = credentials.map((c) => c.getToken(STORAGE_SCOPE).then(() => "served", (e: unknown) => String(e)));
    // With the threadpool pinned by opens that wait for a writer, this read would never finish.
    const unrelated = await settlesWithin(readFile(new URL(import.meta.url), "utf8"), 5_000, "an unrelated fs.readFile");
    assert.ok(unrelated.includes("named pipe"));
    const outcomes = await settlesWithin(Promise.all(calls), 10_000, "the FIFO calls");
    for (const outcome of outcomes) assert.match(outcome, /named pipe \(FIFO\)/);
  });
});
