// Secret hygiene: with every logger at verbose (as AZURE_LOG_LEVEL=verbose does) and every line
// captured, every flow is run to success and down every failure path of the fault matrix; then no
// canary — a client secret (right and wrong), a PFX password (right and wrong), a private key, an
// assertion, an access token, a managed identity token, a binding key — may appear in a log line,
// an error message, a cause (the whole chain, AggregateError members), JSON.stringify or
// util.inspect (depth Infinity, showHidden) of the credential or its errors, or any string reachable
// from the error objects.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import type { KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { after, before, describe, test } from "node:test";

const { BindingKey } = await import("../../src/sources/bindingKey.ts");
const { captureLogs, Harness, STORAGE_SCOPE, VAULT_SCOPE } = await import("../credential/support.ts");
const { collectUnhandledRejections, jsonBody, outcomeOf, recordingSleep, settlesWithin, socketsLeftAfterClose, startScriptedTokenServer } = await import("./support.ts");
type CredentialDescription = import("../../src/configuration/types.ts").CredentialDescription;
type BoundClientCredentialOptions = import("../../src/configuration/types.ts").BoundClientCredentialOptions;
type FaultSpec = import("../../src/emulator/index.ts").FaultSpec;
type BoundClientCredential = import("../../src/boundClientCredential.ts").BoundClientCredential;

const SECRET = "hygiene-Secret~canary.0123456789abcdefXYZ";
const WRONG_SECRET = "hygiene-WrongSecret~canary.9876543210zyx";
const PFX_PASSWORD = "hygiene-Pfx-Passw0rd-canary";
const WRONG_PFX_PASSWORD = "hygiene-WrongPfx-Passw0rd-canary";

/** Every secret value the run handled, by what it is. */
class Canaries {
  readonly #values = new Map<string, string>();

  add(label: string, value: string): void {
    if (value.length >= 12) this.#values.set(value, label);
  }

  /** A JWT: the whole of it and its signature. */
  addJwt(label: string, jwt: string): void {
    this.add(label, jwt);
    const signature = jwt.split(".")[2];
    if (signature !== undefined) this.add(`${label} (signature)`, signature);
  }

  /** A PEM private key: every line of its base64 body, and the body as one string. */
  addPrivateKey(label: string, key: string | KeyObject): void {
    const pem = typeof key === "string" ? key : key.export({ type: "pkcs8", format: "pem" }).toString();
    const body = pem.split(/\r?\n/).filter((line) => line !== "" && !line.startsWith("-----"));
    for (const line of body) this.add(`${label} (a line of its body)`, line);
    this.add(`${label} (body)`, body.join(""));
    if (typeof key !== "string") this.add(`${label} (DER)`, key.export({ type: "pkcs8", format: "der" }).toString("base64"));
  }

  /** Binary secrets as base64, in slices, since any part of them is telling. */
  addBytes(label: string, bytes: Buffer): void {
    const text = bytes.toString("base64");
    for (let i = 0; i + 48 <= text.length; i += 48) this.add(`${label} (base64 slice)`, text.slice(i, i + 48));
  }

  /** The canaries found in `text`. */
  foundIn(text: string): string[] {
    const found: string[] = [];
    for (const [value, label] of this.#values) if (text.includes(value)) found.push(label);
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) found.push("a PEM private key header");
    return found;
  }

  get size(): number {
    return this.#values.size;
  }
}

/** Every string reachable from `value`: own properties of any kind, recursively, plus inspect and JSON. */
function textsOf(value: unknown): string[] {
  const texts: string[] = [];
  const seen = new Set<unknown>();
  let budget = 50_000;
  const visit = (current: unknown, depth: number): void => {
    if (budget-- <= 0 || depth > 16) return;
    if (typeof current === "string") {
      texts.push(current);
      return;
    }
    if (Buffer.isBuffer(current)) {
      texts.push(current.toString("utf8"), current.toString("base64"));
      return;
    }
    if ((typeof current !== "object" && typeof current !== "function") || current === null || seen.has(current)) return;
    seen.add(current);
    for (const key of Reflect.ownKeys(current)) {
      if (typeof key === "string") texts.push(key);
      const descriptor = Reflect.getOwnPropertyDescriptor(current, key);
      // Own data properties only: getters run code that is not under test here.
      if (descriptor !== undefined && "value" in descriptor) visit(descriptor.value, depth + 1);
    }
    if (current instanceof Error) {
      texts.push(current.message, current.stack ?? "");
      visit(current.cause, depth + 1);
      if (current instanceof AggregateError) for (const inner of current.errors) visit(inner, depth + 1);
    }
  };
  visit(value, 0);
  texts.push(inspect(value, { depth: Infinity, showHidden: true }));
  try {
    texts.push(JSON.stringify(value) ?? "");
  } catch {
    // Circular: inspect and the walk above cover it.
  }
  return texts;
}

