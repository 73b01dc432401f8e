import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Harness, STORAGE_SCOPE, captureLogs, type RegisteredApp } from "./support.ts";

let harness: Harness;
let app: RegisteredApp;
before(async () => {
  harness = await Harness.start();
  app = harness.emulator.registerApp({ secrets: ["account-logging"] });
});
after(async () => {
  await harness.close();
});

const entries = [{ sourceType: "ClientSecret", clientSecret: "account-logging" }] as const;

test("allowLoggingAccountIdentifiers logs the client, tenant and object IDs of the token", async () => {
  const logs = captureLogs("info");
  try {
    const credential = harness.credential(harness.options(app, entries, { loggingOptions: { allowLoggingAccountIdentifiers: true } }));
    await credential.getToken(STORAGE_SCOPE);
  } finally {
    logs.stop();
  }
  const line = logs.lines.find((l) => l.includes("Authenticated account"));
  assert.ok(line, "an account line is logged");
  assert.match(line, new RegExp(`Client ID: ${app.clientId}\\. Tenant ID: ${app.tenantId}\\. Object ID: ${app.objectId}\\.`));
});

test("without it, no identifier of the account is logged", async () => {
  const logs = captureLogs("verbose");
  try {
    const credential = harness.credential(harness.options(app, entries));
    await credential.getToken(STORAGE_SCOPE);
  } finally {
    logs.stop();
  }
  assert.ok(logs.lines.length > 0, "the credential logged something");
  assert.equal(logs.lines.some((l) => l.includes("Authenticated account") || l.includes(app.objectId)), false);
});
