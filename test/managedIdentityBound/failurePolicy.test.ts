// The bound managed identity's failure policy is declared by its source and applied by the list's
// classification: a refused TLS handshake with a minted certificate means re-mint, while the same
// failure with a certificate from disk means the mutual TLS host cannot be used.
import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyFailure } from "../../src/acquisition/classifyFailure.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import { createBoundManagedIdentitySource } from "../../src/sources/boundManagedIdentitySource.ts";
import { HttpClient } from "../../src/transport/httpClient.ts";
import { TransportError } from "../../src/transport/errors.ts";
import { EntraError } from "../../src/transport/entraError.ts";

const options = normalizeOptions(
  {
    tenantId: "contoso.onmicrosoft.com",
    clientId: "00000000-0000-0000-0000-000000000001",
    clientCredentials: [
      { sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true },
      { sourceType: "Path", certificateDiskPath: "/certs/app.pfx", useBoundCredential: true },
    ],
  },
  {},
);
const [managedIdentity, certificate] = options.entries;

function entraError(status: number, error: string, aadsts: number): EntraError {
  return new EntraError({
    status,
    error,
    errorCodes: [aadsts],
    aadsts,
    description: `AADSTS${aadsts}: refused.`,
    traceId: undefined,
    correlationId: undefined,
    timestamp: undefined,
    suberror: undefined,
    claims: undefined,
    retryAfterMs: undefined,
    host: "mtlsauth.microsoft.com",
  });
}
assert.ok(managedIdentity !== undefined && certificate !== undefined);

test("a TLS refusal or reset with a minted binding certificate is a rejection (re-mint); a connection failure is not", async () => {
  const http = new HttpClient();
  try {
    const source = createBoundManagedIdentitySource(managedIdentity, { options, now: Date.now, env: {}, http });
    const tls = new TransportError("tls", "mtlsauth.microsoft.com", "The TLS handshake was refused.");
    const reset = new TransportError("reset", "mtlsauth.microsoft.com", "The connection was reset.");
    const connect = new TransportError("connect", "mtlsauth.microsoft.com", "Connection refused.");
    assert.equal(classifyFailure(managedIdentity, tls, undefined, source).outcome, "rejected");
    assert.equal(classifyFailure(managedIdentity, reset, undefined, source).outcome, "rejected");
    assert.equal(classifyFailure(managedIdentity, connect, undefined, source).outcome, "unavailable");
    assert.equal(source.isBindingRejection?.(entraError(401, "invalid_client", 500181)), true);
    assert.equal(source.isBindingRejection?.(entraError(400, "invalid_scope", 70011)), false);
  } finally {
    await http.close();
  }
});

test("the same TLS refusal with a certificate that is not minted makes the entry unavailable", () => {
  const tls = new TransportError("tls", "mtlsauth.microsoft.com", "The TLS handshake was refused.");
  assert.equal(classifyFailure(certificate, tls, undefined, {}).outcome, "unavailable");
  assert.equal(classifyFailure(certificate, tls).outcome, "unavailable");
});