const canaries = new Canaries();
const rejections = collectUnhandledRejections();
const bindingKeys: KeyObject[] = [];
const originalGenerate = BindingKey.generate;
let harness: import("../credential/support.ts").Harness;
let scripted: Awaited<ReturnType<typeof startScriptedTokenServer>>;
let logs: ReturnType<typeof captureLogs>;
/** Every text the file produced that a secret must not be in, with where it came from. */
const produced: { where: string; text: string }[] = [];
const flows = new Map<string, { entry: CredentialDescription; extra?: Partial<BoundClientCredentialOptions> }>();
const appRef: { app?: import("../../src/emulator/index.ts").RegisteredApp } = {};

before(async () => {
  // Watch the managed identity's binding keys as they are made (the real generator, observed).
  BindingKey.generate = async () => {
    const key = await originalGenerate.call(BindingKey);
    bindingKeys.push(key.privateKey);
    canaries.addPrivateKey("a managed identity binding key", key.privateKey);
    return key;
  };
  logs = captureLogs("verbose");
  harness = await Harness.start();
  scripted = await startScriptedTokenServer(harness.emulator);
  const emu = harness.emulator;
  const [certificate, binding] = await Promise.all([emu.issueCertificate({ subject: "CN=hygiene" }), emu.issueCertificate({ subject: "CN=hygiene-binding" })]);
  const identity = emu.registerManagedIdentity({ kind: "user" });
  const app = emu.registerApp({
    certificates: [certificate.certificatePem],
    secrets: [SECRET],
    federatedCredentials: [emu.federatedCredentialFor(identity), { issuer: `${emu.authorityHost}/${emu.tenantId}/v2.0`, subject: "workload", name: "file" }],
  });
  appRef.app = app;
  const assertion = await emu.createFederatedAssertion({ subject: "workload" });
  const customAssertion = await emu.createFederatedAssertion({ subject: "custom" });
  const pfx = certificate.toPfx(PFX_PASSWORD);
  canaries.add("the client secret", SECRET);
  canaries.add("a wrong client secret", WRONG_SECRET);
  canaries.add("the PFX password", PFX_PASSWORD);
  canaries.add("a wrong PFX password", WRONG_PFX_PASSWORD);
  canaries.addPrivateKey("the certificate's private key", certificate.privateKeyPem);
  canaries.addPrivateKey("the custom binding key", binding.privateKeyPem);
  canaries.addBytes("the PFX", pfx);
  canaries.addJwt("the federated assertion", assertion);
  canaries.addJwt("the custom assertion", customAssertion);

  const pfxPath = await harness.file("app.pfx", pfx);
  const tokenFile = await harness.file("token", assertion);
  const pem = { certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem };
  emu.keyVault.setCertificate("hygiene-cert", certificate, { format: "pfx" });
  const vaultApp = emu.registerApp({ secrets: [`${SECRET}-vault`] });
  canaries.add("the vault reader's secret", `${SECRET}-vault`);
  const vaultReader = harness.credential(harness.options(vaultApp, [{ sourceType: "ClientSecret", clientSecret: `${SECRET}-vault` }]));

  flows.set("certificate in memory", { entry: { sourceType: "Certificate", ...pem } });
  flows.set("PFX file", { entry: { sourceType: "Path", certificateDiskPath: pfxPath, certificatePassword: PFX_PASSWORD } });
  flows.set("client secret", { entry: { sourceType: "ClientSecret", clientSecret: SECRET } });
  flows.set("unbound managed identity", { entry: { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId } });
  flows.set("assertion file", { entry: { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: tokenFile } });
  flows.set("bound certificate", { entry: { sourceType: "Certificate", ...pem, useBoundCredential: true } });
  flows.set("bound PFX file", { entry: { sourceType: "Path", certificateDiskPath: pfxPath, certificatePassword: PFX_PASSWORD, useBoundCredential: true } });
  flows.set("bound managed identity", { entry: { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId, useBoundCredential: true } });
  flows.set("bound custom assertion", {
    entry: {
      sourceType: "CustomSignedAssertion",
      useBoundCredential: true,
      getAssertion: () => ({ assertion: customAssertion, bindingCertificate: binding.certificatePem, bindingPrivateKey: binding.privateKeyPem }),
    },
  });
  flows.set("bound Key Vault certificate", {
    entry: { sourceType: "KeyVault", keyVaultUrl: emu.keyVaultUrl, keyVaultCertificateName: "hygiene-cert", keyVaultCredential: vaultReader, useBoundCredential: true },
  });
});

