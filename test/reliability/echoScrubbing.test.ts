// A token host (or a proxy in front of it) that echoes the request form back in its error: the
// client secret, the client assertion, the PFX password — whatever the request carried — would
// then be quoted into the error's message, its description and, through msal-node, its cause
// chain. None of it may appear anywhere reachable from the error a caller gets.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { inspect } from "node:util";
import { after, before, describe, test } from "node:test";
import { captureLogs, everyTextOf, Harness, STORAGE_SCOPE, type RegisteredApp } from "../credential/support.ts";
import { startScriptedTokenServer, type ScriptedServer } from "./support.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";

const execFileAsync = promisify(execFile);
const SECRET = "echo-Secret~canary.0123456789abcdef+/=&%";
const PFX_PASSWORD = "echo-Pfx-Passw0rd-canary&=";

let harness: Harness;
let app: RegisteredApp;
let server: ScriptedServer;
let pemPath: string;
let pfxPath: string;

before(async () => {
  harness = await Harness.start();
  const certificate = await harness.emulator.issueCertificate({ subject: "CN=echo" });
  app = harness.emulator.registerApp({ certificates: [certificate.certificatePem], secrets: [SECRET] });
  const directory = await harness.directory();
  pemPath = join(directory, "echo.pem");
  await writeFile(pemPath, certificate.certificatePem + certificate.privateKeyPem);
  await writeFile(join(directory, "cert.pem"), certificate.certificatePem);
  await writeFile(join(directory, "key.pem"), certificate.privateKeyPem);
  pfxPath = join(directory, "echo.pfx");
  await execFileAsync("openssl", [
    "pkcs12", "-export", "-in", join(directory, "cert.pem"), "-inkey", join(directory, "key.pem"),
    "-out", pfxPath, "-passout", `pass:${PFX_PASSWORD}`,
  ]);
  server = await startScriptedTokenServer(harness.emulator);
  // The body, verbatim, in every text field Entra ID's error has; and in a nested form too.
  server.answer((request) => ({
    status: 400,
    body: JSON.stringify({
      error: "invalid_client",
      error_description: `AADSTS7000215: Invalid client secret provided. You sent: ${request.body}`,
      error_codes: [7000215],
      trace_id: request.body.slice(0, 150),
      correlation_id: "00000000-0000-0000-0000-000000000000",
      message: decodeURIComponent(request.body.replaceAll("+", " ")),
    }),
  }));
});
after(async () => {
  await server.close();
  await harness.close();
});

const flows: { name: string; entry: () => CredentialDescription }[] = [
  { name: "client secret", entry: () => ({ sourceType: "ClientSecret", clientSecret: SECRET }) },
  { name: "unbound certificate (PEM)", entry: () => ({ sourceType: "Path", certificateDiskPath: pemPath }) },
  { name: "unbound certificate (PFX with password)", entry: () => ({ sourceType: "Path", certificateDiskPath: pfxPath, certificatePassword: PFX_PASSWORD }) },
  { name: "bound certificate (PFX with password)", entry: () => ({ sourceType: "Path", certificateDiskPath: pfxPath, certificatePassword: PFX_PASSWORD, useBoundCredential: true }) },
];

describe("a host that echoes the request form into its error", () => {
  for (const flow of flows) {
    test(`${flow.name}: nothing the request carried reaches the error or the log`, async () => {
      const logs = captureLogs("verbose");
      server.requests.length = 0;
      let error: unknown;
      try {
        const credential = harness.credential(
          harness.options(app, [flow.entry()], { authorityHost: server.origin, mtlsAuthorityHost: server.origin }),
        );
        error = await credential.getToken(STORAGE_SCOPE).then(
          () => assert.fail("the echoing host gave no token"),
          (e: unknown) => e,
        );
      } finally {
        logs.stop();
      }
      assert.ok(error instanceof Error);
      assert.ok(server.requests.length > 0, "the request reached the echoing host");
      // What the request carried and a caller could be hurt by: the secret, the assertion, the password.
      const canaries = new Set<string>([SECRET, PFX_PASSWORD, encodeURIComponent(SECRET), encodeURIComponent(PFX_PASSWORD)]);
      let carried = 0;
      for (const request of server.requests) {
        const form = new URLSearchParams(request.body);
        for (const name of ["client_secret", "client_assertion"]) {
          const value = form.get(name);
          if (value !== null) {
            carried++;
            canaries.add(value);
            // The signature alone is enough to replay an assertion.
            const signature = value.split(".")[2];
            if (signature !== undefined && signature.length > 20) canaries.add(signature);
          }
        }
      }
      assert.ok(carried > 0, "the request carried a secret or an assertion");
      const texts = [
        error.message,
        inspect(error, { depth: Infinity, showHidden: true }),
        JSON.stringify(error),
        ...everyTextOf(error, (value) => inspect(value, { depth: Infinity, showHidden: true })),
        ...logs.lines,
      ];
      for (const text of texts) {
        for (const canary of canaries) {
          assert.ok(!text.includes(canary), `a secret value (${canary.slice(0, 6)}…) is in: ${text.slice(Math.max(0, text.indexOf(canary) - 80), text.indexOf(canary) + 20)}`);
        }
      }
      // The server's words are still there for the reader, with the secret cut out.
      assert.match(error.message, /AADSTS7000215/);
      assert.match(inspect(error, { depth: Infinity }), /You sent: .*\[REDACTED\]/);
    });
  }
});

describe("SecretScrubber", () => {
  test("cuts a secret in every encoding, any JWT and credential form fields, and leaves the original error alone", async () => {
    const { REDACTED, SecretScrubber } = await import("../../src/transport/scrub.ts");
    const secret = 'a secret with spaces & "quotes" +/=';
    const scrubber = new SecretScrubber([secret, "short"]);
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz";
    const text = [
      secret,
      encodeURIComponent(secret),
      new URLSearchParams({ client_secret: secret }).toString(),
      JSON.stringify({ s: secret }),
      `client_assertion=${jwt}`,
      `assertion=opaque-value-123&grant_type=x`,
      `{"password":"hunter2-hunter2"}`,
    ].join(" | ");
    const scrubbed = scrubber.text(text);
    for (const leaked of [secret, encodeURIComponent(secret), "quotes", jwt, "opaque-value-123", "hunter2"]) {
      assert.ok(!scrubbed.includes(leaked), `${leaked} is left in ${scrubbed}`);
    }
    assert.ok(scrubbed.includes(REDACTED));
    assert.ok(scrubbed.includes("grant_type=x"), "what is not a secret stays");
    assert.equal(scrubber.text("short words stay"), "short words stay");

    const inner = new Error(`echo: ${secret}`);
    const outer = new AggregateError([inner, new DOMException(`aborted ${jwt}`, "AbortError")], "failures", { cause: inner });
    Object.assign(outer, { body: { form: `client_secret=${encodeURIComponent(secret)}` } });
    const copy = scrubber.error(outer);
    assert.ok(copy instanceof AggregateError);
    const rendered = inspect(copy, { depth: Infinity, showHidden: true });
    assert.ok(!rendered.includes("quotes") && !rendered.includes(jwt), rendered);
    assert.equal((copy.errors[1] as DOMException).name, "AbortError");
    assert.ok(inner.message.includes(secret), "the original is not changed");
    const clean = new Error("nothing secret here");
    assert.equal(scrubber.error(clean), clean, "an error with nothing to cut is passed through as it is");
  });
});
