// Every credential source obtains a token from the emulator through the whole credential: the
// source reads its material, the unbound acquirer (msal-node over our transport) sends it, the
// emulator checks it and signs a token that we verify.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { CredentialUnavailableError } from "../../src/errors.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { journalHash, type IssuedCertificate } from "../../src/emulator/index.ts";
import { Harness, rejectionOf, STORAGE_SCOPE, TestClock, type RegisteredApp } from "./support.ts";

const PFX_PASSWORD = "pfx-Passw0rd-sources";
const KEY_PASSWORD = "key-Passw0rd-sources";
const SECRET = "client-secret-sources-3f9a";

let harness: Harness;
let app: RegisteredApp;
let certificate: IssuedCertificate;

before(async () => {
  harness = await Harness.start();
  certificate = await harness.emulator.issueCertificate({ subject: "CN=sources" });
  app = harness.emulator.registerApp({ certificates: [certificate.certificatePem], secrets: [SECRET] });
});

after(async () => {
  await harness.close();
});

/** Obtains a token with a credential holding only `entry`, verifies it, and checks the entry served. */
async function tokenWith(entry: CredentialDescription, extra = {}): Promise<Record<string, unknown>> {
  const credential = harness.credential(harness.options(app, [entry], extra));
  const token = await credential.getToken(STORAGE_SCOPE);
  assert.equal(token.tokenType, "Bearer");
  assert.ok(token.refreshAfterTimestamp <= token.expiresOnTimestamp);
  assert.equal(credential.lastServed?.entryId.startsWith("clientCredentials[0]"), true);
  assert.equal(credential.lastServed?.bound, false);
  return harness.verify(token.token, app);
}

function encryptedKeyPem(): string {
  return createPrivateKey(certificate.privateKeyPem)
    .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: KEY_PASSWORD })
    .toString();
}

describe("Certificate", () => {
  test("PEM certificate and PEM private key", async () => {
    await tokenWith({ sourceType: "Certificate", certificate: certificate.certificatePem, privateKey: certificate.privateKeyPem });
  });

  test("DER certificate and a KeyObject", async () => {
    const der = new X509Certificate(certificate.certificatePem).raw;
    await tokenWith({ sourceType: "Certificate", certificate: der, privateKey: createPrivateKey(certificate.privateKeyPem) });
  });

  test("encrypted PEM private key with its password", async () => {
    await tokenWith({
      sourceType: "Certificate",
      certificate: certificate.certificatePem,
      privateKey: encryptedKeyPem(),
      privateKeyPassword: KEY_PASSWORD,
    });
  });
});

describe("Path", () => {
  test("PFX with modern encryption (AES-256, PBKDF2)", async () => {
    const path = await harness.file("modern.pfx", certificate.toPfx(PFX_PASSWORD));
    await tokenWith({ sourceType: "Path", certificateDiskPath: path, certificatePassword: PFX_PASSWORD });
  });

  test("PFX with legacy encryption (3DES)", async () => {
    const path = await harness.file("legacy.pfx", certificate.toPfx(PFX_PASSWORD, { legacy: true }));
    await tokenWith({ sourceType: "Path", certificateDiskPath: path, certificatePassword: PFX_PASSWORD });
  });

  test("PEM file holding the certificate and the key", async () => {
    const path = await harness.file("app.pem", `${certificate.certificatePem}\n${certificate.privateKeyPem}`);
    await tokenWith({ sourceType: "Path", certificateDiskPath: path });
  });

  test("PEM file with an encrypted key and its password", async () => {
    const path = await harness.file("encrypted.pem", `${certificate.certificatePem}\n${encryptedKeyPem()}`);
    await tokenWith({ sourceType: "Path", certificateDiskPath: path, certificatePassword: KEY_PASSWORD });
  });
});

test("Base64Encoded: a PFX in base64", async () => {
  await tokenWith({
    sourceType: "Base64Encoded",
    base64EncodedValue: certificate.toPfx(PFX_PASSWORD).toString("base64"),
    certificatePassword: PFX_PASSWORD,
  });
});

