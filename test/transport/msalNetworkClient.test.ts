import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { after, before, beforeEach, describe, test } from "node:test";

const { AuthError, ManagedIdentityApplication } = await import("@azure/msal-node");
const { HttpClient } = await import("../../src/transport/httpClient.ts");
const { TransportError } = await import("../../src/transport/errors.ts");
const { imdsRetryPolicy } = await import("../../src/transport/retry.ts");
const { createMsalNetworkClient, MsalNetworkClient, routedMsalNetworkClient, runWithMsalNetworkClient, transportErrorIn } = await import(
  "../../src/transport/msalNetworkClient.ts"
);
const { closedPort, json, recordingSleep, startHttpServer } = await import("./fixtures.ts");
type TestServer = Awaited<ReturnType<typeof startHttpServer>>;

const TOKEN = "mi-token-canary";

/** An IMDS v1 answer as IMDS sends it: every value a string, `expires_on` absolute. */
function imdsToken(resource: string, lifetimeSeconds = 86_399): Record<string, string> {
  const nowSeconds = Math.floor(Date.now() / 1000);
  return {
    access_token: TOKEN,
    client_id: "mi-client-id",
    expires_in: String(lifetimeSeconds),
    expires_on: String(nowSeconds + lifetimeSeconds),
    ext_expires_in: String(lifetimeSeconds),
    not_before: String(nowSeconds - 60),
    resource,
    token_type: "Bearer",
  };
}

let http: InstanceType<typeof HttpClient>;
let imds: TestServer;
let other: TestServer;
let answer: (url: URL, res: ServerResponse) => void;

before(async () => {
  http = new HttpClient();
  imds = await startHttpServer((req, res) => answer(new URL(req.url ?? "/", "http://x"), res));
  other = await startHttpServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    json(res, 200, { ...imdsToken(url.searchParams.get("resource") ?? ""), access_token: "from-other-imds" });
  });
});
after(async () => {
  await http.close();
  await imds.close();
  await other.close();
});
beforeEach(() => {
  imds.requests.length = 0;
  answer = (url, res) => json(res, 200, imdsToken(url.searchParams.get("resource") ?? ""));
});

function newApp(clientId?: string, networkClient = routedMsalNetworkClient) {
  return new ManagedIdentityApplication({
    ...(clientId === undefined ? {} : { managedIdentityIdParams: { userAssignedClientId: clientId } }),
    system: { networkClient, disableInternalRetries: true },
  });
}

