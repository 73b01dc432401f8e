// The drop-in promise: `new BoundClientCredential(...)` takes exactly the arguments of
// `@azure/identity`'s `ClientCertificateCredential` and obtains an equivalent token. Both run
// against the emulator; this file trusts the emulator's CA process-wide (as NODE_EXTRA_CA_CERTS
// would), so that the very same arguments work for both credentials.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import * as tls from "node:tls";
import { ClientCertificateCredential, type ClientCertificateCredentialOptions } from "@azure/identity";
import { BoundClientCredential } from "../../src/boundClientCredential.ts";
import type { IssuedCertificate } from "../../src/emulator/index.ts";
import { Harness, STORAGE_SCOPE, type RegisteredApp } from "./support.ts";

const KEY_PASSWORD = "drop-in-key-Passw0rd";

let harness: Harness;
let app: RegisteredApp;
let certificate: IssuedCertificate;
let previousDefaultCas: string[];

before(async () => {
  harness = await Harness.start();
  certificate = await harness.emulator.issueCertificate({ subject: "CN=drop-in" });
  app = harness.emulator.registerApp({ certificates: [certificate.certificatePem] });
  previousDefaultCas = tls.getCACertificates("default");
  tls.setDefaultCACertificates([...previousDefaultCas, harness.emulator.caCertificatePem]);
});

after(async () => {
  tls.setDefaultCACertificates(previousDefaultCas);
  await harness.close();
});

/** The third argument of both constructors. */
type CertificateArgument = string | { certificate: string } | { certificatePath: string; certificatePassword?: string };

/** Gets a token from both credentials built with `argument` and compares them. */
async function compare(argument: CertificateArgument): Promise<void> {
  const options: ClientCertificateCredentialOptions = {
    authorityHost: harness.emulator.authorityHost,
    disableInstanceDiscovery: true,
  };
  const { tenantId, clientId } = app;
  // The same arguments, in the same order; the branches only pick the overload for the type checker.
  const identity =
    typeof argument === "string"
      ? new ClientCertificateCredential(tenantId, clientId, argument, options)
      : "certificate" in argument
        ? new ClientCertificateCredential(tenantId, clientId, argument, options)
        : new ClientCertificateCredential(tenantId, clientId, argument, options);
  const bound = harness.track(
    typeof argument === "string"
      ? new BoundClientCredential(tenantId, clientId, argument, options)
      : new BoundClientCredential(tenantId, clientId, argument, options),
  );
  const from = harness.loginTokenRequests();
  const [theirs, ours] = await Promise.all([identity.getToken(STORAGE_SCOPE), bound.getToken(STORAGE_SCOPE)]);
  assert.equal(harness.loginTokenRequests() - from, 2, "both asked the emulator");
  assert.ok(theirs !== null);
  const [theirClaims, ourClaims] = await Promise.all([harness.verify(theirs.token, app), harness.verify(ours.token, app)]);
  for (const claim of ["aud", "appid", "tid", "oid", "iss", "appidacr"]) {
    assert.equal(ourClaims[claim], theirClaims[claim], `same ${claim}`);
  }
  assert.equal(ours.tokenType, "Bearer");
  assert.ok(Math.abs(ours.expiresOnTimestamp - theirs.expiresOnTimestamp) < 60_000, "same lifetime");
  assert.equal(bound.lastServed?.bound, false);
}

describe("ClientCertificateCredential and BoundClientCredential, same arguments, equivalent tokens", () => {
  test("a PEM file path", async () => {
    const path = await harness.file("app.pem", `${certificate.certificatePem}${certificate.privateKeyPem}`);
    await compare(path);
  });

  test("PEM text: { certificate }", async () => {
    await compare({ certificate: `${certificate.privateKeyPem}${certificate.certificatePem}` });
  });

  test("a path with a password: { certificatePath, certificatePassword } to an encrypted key", async () => {
    const encrypted = createPrivateKey(certificate.privateKeyPem)
      .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: KEY_PASSWORD })
      .toString();
    const path = await harness.file("encrypted.pem", `${certificate.certificatePem}${encrypted}`);
    await compare({ certificatePath: path, certificatePassword: KEY_PASSWORD });
  });
});
