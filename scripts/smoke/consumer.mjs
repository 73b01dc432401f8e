// The packed package in a consumer project, as ES modules: a bound token (a certificate over mutual
// TLS) and an unbound one (a client secret) from the package's own emulator. Plain JavaScript, so
// that it runs on every supported Node.js, including those without type stripping.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { BoundClientCredential } from "bound-client-credential";
import { startEmulator } from "bound-client-credential/emulator";

const emulator = await startEmulator();
try {
  const certificate = await emulator.issueCertificate({ subject: "CN=smoke-esm" });
  const app = emulator.registerApp({ certificates: [certificate.certificatePem], secrets: ["smoke-secret"] });
  const pem = new URL("./smoke-esm.pem", import.meta.url);
  writeFileSync(pem, `${certificate.privateKeyPem}${certificate.certificatePem}`, { mode: 0o600 });
  const cases = [
    { sourceType: "Path", certificateDiskPath: pem.pathname, useBoundCredential: true },
    { sourceType: "ClientSecret", clientSecret: "smoke-secret" },
  ];
  for (const entry of cases) {
    const credential = new BoundClientCredential({ ...emulator.credentialOptions(app), clientCredentials: [entry] });
    try {
      const token = await credential.getToken("https://storage.azure.com/.default");
      assert.match(token.token, /^eyJ/);
      assert.equal(credential.lastServed?.bound, entry.useBoundCredential === true);
      assert.equal(new URL(credential.lastServed?.tokenEndpoint ?? "").origin, entry.useBoundCredential === true ? emulator.mtlsAuthorityHost : emulator.authorityHost);
    } finally {
      await credential.close();
    }
  }
  console.log(`ESM: a bound and an unbound token on Node.js ${process.versions.node}`);
} finally {
  await emulator.close();
}
