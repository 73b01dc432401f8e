// TLS and isolation: servers with a certificate from a CA the credential does not trust are refused
// on every HTTPS host (login through msal-node, mTLS, Key Vault; IMDS is plain HTTP); no file under
// src/ turns verification off; a client certificate is presented to the mTLS token endpoint only;
// tokens of one tenant, scope, claims challenge or CAE setting are never served for another; two
// credentials share neither tokens nor connections.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { request as httpsRequest, createServer as createHttpsServer } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join, relative } from "node:path";
import type { TLSSocket } from "node:tls";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const { AuthenticationError, CredentialUnavailableError } = await import("../../src/errors.ts");
const { createCertificateAuthority } = await import("../../src/emulator/pki.ts");
const { Harness, STORAGE_SCOPE, VAULT_SCOPE, rejectionOf } = await import("../credential/support.ts");
const { collectUnhandledRejections, socketsLeftAfterClose } = await import("./support.ts");
type CredentialDescription = import("../../src/configuration/types.ts").CredentialDescription;
type IssuedCertificate = import("../../src/emulator/index.ts").IssuedCertificate;
type RegisteredApp = import("../../src/emulator/index.ts").RegisteredApp;

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));
const SECRET = "tls-isolation-secret-5f2c";
const SECRET_B = "tls-isolation-secret-b-91ae";
const PFX_PASSWORD = "tls-isolation-pfx";

const rejections = collectUnhandledRejections();
let harness: import("../credential/support.ts").Harness;
let certificate: IssuedCertificate;
let app: RegisteredApp;
let tenantB: string;

before(async () => {
  harness = await Harness.start();
  certificate = await harness.emulator.issueCertificate({ subject: "CN=tls-isolation" });
  tenantB = randomUUID();
  app = harness.emulator.registerApp({
    certificates: [certificate.certificatePem],
    secrets: [SECRET, SECRET_B],
    additionalTenantIds: [tenantB],
  });
});

after(async () => {
  await harness.close();
  rejections.dispose();
});

// ---------------------------------------------------------------------------------------------
// An untrusted server certificate is refused on every HTTPS host
// ---------------------------------------------------------------------------------------------

