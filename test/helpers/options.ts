/**
 * The options every area's tests start from: a valid tenant and client, and a credential whose
 * entries make no request (an offline list) unless a test gives its own.
 */
import type { BoundClientCredentialOptions, CredentialDescription } from "../../src/configuration/types.ts";

/** A syntactically valid tenant GUID. */
export const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/** A client ID. */
export const CLIENT = "11111111-2222-3333-4444-555555555555";

/** An entry that is always unavailable off Windows and never sends a request. */
export const OFFLINE_ENTRY: CredentialDescription = {
  sourceType: "StoreWithThumbprint",
  certificateStorePath: "CurrentUser/My",
  certificateThumbprint: "AB".repeat(20),
};

/** Options with {@link TENANT} and {@link CLIENT}, `clientCredentials` (the offline entry by default) and `extra`. */
export function testOptions(
  clientCredentials: readonly CredentialDescription[] = [OFFLINE_ENTRY],
  extra: Partial<BoundClientCredentialOptions> = {},
): BoundClientCredentialOptions {
  return { tenantId: TENANT, clientId: CLIENT, clientCredentials, ...extra };
}
