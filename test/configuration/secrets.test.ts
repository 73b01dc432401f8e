/**
 * Canary values given as secrets, passwords and private keys must never come back in an error:
 * not in its message, `String()`, stack, `JSON.stringify` or `util.inspect` — including when the
 * mistake is in the secret's own field or the secret sits in the wrong place.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { inspect } from "node:util";
import { optionsFromDropInArguments } from "../../src/configuration/dropIn.ts";
import { optionsFromConfiguration } from "../../src/configuration/fromConfiguration.ts";
import { optionsFromEnvironment, USE_BOUND_CREDENTIAL_VARIABLE } from "../../src/configuration/fromEnvironment.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import { BoundCredentialConfigurationError } from "../../src/errors.ts";
import { CLIENT, FAKE_CERT_PEM, optionsOf, TENANT } from "./helpers.ts";

const SECRET = "CANARYsecret7f3a9cQ~x";
const PASSWORD = "CANARYpfxpassword41b2";
const BASE64 = "CANARYbase64PFXdata0000";
const ASSERTION = "eyJhbGciOiJSUzI1NiJ9.CANARYassertion.sig";
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PRIVATE_KEY_PEM = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
/** A slice from the middle of the key's base64 body, which no message could contain by chance. */
const PRIVATE_KEY_CANARY = PRIVATE_KEY_PEM.split("\n")[5]!;
const CANARIES = [SECRET, PASSWORD, BASE64, ASSERTION, PRIVATE_KEY_CANARY, "CANARY"];

function assertNoCanary(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof BoundCredentialConfigurationError, `expected a configuration error, got ${String(thrown)}`);
  const renderings = [
    thrown.message,
    String(thrown),
    thrown.stack ?? "",
    JSON.stringify(thrown),
    JSON.stringify({ ...thrown }),
    inspect(thrown, { depth: Infinity, showHidden: true }),
    thrown.remedy,
    thrown.path,
  ];
  for (const text of renderings) {
    for (const canary of CANARIES) {
      assert.ok(!text.includes(canary), `a canary leaked into an error rendering: ${thrown.code} ${thrown.path}`);
    }
  }
  assert.equal(thrown.cause, undefined);
}

const secretEntry = { sourceType: "ClientSecret", clientSecret: SECRET };
const pathEntry = { sourceType: "Path", certificateDiskPath: "/certs/app.pfx", certificatePassword: PASSWORD };
const certEntry = { sourceType: "Certificate", certificate: FAKE_CERT_PEM, privateKey: PRIVATE_KEY_PEM, privateKeyPassword: PASSWORD };
const allSecrets = [secretEntry, pathEntry, certEntry, { sourceType: "Base64Encoded", base64EncodedValue: "MIIDHzCCAgegAwIB", certificatePassword: PASSWORD }];

function options(extra: Record<string, unknown>): Record<string, unknown> {
  return optionsOf(allSecrets, extra);
}

