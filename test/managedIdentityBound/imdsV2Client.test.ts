import { describe, test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpClient } from "../../src/transport/httpClient.ts";
import { ImdsV2Client, ImdsV2Error, type ManagedIdentitySelector } from "../../src/transport/imdsV2.ts";
import { TransportError } from "../../src/transport/errors.ts";

/** A scripted stand-in for IMDS: each request takes the next answer of its path. */
interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const METADATA = {
  cuId: { vmId: "vm-1", vmssId: null },
  clientId: "11111111-1111-1111-1111-111111111111",
  tenantId: "22222222-2222-2222-2222-222222222222",
  attestationEndpoint: "https://attest.example",
};
const IMDS_SERVER = { server: "IMDS/150.870.65.1854" };

describe("ImdsV2Client", () => {
  let server: http.Server;
  let endpoint: string;
  let client: HttpClient;
  const script = new Map<string, Answer[]>();
  const seen: Seen[] = [];
  const delays: number[] = [];
  const sleep = async (ms: number): Promise<void> => {
    delays.push(ms);
  };
  const imds = (): ImdsV2Client => new ImdsV2Client({ http: client, endpoint, retry: { sleep } });

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://imds");
        seen.push({ method: req.method ?? "", path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (url.pathname.startsWith("/hang/")) return; // never answers: a timeout
        const answer = script.get(url.pathname)?.shift() ?? { status: 500, body: { error: "unscripted" } };
        res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
        res.end(typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body ?? {}));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new HttpClient();
  });

  after(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    script.clear();
    seen.length = 0;
    delays.length = 0;
  });

  const answer = (path: string, ...answers: Answer[]): void => {
    script.set(`/metadata/identity/${path}`, answers);
  };

  test("getplatformmetadata: version, headers, each selector, and the parsed answer", async () => {
    const selectors: [ManagedIdentitySelector, string | undefined, string | undefined][] = [
      [{ kind: "system" }, undefined, undefined],
      [{ kind: "clientId", value: "abc" }, "client_id", "abc"],
      [{ kind: "objectId", value: "def" }, "object_id", "def"],
      [{ kind: "resourceId", value: "/subscriptions/s/resourceGroups/g/providers/x/y" }, "mi_res_id", "/subscriptions/s/resourceGroups/g/providers/x/y"],
    ];
    for (const [selector, name, value] of selectors) {
      answer("getplatformmetadata", { status: 200, body: METADATA, headers: IMDS_SERVER });
      const metadata = await imds().getPlatformMetadata(selector, { correlationId: "corr-1" });
      assert.deepEqual(metadata, {
        cuId: { vmId: "vm-1", vmssId: undefined },
        clientId: METADATA.clientId,
        tenantId: METADATA.tenantId,
        attestationEndpoint: METADATA.attestationEndpoint,
      });
      const request = seen.at(-1);
      assert.ok(request !== undefined);
      assert.equal(request.method, "GET");
      assert.equal(request.query.get("cred-api-version"), "2.0");
      assert.equal(request.headers["metadata"], "true");
      assert.equal(request.headers["x-ms-client-request-id"], "corr-1");
      for (const other of ["client_id", "object_id", "mi_res_id", "msi_res_id"]) {
        assert.equal(request.query.get(other), other === name ? value : null);
      }
    }
  });

  test("getplatformmetadata: 404 is v1-only at once, without retries", async () => {
    answer("getplatformmetadata", { status: 404, body: { error: "not_found" } }, { status: 200, body: METADATA, headers: IMDS_SERVER });
    await assert.rejects(imds().getPlatformMetadata({ kind: "system" }), (err: unknown) => {
      assert.ok(err instanceof ImdsV2Error);
      assert.equal(err.kind, "v2-unavailable");
      assert.match(err.message, /404.*IMDS v1 only/);
      return true;
    });
    assert.equal(seen.length, 1);
    assert.deepEqual(delays, []);
  });

  test("getplatformmetadata: 5xx and 429 are retried with MSAL's delays", async () => {
    answer(
      "getplatformmetadata",
      { status: 500 },
      { status: 429 },
      { status: 503 },
      { status: 200, body: METADATA, headers: IMDS_SERVER },
    );
    await imds().getPlatformMetadata({ kind: "system" });
    assert.equal(seen.length, 4);
    assert.deepEqual(delays, [1000, 2000, 4000]);
  });

  test("getplatformmetadata: a first 410 allows 7 retries of 10 s", async () => {
    answer("getplatformmetadata", ...Array.from({ length: 7 }, () => ({ status: 410 })), { status: 200, body: METADATA, headers: IMDS_SERVER });
    await imds().getPlatformMetadata({ kind: "system" });
    assert.deepEqual(delays, Array.from({ length: 7 }, () => 10_000));
  });

  test("getplatformmetadata: refuses an answer without Server: IMDS", async () => {
    answer("getplatformmetadata", { status: 200, body: METADATA, headers: { server: "nginx" } });
    await assert.rejects(imds().getPlatformMetadata({ kind: "system" }), (err: unknown) => {
      assert.ok(err instanceof ImdsV2Error);
      assert.equal(err.kind, "not-imds");
      assert.match(err.message, /Server: nginx/);
      return true;
    });
  });

  test("getplatformmetadata: names a missing or wrong field", async () => {
    const cases: [unknown, RegExp][] = [
      [{ ...METADATA, clientId: "" }, /clientId/],
      [{ ...METADATA, tenantId: undefined }, /tenantId: it is missing/],
      [{ ...METADATA, attestationEndpoint: 5 }, /attestationEndpoint/],
      [{ ...METADATA, cuId: {} }, /cuId: it has neither vmId nor vmssId/],
      [{ ...METADATA, cuId: "vm" }, /cuId/],
      ["not json", /not JSON/],
    ];
    for (const [body, message] of cases) {
      answer("getplatformmetadata", { status: 200, body, headers: IMDS_SERVER });
      await assert.rejects(imds().getPlatformMetadata({ kind: "system" }), (err: unknown) => {
        assert.ok(err instanceof ImdsV2Error);
        assert.equal(err.kind, "invalid-response");
        assert.match(err.message, message);
        return true;
      });
    }
  });

  test("a user-assigned identity IMDS does not know is reported as such, on either call", async () => {
    const notFound = { status: 400, body: { error: "invalid_request", error_description: "Identity not found" } };
    answer("getplatformmetadata", notFound);
    answer("issuecredential", notFound);
    const selector = { kind: "clientId", value: "abc" } as const;
    for (const call of [() => imds().getPlatformMetadata(selector), () => imds().issueCredential(selector, { csr: "Q1NS" })]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof ImdsV2Error);
        assert.equal(err.kind, "identity-not-found");
        assert.match(err.message, /client_id=abc/);
        return true;
      });
    }
  });

  test("issuecredential: 404 is retried three times (1 s, 2 s, 4 s) then reported", async () => {
    answer("issuecredential", { status: 404 }, { status: 404 }, { status: 404 }, { status: 404 });
    await assert.rejects(imds().issueCredential({ kind: "system" }, { csr: "AAAA" }), (err: unknown) => {
      assert.ok(err instanceof ImdsV2Error);
      assert.equal(err.kind, "http-error");
      assert.equal(err.status, 404);
      return true;
    });
    assert.equal(seen.length, 4);
    assert.deepEqual(delays, [1000, 2000, 4000]);
  });

  test("issuecredential: JSON body, selector, and attestation_token only when given", async () => {
    answer("issuecredential", { status: 400, body: { error: "invalid_request", error_description: "bad csr" } });
    await assert.rejects(imds().issueCredential({ kind: "clientId", value: "abc" }, { csr: "Q1NS" }), ImdsV2Error);
    assert.equal(seen[0]?.method, "POST");
    assert.equal(seen[0]?.query.get("client_id"), "abc");
    assert.equal(seen[0]?.query.get("cred-api-version"), "2.0");
    assert.equal(seen[0]?.headers["metadata"], "true");
    assert.match(seen[0]?.headers["content-type"] ?? "", /^application\/json/);
    assert.deepEqual(JSON.parse(seen[0]?.body ?? ""), { csr: "Q1NS" });

    answer("issuecredential", { status: 400, body: { error: "invalid_request", error_description: "bad csr" } });
    await assert.rejects(imds().issueCredential({ kind: "system" }, { csr: "Q1NS", attestationToken: "att.jwt" }), ImdsV2Error);
    assert.deepEqual(JSON.parse(seen[1]?.body ?? ""), { csr: "Q1NS", attestation_token: "att.jwt" });
  });

  test("issuecredential: a 400 about attestation says whether a token was missing or refused", async () => {
    const attestation400 = {
      status: 400,
      body: { error: "invalid_request", error_description: "Attestation Token is missing / empty in the issue credential request" },
    };
    answer("issuecredential", attestation400);
    await assert.rejects(imds().issueCredential({ kind: "system" }, { csr: "Q1NS" }), (err: unknown) => {
      assert.ok(err instanceof ImdsV2Error);
      assert.equal(err.kind, "attestation-required");
      assert.match(err.message, /attestationProvider/);
      return true;
    });
    answer("issuecredential", attestation400);
    await assert.rejects(
      imds().issueCredential({ kind: "system" }, { csr: "Q1NS", attestationToken: "x" }),
      (err: unknown) => err instanceof ImdsV2Error && err.kind === "attestation-rejected",
    );
  });

  test("issuecredential: all five fields are required and checked", async () => {
    const good = {
      client_id: METADATA.clientId,
      tenant_id: METADATA.tenantId,
      certificate: "not a certificate",
      identity_type: "SystemAssigned",
      mtls_authentication_endpoint: "https://westus2.mtlsauth.example",
    };
    const cases: [unknown, RegExp][] = [
      [{ ...good, client_id: undefined }, /client_id/],
      [{ ...good, tenant_id: "" }, /tenant_id/],
      [{ ...good, tenant_id: "../evil" }, /tenant_id/],
      [{ ...good, identity_type: null }, /identity_type/],
      [{ ...good, mtls_authentication_endpoint: undefined }, /mtls_authentication_endpoint/],
      [{ ...good }, /certificate that is not base64 DER/],
      [{ ...good, certificate: undefined }, /certificate/],
    ];
    for (const [body, message] of cases) {
      answer("issuecredential", { status: 200, body });
      await assert.rejects(imds().issueCredential({ kind: "system" }, { csr: "Q1NS" }), (err: unknown) => {
        assert.ok(err instanceof ImdsV2Error);
        assert.equal(err.kind, "invalid-response");
        assert.match(err.message, message);
        return true;
      });
    }
  });

  test("an address where nothing listens is unreachable after one attempt", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const nowhere = new ImdsV2Client({ http: client, endpoint: `http://127.0.0.1:${port}`, retry: { sleep } });
    await assert.rejects(nowhere.getPlatformMetadata({ kind: "system" }), (err: unknown) => {
      assert.ok(err instanceof ImdsV2Error);
      assert.equal(err.kind, "unreachable");
      assert.ok(err.cause instanceof TransportError);
      assert.equal(err.cause.kind, "connect");
      return true;
    });
    assert.deepEqual(delays, []);
  });

  test("an IMDS that does not answer in time is retried as a timeout, then unreachable", async () => {
    const slow = new ImdsV2Client({ http: client, endpoint: `${endpoint}/hang`, retry: { sleep }, requestTimeoutMs: 50 });
    await assert.rejects(slow.getPlatformMetadata({ kind: "system" }), (err: unknown) => {
      assert.ok(err instanceof ImdsV2Error);
      assert.equal(err.kind, "unreachable");
      assert.ok(err.cause instanceof TransportError);
      assert.equal(err.cause.kind, "timeout");
      return true;
    });
    assert.equal(seen.length, 4);
    assert.deepEqual(delays, [1000, 2000, 4000]);
  });

  test("an abort is an abort, not an unavailable IMDS", async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      imds().getPlatformMetadata({ kind: "system" }, { signal: controller.signal }),
      (err: unknown) => err instanceof TransportError && err.kind === "aborted",
    );
  });
});
