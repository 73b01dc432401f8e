import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID, X509Certificate } from "node:crypto";
import { inspect } from "node:util";
import { startEmulator, journalHash, type Emulator, type RegisteredApp, type RegisteredManagedIdentity } from "../../src/emulator/index.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import type { AttestationContext, BoundClientCredentialOptions } from "../../src/configuration/types.ts";
import { HttpClient } from "../../src/transport/httpClient.ts";
import { postTokenRequest } from "../../src/transport/tokenClient.ts";
import {
  createBoundManagedIdentitySource,
  type BoundManagedIdentityTuning,
} from "../../src/sources/boundManagedIdentitySource.ts";
import { SourceUnavailableError, type AssertionResult, type CredentialSource } from "../../src/sources/types.ts";

const JWT_POP = "urn:ietf:params:oauth:client-assertion-type:jwt-pop";
const HOUR = 3_600_000;

type Entry = BoundClientCredentialOptions["clientCredentials"][number];

/** A clock the test moves by hand. */
class Clock {
  offset = 0;
  readonly now = (): number => Date.now() + this.offset;
}

interface Harness {
  readonly source: CredentialSource & { invalidateBinding(): void };
  readonly clock: Clock;
  readonly delays: number[];
  assertion(signal?: AbortSignal): Promise<AssertionResult>;
}

function harness(
  emulator: Emulator,
  http: HttpClient,
  app: RegisteredApp,
  entry: Partial<Entry> = {},
  extra: { attestationProvider?: (context: AttestationContext) => Promise<string>; env?: Record<string, string> } = {},
): Harness {
  const clock = new Clock();
  const delays: number[] = [];
  const options = normalizeOptions(
    {
      tenantId: emulator.tenantId,
      clientId: app.clientId,
      clientCredentials: [{ sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true, ...entry }],
      authorityHost: emulator.authorityHost,
      mtlsAuthorityHost: emulator.mtlsAuthorityHost,
      imdsEndpoint: emulator.imdsEndpoint,
      tls: { ca: emulator.caCertificatePem },
      ...(extra.attestationProvider === undefined ? {} : { attestationProvider: extra.attestationProvider }),
    },
    {},
  );
  const normalizedEntry = options.entries[0];
  assert.ok(normalizedEntry !== undefined);
  const tuning: BoundManagedIdentityTuning = {
    imdsRetry: {
      sleep: async (ms) => {
        delays.push(ms);
      },
    },
    tokenRetry: { sleep: async () => undefined },
  };
  const source = createBoundManagedIdentitySource(normalizedEntry, {
    options,
    now: clock.now,
    env: extra.env ?? {},
    http,
    tuning,
  });
  return {
    source,
    clock,
    delays,
    async assertion(signal) {
      const material = await source.load(signal);
      assert.equal(material.kind, "assertion");
      if (material.kind !== "assertion") throw new Error("unreachable");
      return material.getAssertion({
        clientId: app.clientId,
        tenantId: emulator.tenantId,
        tokenEndpoint: emulator.mtlsTokenEndpoint(),
        bound: true,
        ...(signal === undefined ? {} : { abortSignal: signal }),
      });
    },
  };
}

function count(emulator: Emulator, route: "imds.platformMetadata" | "imds.issueCredential" | "mtls.token"): number {
  return emulator.journal.ofRoute(route).length;
}

async function rejectsUnavailable(promise: Promise<unknown>, reason: RegExp): Promise<SourceUnavailableError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof SourceUnavailableError, `expected SourceUnavailableError, got ${String(caught)}`);
  assert.match(caught.reason, reason);
  return caught;
}

