/**
 * retryOptions reach the token requests of both paths — the bound (mTLS) token client and
 * msal-node's requests for unbound entries — with the Azure SDK's meaning: `maxRetries` retries,
 * delays from `retryDelayInMs` doubling up to `maxRetryDelayInMs`.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Harness, rejectionOf, STORAGE_SCOPE } from "../credential/support.ts";

let harness: Harness;
before(async () => {
  harness = await Harness.start();
});
after(async () => {
  await harness.close();
});

function recordingSleep(): { delays: number[]; sleep: (ms: number) => Promise<void> } {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

describe("retryOptions", () => {
  test("bound: maxRetries 3 makes four attempts on 503s, with delays 100, 200, 250 ms", async () => {
    const emu = harness.emulator;
    const issued = await emu.issueCertificate();
    const app = emu.registerApp({ certificates: [issued.certificatePem] });
    const bound = { sourceType: "Certificate" as const, certificate: issued.certificatePem, privateKey: issued.privateKeyPem, useBoundCredential: true };
    const { delays, sleep } = recordingSleep();
    const credential = harness.credential(
      harness.options(app, [bound], { retryOptions: { maxRetries: 3, retryDelayInMs: 100, maxRetryDelayInMs: 250 } }),
      { retry: { sleep } },
    );
    const before = emu.journal.ofRoute("mtls.token").length;
    emu.faults.add({ route: "mtls.token", status: 503, count: 3 });
    const token = await credential.getToken(STORAGE_SCOPE);
    await harness.verify(token.token, app);
    assert.equal(emu.journal.ofRoute("mtls.token").length - before, 4);
    assert.deepEqual(delays, [100, 200, 250]);
  });

  test("unbound: maxRetries 0 makes a single attempt; the default makes two (MSAL's one retry)", async () => {
    const emu = harness.emulator;
    const app = emu.registerApp({ secrets: ["s"] });
    const secret = [{ sourceType: "ClientSecret" as const, clientSecret: "s" }];
    const none = harness.credential(harness.options(app, secret, { retryOptions: { maxRetries: 0 } }));
    let before = emu.journal.ofRoute("login.token").length;
    emu.faults.add({ route: "login.token", status: 503, count: 2 });
    await rejectionOf(none.getToken(STORAGE_SCOPE));
    assert.equal(emu.journal.ofRoute("login.token").length - before, 1);
    emu.faults.clear();

    const { delays, sleep } = recordingSleep();
    const byDefault = harness.credential(harness.options(app, secret), { retry: { sleep } });
    before = emu.journal.ofRoute("login.token").length;
    emu.faults.add({ route: "login.token", status: 503, count: 1 });
    await byDefault.getToken(STORAGE_SCOPE);
    assert.equal(emu.journal.ofRoute("login.token").length - before, 2);
    assert.deepEqual(delays, [1000]);
  });
});
