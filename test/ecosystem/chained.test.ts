/**
 * BoundClientCredential inside `@azure/identity`'s `ChainedTokenCredential`: a list whose entries
 * are all unavailable is a `CredentialUnavailableError`, so the chain moves on; Entra refusing a
 * credential is an authentication error, so the chain stops there. `getBearerTokenProvider` hands
 * out the token string. The second credential of the chain is `@azure/identity`'s own
 * `ClientSecretCredential`, pointed at the emulator.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { rootCertificates } from "node:tls";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { AggregateAuthenticationError, ChainedTokenCredential, ClientSecretCredential, getBearerTokenProvider } from "@azure/identity";
// Our own class, with @azure/identity's name: the chain tells errors apart by name, and the tests
// below prove that it moves on past this one and stops at an AuthenticationError.
import { BoundClientCredential, CredentialUnavailableError, type CredentialDescription } from "../../src/index.ts";
import { startEmulator, type Emulator, type IssuedCertificate, type RegisteredApp } from "../../src/emulator/index.ts";

const STORAGE_SCOPE = "https://storage.azure.com/.default";

/** Counts the calls that reach the credential it wraps. */
class CountingCredential implements TokenCredential {
  calls = 0;
  readonly #inner: TokenCredential;
  constructor(inner: TokenCredential) {
    this.#inner = inner;
  }
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    this.calls++;
    return this.#inner.getToken(scopes, options);
  }
}

