import "reflect-metadata";
import { describe, test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import * as x509 from "@peculiar/x509";
import { LocalCertificateAuthority } from "../../src/emulator/certificateAuthority.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import { HttpClient } from "../../src/transport/httpClient.ts";
import { createBoundManagedIdentitySource } from "../../src/sources/boundManagedIdentitySource.ts";
import { SourceUnavailableError } from "../../src/sources/types.ts";

/**
 * A scripted IMDS and token host for the failures the emulator cannot produce: an identity other
 * than the configured one, a host that is not IMDS, a certificate for another key, a leg 1 that
 * does not come back bound.
 */
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const HOST_IDENTITY = "11111111-1111-1111-1111-111111111111";
const CONFIGURED_IDENTITY = "22222222-2222-2222-2222-222222222222";

interface Behaviour {
  server?: string | undefined;
  metadataClientId?: string;
  certificateForOtherKey?: boolean;
  leg1TokenType?: string;
}

describe("bound managed identity: unavailable, precisely", () => {
  let ca: LocalCertificateAuthority;
  let imds: http.Server;
  let sts: https.Server;
  let imdsEndpoint: string;
  let stsEndpoint: string;
  let client: HttpClient;
  let behaviour: Behaviour = {};
  const requests: string[] = [];

  before(async () => {
    ca = await LocalCertificateAuthority.create("stub CA");
    const serverCertificate = await ca.issueCertificate({
      subject: "CN=localhost",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      extendedKeyUsage: ["serverAuth"],
    });
    imds = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => void answerImds(req, Buffer.concat(chunks).toString(), res));
    });
    sts = https.createServer(
      { key: serverCertificate.privateKeyPem, cert: serverCertificate.certificatePem, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        requests.push(`sts ${req.url ?? ""}`);
        req.resume();
        req.on("end", () => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ token_type: behaviour.leg1TokenType ?? "mtls_pop", expires_in: 3600, access_token: "a.b.c" }));
        });
      },
    );
    await Promise.all([
      new Promise<void>((resolve) => imds.listen(0, "127.0.0.1", resolve)),
      new Promise<void>((resolve) => sts.listen(0, "127.0.0.1", resolve)),
    ]);
    imdsEndpoint = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
    stsEndpoint = `https://127.0.0.1:${(sts.address() as AddressInfo).port}`;
    client = new HttpClient({ ca: [ca.certificatePem] });
  });

  after(async () => {
    await client.close();
    sts.closeAllConnections();
    await Promise.all([
      new Promise<void>((resolve) => imds.close(() => resolve())),
      new Promise<void>((resolve) => sts.close(() => resolve())),
    ]);
  });

  beforeEach(() => {
    behaviour = {};
    requests.length = 0;
  });

  async function answerImds(req: http.IncomingMessage, body: string, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://imds");
    requests.push(`imds ${url.pathname}`);
    const headers: Record<string, string> = { "content-type": "application/json" };
    const server = "server" in behaviour ? behaviour.server : "IMDS/150.870.65.1854";
    if (server !== undefined) headers["server"] = server;
    if (url.pathname.endsWith("/getplatformmetadata")) {
      res.writeHead(200, headers);
      res.end(
        JSON.stringify({
          cuId: { vmId: "vm-1" },
          clientId: behaviour.metadataClientId ?? CONFIGURED_IDENTITY,
          tenantId: TENANT,
          attestationEndpoint: "https://attest.example",
        }),
      );
      return;
    }
    const { csr } = JSON.parse(body) as { csr: string };
    let spki = new x509.Pkcs10CertificateRequest(csr).publicKey.rawData;
    if (behaviour.certificateForOtherKey === true) {
      const other = await ca.issueCertificate({ subject: "CN=other" });
      spki = new x509.X509Certificate(other.certificatePem).publicKey.rawData;
    }
    const certificate = await ca.issueForPublicKey(new Uint8Array(spki), {
      subject: `DC=${TENANT}, CN=${CONFIGURED_IDENTITY}`,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
    });
    res.writeHead(200, headers);
    res.end(
      JSON.stringify({
        client_id: CONFIGURED_IDENTITY,
        tenant_id: TENANT,
        certificate: certificate.toString("base64"),
        identity_type: "UserAssigned",
        mtls_authentication_endpoint: stsEndpoint,
      }),
    );
  }

  function source() {
    const options = normalizeOptions(
      {
        tenantId: TENANT,
        clientId: "33333333-3333-3333-3333-333333333333",
        clientCredentials: [
          { sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true, managedIdentityClientId: CONFIGURED_IDENTITY },
        ],
        imdsEndpoint,
      },
      {},
    );
    const entry = options.entries[0];
    assert.ok(entry !== undefined);
    return createBoundManagedIdentitySource(entry, { options, now: Date.now, env: {}, http: client });
  }

  async function unavailable(reason: RegExp): Promise<void> {
    const s = source();
    await assert.rejects(
      (async () => {
        const material = await s.load();
        if (material.kind !== "assertion") throw new Error("not an assertion source");
        await material.getAssertion({ clientId: "x", tenantId: TENANT, tokenEndpoint: "x", bound: true });
      })(),
      (err: unknown) => {
        assert.ok(err instanceof SourceUnavailableError, String(err));
        assert.match(err.reason, reason);
        return true;
      },
    );
  }

  test("the stub itself serves a working flow", async () => {
    const material = await source().load();
    assert.equal(material.kind, "assertion");
    if (material.kind !== "assertion") return;
    const result = await material.getAssertion({ clientId: "x", tenantId: TENANT, tokenEndpoint: "x", bound: true });
    assert.equal(result.assertion, "a.b.c");
    assert.deepEqual(requests, [
      "imds /metadata/identity/getplatformmetadata",
      "imds /metadata/identity/issuecredential",
      `sts /${TENANT}/oauth2/v2.0/token`,
    ]);
  });

  test("the host's managed identity is not the configured one", async () => {
    behaviour.metadataClientId = HOST_IDENTITY;
    await unavailable(
      new RegExp(`managed identity of this host \\(client id ${HOST_IDENTITY}.*is not the configured managedIdentityClientId ${CONFIGURED_IDENTITY}`),
    );
    assert.deepEqual(requests, ["imds /metadata/identity/getplatformmetadata"], "no certificate requested for the wrong identity");
  });

  test("an answer without Server: IMDS", async () => {
    behaviour.server = undefined;
    await unavailable(/without a "Server: IMDS\/…" header.*not the instance metadata service/);
    behaviour.server = "Microsoft-IIS/10.0";
    await unavailable(/Server: Microsoft-IIS\/10\.0/);
  });

  test("a certificate for another key than the CSR's", async () => {
    behaviour.certificateForOtherKey = true;
    await unavailable(/public key is not the key of the request/);
  });

  test("a leg 1 that does not come back mtls_pop", async () => {
    behaviour.leg1TokenType = "Bearer";
    await unavailable(/cannot be used as a bound assertion.*token_type "Bearer" but "mtls_pop" was requested/);
  });
});