after(async () => {
  BindingKey.generate = originalGenerate;
  logs.stop();
  await scripted.close();
  await harness.close();
  rejections.dispose();
});

/** Records everything observable about one run: the outcome, the credential, the log lines since `fromLine`. */
function record(where: string, credential: BoundClientCredential, outcome: { value: { token: string } } | { error: unknown }, fromLine: number): void {
  if ("value" in outcome) {
    canaries.addJwt("an access token", outcome.value.token);
  } else {
    for (const text of textsOf(outcome.error)) produced.push({ where: `${where}: the error`, text });
  }
  for (const text of textsOf(credential)) produced.push({ where: `${where}: the credential`, text });
  produced.push({ where: `${where}: toJSON`, text: JSON.stringify(credential) });
  produced.push({ where: `${where}: lastServed`, text: JSON.stringify(credential.lastServed ?? null) });
  for (const line of logs.lines.slice(fromLine)) produced.push({ where: `${where}: a log line`, text: line });
}

/** Runs one path: a fresh credential of `flow` (its entry, then the secret), `fault` scripted, one getToken. */
async function run(
  flowName: string,
  path: string,
  setup: { fault?: FaultSpec; faults?: FaultSpec[]; extra?: Partial<BoundClientCredentialOptions>; alone?: boolean; warmUp?: boolean; newConnection?: boolean; timeoutMs?: number } = {},
): Promise<{ value: { token: string } } | { error: unknown }> {
  const flow = flows.get(flowName)!;
  const app = appRef.app!;
  const emu = harness.emulator;
  const entries: CredentialDescription[] = setup.alone === true ? [flow.entry] : [flow.entry, { sourceType: "ClientSecret", clientSecret: SECRET }];
  const sleep = recordingSleep();
  const credential = harness.credential(harness.options(app, entries, { ...flow.extra, ...setup.extra }), { retry: { sleep: sleep.sleep } });
  const fromLine = logs.lines.length;
  try {
    if (setup.warmUp === true) record(`${flowName}, ${path} (warm-up)`, credential, await outcomeOf(credential.getToken(VAULT_SCOPE)), fromLine);
    if (setup.newConnection === true) await credential.close();
    emu.faults.clear();
    for (const fault of [...(setup.faults ?? []), ...(setup.fault === undefined ? [] : [setup.fault])]) emu.faults.add(fault);
    const outcome = await outcomeOf(
      settlesWithin(credential.getToken(STORAGE_SCOPE, { requestOptions: { timeout: setup.timeoutMs ?? 10_000 } }), 20_000, "getToken"),
    );
    record(`${flowName}, ${path}`, credential, outcome, fromLine);
    assert.equal(emu.faults.pending(), 0, "the scripted fault was met");
    return outcome;
  } finally {
    emu.faults.clear();
    await credential.close();
  }
}

let checkedUpTo = 0;

/**
 * Asserts that nothing produced since the last check holds a canary (`everything`: since the
 * start, against the canaries met since, such as later access tokens).
 */
function assertClean(everything = false): void {
  assert.ok(canaries.size > 20, "the canaries are set");
  const leaks: string[] = [];
  const from = everything ? 0 : checkedUpTo;
  checkedUpTo = produced.length;
  for (const { where, text } of produced.slice(from)) {
    for (const label of canaries.foundIn(text)) leaks.push(`${label} in ${where}: ${text.slice(0, 300)}`);
  }
  assert.deepEqual(leaks, [], "no secret in any output");
}

