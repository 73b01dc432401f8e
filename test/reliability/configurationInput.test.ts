// Configuration input that once crashed or stalled the validator: huge names that fed the
// suggestion's edit distance, sparse arrays whose holes reached code that expected an entry, and a
// null environment. Each must end in a BoundCredentialConfigurationError that names where the
// problem is, with a message of ordinary size.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { test } from "node:test";

const { BoundClientCredential } = await import("../../src/boundClientCredential.ts");
const { optionsFromConfiguration } = await import("../../src/configuration/fromConfiguration.ts");
const { optionsFromEnvironment } = await import("../../src/configuration/fromEnvironment.ts");
const { normalizeOptions } = await import("../../src/configuration/validate.ts");
const { BoundCredentialConfigurationError } = await import("../../src/errors.ts");

const { CLIENT, TENANT } = await import("../helpers/options.ts");
const PATH_ENTRY = { sourceType: "Path", certificateDiskPath: "/certs/app.pfx" };

function configurationErrorOf(fn: () => unknown): InstanceType<typeof BoundCredentialConfigurationError> {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof BoundCredentialConfigurationError, `expected a configuration error, got ${String(error).slice(0, 200)}`);
    assert.ok(error.message.length < 2_000, `the message has ${error.message.length} characters`);
    return error;
  }
  assert.fail("expected a configuration error, but nothing was thrown");
}

test("an unknown option key of ten million characters is refused with a short message", () => {
  const key = "tenantIdd" + "x".repeat(10_000_000);
  const error = configurationErrorOf(() => normalizeOptions({ tenantId: TENANT, clientId: CLIENT, clientCredentials: [PATH_ENTRY], [key]: 1 }, {}));
  assert.equal(error.code, "BCC_UNKNOWN_OPTION");
  assert.ok(error.path.startsWith("tenantIdd") && error.path.endsWith("…") && error.path.length < 100, error.path.slice(0, 100));
  const inEntry = configurationErrorOf(() =>
    normalizeOptions({ tenantId: TENANT, clientId: CLIENT, clientCredentials: [{ ...PATH_ENTRY, [key]: 1 }] }, {}),
  );
  assert.equal(inEntry.code, "BCC_UNKNOWN_OPTION");
  assert.ok(inEntry.path.startsWith("clientCredentials[0].tenantIdd"));
});

test("a source type of a mebibyte is refused without a suggestion or an echo", () => {
  const error = configurationErrorOf(() =>
    normalizeOptions({ tenantId: TENANT, clientId: CLIENT, clientCredentials: [{ sourceType: "Path".repeat(262_144) }] }, {}),
  );
  assert.equal(error.code, "BCC_UNKNOWN_SOURCE_TYPE");
  assert.equal(error.path, "clientCredentials[0].sourceType");
  assert.doesNotMatch(error.message, /Did you mean/);
});

test("a hole in clientCredentials is a missing entry, named by its index", () => {
  // eslint-disable-next-line no-sparse-arrays
  const sparse = [, PATH_ENTRY];
  const error = configurationErrorOf(() => normalizeOptions({ tenantId: TENANT, clientId: CLIENT, clientCredentials: sparse }, {}));
  assert.equal(error.code, "BCC_INVALID_TYPE");
  assert.equal(error.path, "clientCredentials[0]");
  const later = configurationErrorOf(() => new BoundClientCredential({ tenantId: TENANT, clientId: CLIENT, clientCredentials: [PATH_ENTRY, , PATH_ENTRY] as never }));
  assert.equal(later.path, "clientCredentials[1]");
  const inSection = configurationErrorOf(() =>
    optionsFromConfiguration({ TenantId: TENANT, ClientId: CLIENT, ClientCredentials: [, { SourceType: "Path", CertificateDiskPath: "/a.pfx" }] }),
  );
  assert.equal(inSection.path, "AzureAd.ClientCredentials[0]");
});

test("a null or non-object environment is a configuration error naming the environment", () => {
  for (const env of [null, 42, "AZURE_TENANT_ID=x"]) {
    const error = configurationErrorOf(() => optionsFromEnvironment(env as never));
    assert.equal(error.code, "BCC_INVALID_OPTIONS");
    assert.equal(error.path, "environment");
  }
  const error = configurationErrorOf(() => BoundClientCredential.fromEnvironment(null as never));
  assert.equal(error.path, "environment");
});
