// A certificate file that is being rewritten in place (half written, emptied, deleted) at the
// once-a-minute rotation check must not take the good certificate already loaded away: every call
// goes on being served with it over mutual TLS, the failed reload is logged once, and the file is
// picked up as soon as it loads again.
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROTATION_CHECK_INTERVAL_MS } from "../../src/acquisition/sourceEntry.ts";
import { captureLogs, Harness, TestClock } from "../credential/support.ts";

const clock = new TestClock();
let harness: Harness;

before(async () => {
  harness = await Harness.start({ clock: clock.now, acceptAnyResource: true });
});
after(() => harness.close());

test("in-place partial writes at the rotation check: every call is served with the loaded certificate", async () => {
  const emulator = harness.emulator;
  const [first, next] = await Promise.all([
    emulator.issueCertificate({ subject: "CN=rotation first" }),
    emulator.issueCertificate({ subject: "CN=rotation next" }),
  ]);
  const app = emulator.registerApp({ certificates: [first.certificatePem, next.certificatePem] });
  const path = join(await harness.directory(), "rotating.pem");
  const good = first.certificatePem + first.privateKeyPem;
  const replacement = next.certificatePem + next.privateKeyPem;
  await writeFile(path, good);
  const credential = harness.credential(
    harness.options(app, [{ sourceType: "Path", certificateDiskPath: path, useBoundCredential: true }]),
    { now: clock.now },
  );
  await credential.getToken("api://warm/.default");
  emulator.journal.clear();
  const logs = captureLogs("warning");
  const calls = 300;
  let failed = 0;
  try {
    for (let i = 0; i < calls; i++) {
      // Half written, cut in the key, emptied, or gone: what a reader sees while a writer is at work.
      if (i % 25 === 24) await rm(path, { force: true });
      else await writeFile(path, replacement.slice(0, Math.floor((replacement.length * (i % 24)) / 24)));
      clock.advance(ROTATION_CHECK_INTERVAL_MS + 1);
      try {
        const token = await credential.getToken(`api://call-${i}/.default`);
        assert.ok(token.token);
      } catch {
        failed++;
      }
    }
    assert.equal(failed, 0, `${failed} of ${calls} calls failed`);
    const thumbprints = new Set(emulator.journal.ofRoute("mtls.token").map((e) => e.clientCertificateThumbprintSha256));
    assert.deepEqual([...thumbprints], [first.thumbprintSha256], "every call presented the certificate loaded first");
    const reports = logs.lines.filter((line) => line.includes("changed but cannot be loaded"));
    assert.equal(reports.length, 1, `the failed reload is logged once, not ${reports.length} times`);

    // The writer finishes: the new certificate is picked up at the next check.
    await writeFile(path, replacement);
    clock.advance(ROTATION_CHECK_INTERVAL_MS + 1);
    emulator.journal.clear();
    await credential.getToken("api://after/.default");
    assert.deepEqual(
      emulator.journal.ofRoute("mtls.token").map((e) => e.clientCertificateThumbprintSha256),
      [next.thumbprintSha256],
    );
  } finally {
    logs.stop();
  }
});
