import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { after, before, beforeEach, describe, test } from "node:test";
import { SDK_VERSION } from "../../src/constants.ts";
import { EntraError } from "../../src/transport/entraError.ts";
import { TransportError } from "../../src/transport/errors.ts";
import { HttpClient } from "../../src/transport/httpClient.ts";
import { postTokenRequest } from "../../src/transport/tokenClient.ts";
import { TokenResponseError } from "../../src/transport/tokenResponse.ts";
import { closedPort, createPki, json, loaded, type Pki, recordingSleep, startHttpServer, startHttpsServer, type TestServer } from "./fixtures.ts";

const TOKEN = "canary-token-value";
const ok = { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: TOKEN };

/** One scripted answer per attempt; the last one repeats. */
type Answer = (res: ServerResponse) => void;
let script: Answer[] = [];
let server: TestServer;
let http: HttpClient;

const answer = (status: number, body: unknown = ok, headers: Record<string, string> = {}): Answer => (res) => json(res, status, body, headers);

before(async () => {
  server = await startHttpServer((_req, res) => {
    const index = Math.min(server.requests.length - 1, script.length - 1);
    const next = script[index];
    if (next === undefined) json(res, 500, { error: "no script" });
    else next(res);
  });
  http = new HttpClient({ headersTimeoutMs: 5000 });
});

after(async () => {
  await http.close();
  await server.close();
});

beforeEach(() => {
  server.requests.length = 0;
  script = [];
});

function request(overrides: Partial<Parameters<typeof postTokenRequest>[1]> = {}, sleep = recordingSleep()) {
  return postTokenRequest(http, {
    url: `${server.origin}/tenant/oauth2/v2.0/token`,
    form: { client_id: "app", grant_type: "client_credentials", scope: "https://x/.default", client_assertion: "ASSERTION-CANARY" },
    correlationId: "corr-1",
    retry: { sleep: sleep.sleep },
    ...overrides,
  });
}