describe("bound managed identity against the emulator", () => {
  let emulator: Emulator;
  let http: HttpClient;
  let system: RegisteredManagedIdentity;
  let user: RegisteredManagedIdentity;
  let app: RegisteredApp;

  before(async () => {
    emulator = await startEmulator({ managedIdentityTokenLifetimeSeconds: 3600, imds: { bindingCertificateLifetimeSeconds: 86_400 } });
    system = emulator.registerManagedIdentity({ kind: "system" });
    user = emulator.registerManagedIdentity({ kind: "user" });
    app = emulator.registerApp({
      federatedCredentials: [emulator.federatedCredentialFor(system), emulator.federatedCredentialFor(user)],
    });
    http = new HttpClient({ ca: [emulator.caCertificatePem] });
  });

  after(async () => {
    await http.close();
    await emulator.close();
  });

  test("full flow: the emulator accepts the CSR, leg 1 is mtls_pop bound to the binding certificate, leg 2 gives the app's Bearer token", async () => {
    emulator.journal.clear();
    const h = harness(emulator, http, app);
    const result = await h.assertion();

    const certificate = result.bindingCertificate;
    assert.ok(certificate !== undefined);
    const issuer = new X509Certificate(emulator.managedIdentityCaCertificatePem);
    assert.ok(certificate.leaf.verify(issuer.publicKey), "issued by the emulator's managed identity CA");
    assert.ok(certificate.leaf.checkPrivateKey(certificate.privateKey), "the certificate carries our key");

    const claims = await emulator.verifyAccessToken(result.assertion);
    assert.equal(claims["aud"], "api://AzureADTokenExchange");
    assert.equal(claims["appid"], system.clientId);
    assert.deepEqual(claims["cnf"], { "x5t#S256": certificate.x5tS256 });
    assert.ok(result.expiresOnTimestamp !== undefined && Math.abs(result.expiresOnTimestamp - Number(claims["exp"]) * 1000) < 5000);

    const [metadata] = emulator.journal.ofRoute("imds.platformMetadata");
    const [issue] = emulator.journal.ofRoute("imds.issueCredential");
    const [leg1] = emulator.journal.ofRoute("mtls.token");
    assert.ok(metadata !== undefined && issue !== undefined && leg1 !== undefined);
    for (const imds of [metadata, issue]) {
      assert.equal(imds.status, 200);
      assert.equal(imds.query["cred-api-version"], "2.0");
      assert.equal(imds.headers["metadata"], "true");
      assert.match(imds.headers["x-ms-client-request-id"] ?? "", /^[0-9a-f-]{36}$/);
    }
    assert.equal(issue.form["attestation_token"], undefined, "no attestation_token without a provider");
    assert.equal(leg1.status, 200);
    assert.equal(leg1.path, `/${emulator.tenantId}/oauth2/v2.0/token`);
    assert.equal(leg1.tokenType, "mtls_pop");
    assert.equal(leg1.clientCertificateThumbprintSha256, certificate.thumbprintSha256);
    assert.deepEqual(
      { ...leg1.form, "client-request-id": undefined },
      {
        client_id: system.clientId,
        grant_type: "client_credentials",
        scope: "api://AzureADTokenExchange/.default",
        token_type: "mtls_pop",
        "client-request-id": undefined,
      },
    );

    // Leg 2 by hand, as the acquisition layer does it: the binding certificate in TLS, the leg-1 token as jwt-pop.
    const leg2 = await postTokenRequest(http, {
      url: emulator.mtlsTokenEndpoint(),
      form: {
        client_id: app.clientId,
        grant_type: "client_credentials",
        scope: "https://storage.azure.com/.default",
        client_info: "2",
        client_assertion_type: JWT_POP,
        client_assertion: result.assertion,
      },
      clientCertificate: certificate,
      correlationId: randomUUID(),
      expectedTokenType: "Bearer",
    });
    const appClaims = await emulator.verifyAccessToken(leg2.accessToken);
    assert.equal(appClaims["appid"], app.clientId);
    assert.equal(appClaims["aud"], "https://storage.azure.com");
    assert.equal(emulator.journal.last("mtls.token")?.clientCertificateThumbprintSha256, certificate.thumbprintSha256);
  });

  test("leg 2 with the leg-1 token but another certificate is refused (AADSTS500181)", async () => {
    const first = await harness(emulator, http, app).assertion();
    const second = await harness(emulator, http, app).assertion();
    assert.ok(first.bindingCertificate !== undefined && second.bindingCertificate !== undefined);
    assert.notEqual(first.bindingCertificate.thumbprintSha256, second.bindingCertificate.thumbprintSha256);
    await assert.rejects(
      postTokenRequest(http, {
        url: emulator.mtlsTokenEndpoint(),
        form: {
          client_id: app.clientId,
          grant_type: "client_credentials",
          scope: "https://storage.azure.com/.default",
          client_info: "2",
          client_assertion_type: JWT_POP,
          client_assertion: first.assertion,
        },
        clientCertificate: second.bindingCertificate,
        correlationId: randomUUID(),
      }),
      (err: unknown) => (err as { aadsts?: number }).aadsts === 500181,
    );
  });

  test("the certificate and the leg-1 token are reused, the token renewed at its half-life, the certificate at its own", async () => {
    emulator.journal.clear();
    const h = harness(emulator, http, app);
    const first = await h.assertion();
    for (let i = 0; i < 5; i++) {
      const again = await h.assertion();
      assert.equal(again.assertion, first.assertion);
      assert.equal(again.bindingCertificate, first.bindingCertificate);
    }
    assert.equal(count(emulator, "imds.platformMetadata"), 1);
    assert.equal(count(emulator, "imds.issueCredential"), 1);
    assert.equal(count(emulator, "mtls.token"), 1);

    // Past half of the 1 h leg-1 token: a new token, same certificate.
    h.clock.offset = 31 * 60_000;
    const renewedToken = await h.assertion();
    assert.notEqual(renewedToken.assertion, first.assertion);
    assert.equal(renewedToken.bindingCertificate, first.bindingCertificate);
    assert.equal(count(emulator, "imds.issueCredential"), 1);
    assert.equal(count(emulator, "mtls.token"), 2);

    // Past half of the 24 h certificate: a new key and certificate, and a token obtained with it.
    h.clock.offset = 12 * HOUR + 60_000;
    const renewed = await h.assertion();
    assert.ok(renewed.bindingCertificate !== undefined && first.bindingCertificate !== undefined);
    assert.notEqual(renewed.bindingCertificate.thumbprintSha256, first.bindingCertificate.thumbprintSha256);
    assert.ok(!renewed.bindingCertificate.leaf.publicKey.equals(first.bindingCertificate.leaf.publicKey), "a new key");
    assert.notEqual(renewed.assertion, renewedToken.assertion);
    const claims = await emulator.verifyAccessToken(renewed.assertion);
    assert.deepEqual(claims["cnf"], { "x5t#S256": renewed.bindingCertificate.x5tS256 }, "never a token of the old certificate");
    assert.equal(count(emulator, "imds.issueCredential"), 2);
    assert.equal(count(emulator, "mtls.token"), 3);
    assert.equal(emulator.journal.last("mtls.token")?.clientCertificateThumbprintSha256, renewed.bindingCertificate.thumbprintSha256);
  });

  test("concurrent callers share one mint and one leg-1 request", async () => {
    emulator.journal.clear();
    const h = harness(emulator, http, app);
    const results = await Promise.all(Array.from({ length: 8 }, () => h.assertion()));
    assert.equal(count(emulator, "imds.platformMetadata"), 1);
    assert.equal(count(emulator, "imds.issueCredential"), 1);
    assert.equal(count(emulator, "mtls.token"), 1);
    assert.ok(results.every((r) => r.bindingCertificate === results[0]?.bindingCertificate && r.assertion === results[0]?.assertion));
  });

  test("invalidateBinding() and reload() re-mint: new key, new CSR, new certificate, new leg-1 token", async () => {
    emulator.journal.clear();
    const ownHttp = new HttpClient({ ca: [emulator.caCertificatePem] });
    after(() => ownHttp.close());
    const h = harness(emulator, ownHttp, app);
    const first = await h.assertion();
    h.source.invalidateBinding();
    const second = await h.assertion();
    await h.source.reload();
    const third = await h.assertion();
    const thumbprints = new Set([first, second, third].map((r) => r.bindingCertificate?.thumbprintSha256));
    assert.equal(thumbprints.size, 3);
    assert.equal(new Set([first, second, third].map((r) => r.assertion)).size, 3);
    assert.equal(new Set(emulator.journal.ofRoute("imds.issueCredential").map((e) => e.form["csr"])).size, 3, "three different CSRs");
    assert.equal(count(emulator, "mtls.token"), 3);
    assert.equal(ownHttp.stats.openCertificateAgents, 1, "the TLS agents of replaced certificates are closed");
  });

  test("a leg-1 invalid_client re-mints once and then works", async () => {
    const h = harness(emulator, http, app);
    emulator.journal.clear();
    emulator.faults.add({ route: "mtls.token", status: 401, error: "invalid_client", errorCode: 500181 });
    const result = await h.assertion();
    assert.equal(count(emulator, "imds.issueCredential"), 2, "the first mint and one re-mint");
    const legs = emulator.journal.ofRoute("mtls.token");
    assert.equal(legs.length, 2);
    assert.equal(legs[0]?.status, 401);
    assert.equal(legs[1]?.status, 200);
    assert.equal(legs[1]?.clientCertificateThumbprintSha256, result.bindingCertificate?.thumbprintSha256);
    assert.notEqual(legs[0]?.clientCertificateThumbprintSha256, legs[1]?.clientCertificateThumbprintSha256);
  });

  test("a TLS rejection of leg 1 re-mints once and then works", async () => {
    const h = harness(emulator, http, app);
    emulator.journal.clear();
    emulator.faults.add({ route: "mtls.token", tls: "reject" });
    const result = await h.assertion();
    assert.equal(count(emulator, "imds.issueCredential"), 2, "the first mint and one re-mint");
    const legs = emulator.journal.ofRoute("mtls.token");
    assert.equal(legs.at(-1)?.status, 200);
    assert.equal(legs.at(-1)?.clientCertificateThumbprintSha256, result.bindingCertificate?.thumbprintSha256);
  });

  test("a leg-1 invalid_client twice is not retried again", async () => {
    const h = harness(emulator, http, app);
    emulator.journal.clear();
    emulator.faults.add({ route: "mtls.token", status: 401, error: "invalid_client", errorCode: 500181, count: 2 });
    await assert.rejects(h.assertion(), (err: unknown) =>
      err instanceof SourceUnavailableError && (err.cause as { aadsts?: number } | undefined)?.aadsts === 500181 && /AADSTS500181/.test(err.reason),
    );
    assert.equal(count(emulator, "mtls.token"), 2);
    assert.equal(count(emulator, "imds.issueCredential"), 2, "the first mint and one re-mint, no more");
  });

  test("IMDS 5xx is retried with the injected delays", async () => {
    emulator.journal.clear();
    emulator.faults.add({ route: "imds.issueCredential", status: 500, count: 2 });
    const h = harness(emulator, http, app);
    await h.assertion();
    assert.deepEqual(h.delays, [1000, 2000]);
    assert.equal(count(emulator, "imds.issueCredential"), 3);
  });

  test("user-assigned selectors go on both IMDS v2 calls (mi_res_id, not msi_res_id)", async () => {
    const cases: [Partial<Entry>, string, string][] = [
      [{ managedIdentityClientId: user.clientId }, "client_id", user.clientId],
      [{ managedIdentityObjectId: user.objectId }, "object_id", user.objectId],
      [{ managedIdentityResourceId: user.resourceId }, "mi_res_id", user.resourceId],
    ];
    for (const [entry, name, value] of cases) {
      emulator.journal.clear();
      const result = await harness(emulator, http, app, entry).assertion();
      const claims = await emulator.verifyAccessToken(result.assertion);
      assert.equal(claims["appid"], user.clientId);
      for (const route of ["imds.platformMetadata", "imds.issueCredential"] as const) {
        const query = emulator.journal.last(route)?.query ?? {};
        assert.equal(query[name], value, `${route} ${name}`);
        assert.equal(query["msi_res_id"], undefined);
      }
      assert.equal(emulator.journal.last("mtls.token")?.form["client_id"], user.clientId);
    }
  });

  test("a configured managedIdentityClientId this VM does not have is unavailable with that reason", async () => {
    const missing = randomUUID();
    await rejectsUnavailable(
      harness(emulator, http, app, { managedIdentityClientId: missing }).assertion(),
      new RegExp(`does not know the user-assigned managed identity client_id=${missing}`),
    );
  });

  test("App Service-like hosts are unavailable without contacting IMDS", async () => {
    emulator.journal.clear();
    await rejectsUnavailable(
      harness(emulator, http, app, {}, { env: { IDENTITY_ENDPOINT: "http://localhost:4141/msi/token" } }).assertion(),
      /IDENTITY_ENDPOINT is set/,
    );
    assert.equal(emulator.journal.length, 0);
  });

  test("an aborted caller does not cancel the shared mint for others", async () => {
    emulator.journal.clear();
    const h = harness(emulator, http, app);
    const controller = new AbortController();
    const abandoned = h.assertion(controller.signal);
    const patient = h.assertion();
    controller.abort();
    await assert.rejects(abandoned, (err: unknown) => (err as Error).name === "AbortError");
    const result = await patient;
    assert.ok(result.bindingCertificate !== undefined);
    assert.equal(count(emulator, "imds.issueCredential"), 1);
  });

  test("no token or key in JSON or inspect output of the source and its material", async () => {
    const h = harness(emulator, http, app);
    const result = await h.assertion();
    const material = await h.source.load();
    const pem = result.bindingCertificate?.privateKeyPem.split("\n")[1] ?? "";
    for (const shown of [JSON.stringify(h.source), inspect(h.source, { depth: 6 }), JSON.stringify(material), inspect(material, { depth: 6 })]) {
      assert.ok(!shown.includes(result.assertion));
      assert.ok(!shown.includes(pem));
    }
  });
});