describe("KeyVault", () => {
  /** A credential that reads the vault: itself a BoundClientCredential with a secret of another app. */
  function vaultReader(): ReturnType<Harness["credential"]> {
    const reader = harness.emulator.registerApp({ secrets: ["vault-reader-secret"] });
    return harness.credential(harness.options(reader, [{ sourceType: "ClientSecret", clientSecret: "vault-reader-secret" }]));
  }

  for (const format of ["pfx", "pem"] as const) {
    test(`the certificate's secret in ${format} form, read with keyVaultCredential`, async () => {
      const name = `app-certificate-${format}`;
      harness.emulator.keyVault.setCertificate(name, certificate, { format });
      const before = harness.emulator.journal.ofRoute("keyVault.secret").length;
      await tokenWith({
        sourceType: "KeyVault",
        keyVaultUrl: harness.emulator.keyVaultUrl,
        keyVaultCertificateName: name,
        keyVaultCredential: vaultReader(),
      });
      const reads = harness.emulator.journal.ofRoute("keyVault.secret").slice(before);
      assert.ok(reads.some((entry) => entry.status === 200 && entry.path.includes(name)), "the vault served the secret");
    });
  }

  test("the options' keyVaultCredential serves entries that name none", async () => {
    harness.emulator.keyVault.setCertificate("shared-reader", certificate);
    await tokenWith(
      { sourceType: "KeyVault", keyVaultUrl: harness.emulator.keyVaultUrl, keyVaultCertificateName: "shared-reader" },
      { keyVaultCredential: vaultReader() },
    );
  });
});

test("ClientSecret", async () => {
  await tokenWith({ sourceType: "ClientSecret", clientSecret: SECRET });
  const request = harness.emulator.journal.last("login.token");
  assert.equal(request?.status, 200);
  assert.equal(request?.form["client_assertion"], undefined);
});

test("SignedAssertionFromManagedIdentity, unbound: an IMDS v1 token exchanged as a federated assertion", async () => {
  const emu = harness.emulator;
  const identity = emu.registerManagedIdentity({ kind: "user" });
  const federated = emu.registerApp({ federatedCredentials: [emu.federatedCredentialFor(identity)] });
  const credential = harness.credential(
    harness.options(federated, [{ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId }]),
  );
  const token = await credential.getToken(STORAGE_SCOPE);
  await harness.verify(token.token, federated);
  const imds = emu.journal.last("imds.token");
  assert.equal(imds?.status, 200);
  assert.equal(imds?.query["client_id"], identity.clientId);
  assert.equal(imds?.query["resource"], "api://AzureADTokenExchange");
  const exchange = emu.journal.last("login.token");
  assert.equal(exchange?.form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
});

describe("SignedAssertionFilePath", () => {
  const subject = "system:serviceaccount:default:workload";
  let federated: RegisteredApp;

  before(() => {
    const emu = harness.emulator;
    federated = emu.registerApp({
      federatedCredentials: [{ issuer: `${emu.authorityHost}/${emu.tenantId}/v2.0`, subject }],
    });
  });

  test("reads the file, and reads it again once the assertion in it has expired", async () => {
    const emu = harness.emulator;
    const first = await emu.createFederatedAssertion({ subject, lifetimeSeconds: 600 });
    const path = await harness.file("token", first);
    const clock = new TestClock();
    const credential = harness.credential(
      harness.options(federated, [{ sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: path }]),
      { now: clock.now },
    );
    const token = await credential.getToken(STORAGE_SCOPE);
    await harness.verify(token.token, federated);
    assert.equal(emu.journal.last("login.token")?.form["client_assertion"], journalHash(first));

    // The projected token is rotated on disk; the first one is reused until it expires.
    const second = await emu.createFederatedAssertion({ subject, lifetimeSeconds: 7200 });
    await writeFile(path, second);
    await credential.getToken(STORAGE_SCOPE, { claims: "{}" });
    assert.equal(emu.journal.last("login.token")?.form["client_assertion"], journalHash(first), "still the first assertion");

    clock.advance(601_000);
    const later = await credential.getToken(STORAGE_SCOPE, { claims: "{}" });
    await harness.verify(later.token, federated);
    assert.equal(emu.journal.last("login.token")?.form["client_assertion"], journalHash(second), "the file was read again");
  });

  test("defaults to AZURE_FEDERATED_TOKEN_FILE", async () => {
    const assertion = await harness.emulator.createFederatedAssertion({ subject });
    const path = await harness.file("projected-token", assertion);
    const credential = harness.credential(harness.options(federated, [{ sourceType: "SignedAssertionFilePath" }]), {
      env: { AZURE_FEDERATED_TOKEN_FILE: path },
    });
    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, federated);
  });
});