describe("BoundClientCredential in ChainedTokenCredential", () => {
  let emulator: Emulator;
  let app: RegisteredApp;
  let certificate: IssuedCertificate;
  const secret = "chained-test-secret";
  const credentials: BoundClientCredential[] = [];

  before(async () => {
    // IMDS v1 only: a bound managed identity entry is unavailable here, as on a laptop.
    emulator = await startEmulator({ imds: { v2: false } });
    certificate = await emulator.issueCertificate({ subject: "CN=chained-test-app" });
    app = emulator.registerApp({ certificates: [certificate.certificatePem], secrets: [secret] });
  });

  after(async () => {
    await Promise.all(credentials.map((c) => c.close()));
    await emulator?.close();
  });

  function bound(entries: CredentialDescription[]): BoundClientCredential {
    const credential = new BoundClientCredential({ ...emulator.credentialOptions(app), clientCredentials: entries });
    credentials.push(credential);
    return credential;
  }

  /** @azure/identity's own secret credential, against the emulator. */
  function identitySecretCredential(): ClientSecretCredential {
    return new ClientSecretCredential(emulator.tenantId, app.clientId, secret, {
      authorityHost: emulator.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: [...rootCertificates, emulator.caCertificatePem].join("\n") },
      retryOptions: { maxRetries: 0 },
    });
  }

  const allUnavailable = (): CredentialDescription[] => [
    { sourceType: "Path", certificateDiskPath: "/nonexistent/bound-app.pfx", certificatePassword: "x", useBoundCredential: true },
    { sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true },
    { sourceType: "StoreWithThumbprint", certificateStorePath: "CurrentUser/My", certificateThumbprint: "0123456789ABCDEF0123456789ABCDEF01234567" },
  ];

  test("a list whose entries are all unavailable is a CredentialUnavailableError naming each entry", async () => {
    const credential = bound(allUnavailable());
    await assert.rejects(credential.getToken(STORAGE_SCOPE), (error: unknown) => {
      assert.ok(error instanceof CredentialUnavailableError, `got ${String(error)}`);
      assert.equal(error.name, "CredentialUnavailableError", "the name ChainedTokenCredential matches");
      assert.match(error.message, /clientCredentials\[0\] \(Path \/nonexistent\/bound-app\.pfx, bound\)/);
      assert.match(error.message, /clientCredentials\[1\] \(SignedAssertionFromManagedIdentity[^)]*bound\)/);
      assert.match(error.message, /clientCredentials\[2\] \(StoreWithThumbprint/);
      return true;
    });
  });

  test("the chain moves on past it to a credential that works", async () => {
    const second = new CountingCredential(identitySecretCredential());
    const chain = new ChainedTokenCredential(bound(allUnavailable()), second);
    const token = await chain.getToken(STORAGE_SCOPE);
    assert.equal(second.calls, 1);
    const claims = await emulator.verifyAccessToken(token.token);
    assert.equal(claims["appid"], app.clientId);
    assert.equal(claims["aud"], "https://storage.azure.com");
    assert.ok(emulator.journal.ofRoute("mtls.token").length === 0, "no bound entry reached the mTLS host");
  });

  test("the chain stops on an authentication error: the next credential is not called", async () => {
    const second = new CountingCredential(identitySecretCredential());
    const chain = new ChainedTokenCredential(bound([{ sourceType: "ClientSecret", clientSecret: "not-the-secret" }]), second);
    await assert.rejects(chain.getToken(STORAGE_SCOPE), (error: unknown) => {
      assert.ok(!(error instanceof CredentialUnavailableError), `got ${String(error)}`);
      assert.equal((error as Error).name, "AuthenticationError");
      assert.match((error as Error).message, /AADSTS7000215/);
      assert.doesNotMatch((error as Error).message, /not-the-secret/);
      return true;
    });
    assert.equal(second.calls, 0);
  });

  test("a bound entry that serves keeps the chain on the first credential", async () => {
    const second = new CountingCredential(identitySecretCredential());
    const first = bound([
      ...allUnavailable(),
      { sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem, useBoundCredential: true },
    ]);
    const chain = new ChainedTokenCredential(first, second);
    const token = await chain.getToken(STORAGE_SCOPE);
    assert.equal(second.calls, 0);
    assert.equal(first.lastServed?.bound, true);
    assert.match(first.lastServed?.entryId ?? "", /^clientCredentials\[3\]/);
    assert.equal((await emulator.verifyAccessToken(token.token))["appid"], app.clientId);
    assert.equal(emulator.journal.last("mtls.token")?.clientCertificateThumbprintSha256, certificate.thumbprintSha256);
  });

  test("when every credential of the chain is unavailable, the aggregate error carries our entry list", async () => {
    const chain = new ChainedTokenCredential(bound(allUnavailable()), bound([allUnavailable()[0]!]));
    await assert.rejects(chain.getToken(STORAGE_SCOPE), (error: unknown) => {
      assert.ok(error instanceof AggregateAuthenticationError, `got ${String(error)}`);
      assert.equal(error.errors.length, 2);
      assert.match(error.message, /clientCredentials\[2\] \(StoreWithThumbprint/);
      return true;
    });
  });

  describe("an unreachable token host", () => {
    /** A port on 127.0.0.1 where nothing listens: connections are refused at once. */
    async function closedPort(): Promise<number> {
      const server = createServer();
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as AddressInfo;
      server.close();
      await once(server, "close");
      return port;
    }

    function withHosts(authorityHost: string, mtlsAuthorityHost: string, entries: CredentialDescription[]): BoundClientCredential {
      const credential = new BoundClientCredential({
        tenantId: emulator.tenantId,
        clientId: app.clientId,
        authorityHost,
        mtlsAuthorityHost,
        imdsEndpoint: emulator.imdsEndpoint,
        tls: { ca: emulator.caCertificatePem },
        clientCredentials: entries,
      });
      credentials.push(credential);
      return credential;
    }

    const boundCertificate = (): CredentialDescription => ({
      sourceType: "Certificate",
      certificate: certificate.certificatePem,
      privateKey: certificate.privateKeyPem,
      useBoundCredential: true,
    });

    test("a bound entry whose mTLS host refuses connections is unavailable: the chain moves on", async () => {
      const dead = `https://127.0.0.1:${await closedPort()}`;
      const second = new CountingCredential(identitySecretCredential());
      const chain = new ChainedTokenCredential(withHosts(emulator.authorityHost, dead, [boundCertificate()]), second);
      const token = await chain.getToken(STORAGE_SCOPE);
      assert.equal(second.calls, 1);
      assert.equal((await emulator.verifyAccessToken(token.token))["appid"], app.clientId);
    });

    // Library finding (reported, not fixed here): an unbound entry that cannot connect to the login
    // host is classified "stop" (msal-node's network_error is not recognised), so the list gives up
    // with an AuthenticationError that claims "Status code: 400" although no answer came, a bound
    // entry later in the list is never tried, and ChainedTokenCredential stops instead of moving on.
    // @azure/identity's ClientSecretCredential answers CredentialUnavailableError in the same case.
    test("an unbound entry whose login host refuses connections does not stop the list: the bound entry after it serves", async () => {
      const dead = `https://127.0.0.1:${await closedPort()}`;
      const credential = withHosts(dead, emulator.mtlsAuthorityHost, [{ sourceType: "ClientSecret", clientSecret: secret }, boundCertificate()]);
      const token = await credential.getToken(STORAGE_SCOPE);
      assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[1\]/);
      assert.equal((await emulator.verifyAccessToken(token.token))["appid"], app.clientId);
    });

    test("an unbound entry whose login host refuses connections is unavailable: the chain moves on", async () => {
      const dead = `https://127.0.0.1:${await closedPort()}`;
      const second = new CountingCredential(identitySecretCredential());
      const chain = new ChainedTokenCredential(withHosts(dead, emulator.mtlsAuthorityHost, [{ sourceType: "ClientSecret", clientSecret: secret }]), second);
      const token = await chain.getToken(STORAGE_SCOPE);
      assert.equal(second.calls, 1);
      assert.equal((await emulator.verifyAccessToken(token.token))["appid"], app.clientId);
    });
  });

  test("getBearerTokenProvider works with BoundClientCredential and with a chain holding it", async () => {
    const direct = getBearerTokenProvider(
      bound([{ sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem, useBoundCredential: true }]),
      STORAGE_SCOPE,
    );
    const viaChain = getBearerTokenProvider(new ChainedTokenCredential(bound(allUnavailable()), identitySecretCredential()), STORAGE_SCOPE);
    for (const provider of [direct, viaChain]) {
      const token = await provider();
      assert.equal(typeof token, "string");
      assert.equal((await emulator.verifyAccessToken(token))["appid"], app.clientId);
    }
  });
});