describe("MsalNetworkClient with msal-node's ManagedIdentityApplication", () => {
  test("a real ManagedIdentityApplication gets an IMDS v1 token through the rewritten endpoint", async () => {
    const client = new MsalNetworkClient({ http, rewriteImdsTo: imds.origin });
    const app = newApp();
    const before = Date.now();
    const result = await runWithMsalNetworkClient(client, () =>
      app.acquireToken({ resource: "api://AzureADTokenExchange/.default", forceRefresh: true }),
    );
    assert.equal(result.accessToken, TOKEN);
    assert.equal(result.tokenType, "Bearer");
    assert.ok(result.expiresOn !== null);
    const lifetime = (result.expiresOn.getTime() - before) / 1000;
    assert.ok(lifetime > 86_000 && lifetime <= 86_400, `lifetime ${lifetime}`);
    assert.equal(client.requestCount, 1);
    const seen = imds.requests[0];
    assert.ok(seen !== undefined);
    const url = new URL(seen.url, "http://x");
    assert.equal(url.pathname, "/metadata/identity/oauth2/token");
    assert.equal(url.searchParams.get("api-version"), "2018-02-01");
    assert.equal(url.searchParams.get("resource"), "api://AzureADTokenExchange");
    assert.equal(seen.headers["metadata"], "true");
  });

  test("a user-assigned identity is sent as client_id", async () => {
    const client = createMsalNetworkClient(http, { rewriteImdsTo: imds.origin });
    await runWithMsalNetworkClient(client, () => newApp("11111111-2222-3333-4444-555555555555").acquireToken({ resource: "api://x", forceRefresh: true }));
    const url = new URL(imds.requests[0]?.url ?? "", "http://x");
    assert.equal(url.searchParams.get("client_id"), "11111111-2222-3333-4444-555555555555");
  });

  test("each call is routed to its own client, although msal-node keeps one source per process", async () => {
    const first = createMsalNetworkClient(http, { rewriteImdsTo: imds.origin });
    const second = createMsalNetworkClient(http, { rewriteImdsTo: other.origin });
    const [a, b] = await Promise.all([
      runWithMsalNetworkClient(first, () => newApp().acquireToken({ resource: "api://a", forceRefresh: true })),
      runWithMsalNetworkClient(second, () => newApp().acquireToken({ resource: "api://b", forceRefresh: true })),
    ]);
    assert.equal(a.accessToken, TOKEN);
    assert.equal(b.accessToken, "from-other-imds");
    assert.equal(first.requestCount, 1);
    assert.equal(second.requestCount, 1);
  });

  test("msal-node ignores a later application's own network client (why the routing exists)", async () => {
    const own = createMsalNetworkClient(http, { rewriteImdsTo: other.origin });
    const routed = createMsalNetworkClient(http, { rewriteImdsTo: imds.origin });
    const result = await runWithMsalNetworkClient(routed, () => newApp(undefined, own).acquireToken({ resource: "api://c", forceRefresh: true }));
    assert.equal(own.requestCount, 0);
    assert.equal(routed.requestCount, 1);
    assert.equal(result.accessToken, TOKEN);
  });

  test("an IMDS error answer becomes msal-node's ServerError with the status", async () => {
    answer = (_url, res) => json(res, 400, { error: "invalid_request", error_description: "Identity not found" });
    const client = createMsalNetworkClient(http, { rewriteImdsTo: imds.origin });
    await assert.rejects(
      runWithMsalNetworkClient(client, () => newApp().acquireToken({ resource: "api://d", forceRefresh: true })),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal(err.name, "ServerError");
        assert.equal((err as { errorCode?: string }).errorCode, "invalid_request");
        assert.equal((err as { status?: number }).status, 400);
        return true;
      },
    );
  });

  test("a non-JSON error page still gives a ServerError, not a parsing failure", async () => {
    answer = (_url, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html><title>Bad Gateway</title></html>");
    };
    const client = createMsalNetworkClient(http, { rewriteImdsTo: imds.origin });
    await assert.rejects(
      runWithMsalNetworkClient(client, () => newApp().acquireToken({ resource: "api://e", forceRefresh: true })),
      (err: unknown) => err instanceof Error && err.name === "ServerError" && (err as { errorCode?: string }).errorCode === "unknown_error",
    );
  });

  test("a 2xx body that is not JSON is token_parsing_error", async () => {
    const client = createMsalNetworkClient(http);
    answer = (_url, res) => res.end("plain text");
    await assert.rejects(client.sendGetRequestAsync(`${imds.origin}/plain`), (err: unknown) => err instanceof AuthError && err.errorCode === "token_parsing_error");
  });

  test("an unreachable IMDS is network_error with our TransportError as cause", async () => {
    const port = await closedPort();
    const client = createMsalNetworkClient(http, { rewriteImdsTo: `http://127.0.0.1:${port}` });
    await assert.rejects(
      runWithMsalNetworkClient(client, () => newApp().acquireToken({ resource: "api://f", forceRefresh: true })),
      (err: unknown) => {
        assert.ok(err instanceof AuthError);
        assert.equal(err.errorCode, "network_error");
        const transport = transportErrorIn(err);
        assert.ok(transport instanceof TransportError);
        assert.equal(transport.kind, "connect");
        return true;
      },
    );
  });

  test("the signal given at creation aborts its requests", async () => {
    answer = () => undefined; // never answers
    const controller = new AbortController();
    const client = createMsalNetworkClient(http, { rewriteImdsTo: imds.origin, signal: controller.signal });
    const pending = runWithMsalNetworkClient(client, () => newApp().acquireToken({ resource: "api://g", forceRefresh: true }));
    setTimeout(() => controller.abort(), 30);
    await assert.rejects(pending, (err: unknown) => transportErrorIn(err)?.kind === "aborted");
  });

  test("msal-node's timeout argument and the default timeout apply", async () => {
    answer = () => undefined;
    const client = createMsalNetworkClient(http, { timeoutMs: 60_000 });
    await assert.rejects(client.sendGetRequestAsync(`${imds.origin}/x`, {}, 50), (err: unknown) => transportErrorIn(err)?.kind === "timeout");
    const short = createMsalNetworkClient(http, { timeoutMs: 50 });
    await assert.rejects(short.sendPostRequestAsync(`${imds.origin}/x`, { body: "a=b" }), (err: unknown) => transportErrorIn(err)?.kind === "timeout");
  });

  test("the connect timeout given at creation applies", async () => {
    const { createServer } = await import("node:net");
    const silent = createServer((socket) => socket.on("error", () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve()));
    const port = (silent.address() as { port: number }).port;
    try {
      const client = createMsalNetworkClient(http, { connectTimeoutMs: 100 });
      await assert.rejects(client.sendGetRequestAsync(`https://127.0.0.1:${port}/`), (err: unknown) => {
        const transport = transportErrorIn(err);
        return transport?.kind === "connect" && transport.code === "CONNECT_TIMEOUT";
      });
    } finally {
      silent.close();
    }
  });

  test("the IMDS retry policy applies with the injected sleep", async () => {
    let calls = 0;
    answer = (url, res) => {
      calls++;
      if (calls < 3) json(res, 500, { error: "busy" });
      else json(res, 200, imdsToken(url.searchParams.get("resource") ?? ""));
    };
    const sleep = recordingSleep();
    const client = createMsalNetworkClient(http, { rewriteImdsTo: imds.origin, retryPolicyFor: () => imdsRetryPolicy(), sleep: sleep.sleep });
    const result = await runWithMsalNetworkClient(client, () => newApp().acquireToken({ resource: "api://h", forceRefresh: true }));
    assert.equal(result.accessToken, TOKEN);
    assert.equal(imds.requests.length, 3);
    assert.deepEqual(sleep.delays, [1000, 2000]);
  });

  test("only the IMDS origin is rewritten; a path prefix on the target is kept", () => {
    const client = createMsalNetworkClient(http, { rewriteImdsTo: "http://127.0.0.1:9999/prefix/" });
    assert.equal(client.resolveUrl("http://169.254.169.254/metadata/identity/oauth2/token?a=1").href, "http://127.0.0.1:9999/prefix/metadata/identity/oauth2/token?a=1");
    assert.equal(client.resolveUrl("http://localhost:40342/metadata/identity/oauth2/token?a=1").href, "http://localhost:40342/metadata/identity/oauth2/token?a=1");
    assert.equal(client.resolveUrl("https://169.254.169.254/x").href, "https://169.254.169.254/x");
    assert.equal(createMsalNetworkClient(http).resolveUrl("http://169.254.169.254/x").href, "http://169.254.169.254/x");
  });

  test("outside a routed call the routed client behaves like msal-node's default client", async () => {
    const response = await routedMsalNetworkClient.sendGetRequestAsync<{ access_token: string }>(`${imds.origin}/metadata/identity/oauth2/token?resource=r`);
    assert.equal(response.status, 200);
    assert.equal(response.body.access_token, TOKEN);
    const port = await closedPort();
    await assert.rejects(routedMsalNetworkClient.sendPostRequestAsync(`http://127.0.0.1:${port}/`), (err: unknown) => err instanceof AuthError && err.errorCode === "network_error");
  });
});
