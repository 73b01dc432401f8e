/**
 * `@azure/keyvault-secrets` `SecretClient` against the emulator's Key Vault, which verifies the
 * signature, audience and times of every Bearer token, with BoundClientCredential bound and
 * unbound. The client follows Key Vault's 401 challenge and asks the credential for the vault
 * scope, as it does against Azure.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { rootCertificates } from "node:tls";
import { SecretClient } from "@azure/keyvault-secrets";
import { BoundClientCredential, type CredentialDescription } from "../../src/index.ts";
import {
  journalHash,
  startEmulator,
  type Emulator,
  type IssuedCertificate,
  type RegisteredApp,
  type RegisteredManagedIdentity,
} from "../../src/emulator/index.ts";

describe("SecretClient against the emulator's Key Vault with BoundClientCredential", () => {
  let emulator: Emulator;
  let app: RegisteredApp;
  let identity: RegisteredManagedIdentity;
  let certificate: IssuedCertificate;
  let version: string;
  const secret = "key-vault-test-secret";
  const credentials: BoundClientCredential[] = [];

  before(async () => {
    emulator = await startEmulator();
    certificate = await emulator.issueCertificate({ subject: "CN=key-vault-test-app" });
    identity = emulator.registerManagedIdentity({ kind: "system" });
    app = emulator.registerApp({
      certificates: [certificate.certificatePem],
      secrets: [secret],
      federatedCredentials: [emulator.federatedCredentialFor(identity)],
    });
    emulator.keyVault.setSecret("database-password", "first");
    version = emulator.keyVault.setSecret("database-password", "s3cr3t, read over mTLS-obtained tokens");
  });

  after(async () => {
    await Promise.all(credentials.map((c) => c.close()));
    await emulator?.close();
  });

  function secretClient(entries: CredentialDescription[]): { client: SecretClient; credential: BoundClientCredential } {
    const credential = new BoundClientCredential({ ...emulator.credentialOptions(app), clientCredentials: entries });
    credentials.push(credential);
    const client = new SecretClient(emulator.keyVaultUrl, credential, {
      // The challenge names https://vault.azure.net while the vault lives on 127.0.0.1.
      disableChallengeResourceVerification: true,
      retryOptions: { maxRetries: 0 },
      tlsOptions: { ca: [...rootCertificates, emulator.caCertificatePem].join("\n") },
    });
    return { client, credential };
  }

  const flows: { name: string; entry: () => CredentialDescription; bound: boolean }[] = [
    {
      name: "bound certificate",
      entry: () => ({ sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem, useBoundCredential: true }),
      bound: true,
    },
    {
      name: "bound managed identity",
      entry: () => ({ sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true }),
      bound: true,
    },
    {
      name: "unbound certificate",
      entry: () => ({ sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem }),
      bound: false,
    },
    { name: "client secret", entry: () => ({ sourceType: "ClientSecret", clientSecret: secret }), bound: false },
  ];

  for (const flow of flows) {
    test(`${flow.name}: getSecret reads the latest version and a pinned one`, async () => {
      const { client, credential } = secretClient([flow.entry()]);
      const latest = await client.getSecret("database-password");
      assert.equal(latest.value, "s3cr3t, read over mTLS-obtained tokens");
      assert.equal(latest.properties.version, version);
      const pinned = await client.getSecret("database-password", { version });
      assert.equal(pinned.value, latest.value);

      assert.equal(credential.lastServed?.bound, flow.bound);
      assert.equal(
        credential.lastServed?.tokenEndpoint,
        flow.bound ? emulator.mtlsTokenEndpoint() : emulator.tokenEndpoint(),
      );
      const reads = emulator.journal.ofRoute("keyVault.secret").slice(-2);
      assert.deepEqual(
        reads.map((e) => e.status),
        [200, 200],
      );
      // The vault saw this credential's token (the journal keeps only a hash of it).
      // SecretClient asks for CAE tokens; the cache keeps them apart from non-CAE ones.
      const token = await credential.getToken("https://vault.azure.net/.default", { enableCae: true });
      assert.deepEqual(
        reads.map((e) => e.headers["authorization"]),
        [`Bearer ${journalHash(token.token)}`, `Bearer ${journalHash(token.token)}`],
      );
    });
  }

  test("a list whose bound entries are unavailable falls through to the secret, and the vault still answers", async () => {
    const { client, credential } = secretClient([
      { sourceType: "Path", certificateDiskPath: "/nonexistent/app.pfx", useBoundCredential: true },
      { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: "00000000-0000-0000-0000-000000000001", useBoundCredential: true },
      { sourceType: "ClientSecret", clientSecret: secret },
    ]);
    const read = await client.getSecret("database-password");
    assert.equal(read.value, "s3cr3t, read over mTLS-obtained tokens");
    assert.match(credential.lastServed?.entryId ?? "", /^clientCredentials\[2\] \(ClientSecret\)/);
    assert.equal(credential.lastServed?.bound, false);
  });

  test("a missing secret is Key Vault's 404, not an authentication failure", async () => {
    const { client } = secretClient([{ sourceType: "ClientSecret", clientSecret: secret }]);
    await assert.rejects(client.getSecret("no-such-secret"), (error: unknown) => {
      assert.equal((error as { statusCode?: number }).statusCode, 404);
      return true;
    });
  });
});