describe("CustomSignedAssertion", () => {
  const subject = "custom-workload";
  let federated: RegisteredApp;

  before(() => {
    const emu = harness.emulator;
    federated = emu.registerApp({ federatedCredentials: [{ issuer: `${emu.authorityHost}/${emu.tenantId}/v2.0`, subject }] });
  });

  test("an inline provider, told the client and token endpoint", async () => {
    const contexts: { clientId: string; tokenEndpoint: string; bound: boolean }[] = [];
    const credential = harness.credential(
      harness.options(federated, [
        {
          sourceType: "CustomSignedAssertion",
          getAssertion: (context) => {
            contexts.push({ clientId: context.clientId, tokenEndpoint: context.tokenEndpoint, bound: context.bound });
            return harness.emulator.createFederatedAssertion({ subject });
          },
        },
      ]),
    );
    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, federated);
    assert.deepEqual(contexts, [
      { clientId: federated.clientId, tokenEndpoint: harness.emulator.tokenEndpoint(federated.tenantId), bound: false },
    ]);
  });

  test("a provider registered by name", async () => {
    const credential = harness.credential(
      harness.options(federated, [{ sourceType: "CustomSignedAssertion", customSignedAssertionProviderName: "workload" }], {
        customSignedAssertionProviders: { workload: () => harness.emulator.createFederatedAssertion({ subject }) },
      }),
    );
    await harness.verify((await credential.getToken(STORAGE_SCOPE)).token, federated);
  });
});

test("Windows store entries are unavailable here, with the reason", async () => {
  const stores: CredentialDescription[] = [
    { sourceType: "StoreWithThumbprint", certificateStorePath: "CurrentUser/My", certificateThumbprint: certificate.thumbprintSha1 },
    { sourceType: "StoreWithDistinguishedName", certificateStorePath: "LocalMachine/My", certificateDistinguishedName: "CN=sources" },
    { sourceType: "StoreWithSubjectName", certificateStorePath: "CurrentUser/My", certificateSubjectName: "CN=sources" },
  ];
  const credential = harness.credential(harness.options(app, stores));
  const before = harness.loginTokenRequests();
  const error = await rejectionOf(credential.getToken(STORAGE_SCOPE));
  assert.ok(error instanceof CredentialUnavailableError);
  assert.equal(error.name, "CredentialUnavailableError");
  for (const [index, store] of stores.entries()) {
    assert.match(error.message, new RegExp(`clientCredentials\\[${index}\\] \\(${store.sourceType}[^)]*\\): unavailable: Windows certificate stores cannot be read from Node\\.js`));
  }
  assert.equal(harness.loginTokenRequests(), before, "no token request was sent");

  // With a working entry after them, the stores are passed over.
  const withSecret = harness.credential(harness.options(app, [...stores, { sourceType: "ClientSecret", clientSecret: SECRET }]));
  await harness.verify((await withSecret.getToken(STORAGE_SCOPE)).token, app);
  assert.match(withSecret.lastServed?.entryId ?? "", /^clientCredentials\[3\]/);
});