const cases: readonly [string, () => unknown][] = [
  ["a mistake elsewhere while every secret is present", () => normalizeOptions(options({ tenantId: "common" }), {})],
  ["an invalid authority while every secret is present", () => normalizeOptions(options({ authorityHost: "http://login.microsoftonline.com" }), {})],
  ["a bound ClientSecret", () => normalizeOptions(options({ clientCredentials: [{ ...secretEntry, useBoundCredential: true }] }), {})],
  ["a secret of the wrong type", () => normalizeOptions(options({ clientCredentials: [{ sourceType: "ClientSecret", clientSecret: [SECRET] }] }), {})],
  ["a secret at the top level", () => normalizeOptions(options({ clientSecret: SECRET }), {})],
  ["a secret under a misspelled key", () => normalizeOptions(options({ clientCredentials: [{ sourceType: "ClientSecret", clientSecrt: SECRET }] }), {})],
  ["a password under a misspelled key", () => normalizeOptions(options({ clientCredentials: [{ sourceType: "Path", certificateDiskPath: "/a", certificatePasword: PASSWORD }] }), {})],
  ["a secret in a Path entry", () => normalizeOptions(options({ clientCredentials: [{ ...pathEntry, clientSecret: SECRET }] }), {})],
  ["a password of the wrong type", () => normalizeOptions(options({ clientCredentials: [{ ...pathEntry, certificatePassword: { value: PASSWORD } }] }), {})],
  ["a private key without PEM markers", () => normalizeOptions(options({ clientCredentials: [{ ...certEntry, privateKey: PRIVATE_KEY_CANARY }] }), {})],
  ["a private key pasted as the certificate", () => normalizeOptions(options({ clientCredentials: [{ sourceType: "Certificate", certificate: `${PRIVATE_KEY_CANARY}\n${PASSWORD}` }] }), {})],
  ["a secret pasted as the tenant", () => normalizeOptions(options({ tenantId: SECRET }), {})],
  ["a secret pasted as the client id", () => normalizeOptions(options({ clientId: `${SECRET} ` }), {})],
  ["a secret pasted as the region", () => normalizeOptions(options({ azureRegion: SECRET }), {})],
  ["a secret pasted as a certificate path", () => normalizeOptions(options({ clientCredentials: [{ sourceType: "Path", certificateDiskPath: 1, certificatePassword: SECRET }] }), {})],
  ["invalid base64 holding a canary", () => normalizeOptions(options({ clientCredentials: [{ sourceType: "Base64Encoded", base64EncodedValue: `${BASE64}!!`, certificatePassword: PASSWORD }] }), {})],
  ["credentials inside the authority URL", () => normalizeOptions(options({ authorityHost: `https://app:${SECRET}@login.microsoftonline.com` }), {})],
  ["a secret pasted as tls.ca", () => normalizeOptions(options({ tls: { ca: SECRET } }), {})],
  ["an assertion given where a function is expected", () => normalizeOptions(options({ clientCredentials: [{ sourceType: "CustomSignedAssertion", getAssertion: ASSERTION }] }), {})],
  ["a provider name that is an assertion", () => normalizeOptions(options({ clientCredentials: [{ sourceType: "CustomSignedAssertion", customSignedAssertionProviderName: ASSERTION }] }), {})],
  ["a secret pasted as the source type", () => normalizeOptions(options({ clientCredentials: [{ sourceType: `${SECRET}~` }] }), {})],
  ["every entry skipped", () => normalizeOptions(options({ clientCredentials: allSecrets.map((e) => ({ ...e, skip: true })) }), {})],
  [
    "fromConfiguration: legacy secret and a bad tenant",
    () => optionsFromConfiguration({ TenantId: "organizations", ClientId: CLIENT, ClientSecret: SECRET, ClientCertificates: [{ SourceType: "Path", CertificateDiskPath: "/a", CertificatePassword: PASSWORD }] }),
  ],
  [
    "fromConfiguration: a bound ClientSecret entry",
    () => optionsFromConfiguration({ AzureAd: { TenantId: TENANT, ClientId: CLIENT, ClientCredentials: [{ SourceType: "ClientSecret", ClientSecret: SECRET, UseBoundCredential: true }] } }),
  ],
  [
    "fromConfiguration: ClientCredentials as an object holding secrets",
    () => optionsFromConfiguration({ TenantId: TENANT, ClientId: CLIENT, ClientCredentials: { SourceType: "ClientSecret", ClientSecret: SECRET } }),
  ],
  [
    "fromConfiguration: a duplicated secret key",
    () => optionsFromConfiguration({ TenantId: TENANT, ClientId: CLIENT, ClientCredentials: [{ SourceType: "ClientSecret", ClientSecret: SECRET, clientsecret: PASSWORD }] }),
  ],
  [
    "fromEnvironment: every secret variable and a bad tenant",
    () => optionsFromEnvironment({ AZURE_TENANT_ID: "consumers", AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: SECRET, AZURE_CLIENT_CERTIFICATE_PATH: "/c.pfx", AZURE_CLIENT_CERTIFICATE_PASSWORD: PASSWORD }),
  ],
  [
    "fromEnvironment: a secret pasted into the bound flag",
    () => optionsFromEnvironment({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_CERTIFICATE_PATH: "/c.pfx", AZURE_CLIENT_CERTIFICATE_PASSWORD: PASSWORD, [USE_BOUND_CREDENTIAL_VARIABLE]: SECRET }),
  ],
  ["fromEnvironment: a secret without tenant and client", () => optionsFromEnvironment({ AZURE_CLIENT_SECRET: SECRET })],
  ["drop-in: a password and a rejected option", () => optionsFromDropInArguments(TENANT, CLIENT, { certificatePath: "/c.pfx", certificatePassword: PASSWORD }, { proxyOptions: { host: "p", port: 0, username: "u", password: SECRET } })],
  ["drop-in: a proxy password in a proxy URL that cannot be used", () => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { proxyOptions: { host: `socks5://u:${SECRET}@p`, port: 1 } })],
  ["drop-in: PEM with its key given twice", () => optionsFromDropInArguments(TENANT, CLIENT, { certificate: `${FAKE_CERT_PEM}${PRIVATE_KEY_PEM}`, certificatePath: "/c.pem", certificatePassword: PASSWORD }, undefined)],
  ["drop-in: a key in tlsOptions", () => optionsFromDropInArguments(TENANT, CLIENT, "/c.pem", { tlsOptions: { key: PRIVATE_KEY_PEM, passphrase: PASSWORD } })],
  ["drop-in: a misspelled password key", () => optionsFromDropInArguments(TENANT, CLIENT, { certificatePath: "/c.pfx", certificatePasword: PASSWORD }, undefined)],
];

describe("no secret in any configuration error", () => {
  for (const [name, fn] of cases) {
    test(name, () => assertNoCanary(fn));
  }
});
