import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inspect } from "node:util";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { createSource } from "../../src/sources/index.ts";
import { type CredentialSource, type SourceMaterial, SourceUnavailableError } from "../../src/sources/types.ts";
import {
  CANARY_PASSWORD,
  CANARY_SECRET,
  contextWith,
  createCertificateAuthority,
  anyEntryOf,
  type IssuedCertificate,
  optionsWith,
  reencodeKey,
  signedJwt,
  temporaryDirectory,
} from "./support/fixtures.ts";

/** Every way an object can be printed by accident. */
function renderings(value: unknown): string[] {
  return [
    JSON.stringify(value) ?? "",
    inspect(value),
    inspect(value, { depth: Infinity, showHidden: true, getters: true }),
    String(value),
    `${JSON.stringify({ nested: { value } })}`,
  ];
}

function assertNoLeak(value: unknown, canaries: readonly string[], label: string): void {
  for (const text of renderings(value)) {
    for (const canary of canaries) {
      assert.ok(!text.includes(canary), `${label} leaks ${canary.slice(0, 12)}… in: ${text.slice(0, 300)}`);
    }
  }
}

describe("createSource and redaction", () => {
  let directory: { path: string; remove: () => Promise<void> };
  let issued: IssuedCertificate;
  /** Lines of the private key's base64 body: any of them in a rendering is a leak. */
  let keyCanaries: string[];

  before(async () => {
    directory = await temporaryDirectory();
    const ca = await createCertificateAuthority();
    issued = await ca.issueCertificate({ subject: "CN=redaction" });
    keyCanaries = issued.privateKeyPem
      .split("\n")
      .filter((line) => line.length > 40 && !line.startsWith("-----"))
      .slice(0, 3);
    keyCanaries.push("PRIVATE KEY");
  });
  after(async () => {
    await directory.remove();
  });

  test("every sourceType gets a source; nothing is read at creation", () => {
    const descriptions: CredentialDescription[] = [
      { sourceType: "Certificate", certificate: "not read yet" },
      { sourceType: "Path", certificateDiskPath: "/does/not/exist.pfx" },
      { sourceType: "Base64Encoded", base64EncodedValue: "!!" },
      { sourceType: "KeyVault", keyVaultUrl: "https://example.vault.azure.net", keyVaultCertificateName: "c" },
      { sourceType: "StoreWithThumbprint", certificateStorePath: "CurrentUser/My", certificateThumbprint: "AB" },
      { sourceType: "StoreWithDistinguishedName", certificateStorePath: "CurrentUser/My", certificateDistinguishedName: "CN=a" },
      { sourceType: "StoreWithSubjectName", certificateStorePath: "CurrentUser/My", certificateSubjectName: "a" },
      { sourceType: "ClientSecret", clientSecret: CANARY_SECRET },
      { sourceType: "SignedAssertionFromManagedIdentity" },
      { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: "/does/not/exist" },
      { sourceType: "CustomSignedAssertion", getAssertion: () => "x" },
    ];
    for (const [index, description] of descriptions.entries()) {
      const source = createSource(anyEntryOf(description, { index }), contextWith());
      assert.equal(typeof source.load, "function", description.sourceType);
      assert.equal(typeof source.reload, "function", description.sourceType);
    }
    assert.throws(
      () => createSource(anyEntryOf({ sourceType: "Nope" } as unknown as CredentialDescription), contextWith()),
      /Unknown sourceType "Nope"/,
    );
  });

  test("sources and their materials print no password, key, secret or assertion", async () => {
    const pfxPath = join(directory.path, "redaction.pfx");
    await writeFile(pfxPath, issued.toPfx(CANARY_PASSWORD));
    const jwt = await signedJwt(Math.floor(Date.now() / 1000) + 3600, "canary");
    const assertionPath = join(directory.path, "token");
    await writeFile(assertionPath, jwt);
    const vaultCredential: TokenCredential & { secret: string } = {
      secret: CANARY_SECRET,
      getToken: async (): Promise<AccessToken> => ({ token: CANARY_SECRET, expiresOnTimestamp: 0 }),
    };
    const descriptions: CredentialDescription[] = [
      {
        sourceType: "Certificate",
        certificate: issued.certificatePem,
        privateKey: reencodeKey(issued.privateKeyPem, "encrypted-pkcs8"),
        privateKeyPassword: CANARY_PASSWORD,
      },
      { sourceType: "Certificate", certificate: issued.certificatePem + issued.privateKeyPem },
      { sourceType: "Path", certificateDiskPath: pfxPath, certificatePassword: CANARY_PASSWORD },
      {
        sourceType: "Base64Encoded",
        base64EncodedValue: issued.toPfx(CANARY_PASSWORD).toString("base64"),
        certificatePassword: CANARY_PASSWORD,
      },
      { sourceType: "ClientSecret", clientSecret: CANARY_SECRET },
      { sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: assertionPath },
      { sourceType: "CustomSignedAssertion", getAssertion: () => jwt },
      {
        sourceType: "KeyVault",
        keyVaultUrl: "https://example.vault.azure.net",
        keyVaultCertificateName: "c",
        keyVaultCredential: vaultCredential,
      },
    ];
    const canaries = [CANARY_PASSWORD, CANARY_SECRET, jwt, ...keyCanaries];
    const context = contextWith({ options: optionsWith({ keyVaultCredential: vaultCredential }) });
    for (const [index, description] of descriptions.entries()) {
      const source: CredentialSource = createSource(anyEntryOf(description, { index }), context);
      assertNoLeak(source, canaries, `${description.sourceType} source`);
      if (description.sourceType === "KeyVault") continue; // no vault here; its material is tested with the local vault
      const material: SourceMaterial = await source.load();
      assertNoLeak(material, canaries, `${description.sourceType} material`);
      assertNoLeak(source, canaries, `${description.sourceType} source after load`);
      if (material.kind === "assertion") {
        const result = await material.getAssertion({
          clientId: "c",
          tenantId: "t",
          tokenEndpoint: "https://login.microsoftonline.com/t/oauth2/v2.0/token",
          bound: false,
        });
        assert.equal(result.assertion, jwt);
        assertNoLeak(result, canaries, `${description.sourceType} assertion result`);
      }
      if (material.kind === "secret") assert.equal(material.secret.reveal(), CANARY_SECRET);
      if (material.kind === "certificate") assert.equal(material.certificate.thumbprintSha256, issued.thumbprintSha256);
    }
  });

  test("errors of failed loads print no password", async () => {
    const pfxPath = join(directory.path, "wrong-password.pfx");
    await writeFile(pfxPath, issued.toPfx("the-real-one"));
    const descriptions: CredentialDescription[] = [
      { sourceType: "Path", certificateDiskPath: pfxPath, certificatePassword: CANARY_PASSWORD },
      {
        sourceType: "Certificate",
        certificate: issued.certificatePem,
        privateKey: reencodeKey(issued.privateKeyPem, "encrypted-pkcs8", "the-real-one"),
        privateKeyPassword: CANARY_PASSWORD,
      },
      {
        sourceType: "Base64Encoded",
        base64EncodedValue: issued.toPfx("the-real-one").toString("base64"),
        certificatePassword: CANARY_PASSWORD,
      },
    ];
    for (const description of descriptions) {
      const error: unknown = await createSource(anyEntryOf(description), contextWith())
        .load()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(error instanceof SourceUnavailableError);
      assert.match(error.reason, /password is wrong/);
      assertNoLeak(error, [CANARY_PASSWORD, ...keyCanaries], `${description.sourceType} error`);
      assertNoLeak(error.cause, [CANARY_PASSWORD], `${description.sourceType} error cause`);
    }
  });
});
