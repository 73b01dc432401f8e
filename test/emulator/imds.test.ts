import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { request } from "undici";
import {
  startEmulator,
  journalHash,
  type Emulator,
  type RegisteredManagedIdentity,
} from "../../src/emulator/index.ts";
import { aadsts, createBindingCsr, decodeClaims, derToPem, get } from "./helpers.ts";

const METADATA = { metadata: "true" };

async function postJson(url: string, body: unknown, headers: Record<string, string> = METADATA) {
  const response = await request(url, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, json: JSON.parse(text) as Record<string, unknown> };
}

describe("IMDS v1", () => {
  let emulator: Emulator;
  let system: RegisteredManagedIdentity;
  let user: RegisteredManagedIdentity;
  const tokenUrl = (query: string) =>
    `${emulator.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&${query}`;

  before(async () => {
    emulator = await startEmulator({ managedIdentityTokenLifetimeSeconds: 7200 });
    system = emulator.registerManagedIdentity({ kind: "system" });
    user = emulator.registerManagedIdentity({ kind: "user" });
  });
  after(() => emulator.close());

  test("without Metadata: true the answer is 400 (what probes look for)", async () => {
    const response = await get(emulator, tokenUrl("resource=https://storage.azure.com"));
    assert.equal(response.status, 400);
    assert.deepEqual(response.json, { error: "invalid_request", error_description: "Required metadata header not specified" });
    assert.match(String(response.headers["server"]), /^IMDS\//);
  });

  test("a token answer is shaped as IMDS sends it: strings, expires_on absolute", async () => {
    const response = await get(emulator, tokenUrl("resource=https://storage.azure.com"), METADATA);
    assert.equal(response.status, 200);
    for (const name of ["access_token", "client_id", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type"]) {
      assert.equal(typeof response.json[name], "string", name);
    }
    assert.equal(response.json["client_id"], system.clientId);
    assert.equal(response.json["expires_in"], "7200");
    assert.equal(response.json["token_type"], "Bearer");
    assert.equal(response.json["resource"], "https://storage.azure.com");
    const claims = decodeClaims(String(response.json["access_token"]));
    assert.equal(String(claims["exp"]), response.json["expires_on"]);
    assert.equal(claims["oid"], system.objectId);
    assert.equal(claims["xms_mirid"], system.resourceId);
    assert.equal(claims["iss"], `https://sts.windows.net/${emulator.tenantId}/`);
  });

  test("client_id, object_id and msi_res_id select a user-assigned identity", async () => {
    for (const query of [`client_id=${user.clientId}`, `object_id=${user.objectId}`, `msi_res_id=${encodeURIComponent(user.resourceId)}`]) {
      const response = await get(emulator, tokenUrl(`resource=https://vault.azure.net&${query}`), METADATA);
      assert.equal(response.status, 200, query);
      assert.equal(response.json["client_id"], user.clientId);
    }
  });

  test("an unknown identity, two selectors, a missing resource or api-version are IMDS 400s", async () => {
    const unknown = await get(emulator, tokenUrl("resource=https://vault.azure.net&client_id=00000000-0000-0000-0000-000000000001"), METADATA);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json["error_description"], "Identity not found");
    const two = await get(emulator, tokenUrl(`resource=https://vault.azure.net&client_id=${user.clientId}&object_id=${user.objectId}`), METADATA);
    assert.equal(two.status, 400);
    const noResource = await get(emulator, tokenUrl(""), METADATA);
    assert.match(String(noResource.json["error_description"]), /resource/);
    const noVersion = await get(emulator, `${emulator.imdsEndpoint}/metadata/identity/oauth2/token?resource=x`, METADATA);
    assert.match(String(noVersion.json["error_description"]), /api-version/);
  });

  test("an unknown resource is answered with the ESTS-shaped AADSTS500011", async () => {
    const response = await get(emulator, tokenUrl("resource=https://unknown.example"), METADATA);
    assert.equal(response.status, 400);
    assert.equal(response.json["error"], "invalid_resource");
    assert.equal(aadsts(response), 500011);
  });

  test("with two user-assigned identities and no system one, a selector is required", async () => {
    const users = await startEmulator();
    try {
      users.registerManagedIdentity({ kind: "user" });
      users.registerManagedIdentity({ kind: "user" });
      const response = await get(
        users,
        `${users.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com`,
        METADATA,
      );
      assert.equal(response.status, 400);
      assert.match(String(response.json["error_description"]), /Multiple user assigned identities/);
    } finally {
      await users.close();
    }
  });

  test("instance compute metadata carries the location; without api-version a 400 lists newest versions", async () => {
    const located = await startEmulator({ location: "swedencentral", imds: { v2: false } });
    try {
      const response = await get(located, `${located.imdsEndpoint}/metadata/instance/compute?api-version=2021-02-01`, METADATA);
      assert.equal(response.status, 200);
      assert.equal(response.json["location"], "swedencentral");
      assert.equal(response.json["osType"], "Linux");
      const bare = await get(located, `${located.imdsEndpoint}/metadata/instance/compute`, METADATA);
      assert.equal(bare.status, 400);
      assert.ok(Array.isArray(bare.json["newest-versions"]));
      // A v1-only host: the v2 routes do not exist.
      const v2 = await get(located, `${located.imdsEndpoint}/metadata/identity/getplatformmetadata?cred-api-version=2.0`, METADATA);
      assert.equal(v2.status, 404);
      const issue = await request(`${located.imdsEndpoint}/metadata/identity/issuecredential?cred-api-version=2.0`, {
        method: "POST",
        headers: METADATA,
        body: "{}",
      });
      await issue.body.dump();
      assert.equal(issue.statusCode, 404);
    } finally {
      await located.close();
    }
  });
});

describe("IMDS v2 binding certificates", () => {
  let emulator: Emulator;
  let identity: RegisteredManagedIdentity;
  let metadata: { cuId: Record<string, string>; clientId: string; tenantId: string };
  const issueUrl = () => `${emulator.imdsEndpoint}/metadata/identity/issuecredential?cred-api-version=2.0`;

  before(async () => {
    emulator = await startEmulator({ imds: { bindingCertificateLifetimeSeconds: 3 * 86_400, vmssId: "vmss-1" } });
    identity = emulator.registerManagedIdentity({ kind: "system" });
    const response = await get(emulator, `${emulator.imdsEndpoint}/metadata/identity/getplatformmetadata?cred-api-version=2.0`, METADATA);
    assert.equal(response.status, 200);
    metadata = response.json as typeof metadata;
  });
  after(() => emulator.close());

  const goodCsr = () =>
    createBindingCsr({ subject: `DC=${metadata.tenantId}, CN=${metadata.clientId}`, cuIdJson: JSON.stringify(metadata.cuId) });

  test("getplatformmetadata answers cuId, clientId, tenantId, attestationEndpoint with a Server: IMDS header", async () => {
    const response = await get(emulator, `${emulator.imdsEndpoint}/metadata/identity/getplatformmetadata?cred-api-version=2.0`, METADATA);
    assert.match(String(response.headers["server"]), /IMDS/);
    assert.equal(response.json["clientId"], identity.clientId);
    assert.equal(response.json["tenantId"], emulator.tenantId);
    assert.equal(typeof response.json["attestationEndpoint"], "string");
    assert.equal((response.json["cuId"] as Record<string, string>)["vmssId"], "vmss-1");
    const probe = await get(emulator, `${emulator.imdsEndpoint}/metadata/identity/getplatformmetadata?cred-api-version=2.0`);
    assert.equal(probe.status, 400);
  });

  test("issuecredential issues a certificate for the CSR key from the managed identity CA", async () => {
    const { csrBase64, privateKeyPem } = await goodCsr();
    const response = await postJson(issueUrl(), { csr: csrBase64, attestation_token: "attestation-jwt" });
    assert.equal(response.status, 200, JSON.stringify(response.json));
    assert.equal(response.json["client_id"], identity.clientId);
    assert.equal(response.json["tenant_id"], emulator.tenantId);
    assert.equal(response.json["identity_type"], "SystemAssigned");
    assert.equal(response.json["mtls_authentication_endpoint"], emulator.mtlsAuthorityHost);
    const certificate = new X509Certificate(derToPem(String(response.json["certificate"])));
    assert.ok(certificate.checkPrivateKey(createPrivateKey(privateKeyPem)));
    assert.ok(certificate.checkIssued(new X509Certificate(emulator.managedIdentityCaCertificatePem)));
    assert.match(certificate.subject, new RegExp(`CN=${identity.clientId}`));
    assert.match(certificate.subject, new RegExp(`DC=${emulator.tenantId}`));
    const lifetime = Date.parse(certificate.validTo) - Date.parse(certificate.validFrom);
    assert.ok(Math.abs(lifetime - (3 * 86_400_000 + 60_000)) < 2000);
    assert.equal(emulator.journal.last("imds.issueCredential")?.form["attestation_token"], journalHash("attestation-jwt"));
  });

  test("CSRs with anything wrong are IMDS-shaped 400s", async () => {
    const cuIdJson = JSON.stringify(metadata.cuId);
    const subject = `DC=${metadata.tenantId}, CN=${metadata.clientId}`;
    const cases: [string, Promise<{ csrBase64: string }>, RegExp][] = [
      ["wrong subject", createBindingCsr({ subject: `CN=${metadata.clientId}`, cuIdJson }), /subject/],
      ["wrong client", createBindingCsr({ subject: `DC=${metadata.tenantId}, CN=someone-else`, cuIdJson }), /subject/],
      ["no cuId", createBindingCsr({ subject, cuIdJson, withoutCuId: true }), /1\.3\.6\.1\.4\.1\.311\.90\.2\.10/],
      ["other cuId", createBindingCsr({ subject, cuIdJson: JSON.stringify({ vmId: "other" }) }), /cuId/],
      ["PKCS#1 signature", createBindingCsr({ subject, cuIdJson, signing: "pkcs1" }), /RSASSA-PSS/],
      ["RSA 3072", createBindingCsr({ subject, cuIdJson, keyBits: 3072 }), /RSA 2048/],
    ];
    for (const [name, csr, message] of cases) {
      const response = await postJson(issueUrl(), { csr: (await csr).csrBase64 });
      assert.equal(response.status, 400, name);
      assert.equal(response.json["error"], "invalid_request", name);
      assert.match(String(response.json["error_description"]), message, name);
    }
    const { csrBase64 } = await goodCsr();
    const der = Buffer.from(csrBase64, "base64");
    der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0xff;
    const tampered = await postJson(issueUrl(), { csr: der.toString("base64") });
    assert.match(String(tampered.json["error_description"]), /signature/);
    assert.equal((await postJson(issueUrl(), { csr: "not base64!" })).status, 400);
    assert.equal((await postJson(issueUrl(), {})).status, 400);
    assert.equal((await postJson(issueUrl(), "{not json")).status, 400);
  });

  test("issuecredential without Metadata: true or with another cred-api-version is 400", async () => {
    const { csrBase64 } = await goodCsr();
    assert.equal((await postJson(issueUrl(), { csr: csrBase64 }, {})).status, 400);
    const other = await postJson(`${emulator.imdsEndpoint}/metadata/identity/issuecredential?cred-api-version=1.0`, { csr: csrBase64 });
    assert.equal(other.status, 400);
  });

  test("requireAttestation: no attestation_token is a 400, one is recorded as a hash", async () => {
    const attested = await startEmulator({ imds: { requireAttestation: true } });
    try {
      attested.registerManagedIdentity({ kind: "system" });
      const meta = (await get(attested, `${attested.imdsEndpoint}/metadata/identity/getplatformmetadata?cred-api-version=2.0`, METADATA)).json;
      const { csrBase64 } = await createBindingCsr({
        subject: `DC=${String(meta["tenantId"])}, CN=${String(meta["clientId"])}`,
        cuIdJson: JSON.stringify(meta["cuId"]),
      });
      const url = `${attested.imdsEndpoint}/metadata/identity/issuecredential?cred-api-version=2.0`;
      const missing = await postJson(url, { csr: csrBase64 });
      assert.equal(missing.status, 400);
      assert.equal(missing.json["error_description"], "Attestation Token is missing / empty in the issue credential request");
      const ok = await postJson(url, { csr: csrBase64, attestation_token: "maa-token" });
      assert.equal(ok.status, 200);
      assert.equal(attested.journal.last("imds.issueCredential")?.form["attestation_token"], journalHash("maa-token"));
    } finally {
      await attested.close();
    }
  });
});