const TOKEN_FAULTS: { name: string; faults: Omit<FaultSpec, "route">; timeoutMs?: number; newConnection?: boolean }[] = [
  { name: "HTTP 500 twice", faults: { status: 500, count: 2 } },
  { name: "HTTP 429 with Retry-After: 30", faults: { status: 429, retryAfter: 30 } },
  { name: "timeouts", faults: { delayMs: 1000, count: 2 }, timeoutMs: 200 },
  { name: "a reset", faults: { reset: true } },
  { name: "a refused TLS handshake", faults: { tls: "reject" }, newConnection: true },
  { name: "malformed JSON", faults: { body: "malformed-json" } },
  { name: "an HTML error page", faults: { body: "html", status: 502, count: 2 } },
  { name: "an oversize body", faults: { body: "oversize" } },
  { name: "rejected twice (AADSTS700027)", faults: { status: 401, error: "invalid_client", errorCode: 700027, count: 2 } },
  { name: "rejected twice (AADSTS7000215)", faults: { status: 401, error: "invalid_client", errorCode: 7000215, count: 2 } },
  { name: "rejected (AADSTS500181) once", faults: { status: 400, error: "invalid_client", errorCode: 500181 } },
  { name: "application not found (AADSTS700016)", faults: { status: 400, error: "unauthorized_client", errorCode: 700016 } },
];

const FLOW_ROUTES: Record<string, "login.token" | "mtls.token"> = {
  "certificate in memory": "login.token",
  "PFX file": "login.token",
  "client secret": "login.token",
  "unbound managed identity": "login.token",
  "assertion file": "login.token",
  "bound certificate": "mtls.token",
  "bound PFX file": "mtls.token",
  "bound managed identity": "mtls.token",
  "bound custom assertion": "mtls.token",
  "bound Key Vault certificate": "mtls.token",
};

for (const flowName of Object.keys(FLOW_ROUTES)) {
  describe(`${flowName}: success and every token endpoint failure leave no secret behind`, () => {
    const route = FLOW_ROUTES[flowName]!;
    const warmUp = flowName === "bound managed identity";
    // The emulator accepts jwt-pop assertions it issued itself (a managed identity's leg 1) only, so
    // a custom bound assertion ends in Entra's refusal; its path is checked all the same.
    const succeeds = flowName !== "bound custom assertion";
    test(succeeds ? "success, alone in the list" : "alone in the list (refused by the emulator)", async () => {
      const outcome = await run(flowName, "success", { alone: true });
      if (succeeds) assert.ok("value" in outcome, `the flow works: ${"error" in outcome ? String(outcome.error) : ""}`);
      assertClean();
    });
    for (const fault of TOKEN_FAULTS) {
      test(fault.name, async () => {
        await run(flowName, fault.name, {
          fault: { route, ...fault.faults },
          warmUp,
          ...(fault.newConnection === undefined ? {} : { newConnection: fault.newConnection }),
          ...(fault.timeoutMs === undefined ? {} : { timeoutMs: fault.timeoutMs }),
        });
        assertClean();
      });
    }
    test("malformed 200 answers from a scripted endpoint (which sees the assertion the entry sends)", async () => {
      const extra = route === "mtls.token" ? { mtlsAuthorityHost: scripted.origin } : { authorityHost: scripted.origin };
      for (const body of [{ token_type: "Bearer", expires_in: 3599 }, { token_type: "mtls_pop", access_token: "a.b.c", expires_in: 3599 }]) {
        scripted.requests.length = 0;
        scripted.answer({ status: 200, body: jsonBody(body) });
        await run(flowName, `scripted ${JSON.stringify(body)}`, { extra, alone: true });
        // What the entry sent is a secret too: the managed identity's token, a signed assertion.
        for (const request of scripted.requests) {
          const form = new URLSearchParams(request.body);
          const assertion = form.get("client_assertion");
          if (assertion !== null) canaries.addJwt("a client assertion the entry sent", assertion);
        }
      }
      scripted.answer({ status: 401, body: jsonBody({ error: "invalid_client", error_description: "AADSTS700027: scripted rejection.", error_codes: [700027] }) });
      await run(flowName, "scripted rejection", { extra, alone: true });
      for (const request of scripted.requests) {
        const assertion = new URLSearchParams(request.body).get("client_assertion");
        if (assertion !== null) canaries.addJwt("a client assertion the entry sent", assertion);
      }
      assertClean();
    });
  });
}

