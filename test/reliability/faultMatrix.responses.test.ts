// Fault matrix, answers the emulator cannot script: 200 responses with missing fields or a wrong
// token_type, from a scripted HTTPS token endpoint that the credential trusts (its certificate
// comes from the emulator's CA). Every flow must refuse them with a message that names the field,
// and must not retry: a malformed success is not transient. For the bound managed identity only
// leg 2 (the app's request) goes to the scripted endpoint; leg 1 is the emulator's. The unbound
// flows go through msal-node, whose answers the credential validates with the same parser.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AuthenticationError } from "../../src/errors.ts";
import { jsonBody, outcomeOf, recordingSleep, settlesWithin } from "./support.ts";
import { MatrixSetup, SETTLE_BOUND_MS, STORAGE_SCOPE, VAULT_SCOPE, type Flow } from "./faultMatrixSupport.ts";

const TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzY3JpcHRlZCJ9.c2lnbmF0dXJl";
const HOUR = 3600;

interface ResponseCase {
  readonly name: string;
  readonly body: unknown;
  /** What the entry's line in the error says. */
  readonly reason: RegExp;
}

const CASES: readonly ResponseCase[] = [
  { name: "no access_token", body: { token_type: "Bearer", expires_in: HOUR }, reason: /no access.?token/i },
  { name: "an empty JSON object", body: {}, reason: /no access.?token/i },
  { name: "a JSON array", body: [TOKEN], reason: /not a JSON object|no access.?token/i },
  {
    name: "no expires_in (nor expires_on)",
    body: { token_type: "Bearer", access_token: TOKEN },
    reason: /neither expires_in nor expires_on/,
  },
  {
    name: "no token_type",
    body: { access_token: TOKEN, expires_in: HOUR },
    reason: /no token_type/,
  },
  {
    name: "token_type mtls_pop where Bearer was asked for",
    body: { token_type: "mtls_pop", access_token: TOKEN, expires_in: HOUR },
    reason: /type "mtls_pop"/,
  },
  {
    name: "token_type pop where Bearer was asked for",
    body: { token_type: "pop", access_token: TOKEN, expires_in: HOUR },
    reason: /type "pop"/,
  },
  {
    name: "a negative expires_in",
    body: { token_type: "Bearer", access_token: TOKEN, expires_in: -5 },
    reason: /invalid expires_in/,
  },
  {
    name: "an expires_in of 31 000 years",
    body: { token_type: "Bearer", access_token: TOKEN, expires_in: 1e12 },
    reason: /invalid expires_in/,
  },
  {
    name: "an access_token with a line break (header injection)",
    body: { token_type: "Bearer", access_token: `${TOKEN}\r\nx-injected: 1`, expires_in: HOUR },
    reason: /characters a token cannot have/,
  },
];

let setup: MatrixSetup;
before(async () => {
  setup = await MatrixSetup.start();
});
after(async () => {
  await setup.closeAndCheck();
});

async function run(flow: Flow, c: ResponseCase): Promise<void> {
  const scripted = setup.scripted;
  const sleep = recordingSleep();
  // Unbound flows ask the login host, bound ones the mTLS host: point that one at the script.
  const extra = flow.bound ? { mtlsAuthorityHost: scripted.origin } : { authorityHost: scripted.origin };
  const credential = setup.harness.credential(setup.options(flow, extra), { retry: { sleep: sleep.sleep } });
  try {
    scripted.answer({ status: 200, body: jsonBody(c.body) });
    scripted.requests.length = 0;
    const outcome = await outcomeOf(settlesWithin(credential.getToken(STORAGE_SCOPE), SETTLE_BOUND_MS, "getToken"));
    assert.equal(scripted.requests.length, 1, "one request, no retry");
    assert.deepEqual(sleep.delays, [], "no retry sleep");
    if (flow.bound) {
      assert.ok(scripted.requests[0]?.clientCertificateThumbprintSha256, "the bound request presented its certificate");
    }
    assert.ok("error" in outcome, `expected a refusal, got a token served by ${credential.lastServed?.entryId}`);
    const error = outcome.error;
    assert.ok(error instanceof AuthenticationError, `expected AuthenticationError, got ${String(error)}`);
    const line = error.message.split("\n").find((l) => l.trimStart().startsWith("clientCredentials[0]")) ?? "";
    assert.match(line, /: stop: /);
    assert.match(line, c.reason);
    assert.ok(!error.message.includes(TOKEN), "the token is never quoted");
  } finally {
    await credential.close();
  }
}

for (const flowName of ["unbound certificate", "client secret", "unbound managed identity", "bound certificate", "bound managed identity"] as const) {
  describe(`${flowName}: malformed 200 answers of the token endpoint`, () => {
    for (const c of CASES) {
      test(c.name, async () => {
        const flow = setup.flows().find((f) => f.name === flowName)!;
        await run(flow, c);
      });
    }
  });
}

test("the bound managed identity's leg 1 is the emulator's: a scripted leg 2 does not disturb it", async () => {
  // Sanity check of the rows above: leg 1 (mtls_pop, from IMDS's mtls_authentication_endpoint) went to
  // the emulator, and only the app's request reached the script.
  const flow = setup.flows().find((f) => f.name === "bound managed identity")!;
  const credential = setup.harness.credential(setup.options(flow, { mtlsAuthorityHost: setup.scripted.origin }));
  setup.emulator.journal.clear();
  setup.scripted.requests.length = 0;
  setup.scripted.answer({ status: 200, body: jsonBody({ token_type: "Bearer", access_token: TOKEN, expires_in: HOUR }) });
  const token = await credential.getToken(VAULT_SCOPE);
  assert.equal(token.token, TOKEN);
  assert.equal(setup.emulator.journal.ofRoute("mtls.token").length, 1, "leg 1 at the emulator");
  assert.equal(setup.emulator.journal.last("mtls.token")?.form["token_type"], "mtls_pop");
  assert.equal(setup.scripted.requests.length, 1, "leg 2 at the script");
  assert.match(setup.scripted.requests[0]?.body ?? "", /client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-pop/);
  await credential.close();
});

test("end of file: every credential and server closed, no unhandled rejection, no socket left open", async () => {
  await setup.closeAndCheck();
});
