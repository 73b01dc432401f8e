import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { SourceContext } from "./index.ts";
import { createManagedIdentityAssertionSource } from "./managedIdentityAssertion.ts";
import { SourceUnavailableError, type CredentialSource } from "./types.ts";

/**
 * A managed identity as a `TokenCredential`, for remote sources that read with it (Key Vault).
 * It rides on the unbound managed identity source, so it honours `imdsEndpoint`, the credential's
 * CA trust and HTTP client, and shares msal-node's per-process managed identity routing with it —
 * unlike `@azure/identity`'s `ManagedIdentityCredential`, which would capture that routing for its
 * own requests.
 *
 * @param owner - the entry the identity reads for, so that reasons name it
 * @param managedIdentityClientId - a user-assigned identity, or undefined for the system-assigned one
 */
export function managedIdentityTokenCredential(
  owner: NormalizedEntry,
  managedIdentityClientId: string | undefined,
  context: SourceContext,
): TokenCredential {
  const perResource = new Map<string, CredentialSource>();
  const sourceFor = (resource: string): CredentialSource => {
    let source = perResource.get(resource);
    if (source === undefined) {
      const entry: NormalizedEntry = {
        index: owner.index,
        id: `${owner.id} managed identity`,
        bound: false,
        skip: false,
        description: {
          sourceType: "SignedAssertionFromManagedIdentity",
          tokenExchangeUrl: resource,
          ...(managedIdentityClientId === undefined ? {} : { managedIdentityClientId }),
        },
      };
      source = createManagedIdentityAssertionSource(entry, context);
      perResource.set(resource, source);
    }
    return source;
  };
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
      const scope = Array.isArray(scopes) ? scopes[0] : scopes;
      if (scope === undefined || scope === "") throw new SourceUnavailableError("a managed identity token needs a scope");
      const resource = scope.replace(/\/\.default$/, "");
      const signal = options?.abortSignal instanceof AbortSignal ? options.abortSignal : undefined;
      const material = await sourceFor(resource).load(signal);
      if (material.kind !== "assertion") throw new SourceUnavailableError("the managed identity source gave no token");
      const result = await material.getAssertion({ clientId: "", tokenEndpoint: resource, tenantId: "", bound: false, ...(signal === undefined ? {} : { abortSignal: signal }) });
      return {
        token: result.assertion,
        expiresOnTimestamp: result.expiresOnTimestamp ?? context.now() + 5 * 60_000,
        tokenType: "Bearer",
      };
    },
  };
}
