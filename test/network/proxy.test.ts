/**
 * Token requests through a real forwarding proxy on loopback. The credential reaches the emulator
 * under host names that only the proxy resolves (`*.emulator.test` → 127.0.0.1), so a request that
 * went around the proxy could not connect at all; the proxy's log shows what it was asked, and the
 * emulator's journal what arrived (the client certificate in the TLS handshake).
 */
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { inspect } from "node:util";
import { BoundClientCredential } from "../../src/boundClientCredential.ts";
import { CredentialUnavailableError } from "../../src/errors.ts";
import { withSeams } from "../helpers/index.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { Harness, rejectionOf, STORAGE_SCOPE, type RegisteredApp } from "../credential/support.ts";
import { startForwardingProxy, type ForwardingProxy } from "./forwardingProxy.ts";

const LOGIN = "login.emulator.test";
const MTLS = "mtlsauth.emulator.test";

let harness: Harness;
const proxies: ForwardingProxy[] = [];

before(async () => {
  harness = await Harness.start({ hostNames: [LOGIN, MTLS] });
});
after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await harness.close();
});

async function proxy(options: Parameters<typeof startForwardingProxy>[0] = {}): Promise<ForwardingProxy> {
  const started = await startForwardingProxy({ names: [LOGIN, MTLS], ...options });
  proxies.push(started);
  return started;
}

/** The emulator's hosts under the names only the proxy knows. */
function hosts(): { authorityHost: string; mtlsAuthorityHost: string; loginPort: string; mtlsPort: string } {
  const authority = new URL(harness.emulator.authorityHost);
  const mtls = new URL(harness.emulator.mtlsAuthorityHost);
  return {
    authorityHost: `https://${LOGIN}:${authority.port}`,
    mtlsAuthorityHost: `https://${MTLS}:${mtls.port}`,
    loginPort: authority.port,
    mtlsPort: mtls.port,
  };
}

async function certificateApp(): Promise<{ app: RegisteredApp; bound: CredentialDescription; thumbprint: string }> {
  const issued = await harness.emulator.issueCertificate();
  const app = harness.emulator.registerApp({ certificates: [issued.certificatePem] });
  return {
    app,
    bound: { sourceType: "Certificate", certificate: issued.certificatePem, privateKey: issued.privateKeyPem, useBoundCredential: true },
    thumbprint: issued.thumbprintSha256,
  };
}

