// Fault matrix, bound flows (certificate, managed identity): every fault the emulator can script
// on the mTLS host's token route (for the managed identity, its leg 2: the app's own request), one
// test per flow and fault. Each run counts the entry's requests in the emulator's journal and the
// delays asked of the injected retry sleep, and checks the outcome of DESIGN.md §4 with the
// fallback entry behind it. The file ends by checking that no rejection went unhandled and no
// socket was left open.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { assertExpectation, MatrixSetup, runTokenFault, SETTLE_BOUND_MS, STORAGE_SCOPE } from "./faultMatrixSupport.ts";
import { outcomeOf, recordingSleep, settlesWithin } from "./support.ts";
import { TOKEN_FAULT_CASES } from "./tokenFaultCases.ts";

let setup: MatrixSetup;
before(async () => {
  setup = await MatrixSetup.start();
});
after(async () => {
  await setup.closeAndCheck();
});

for (const flowName of ["bound certificate", "bound managed identity"] as const) {
  describe(`${flowName}: faults of mtls.token`, () => {
    for (const c of TOKEN_FAULT_CASES) {
      test(c.name, async () => {
        const flow = setup.flows().find((f) => f.name === flowName)!;
        const run = await runTokenFault(setup, flow, c);
        assertExpectation(setup, flow, run, c.expect(flow));
        c.check?.(flow, run.outcome);
      });
    }
  });
}

describe("an mTLS host that accepts the connection and never completes the TLS handshake", () => {
  // DESIGN.md §4: a connection or TLS failure to the mTLS host makes a bound entry unavailable, and
  // the unbound entry behind it serves. A handshake that hangs until requestOptions.timeout is
  // reported as a timeout instead, which stops the list (see the report of issue 8).
  for (const flowName of ["bound certificate", "bound managed identity"] as const) {
    test(`${flowName}: the entry is unavailable and the fallback serves`, async () => {
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => {
        sockets.add(socket);
        socket.on("error", () => undefined);
        socket.on("close", () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve()));
      const origin = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const flow = setup.flows().find((f) => f.name === flowName)!;
      const sleep = recordingSleep();
      const credential = setup.harness.credential(setup.options(flow, { mtlsAuthorityHost: origin }), { retry: { sleep: sleep.sleep } });
      try {
        const outcome = await outcomeOf(
          settlesWithin(credential.getToken(STORAGE_SCOPE, { requestOptions: { timeout: 300 } }), SETTLE_BOUND_MS, "getToken"),
        );
        assert.ok("value" in outcome, `expected the fallback to serve, got ${"error" in outcome ? String(outcome.error) : ""}`);
        assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[1\]/);
      } finally {
        await credential.close();
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });
  }
});

test("end of file: every credential and server closed, no unhandled rejection, no socket left open", async () => {
  await setup.closeAndCheck();
});
