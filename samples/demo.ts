/**
 * The main job: starts the local emulator of Entra ID, IMDS and Key Vault, then obtains Bearer
 * tokens with a bound certificate and with a bound managed identity, and uses each with a real
 * Azure SDK client. It prints which entry served, the certificate thumbprint, the token's claims
 * (never the token) and how long each step took.
 *
 * Run it with `npm run demo`.
 */
import { rootCertificates } from "node:tls";
import { SecretClient } from "@azure/keyvault-secrets";
import { decodeJwt } from "jose";
import { BoundClientCredential, type CredentialDescription } from "../src/index.ts";
import { startEmulator } from "../src/emulator/index.ts";

const KEY_VAULT_SCOPE = "https://vault.azure.net/.default";

function step<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  return work().then((value) => {
    console.log(`  ${label.padEnd(58)} ${(performance.now() - started).toFixed(1).padStart(8)} ms`);
    return value;
  });
}

function showClaims(token: string): void {
  const claims = decodeJwt(token);
  const shown = ["aud", "iss", "tid", "appid", "oid", "nbf", "exp"] as const;
  for (const name of shown) {
    const value = claims[name];
    if (value !== undefined) console.log(`    ${name.padEnd(6)} ${name === "nbf" || name === "exp" ? new Date(Number(value) * 1000).toISOString() : String(value)}`);
  }
}

const emulator = await step("start the emulator (login, mtlsauth, IMDS, Key Vault)", () => startEmulator());
try {
  const certificate = await step("issue the app's certificate", () => emulator.issueCertificate({ subject: "CN=demo-app" }));
  const identity = emulator.registerManagedIdentity({ kind: "user" });
  const app = emulator.registerApp({
    certificates: [certificate.certificatePem],
    federatedCredentials: [emulator.federatedCredentialFor(identity)],
  });
  emulator.keyVault.setSecret("demo-secret", "a value read with a token obtained over mutual TLS");
  console.log(`\n  tenant            ${emulator.tenantId}`);
  console.log(`  application       ${app.clientId}`);
  console.log(`  managed identity  ${identity.clientId}`);
  console.log(`  certificate       SHA-256 ${certificate.thumbprintSha256}\n`);

  const flows: { title: string; entry: CredentialDescription }[] = [
    {
      title: "bound certificate: the certificate in the TLS handshake to mtlsauth",
      entry: { sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem, useBoundCredential: true },
    },
    {
      title: "bound managed identity: IMDS v2 binding certificate, then jwt-pop",
      entry: { sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId, useBoundCredential: true },
    },
  ];

  for (const { title, entry } of flows) {
    console.log(`\n${title}`);
    const credential = new BoundClientCredential({
      tenantId: emulator.tenantId,
      clientId: app.clientId,
      authorityHost: emulator.authorityHost,
      mtlsAuthorityHost: emulator.mtlsAuthorityHost,
      imdsEndpoint: emulator.imdsEndpoint,
      tls: { ca: emulator.caCertificatePem },
      clientCredentials: [entry],
    });
    try {
      const first = await step("first token (cold: load, bind, request)", () => credential.getToken(KEY_VAULT_SCOPE));
      await step("second token (from the cache)", () => credential.getToken(KEY_VAULT_SCOPE));
      const served = credential.lastServed;
      console.log(`  served by         ${served?.entryId}`);
      console.log(`  token endpoint    ${served?.tokenEndpoint}`);
      const client = emulator.journal.last("mtls.token");
      console.log(`  TLS client cert   SHA-256 ${client?.clientCertificateThumbprintSha256 ?? "none"}`);
      console.log("  token claims");
      showClaims(first.token);
      const vault = new SecretClient(emulator.keyVaultUrl, credential, {
        disableChallengeResourceVerification: true,
        tlsOptions: { ca: [...rootCertificates, emulator.caCertificatePem].join("\n") },
      });
      const secret = await step("Key Vault SecretClient.getSecret with this credential", () => vault.getSecret("demo-secret"));
      console.log(`  secret value      "${secret.value}"`);
    } finally {
      await credential.close();
    }
  }
  console.log("\nmTLS handshakes seen by the emulator:", emulator.stats.handshakes.mtls);
} finally {
  await emulator.close();
}