describe("token requests through a forwarding proxy", () => {
  test("unbound (a secret) through HTTPS_PROXY: the proxy tunnels to the login host and nothing else", async () => {
    const p = await proxy();
    const app = harness.emulator.registerApp({ secrets: ["s3cret"] });
    const { authorityHost, mtlsAuthorityHost, loginPort } = hosts();
    const credential = harness.credential(
      harness.options(app, [{ sourceType: "ClientSecret", clientSecret: "s3cret" }], { authorityHost, mtlsAuthorityHost }),
      { env: { HTTPS_PROXY: p.url } },
    );
    const token = await credential.getToken(STORAGE_SCOPE);
    await harness.verify(token.token, app);
    assert.ok(p.log.length >= 1);
    assert.deepEqual(new Set(p.log.map((entry) => `${entry.method} ${entry.target}`)), new Set([`CONNECT ${LOGIN}:${loginPort}`]));
  });

  test("a bound certificate through the proxy: CONNECT to the mtlsauth host only, the certificate arrives end to end", async () => {
    const p = await proxy();
    const { app, bound, thumbprint } = await certificateApp();
    const { authorityHost, mtlsAuthorityHost, mtlsPort } = hosts();
    const credential = harness.credential(
      harness.options(app, [bound], { authorityHost, mtlsAuthorityHost, proxyOptions: { host: p.url.replace(/:\d+$/, ""), port: p.port } }),
    );
    const journalBefore = harness.emulator.journal.ofRoute("mtls.token").length;
    await Promise.all([credential.getToken(STORAGE_SCOPE), credential.getToken("https://vault.azure.net/.default")]);
    assert.deepEqual(new Set(p.log.map((entry) => `${entry.method} ${entry.target}`)), new Set([`CONNECT ${MTLS}:${mtlsPort}`]));
    const arrived = harness.emulator.journal.ofRoute("mtls.token").slice(journalBefore);
    assert.equal(arrived.length, 2);
    for (const entry of arrived) {
      assert.equal(entry.status, 200);
      assert.equal(entry.clientCertificateThumbprintSha256, thumbprint);
    }
    assert.equal(credential.lastServed?.bound, true);
  });

  test("a bound managed identity: IMDS (loopback) goes direct, both token legs tunnel through the proxy", async () => {
    const p = await proxy();
    const emu = harness.emulator;
    const identity = emu.registerManagedIdentity({ kind: "user" });
    const app = emu.registerApp({ federatedCredentials: [emu.federatedCredentialFor(identity)] });
    const { authorityHost, mtlsAuthorityHost, mtlsPort } = hosts();
    const journalBefore = emu.journal.ofRoute("mtls.token").length;
    const imdsBefore = emu.journal.ofRoute("imds.issueCredential").length;
    const credential = harness.credential(
      harness.options(app, [{ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId, useBoundCredential: true }], {
        authorityHost,
        mtlsAuthorityHost,
      }),
      { env: { https_proxy: p.url } },
    );
    const token = await credential.getToken(STORAGE_SCOPE);
    await harness.verify(token.token, app);
    assert.equal(emu.journal.ofRoute("imds.issueCredential").length - imdsBefore, 1, "IMDS was reached directly");
    assert.deepEqual(new Set(p.log.map((entry) => `${entry.method} ${entry.target}`)), new Set([`CONNECT ${MTLS}:${mtlsPort}`]));
    const legs = emu.journal.ofRoute("mtls.token").slice(journalBefore);
    assert.equal(legs.length, 2);
    assert.ok(legs[0]?.clientCertificateThumbprintSha256 !== undefined);
    assert.equal(legs[1]?.clientCertificateThumbprintSha256, legs[0]?.clientCertificateThumbprintSha256);
  });

  test("the drop-in constructor takes proxyOptions and tunnels the bound request through the proxy", async () => {
    const p = await proxy();
    const { app, bound, thumbprint } = await certificateApp();
    const { authorityHost, mtlsAuthorityHost, mtlsPort } = hosts();
    const pem = `${String((bound as { certificate: string }).certificate)}${String((bound as { privateKey: string }).privateKey)}`;
    const credential = harness.track(
      new BoundClientCredential(
        app.tenantId,
        app.clientId,
        { certificate: pem },
        withSeams(
          {
            useBoundCredential: true,
            authorityHost,
            mtlsAuthorityHost,
            tls: { ca: harness.emulator.caCertificatePem },
            proxyOptions: { host: "http://127.0.0.1", port: p.port },
          },
          { env: {} },
        ),
      ),
    );
    const before = harness.emulator.journal.ofRoute("mtls.token").length;
    await credential.getToken(STORAGE_SCOPE);
    assert.deepEqual(new Set(p.log.map((entry) => `${entry.method} ${entry.target}`)), new Set([`CONNECT ${MTLS}:${mtlsPort}`]));
    assert.equal(harness.emulator.journal.ofRoute("mtls.token").slice(before)[0]?.clientCertificateThumbprintSha256, thumbprint);
  });

  test("NO_PROXY and loopback hosts go direct", async () => {
    const p = await proxy();
    const { app, bound } = await certificateApp();
    // localhost is loopback: never proxied, whatever HTTPS_PROXY says.
    const direct = harness.credential(harness.options(app, [bound]), { env: { HTTPS_PROXY: p.url } });
    await direct.getToken(STORAGE_SCOPE);
    assert.deepEqual(p.log, []);
    // A NO_PROXY match goes direct too, so a name only the proxy knows cannot be reached.
    const { authorityHost, mtlsAuthorityHost } = hosts();
    const bypassing = harness.credential(harness.options(app, [bound], { authorityHost, mtlsAuthorityHost }), {
      env: { HTTPS_PROXY: p.url, NO_PROXY: "example.org, .emulator.test" },
    });
    const error = await rejectionOf(bypassing.getToken(STORAGE_SCOPE));
    assert.deepEqual(p.log, []);
    assert.match(error.message, /could not be resolved|ENOTFOUND|EAI_AGAIN/);
  });

  test("proxy Basic authentication: the right credentials pass; none give a 407 that names proxyOptions.username", async () => {
    const p = await proxy({ credentials: { username: "alice", password: "pa:ss word" } });
    const { app, bound } = await certificateApp();
    const { authorityHost, mtlsAuthorityHost } = hosts();
    const host = p.url.replace(/:\d+$/, "");
    const authenticated = harness.credential(
      harness.options(app, [bound], { authorityHost, mtlsAuthorityHost, proxyOptions: { host, port: p.port, username: "alice", password: "pa:ss word" } }),
    );
    await authenticated.getToken(STORAGE_SCOPE);
    assert.ok(p.log.every((entry) => entry.user === "alice"));

    // In the URL form, percent-encoded as curl takes it.
    const fromUrl = harness.credential(harness.options(app, [bound], { authorityHost, mtlsAuthorityHost }), {
      env: { HTTPS_PROXY: `http://alice:${encodeURIComponent("pa:ss word")}@127.0.0.1:${p.port}` },
    });
    await fromUrl.getToken(STORAGE_SCOPE);

    const anonymous = harness.credential(harness.options(app, [bound], { authorityHost, mtlsAuthorityHost, proxyOptions: { host, port: p.port } }));
    const error = await rejectionOf(anonymous.getToken(STORAGE_SCOPE));
    assert.ok(error instanceof CredentialUnavailableError, `${error.name}: ${error.message}`);
    assert.match(error.message, /407 Proxy Authentication Required/);
    assert.match(error.message, /proxyOptions\.username and proxyOptions\.password/);

    // The unbound path (msal-node over the same transport) reads the 407 the same way.
    const secretApp = harness.emulator.registerApp({ secrets: ["s"] });
    const unbound = harness.credential(
      harness.options(secretApp, [{ sourceType: "ClientSecret", clientSecret: "s" }], { authorityHost, mtlsAuthorityHost }),
      { env: { HTTPS_PROXY: p.url } },
    );
    const unboundError = await rejectionOf(unbound.getToken(STORAGE_SCOPE));
    assert.ok(unboundError instanceof CredentialUnavailableError, `${unboundError.name}: ${unboundError.message}`);
    assert.match(unboundError.message, /407 Proxy Authentication Required.*proxyOptions\.username/);

    const wrong = harness.credential(
      harness.options(app, [bound], { authorityHost, mtlsAuthorityHost, proxyOptions: { host, port: p.port, username: "alice", password: "nope" } }),
    );
    const wrongError = await rejectionOf(wrong.getToken(STORAGE_SCOPE));
    assert.match(wrongError.message, /user name or password it was given is wrong/);
    // Neither password nor its Basic encoding anywhere: message, causes, inspection, the credential.
    const basic = Buffer.from("alice:nope").toString("base64");
    for (const shown of [wrongError.message, inspect(wrongError, { depth: 20 }), JSON.stringify(wrongError), inspect(wrong, { depth: 20 }), JSON.stringify(wrong)]) {
      assert.doesNotMatch(shown, /nope|pa:ss/);
      assert.ok(!shown.includes(basic));
    }
  });

  test("a proxy that refuses the tunnel (403) and an unreachable proxy make the entry unavailable, with the reason", async () => {
    const p = await proxy({ refuse: [MTLS] });
    const { app, bound } = await certificateApp();
    const { authorityHost, mtlsAuthorityHost } = hosts();
    const refused = harness.credential(harness.options(app, [bound], { authorityHost, mtlsAuthorityHost }), { env: { HTTPS_PROXY: p.url } });
    const error = await rejectionOf(refused.getToken(STORAGE_SCOPE));
    assert.ok(error instanceof CredentialUnavailableError, `${error.name}: ${error.message}`);
    assert.match(error.message, /refused to open a tunnel to it \(403 Forbidden\)/);
    assert.match(error.message, /from HTTPS_PROXY/);

    const closed = await startForwardingProxy();
    await closed.close();
    const unreachable = harness.credential(
      harness.options(app, [bound, { sourceType: "ClientSecret", clientSecret: "unused" }], { authorityHost, mtlsAuthorityHost }),
      { env: { HTTP_PROXY: closed.url } },
    );
    const unreachableError = await rejectionOf(unreachable.getToken(STORAGE_SCOPE));
    assert.ok(unreachableError instanceof CredentialUnavailableError, `${unreachableError.name}: ${unreachableError.message}`);
    assert.match(unreachableError.message, new RegExp(`the proxy ${closed.url.replace(/\./g, "\\.")} \\(from HTTP_PROXY\\) could not be reached \\(ECONNREFUSED\\)`));
  });

  test("a TLS-inspecting proxy strips the client certificate: AADSTS392200, whose message says to let mtlsauth bypass the proxy", async () => {
    const emu = harness.emulator;
    const impostor = await emu.issueCertificate({ dnsNames: [MTLS], extendedKeyUsage: ["serverAuth"] });
    const p = await proxy({ terminateTls: { cert: impostor.certificatePem, key: impostor.privateKeyPem, ca: emu.caCertificatePem } });
    const { app, bound } = await certificateApp();
    const { authorityHost, mtlsAuthorityHost, mtlsPort } = hosts();
    const before = emu.journal.ofRoute("mtls.token").length;
    const credential = harness.credential(harness.options(app, [bound], { authorityHost, mtlsAuthorityHost }), { env: { HTTPS_PROXY: p.url } });
    const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
    assert.deepEqual(new Set(p.log.map((entry) => `${entry.method} ${entry.target}`)), new Set([`CONNECT ${MTLS}:${mtlsPort}`]));
    assert.match(error.message, /AADSTS392200/);
    assert.match(error.message, /TLS-terminating proxy.*let that host bypass the proxy/);
    const arrived = emu.journal.ofRoute("mtls.token").slice(before);
    assert.ok(arrived.length >= 1);
    assert.ok(arrived.every((entry) => entry.clientCertificateThumbprintSha256 === undefined), "no certificate reached the host");
  });

  test("a proxy setting that cannot be used is a configuration error naming it, without its password", () => {
    const app = harness.emulator.registerApp({ secrets: ["s"] });
    assert.throws(
      () => harness.credential(harness.options(app, [{ sourceType: "ClientSecret", clientSecret: "s" }]), { env: { HTTPS_PROXY: "socks5://u:hunter2@proxy:1080" } }),
      (error: Error) => /HTTPS_PROXY/.test(error.message) && /only http:\/\/ and https:\/\//.test(error.message) && !error.message.includes("hunter2"),
    );
    assert.throws(
      () => harness.credential(harness.options(app, [{ sourceType: "ClientSecret", clientSecret: "s" }], { proxyOptions: { host: "http://proxy", port: 0 } })),
      /proxyOptions\.port/,
    );
  });
});