describe("failures of the material itself leave no secret behind", () => {
  test("a wrong PFX password, a wrong secret, an expired or garbled assertion file, a key that does not match", async () => {
    const emu = harness.emulator;
    const app = appRef.app!;
    const other = await emu.issueCertificate({ subject: "CN=other" });
    const certificate = await emu.issueCertificate({ subject: "CN=hygiene-2" });
    canaries.addPrivateKey("another private key", other.privateKeyPem);
    canaries.addPrivateKey("a third private key", certificate.privateKeyPem);
    const wrongPfx = await harness.file("wrong.pfx", certificate.toPfx(PFX_PASSWORD));
    const expired = await emu.createFederatedAssertion({ subject: "workload", notBefore: new Date(Date.now() - 7200_000), lifetimeSeconds: 600 });
    canaries.addJwt("an expired assertion", expired);
    const expiredFile = await harness.file("expired-token", expired);
    const garbled = `${expired.slice(0, 40)}!!${expired.slice(42)}`;
    canaries.add("a garbled assertion", garbled);
    const garbledFile = await harness.file("garbled-token", garbled);
    const entries: CredentialDescription[] = [
      { sourceType: "Path", certificateDiskPath: wrongPfx, certificatePassword: WRONG_PFX_PASSWORD },
      { sourceType: "Path", certificateDiskPath: wrongPfx, certificatePassword: WRONG_PFX_PASSWORD, useBoundCredential: true },
      { sourceType: "ClientSecret", clientSecret: WRONG_SECRET },
      { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: expiredFile },
      { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: garbledFile },
      { sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: other.privateKeyPem },
      { sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: other.privateKeyPem, useBoundCredential: true },
      {
        sourceType: "CustomSignedAssertion",
        useBoundCredential: true,
        getAssertion: () => ({ assertion: expired, bindingCertificate: certificate.certificatePem, bindingPrivateKey: other.privateKeyPem }),
      },
    ];
    for (const [index, entry] of entries.entries()) {
      const credential = harness.credential(harness.options(app, [entry]));
      const fromLine = logs.lines.length;
      record(`material failure ${index} (${entry.sourceType})`, credential, await outcomeOf(credential.getToken(STORAGE_SCOPE)), fromLine);
      await credential.close();
    }
    // All of them in one list: one error whose cause is an AggregateError of every failure.
    const all = harness.credential(harness.options(app, entries));
    const fromLine = logs.lines.length;
    const outcome = await outcomeOf(all.getToken(STORAGE_SCOPE));
    assert.ok("error" in outcome && outcome.error instanceof Error && outcome.error.cause instanceof AggregateError, "an AggregateError of the failures");
    record("every material failure in one list", all, outcome, fromLine);
    await all.close();
    assertClean();
  });

  test("IMDS failures of the managed identity flows", async () => {
    const imdsFaults: FaultSpec[] = [
      { route: "imds.token", reset: true },
      { route: "imds.token", body: "malformed-json" },
      { route: "imds.platformMetadata", status: 404 },
      { route: "imds.issueCredential", body: "oversize" },
    ];
    for (const fault of imdsFaults) {
      const flowName = fault.route === "imds.token" ? "unbound managed identity" : "bound managed identity";
      await run(flowName, `IMDS ${fault.route} ${JSON.stringify(fault)}`, { fault, alone: true });
    }
    assertClean();
  });

  test("a Key Vault that fails", async () => {
    for (const fault of [{ route: "keyVault.secret", status: 403 }, { route: "keyVault.secret", status: 500, count: 2 }, { route: "keyVault.secret", body: "malformed-json" }] as FaultSpec[]) {
      await run("bound Key Vault certificate", `Key Vault ${JSON.stringify(fault)}`, { fault, alone: true });
    }
    assertClean();
  });
});

test("the check itself finds a canary in a log line, a cause, an AggregateError member or a hidden property", () => {
  assert.deepEqual(canaries.foundIn(`token request with ${SECRET} sent`), ["the client secret"]);
  const hidden = new Error("outer", { cause: new AggregateError([new Error("inner")], "all") });
  Object.defineProperty(hidden, "request", { value: { body: `client_secret=${PFX_PASSWORD}` }, enumerable: false });
  const nested = new Error("outer", { cause: new AggregateError([new Error(`bad ${WRONG_SECRET}`)], "all") });
  assert.ok(textsOf(hidden).some((text) => canaries.foundIn(text).includes("the PFX password")));
  assert.ok(textsOf(nested).some((text) => canaries.foundIn(text).includes("a wrong client secret")));
});

test("end of file: every output of the file, checked against every canary met, holds none; no rejection unhandled, no socket open", async () => {
  assert.ok(bindingKeys.length > 0, "binding keys were made and watched");
  assertClean(true);
  logs.stop();
  await scripted.close();
  await harness.close();
  assert.deepEqual(rejections.rejections, []);
  assert.deepEqual(await socketsLeftAfterClose(), []);
});