describe("postTokenRequest", () => {
  test("POSTs the form with the MSAL headers and returns the parsed token", async () => {
    script = [answer(200)];
    const response = await request();
    assert.equal(response.accessToken, TOKEN);
    assert.equal(response.expiresInSeconds, 3599);
    assert.equal(server.requests.length, 1);
    const seen = server.requests[0];
    assert.ok(seen !== undefined);
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/tenant/oauth2/v2.0/token");
    assert.match(String(seen.headers["content-type"]), /^application\/x-www-form-urlencoded/);
    assert.equal(seen.headers["client-request-id"], "corr-1");
    assert.equal(seen.headers["return-client-request-id"], "true");
    assert.equal(seen.headers["x-client-sku"], "bound-client-credential");
    assert.equal(seen.headers["x-client-ver"], SDK_VERSION);
    assert.equal(seen.headers["x-client-os"], process.platform);
    assert.equal(seen.headers["x-ms-lib-capability"], "retry-after, h429");
    const form = new URLSearchParams(seen.body);
    assert.equal(form.get("client_id"), "app");
    assert.equal(form.get("scope"), "https://x/.default");
    assert.equal(form.get("client_assertion"), "ASSERTION-CANARY");
  });

  test("500 then 200: two attempts, one wait of 1 s", async () => {
    script = [answer(500, { error: "server_error" }), answer(200)];
    const sleep = recordingSleep();
    const response = await request({}, sleep);
    assert.equal(response.accessToken, TOKEN);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(sleep.delays, [1000]);
  });

  test("500 twice: two attempts, then the EntraError", async () => {
    script = [answer(500, { error: "server_error", error_description: "AADSTS90033: A transient error has occurred." })];
    const sleep = recordingSleep();
    await assert.rejects(request({}, sleep), (err: unknown) => {
      assert.ok(err instanceof EntraError);
      assert.equal(err.status, 500);
      assert.equal(err.aadsts, 90033);
      return true;
    });
    assert.equal(server.requests.length, 2);
    assert.deepEqual(sleep.delays, [1000]);
  });

  test("503 with a long Retry-After: one attempt, the wait is surfaced, not slept", async () => {
    script = [answer(503, { error: "temporarily_unavailable" }, { "retry-after": "30" }), answer(200)];
    const sleep = recordingSleep();
    await assert.rejects(request({}, sleep), (err: unknown) => {
      assert.ok(err instanceof EntraError);
      assert.equal(err.status, 503);
      assert.equal(err.retryAfterMs, 30_000);
      return true;
    });
    assert.equal(server.requests.length, 1);
    assert.deepEqual(sleep.delays, []);
  });

  test("429 with a Retry-After beyond the cap: one attempt, retryAfterMs capped at 60 s", async () => {
    script = [answer(429, { error: "throttled" }, { "retry-after": "7200" })];
    const sleep = recordingSleep();
    await assert.rejects(request({}, sleep), (err: unknown) => err instanceof EntraError && err.retryAfterMs === 60_000);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(sleep.delays, []);
  });

  test("429 with a short Retry-After: waited on once, exactly that long", async () => {
    script = [answer(429, { error: "throttled" }, { "retry-after": "1" }), answer(200)];
    const sleep = recordingSleep();
    const response = await request({}, sleep);
    assert.equal(response.accessToken, TOKEN);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(sleep.delays, [1000]);
  });

  test("429 without Retry-After and 400 are not retried", async () => {
    for (const status of [429, 400, 401]) {
      server.requests.length = 0;
      script = [answer(status, { error: "invalid_client", error_codes: [700027], error_description: "AADSTS700027: nope" })];
      const sleep = recordingSleep();
      await assert.rejects(request({}, sleep), (err: unknown) => err instanceof EntraError && err.status === status && err.aadsts === 700027);
      assert.equal(server.requests.length, 1, `status ${status}`);
      assert.deepEqual(sleep.delays, []);
    }
  });

  test("an HTML 502 page twice gives unknown_error after the retry", async () => {
    script = [
      (res) => {
        res.writeHead(502, { "content-type": "text/html" });
        res.end("<html><title>Bad Gateway</title></html>");
      },
    ];
    await assert.rejects(request(), (err: unknown) => err instanceof EntraError && err.error === "unknown_error" && err.status === 502);
    assert.equal(server.requests.length, 2);
  });

  test("a timeout is retried once", async () => {
    script = [() => undefined /* never answers */, answer(200)];
    const sleep = recordingSleep();
    const response = await request({ timeoutMs: 100 }, sleep);
    assert.equal(response.accessToken, TOKEN);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(sleep.delays, [1000]);
  });

  test("a refused connection is not retried", async () => {
    const port = await closedPort();
    const sleep = recordingSleep();
    await assert.rejects(request({ url: `http://127.0.0.1:${port}/t/oauth2/v2.0/token` }, sleep), (err: unknown) => err instanceof TransportError && err.kind === "connect");
    assert.deepEqual(sleep.delays, []);
  });

  test("an abort while waiting to retry rejects at once with kind aborted", async () => {
    script = [answer(500, { error: "server_error" })];
    const controller = new AbortController();
    const pending = request({
      signal: controller.signal,
      retry: {
        sleep: (_ms, signal) =>
          new Promise<void>((_resolve, reject) => {
            signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
            controller.abort();
          }),
      },
    });
    await assert.rejects(pending, (err: unknown) => err instanceof TransportError && err.kind === "aborted");
    assert.equal(server.requests.length, 1);
  });

  test("a malformed 200 is a TokenResponseError; the wrong token type too when one is expected", async () => {
    script = [answer(200, { token_type: "Bearer", expires_in: 1 })];
    await assert.rejects(request(), (err: unknown) => err instanceof TokenResponseError && err.field === "access_token");
    script = [(res) => res.end("not json")];
    server.requests.length = 0;
    await assert.rejects(request(), (err: unknown) => err instanceof TokenResponseError && err.field === "body");
    script = [answer(200, { ...ok, token_type: "mtls_pop" })];
    await assert.rejects(request({ expectedTokenType: "Bearer" }), (err: unknown) => err instanceof TokenResponseError && err.field === "token_type");
  });

  test("errors never contain the request body", async () => {
    script = [answer(400, { error: "invalid_request", error_description: "AADSTS900144: The request body must contain client_id." })];
    await assert.rejects(request(), (err: unknown) => err instanceof Error && !err.message.includes("ASSERTION-CANARY") && !err.message.includes(TOKEN));
  });
});

describe("postTokenRequest over mutual TLS", () => {
  let pki: Pki;
  let mtls: TestServer;
  before(async () => {
    pki = await createPki();
    mtls = await startHttpsServer(
      { key: pki.server.privateKeyPem, cert: pki.server.certificatePem, ca: [pki.ca.certificatePem], requestCert: true, rejectUnauthorized: true },
      (_req, res) => json(res, 200, ok),
    );
  });
  after(() => mtls.close());

  test("presents the certificate and reuses one connection for many token requests", async () => {
    const client = new HttpClient({ ca: [pki.ca.certificatePem] });
    const certificate = loaded(pki.clientA);
    try {
      for (let i = 0; i < 20; i++) {
        const response = await postTokenRequest(client, {
          url: `${mtls.origin}/tenant/oauth2/v2.0/token`,
          form: { client_id: "app", scope: `https://scope${i}/.default`, grant_type: "client_credentials" },
          correlationId: `c${i}`,
          clientCertificate: certificate,
        });
        assert.equal(response.accessToken, TOKEN);
      }
      assert.equal(mtls.connections(), 1);
      assert.ok(mtls.requests.every((seen) => seen.clientThumbprint === certificate.thumbprintSha256));
    } finally {
      await client.close();
    }
  });
});
