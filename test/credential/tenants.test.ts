// A tenant asked for in getToken is checked as the constructor checks tenantId, before anything is
// sent: nothing but a GUID or a domain reaches a token endpoint URL.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { CredentialUnavailableError } from "../../src/errors.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { Harness, rejectionOf, STORAGE_SCOPE, type RegisteredApp } from "./support.ts";

const SECRET = "tenants-secret-7d21";
const secretEntry: CredentialDescription = { sourceType: "ClientSecret", clientSecret: SECRET };

let harness: Harness;
let app: RegisteredApp;
const otherTenant = randomUUID();

before(async () => {
  harness = await Harness.start();
  app = harness.emulator.registerApp({ secrets: [SECRET], additionalTenantIds: [otherTenant] });
});

after(async () => {
  await harness.close();
});

describe("getToken tenantId", () => {
  test('with "*", a value that is not a tenant is refused and nothing is sent', async () => {
    const credential = harness.credential(harness.options(app, [secretEntry], { additionallyAllowedTenants: ["*"] }));
    const before = harness.emulator.journal.length;
    for (const tenant of ["..", "../other", "a/b", "organizations", "common", "con toso.com", "x%2F..", `${otherTenant}/`]) {
      const error = await rejectionOf(credential.getToken(STORAGE_SCOPE, { tenantId: tenant }));
      assert.ok(error instanceof CredentialUnavailableError, `${tenant}: ${error.name}`);
      assert.equal(error.code, "BCC_TENANT_NOT_ALLOWED");
      assert.equal(error.message, `The requested tenant "${tenant}" is not a valid tenant ID or domain.`);
    }
    assert.equal(harness.emulator.journal.length, before, "no request was sent");
  });

  test("100,000 allowed tenants: the one asked for is found, in any case", async () => {
    const allowed = [...Array.from({ length: 100_000 }, () => randomUUID()), otherTenant.toUpperCase()];
    const credential = harness.credential(harness.options(app, [secretEntry], { additionallyAllowedTenants: allowed }));
    const token = await credential.getToken(STORAGE_SCOPE, { tenantId: otherTenant });
    assert.equal((await harness.verify(token.token, app))["tid"], otherTenant);
    const refused = await rejectionOf(credential.getToken(STORAGE_SCOPE, { tenantId: randomUUID() }));
    assert.equal((refused as CredentialUnavailableError).code, "BCC_TENANT_NOT_ALLOWED");
  });
});
