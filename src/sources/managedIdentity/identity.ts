/**
 * Which managed identity an entry means, where this host's managed identity lives, and which
 * failures say that a binding certificate itself was refused.
 */
import { EntraError } from "../../transport/entraError.ts";
import { TransportError } from "../../transport/errors.ts";
import type { ManagedIdentitySelector } from "../../transport/imdsV2.ts";
import { selectorQueryParameter } from "../../transport/imdsV2.ts";

/** The managed identity keys of an entry (the `managedIdentity*` fields of its description). */
export interface ManagedIdentityKeys {
  readonly managedIdentityClientId?: string | undefined;
  readonly managedIdentityObjectId?: string | undefined;
  readonly managedIdentityResourceId?: string | undefined;
}

/** The selector of `keys`: the first of client id, object id and resource id, else the system-assigned identity. */
export function selectorOf(keys: ManagedIdentityKeys): ManagedIdentitySelector {
  if (keys.managedIdentityClientId !== undefined) return { kind: "clientId", value: keys.managedIdentityClientId };
  if (keys.managedIdentityObjectId !== undefined) return { kind: "objectId", value: keys.managedIdentityObjectId };
  if (keys.managedIdentityResourceId !== undefined) return { kind: "resourceId", value: keys.managedIdentityResourceId };
  return { kind: "system" };
}

/** A secret-free name of a selector, for cache keys and messages: `client_id=…` or `system`. */
export function selectorLabel(selector: ManagedIdentitySelector): string {
  return selectorQueryParameter(selector) || "system";
}

/**
 * Environment variables that mean another managed identity host, as msal-node's
 * `ManagedIdentityApplication` detects them (`ManagedIdentitySources` in msal-node's
 * `ManagedIdentityClient.ts`): these hosts have no IMDS v2 and cannot issue binding certificates.
 */
export const OTHER_MANAGED_IDENTITY_HOSTS: readonly (readonly [variable: string, hosts: string])[] = [
  ["IDENTITY_ENDPOINT", "App Service, Azure Functions, Container Apps, Service Fabric or Azure Arc"],
  ["MSI_ENDPOINT", "Cloud Shell or Azure Machine Learning"],
];

/** The first variable of {@link OTHER_MANAGED_IDENTITY_HOSTS} that is set, with the hosts it means. */
export function otherManagedIdentityHost(
  env: Readonly<Record<string, string | undefined>>,
): { readonly variable: string; readonly hosts: string } | undefined {
  for (const [variable, hosts] of OTHER_MANAGED_IDENTITY_HOSTS) {
    const value = env[variable];
    if (value !== undefined && value !== "") return { variable, hosts };
  }
  return undefined;
}

/**
 * Whether `error`, met by a request that presented a minted binding certificate, says that the
 * certificate itself was refused, so that a new one may cure it: `invalid_client` from the token
 * endpoint, or the TLS handshake refused or cut. This is the whole failure policy of the bound
 * managed identity; leg 1 and the app's own mutual TLS request both apply it.
 */
export function isBindingRejection(error: unknown): boolean {
  if (error instanceof EntraError) return error.error === "invalid_client";
  return error instanceof TransportError && (error.kind === "tls" || error.kind === "reset");
}

/** A short, secret-free description of a rejection, for logs. */
export function describeRejection(error: unknown): string {
  if (error instanceof EntraError) return `${error.error}${error.aadsts === undefined ? "" : ` AADSTS${error.aadsts}`}`;
  if (error instanceof TransportError) return `${error.kind} ${error.code ?? ""}`.trim();
  return "error";
}
