// extraQueryParameters (Identity.Web's ExtraQueryParameters) end to end: the emulator's journal
// shows them on the token URL of both paths, msal-node's (unbound) and the mTLS token client's
// (bound), and the token is still valid.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { optionsFromConfiguration } from "../../src/configuration/fromConfiguration.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import type { IssuedCertificate } from "../../src/emulator/index.ts";
import { Harness, STORAGE_SCOPE, type RegisteredApp } from "./support.ts";

const SECRET = "extra-query-parameters-secret-4c1e";
const PARAMETERS = { dc: "ESTS-PUB-WUS2-AZ1-FD000-TEST1", "slice.test": "a b&c" };

let harness: Harness;
let app: RegisteredApp;
let certificate: IssuedCertificate;

before(async () => {
  harness = await Harness.start({ acceptAnyResource: true });
  certificate = await harness.emulator.issueCertificate({ subject: "CN=extra query parameters" });
  app = harness.emulator.registerApp({ secrets: [SECRET], certificates: [certificate.certificatePem] });
});

after(async () => {
  await harness.close();
});

test("unbound (msal-node): the parameters are on the token URL, not in the form", async () => {
  const entries: CredentialDescription[] = [{ sourceType: "ClientSecret", clientSecret: SECRET }];
  const credential = harness.credential(harness.options(app, entries, { extraQueryParameters: PARAMETERS }));
  const from = harness.emulator.journal.ofRoute("login.token").length;
  const token = await credential.getToken(STORAGE_SCOPE);
  await harness.verify(token.token, app);
  const [request] = harness.emulator.journal.ofRoute("login.token").slice(from);
  assert.equal(request?.query["dc"], PARAMETERS.dc);
  assert.equal(request?.query["slice.test"], PARAMETERS["slice.test"]);
  assert.equal(request?.form["dc"], undefined);
});

test("bound (mTLS): the parameters are on the token URL; the assertion's audience is the plain endpoint", async () => {
  const entries: CredentialDescription[] = [
    { sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem, useBoundCredential: true },
  ];
  const credential = harness.credential(harness.options(app, entries, { extraQueryParameters: PARAMETERS }));
  const from = harness.emulator.journal.ofRoute("mtls.token").length;
  const token = await credential.getToken(STORAGE_SCOPE);
  await harness.verify(token.token, app);
  const [request] = harness.emulator.journal.ofRoute("mtls.token").slice(from);
  assert.equal(request?.status, 200);
  assert.equal(request?.query["dc"], PARAMETERS.dc);
  assert.equal(request?.query["slice.test"], PARAMETERS["slice.test"]);
  assert.equal(credential.lastServed?.tokenEndpoint, harness.emulator.mtlsTokenEndpoint());
});

test("from an Identity.Web section: ExtraQueryParameters reaches the options", () => {
  const options = optionsFromConfiguration({
    Instance: "https://login.microsoftonline.com/",
    TenantId: "contoso.onmicrosoft.com",
    ClientId: "11111111-2222-3333-4444-555555555555",
    ExtraQueryParameters: { dc: PARAMETERS.dc },
    ClientCredentials: [{ SourceType: "ClientSecret", ClientSecret: SECRET }],
  });
  assert.deepEqual(options.extraQueryParameters, { dc: PARAMETERS.dc });
});
