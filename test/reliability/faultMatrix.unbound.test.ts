// Fault matrix, unbound flows (certificate, client secret, managed identity): every fault the
// emulator can script on the login host's token route, one test per flow and fault. Each run
// counts the entry's requests in the emulator's journal and the delays asked of the injected
// retry sleep, and checks the outcome of DESIGN.md §4 with the fallback entry behind it. The file
// ends by checking that no rejection went unhandled and no socket was left open.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertExpectation, MatrixSetup, runTokenFault, STORAGE_SCOPE, VAULT_SCOPE } from "./faultMatrixSupport.ts";
import { TOKEN_FAULT_CASES } from "./tokenFaultCases.ts";

let setup: MatrixSetup;
before(async () => {
  setup = await MatrixSetup.start();
});
after(async () => {
  await setup.closeAndCheck();
});

for (const flowName of ["unbound certificate", "client secret", "unbound managed identity"] as const) {
  describe(`${flowName}: faults of login.token`, () => {
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

test(
  "no fault at all: consecutive token requests of an unbound certificate are each accepted at the first attempt",
  async () => {
    // Found by the soak: msal-node re-sent its cached assertion (same jti), which the emulator
    // refuses by default; the credential now signs a fresh assertion for every request.
    const flow = setup.flows().find((f) => f.name === "unbound certificate")!;
    const credential = setup.harness.credential(setup.harness.options(setup.app, [flow.entry]));
    const emu = setup.emulator;
    emu.journal.clear();
    for (const scope of [STORAGE_SCOPE, VAULT_SCOPE, "https://management.azure.com/.default"]) await credential.getToken(scope);
    const requests = emu.journal.ofRoute("login.token");
    assert.deepEqual(
      requests.map((entry) => entry.status),
      [200, 200, 200],
      `every request accepted at once; got ${requests.map((entry) => `${entry.status}${entry.errorCode === undefined ? "" : ` AADSTS${entry.errorCode}`}`).join(", ")}`,
    );
    assert.equal(new Set(requests.map((entry) => entry.form["client_assertion"])).size, 3, "a new assertion for every request");
    await credential.close();
  },
);

test("end of file: every credential and server closed, no unhandled rejection, no socket left open", async () => {
  await setup.closeAndCheck();
});
