// The soak in its short mode, inside `npm test`: a few seconds of concurrent getToken calls with
// 10-second tokens through every flow, then the same bounds as the full run (`npm run soak`): no
// error, sockets and heap flat, nothing left open.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatReport, runSoak } from "./soak.ts";

test("short soak: no error, sockets and heap flat, nothing left open", async (t) => {
  const report = await runSoak({ seconds: 8, workers: 6, sampleEveryMs: 400 });
  for (const line of formatReport(report).split("\n")) t.diagnostic(line);
  assert.equal(report.errors, 0, report.firstErrors.join("\n"));
  assert.ok(report.calls > 100, `only ${report.calls} calls`);
  assert.equal(report.sockets.afterClose, 0);
  assert.deepEqual(report.violations, []);
});
