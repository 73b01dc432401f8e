// Large lists. A walk over thousands of unavailable entries must end in an error whose message stays
// small (the per-entry lines are capped; the structured list carries every entry), and a tenant
// check against 100,000 additionallyAllowedTenants must cost about what a check against one does
// (a set, not a scan). Costs are main-thread CPU time, not wall time, so a loaded machine does not
// decide the outcome.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { CredentialUnavailableError } from "../../src/errors.ts";
import { Harness, STORAGE_SCOPE, type RegisteredApp } from "../credential/support.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";

/** The most a final error's message may hold, whatever the length of the list. */
const MAX_MESSAGE_BYTES = 64 * 1024;
/**
 * 10,000 entries: uncapped, their lines would make a message of about 2.4 MB (30,000 made 7 MiB), far
 * over the bound, while the walk (one failed stat per entry) stays a few seconds of the suite.
 */
const ENTRIES = 10_000;

const SECRET = "large-lists-secret-19c4";
let harness: Harness;
let app: RegisteredApp;
const otherTenant = randomUUID();

before(async () => {
  harness = await Harness.start();
  app = harness.emulator.registerApp({ secrets: [SECRET], additionalTenantIds: [otherTenant] });
});
after(() => harness.close());

function threadCpuMs(): number {
  const { user, system } = process.threadCpuUsage();
  return (user + system) / 1000;
}

describe("large lists", () => {
  test(`${ENTRIES.toLocaleString("en")} unavailable entries: the final message stays bounded and names every entry in its list`, async (t) => {
    const entries: CredentialDescription[] = Array.from({ length: ENTRIES }, (_, i) => ({
      sourceType: "Path",
      certificateDiskPath: `/nonexistent/large-lists/certificate-${i}.pem`,
    }));
    const credential = harness.credential(harness.options(app, entries));
    const error = await credential.getToken(STORAGE_SCOPE).then(
      () => assert.fail("no entry can serve"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof CredentialUnavailableError);
    const bytes = Buffer.byteLength(error.message);
    t.diagnostic(`final message of a ${ENTRIES}-entry walk: ${bytes} bytes`);
    assert.match(error.message, /certificate-0\.pem/, "the first entries are still named");
    assert.ok(bytes <= MAX_MESSAGE_BYTES, `the message holds ${bytes} bytes`);
    assert.match(error.message, /and \d+ more entries/, "the message says how many it leaves out");
    assert.equal(error.entries.length, ENTRIES, "the structured list carries every entry");
    assert.ok(error.entries.every((e) => e.outcome === "unavailable"));
  });

  test("100,000 additionallyAllowedTenants: a call for an allowed tenant costs what it costs with one", async (t) => {
    const many = [...Array.from({ length: 99_999 }, () => randomUUID()), otherTenant];
    const costOf = async (allowed: string[]): Promise<number> => {
      const credential = harness.credential(
        harness.options(app, [{ sourceType: "ClientSecret", clientSecret: SECRET }], { additionallyAllowedTenants: allowed }),
      );
      await credential.getToken(STORAGE_SCOPE, { tenantId: otherTenant });
      const started = threadCpuMs();
      for (let i = 0; i < 5; i++) await credential.getToken(STORAGE_SCOPE, { tenantId: otherTenant });
      return (threadCpuMs() - started) / 5;
    };
    const one = await costOf([otherTenant]);
    const large = await costOf(many);
    t.diagnostic(`CPU per cached call for another tenant: ${one.toFixed(2)} ms with 1 allowed tenant, ${large.toFixed(2)} ms with 100,000`);
    assert.ok(large <= one * 3 + 1, `${large.toFixed(2)} ms per call with 100,000 tenants against ${one.toFixed(2)} ms with one`);
  });
});