describe("bound managed identity: hosts without IMDS v2", () => {
  test("a v1-only host (404) is unavailable at once, without retries", async () => {
    const emulator = await startEmulator({ imds: { v2: false } });
    const http = new HttpClient({ ca: [emulator.caCertificatePem] });
    try {
      emulator.registerManagedIdentity({ kind: "system" });
      const app = emulator.registerApp();
      const h = harness(emulator, http, app);
      await rejectsUnavailable(h.assertion(), /answered 404: this host has IMDS v1 only/);
      assert.equal(count(emulator, "imds.platformMetadata"), 1);
      assert.equal(count(emulator, "imds.issueCredential"), 0);
      assert.deepEqual(h.delays, []);
    } finally {
      await http.close();
      await emulator.close();
    }
  });

  test("no IMDS at the address is unavailable after one connection attempt", async () => {
    const emulator = await startEmulator();
    const http = new HttpClient({ ca: [emulator.caCertificatePem] });
    const app = emulator.registerApp();
    const h = harness(emulator, http, app);
    // Nothing listens on the IMDS port any more: the connection is refused.
    await emulator.close();
    try {
      await rejectsUnavailable(h.assertion(), /unreachable/);
      assert.deepEqual(h.delays, []);
    } finally {
      await http.close();
    }
  });
});

