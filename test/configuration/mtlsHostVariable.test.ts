/**
 * BOUND_CLIENT_CREDENTIAL_MTLS_AUTHORITY_HOST: the mutual TLS host from the environment, for login
 * hosts whose mtlsauth host cannot be derived (an emulator, a private cloud).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { optionsFromEnvironment } from "../../src/configuration/fromEnvironment.ts";
import { CLIENT, expectConfigError, TENANT } from "./helpers.ts";

const BOUND = {
  AZURE_TENANT_ID: TENANT,
  AZURE_CLIENT_ID: CLIENT,
  AZURE_CLIENT_CERTIFICATE_PATH: "/certs/app.pem",
  BOUND_CLIENT_CREDENTIAL_USE_BOUND: "true",
  AZURE_AUTHORITY_HOST: "https://127.0.0.1:8443",
};

test("a bound certificate with a login host of no known cloud names the variable that sets the mTLS host", () => {
  expectConfigError(() => optionsFromEnvironment(BOUND), {
    code: "BCC_MTLS_UNSUPPORTED_CLOUD",
    path: "AZURE_AUTHORITY_HOST",
    remedy: /BOUND_CLIENT_CREDENTIAL_MTLS_AUTHORITY_HOST/,
  });
});

test("the variable sets mtlsAuthorityHost, and the bound certificate is accepted", () => {
  const options = optionsFromEnvironment({ ...BOUND, BOUND_CLIENT_CREDENTIAL_MTLS_AUTHORITY_HOST: "https://127.0.0.1:8444" });
  assert.equal(options.mtlsAuthorityHost, "https://127.0.0.1:8444");
  assert.equal(options.clientCredentials[0]?.useBoundCredential, true);
});

test("a wrong value is refused under the variable's name", () => {
  expectConfigError(() => optionsFromEnvironment({ ...BOUND, BOUND_CLIENT_CREDENTIAL_MTLS_AUTHORITY_HOST: "http://127.0.0.1:8444" }), {
    code: "BCC_INSECURE_AUTHORITY",
    path: "BOUND_CLIENT_CREDENTIAL_MTLS_AUTHORITY_HOST",
    remedy: /https/i,
  });
});