describe("a server certificate from an untrusted CA is refused", () => {
  let rogueCa: string;
  before(async () => {
    rogueCa = (await createCertificateAuthority({ commonName: "a CA nobody configured" })).certificatePem;
  });

  const pem = () => ({ certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem });
  // A host whose certificate does not verify cannot be used: the entry is unavailable.
  const hosts: { name: string; entry: () => CredentialDescription; error: typeof CredentialUnavailableError }[] = [
    { name: "the login host, through msal-node (client secret)", entry: () => ({ sourceType: "ClientSecret", clientSecret: SECRET }), error: CredentialUnavailableError },
    { name: "the login host, through msal-node (certificate)", entry: () => ({ sourceType: "Certificate", ...pem() }), error: CredentialUnavailableError },
    { name: "the mTLS host (bound certificate)", entry: () => ({ sourceType: "Certificate", ...pem(), useBoundCredential: true }), error: CredentialUnavailableError },
    {
      name: "Key Vault (the certificate of a KeyVault entry)",
      entry: () => ({
        sourceType: "KeyVault",
        keyVaultUrl: harness.emulator.keyVaultUrl,
        keyVaultCertificateName: "tls-isolation",
        // The reader itself trusts the emulator; the vault must still be refused by the entry.
        keyVaultCredential: harness.credential(harness.options(app, [{ sourceType: "ClientSecret", clientSecret: SECRET }])),
      }),
      error: CredentialUnavailableError,
    },
  ];
  for (const host of hosts) {
    for (const trust of ["another CA in tls.ca", "no tls.ca (Node's roots only)"] as const) {
      test(`${host.name}, with ${trust}`, async () => {
        const emu = harness.emulator;
        emu.keyVault.setCertificate("tls-isolation", certificate);
        const tls = trust === "another CA in tls.ca" ? { tls: { ca: rogueCa } } : { tls: {} };
        const credential = harness.credential(harness.options(app, [host.entry()], tls));
        emu.journal.clear();
        const handshakes = { ...emu.stats.handshakes };
        const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
        assert.ok(error instanceof host.error, `expected ${host.error.name}, got ${error.name}: ${error.message}`);
        assert.match(error.message, /not trusted/);
        assert.deepEqual(emu.journal.entries, [], "no request was sent to an untrusted server");
        // The client gave up during the handshake: the server never completed one, so it never saw
        // a client certificate either.
        assert.deepEqual(emu.stats.handshakes, handshakes, "no handshake completed");
        await credential.close();
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// No code path turns verification off
// ---------------------------------------------------------------------------------------------

async function sourceFiles(directory: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) found.push(...(await sourceFiles(path)));
    else if (/\.(ts|js|mjs|cjs|json)$/.test(entry.name)) found.push(path);
  }
  return found;
}

test("no file under src/ turns TLS verification off (the emulator's own server excepted)", async () => {
  const forbidden = [
    { pattern: /rejectUnauthorized\s*:\s*(false|0|!1|undefined)/g, what: "rejectUnauthorized: false" },
    { pattern: /NODE_TLS_REJECT_UNAUTHORIZED/g, what: "NODE_TLS_REJECT_UNAUTHORIZED" },
    { pattern: /checkServerIdentity\s*[:=]/g, what: "a checkServerIdentity override" },
    { pattern: /insecureHTTPParser|SSL_OP_LEGACY_SERVER_CONNECT/g, what: "an insecure parser or TLS option" },
  ];
  const files = await sourceFiles(SRC);
  assert.ok(files.length > 50, "the scan sees the sources");
  const hits: string[] = [];
  for (const file of files) {
    const text = await readFile(file, "utf8");
    for (const { pattern, what } of forbidden) {
      for (const match of text.matchAll(pattern)) {
        const line = text.slice(0, match.index).split("\n").length;
        hits.push(`${relative(SRC, file)}:${line}: ${what}`);
      }
    }
  }
  // The emulator's HTTPS servers accept any client certificate at the TLS layer and authenticate it
  // themselves, as Entra's mTLS host does: a server-side setting that verifies nothing of a server.
  const allowed = ["emulator/httpHost.ts"];
  const unexpected = hits.filter((hit) => !allowed.some((file) => hit.startsWith(`${file}:`)));
  assert.deepEqual(unexpected, [], "verification is never turned off on a client");
  const emulatorHits = hits.filter((hit) => hit.startsWith("emulator/httpHost.ts:"));
  assert.equal(emulatorHits.length, 1, "one server-side setting in the emulator");
  const httpHost = await readFile(join(SRC, "emulator/httpHost.ts"), "utf8");
  assert.match(httpHost, /https\.createServer\(\s*\{[^}]*requestCert[^}]*rejectUnauthorized:\s*false/s, "it is the server's requestCert setting");
});

// ---------------------------------------------------------------------------------------------
// A client certificate is presented to token endpoints only
// ---------------------------------------------------------------------------------------------

interface RecordingProxy {
  readonly origin: string;
  /** One entry per request: whether the TLS connection carried a client certificate. */
  readonly seen: { path: string; clientCertificate: string | undefined }[];
  close(): Promise<void>;
}

/**
 * A TLS-terminating proxy in front of one emulator host that asks every client for a certificate
 * (as the mTLS host does) and records whether one came, then forwards the request. The emulator's
 * login and Key Vault hosts do not ask (`requestCert` is false there, and the emulator has no
 * option to change it), so without this proxy their journal could not tell.
 */
async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const serverCertificate = await harness.emulator.issueCertificate({
    subject: "CN=localhost",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    extendedKeyUsage: ["serverAuth"],
  });
  const seen: RecordingProxy["seen"] = [];
  const sockets = new Set<Socket>();
  const upstream = new URL(target);
  // Server side only: the proxy records the client certificate, it does not judge it.
  const server = createHttpsServer(
    { key: serverCertificate.privateKeyPem, cert: serverCertificate.certificatePem, requestCert: true, rejectUnauthorized: false },
    (req: IncomingMessage, res: ServerResponse) => {
      const peer = (req.socket as TLSSocket).getPeerX509Certificate();
      seen.push({ path: req.url ?? "", clientCertificate: peer?.fingerprint256 });
      const forward = httpsRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: upstream.host },
          ca: harness.emulator.caCertificatePem,
          agent: false,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on("error", () => res.destroy());
      req.pipe(forward);
    },
  );
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    origin: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("a client certificate is presented to the mTLS token endpoint only", () => {
  let login: RecordingProxy;
  let vault: RecordingProxy;
  before(async () => {
    login = await startRecordingProxy(harness.emulator.authorityHost);
    vault = await startRecordingProxy(harness.emulator.keyVaultUrl);
  });
  after(async () => {
    await login.close();
    await vault.close();
  });

  test("bound entries from Key Vault and a PFX, then the secret once mTLS is refused: only mtls.token saw a certificate", async () => {
    const emu = harness.emulator;
    const own = emu.registerApp({ certificates: [certificate.certificatePem], secrets: [SECRET] });
    emu.keyVault.setCertificate("presented-only-to-mtls", certificate);
    const reader = harness.credential(harness.options(own, [{ sourceType: "ClientSecret", clientSecret: SECRET }]));
    const pfxPath = await harness.file("bound.pfx", certificate.toPfx(PFX_PASSWORD));
    const entries: CredentialDescription[] = [
      { sourceType: "KeyVault", keyVaultUrl: vault.origin, keyVaultCertificateName: "presented-only-to-mtls", keyVaultCredential: reader, useBoundCredential: true },
      { sourceType: "Path", certificateDiskPath: pfxPath, certificatePassword: PFX_PASSWORD, useBoundCredential: true },
      { sourceType: "ClientSecret", clientSecret: SECRET },
    ];
    const credential = harness.credential(harness.options(own, entries, { authorityHost: login.origin }));
    emu.journal.clear();

    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, own);
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[0\] \(KeyVault/);
    const mtls = emu.journal.ofRoute("mtls.token");
    assert.equal(mtls.length, 1);
    assert.equal(mtls[0]?.clientCertificateThumbprintSha256, certificate.thumbprintSha256, "the mTLS host saw the certificate");
    assert.ok(vault.seen.length >= 1, "the certificate came through the Key Vault proxy");

    // mTLS refused for the app: both bound entries are unavailable, the secret serves on the login host,
    // through the same HTTP client that holds the certificate's agent.
    own.setMtlsClientAuth(false);
    await harness.verify((await credential.getToken(VAULT_SCOPE)).token, own, "https://vault.azure.net");
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[2\] \(ClientSecret\)/);
    assert.ok(login.seen.length >= 1, "the secret went through the login proxy");

    assert.deepEqual(login.seen.filter((s) => s.clientCertificate !== undefined), [], "the login host never saw a client certificate");
    assert.deepEqual(vault.seen.filter((s) => s.clientCertificate !== undefined), [], "Key Vault never saw a client certificate");
    for (const entry of emu.journal.filter((e) => e.host === "login" || e.host === "keyVault")) {
      assert.equal(entry.clientCertificateThumbprintSha256, undefined, `${entry.route} recorded no client certificate`);
    }
    await credential.close();
  });

  test("an unbound certificate entry signs an assertion but presents no certificate to the login host", async () => {
    const credential = harness.credential(
      harness.options(app, [{ sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem }], {
        authorityHost: login.origin,
      }),
    );
    const before = login.seen.length;
    // The assertion names the proxy as its audience, which the emulator refuses: the handshake is what counts here.
    await credential.getToken(STORAGE_SCOPE).catch(() => undefined);
    const requests = login.seen.slice(before);
    assert.ok(requests.some((s) => s.path.includes("/oauth2/v2.0/token")), "the token request reached the login host");
    assert.deepEqual(requests.filter((s) => s.clientCertificate !== undefined), []);
    await credential.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Tokens are never served across tenants, scopes, claims or CAE; credentials share nothing
// ---------------------------------------------------------------------------------------------

interface Key {
  readonly tenantId: string;
  readonly scope: string;
  readonly enableCae: boolean;
}

const RESOURCE_OF: Record<string, string> = { [STORAGE_SCOPE]: "https://storage.azure.com", [VAULT_SCOPE]: "https://vault.azure.net" };

/** A deterministic shuffle (a fixed seed keeps the test repeatable). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const result = [...items];
  let state = seed;
  for (let i = result.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [result[i], result[j]] = [result[j]!, result[i]!];
  }
  return result;
}

for (const kind of ["client secret (msal-node)", "bound certificate (mTLS)"] as const) {
  test(`${kind}: each tenant × scope × CAE gets its own token, concurrently and from the cache; claims fetch anew`, async () => {
    const emu = harness.emulator;
    const entry: CredentialDescription =
      kind === "client secret (msal-node)"
        ? { sourceType: "ClientSecret", clientSecret: SECRET }
        : { sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem, useBoundCredential: true };
    const route = kind === "client secret (msal-node)" ? "login.token" : "mtls.token";
    const credential = harness.credential(harness.options(app, [entry], { additionallyAllowedTenants: [tenantB] }));
    const keys: Key[] = [];
    for (const tenantId of [app.tenantId, tenantB]) {
      for (const scope of [STORAGE_SCOPE, VAULT_SCOPE]) for (const enableCae of [false, true]) keys.push({ tenantId, scope, enableCae });
    }
    const before = emu.journal.ofRoute(route).length;
    const tokenOf = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      const order = shuffled([...keys, ...keys], round + 1);
      const tokens = await Promise.all(order.map((key) => credential.getToken(key.scope, { tenantId: key.tenantId, enableCae: key.enableCae })));
      for (const [index, key] of order.entries()) {
        const token = tokens[index]!.token;
        const id = `${key.tenantId}|${key.scope}|${key.enableCae}`;
        const claims = await emu.verifyAccessToken(token);
        assert.equal(claims["tid"], key.tenantId, `${id}: the tenant asked for`);
        assert.equal(claims["aud"], RESOURCE_OF[key.scope], `${id}: the resource asked for`);
        assert.equal(Array.isArray(claims["xms_cc"]) && (claims["xms_cc"] as unknown[]).includes("cp1"), key.enableCae, `${id}: CAE as asked`);
        const previous = tokenOf.get(id);
        if (previous === undefined) tokenOf.set(id, token);
        else assert.equal(token, previous, `${id}: served from the cache`);
      }
    }
    assert.equal(new Set(tokenOf.values()).size, keys.length, "eight different tokens");
    assert.equal(emu.journal.ofRoute(route).length - before, keys.length, "one token request per key, whatever the concurrency");

    // A claims challenge for one key fetches a new token for that key alone.
    const claimsChallenge = JSON.stringify({ access_token: { nbf: { essential: true, value: String(Math.floor(Date.now() / 1000)) } } });
    const challenged = await credential.getToken(STORAGE_SCOPE, { tenantId: tenantB, claims: claimsChallenge });
    assert.notEqual(challenged.token, tokenOf.get(`${tenantB}|${STORAGE_SCOPE}|false`));
    assert.equal((await emu.verifyAccessToken(challenged.token))["tid"], tenantB);
    assert.ok(emu.journal.last(route)?.form["claims"]?.includes("nbf"), "the challenge was passed on");
    for (const key of keys.filter((k) => !(k.tenantId === tenantB && k.scope === STORAGE_SCOPE && !k.enableCae))) {
      const again = await credential.getToken(key.scope, { tenantId: key.tenantId, enableCae: key.enableCae });
      assert.equal(again.token, tokenOf.get(`${key.tenantId}|${key.scope}|${key.enableCae}`), "the other keys are untouched");
    }
    assert.equal(emu.journal.ofRoute(route).length - before, keys.length + 1);

    // A tenant that is not allowed never gets any of these tokens.
    const refused = await rejectionOf(credential.getToken(STORAGE_SCOPE, { tenantId: randomUUID() }));
    assert.ok(refused instanceof CredentialUnavailableError);
    await credential.close();
  });
}

test("two credentials of one app never share tokens: revoking one's secret leaves the other working", async () => {
  const emu = harness.emulator;
  const own = emu.registerApp({ secrets: [SECRET, SECRET_B] });
  const first = harness.credential(harness.options(own, [{ sourceType: "ClientSecret", clientSecret: SECRET }]));
  const second = harness.credential(harness.options(own, [{ sourceType: "ClientSecret", clientSecret: SECRET_B }]));
  const before = emu.journal.ofRoute("login.token").length;
  const [a, b] = await Promise.all([first.getToken(STORAGE_SCOPE), second.getToken(STORAGE_SCOPE)]);
  assert.notEqual(a.token, b.token, "each credential fetched its own token");
  const secretsSent = emu.journal
    .ofRoute("login.token")
    .slice(before)
    .map((entry) => entry.form["client_secret"]);
  assert.equal(new Set(secretsSent).size, 2, "with its own secret");

  own.removeSecret(SECRET);
  assert.equal((await first.getToken(STORAGE_SCOPE)).token, a.token, "the first still serves its cached token");
  const claims = JSON.stringify({ access_token: { nbf: { essential: true, value: String(Math.floor(Date.now() / 1000)) } } });
  const refused = await rejectionOf(first.getToken(STORAGE_SCOPE, { claims }));
  assert.ok(refused instanceof AuthenticationError, `got ${refused.name}`);
  assert.match(refused.message, /AADSTS7000215/);
  const renewed = await second.getToken(STORAGE_SCOPE, { claims });
  assert.notEqual(renewed.token, b.token);
  assert.notEqual(renewed.token, a.token);
  await harness.verify(renewed.token, own);
  assert.equal((await second.getToken(STORAGE_SCOPE)).token, renewed.token, "the second's cache holds its own new token");
  await first.close();
  await second.close();
});

test("two credentials with one certificate never share a connection; each reuses its own", async () => {
  const emu = harness.emulator;
  const bound: CredentialDescription = { sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem, useBoundCredential: true };
  const first = harness.credential(harness.options(app, [bound]));
  const second = harness.credential(harness.options(app, [bound]));
  emu.journal.clear();
  await first.getToken(STORAGE_SCOPE);
  await second.getToken(STORAGE_SCOPE);
  await first.getToken(VAULT_SCOPE);
  await second.getToken(VAULT_SCOPE);
  const [a1, b1, a2, b2] = emu.journal.ofRoute("mtls.token").map((entry) => entry.connectionId);
  assert.ok(a1 !== undefined && b1 !== undefined);
  assert.notEqual(a1, b1, "two credentials, two connections");
  assert.equal(a2, a1, "the first reuses its connection");
  assert.equal(b2, b1, "the second reuses its connection");
  await first.close();
  await second.close();
});

test("end of file: every credential and server closed, no unhandled rejection, no socket left open", async () => {
  await harness.close();
  assert.deepEqual(rejections.rejections, []);
  assert.deepEqual(await socketsLeftAfterClose(), []);
});