describe("bound managed identity: attestation required", () => {
  let emulator: Emulator;
  let http: HttpClient;
  let app: RegisteredApp;
  let system: RegisteredManagedIdentity;

  before(async () => {
    emulator = await startEmulator({ imds: { requireAttestation: true } });
    system = emulator.registerManagedIdentity({ kind: "system" });
    app = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(system)] });
    http = new HttpClient({ ca: [emulator.caCertificatePem] });
  });

  after(async () => {
    await http.close();
    await emulator.close();
  });

  test("without an attestationProvider the entry is unavailable with the reason", async () => {
    await rejectsUnavailable(harness(emulator, http, app).assertion(), /requires an attestation token.*attestationProvider/s);
    assert.equal(emulator.journal.last("imds.issueCredential")?.status, 400);
  });

  test("with an attestationProvider it works and IMDS saw the token", async () => {
    const seen: AttestationContext[] = [];
    const attestationToken = `eyJhbGciOiJub25lIn0.${randomUUID()}.`;
    const h = harness(emulator, http, app, {}, {
      attestationProvider: async (context) => {
        seen.push(context);
        return attestationToken;
      },
    });
    const result = await h.assertion();
    assert.ok(result.bindingCertificate !== undefined);
    assert.equal(emulator.journal.last("imds.issueCredential")?.form["attestation_token"], journalHash(attestationToken));
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.clientId, system.clientId);
    assert.equal(seen[0]?.attestationEndpoint, "https://attestation.emulator.invalid");
    assert.ok(
      new X509Certificate(result.bindingCertificate.leaf.raw).publicKey.export({ type: "spki", format: "pem" }) === seen[0]?.publicKeyPem,
      "the provider attested the key the certificate was issued for",
    );
  });

  test("a provider that returns nothing fails closed", async () => {
    await rejectsUnavailable(
      harness(emulator, http, app, {}, { attestationProvider: async () => "" }).assertion(),
      /returned no attestation token/,
    );
  });
});
