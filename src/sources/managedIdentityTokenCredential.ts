import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import type { ManagedIdentityServices } from "./managedIdentity/services.ts";
import { SourceUnavailableError } from "./types.ts";

/**
 * A managed identity as a `TokenCredential`, for remote sources that read with it (Key Vault).
 * It asks the credential's managed identity token client, so it honours `imdsEndpoint`, the
 * credential's CA trust and HTTP client, and shares msal-node's per-process managed identity
 * routing and the token cache with the managed identity entries — unlike `@azure/identity`'s
 * `ManagedIdentityCredential`, which would capture that routing for its own requests.
 *
 * @param owner - the id of the entry the identity reads for, so that logs name it
 * @param managedIdentityClientId - a user-assigned identity, or undefined for the system-assigned one
 */
export function managedIdentityTokenCredential(
  owner: string,
  managedIdentityClientId: string | undefined,
  services: ManagedIdentityServices,
): TokenCredential {
  const selector = managedIdentityClientId === undefined ? ({ kind: "system" } as const) : ({ kind: "clientId", value: managedIdentityClientId } as const);
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
      const scope = Array.isArray(scopes) ? scopes[0] : scopes;
      if (scope === undefined || scope === "") throw new SourceUnavailableError("a managed identity token needs a scope");
      const signal = options?.abortSignal instanceof AbortSignal ? options.abortSignal : undefined;
      signal?.throwIfAborted();
      await services.tokens.check(selector);
      const token = await services.tokens.token(selector, scope.replace(/\/\.default$/, ""), {
        signal,
        requester: `${owner} managed identity`,
      });
      return { token: token.token, expiresOnTimestamp: token.expiresOnTimestamp, tokenType: "Bearer" };
    },
  };
}
