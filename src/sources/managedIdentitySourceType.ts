/**
 * The `SignedAssertionFromManagedIdentity` source type: reading its entries (one identity selector
 * at most, the token exchange audience with its per-cloud default) and making its source, the
 * IMDS v2 binding flow when bound and msal-node's managed identity support otherwise.
 */
import { readString } from "../configuration/checks.ts";
import type { SignedAssertionFromManagedIdentityCredentialDescription } from "../configuration/types.ts";
import { DEFAULT_TOKEN_EXCHANGE_URL } from "../constants.ts";
import { createBoundManagedIdentitySource } from "./boundManagedIdentitySource.ts";
import type { Normalized, SourceDescriptor } from "./descriptor.ts";
import { createManagedIdentityAssertionSource } from "./managedIdentityAssertion.ts";

/** A `SignedAssertionFromManagedIdentity` entry as validated: the exchange audience is always set. */
export type NormalizedManagedIdentityDescription = Normalized<
  SignedAssertionFromManagedIdentityCredentialDescription,
  { readonly tokenExchangeUrl: string }
>;

/**
 * The audience of the exchange token in each cloud, by login host, as Microsoft.Identity.Web's
 * `ManagedIdentityClientAssertion` picks it (`api://AzureADTokenExchange` unless the cloud has its own).
 */
const TOKEN_EXCHANGE_URL_BY_HOST: ReadonlyMap<string, string> = new Map([
  ["login.microsoftonline.us", "api://AzureADTokenExchangeUSGov"],
  ["login.usgovcloudapi.net", "api://AzureADTokenExchangeUSGov"],
  ["login.partner.microsoftonline.cn", "api://AzureADTokenExchangeChina"],
  ["login.chinacloudapi.cn", "api://AzureADTokenExchangeChina"],
]);

/** The default `tokenExchangeUrl` for a login authority (`https://host[:port]`); the public cloud's for anything else. */
export function defaultTokenExchangeUrl(authorityHost: string): string {
  let host: string;
  try {
    host = new URL(authorityHost).hostname.toLowerCase();
  } catch {
    return DEFAULT_TOKEN_EXCHANGE_URL;
  }
  return TOKEN_EXCHANGE_URL_BY_HOST.get(host) ?? DEFAULT_TOKEN_EXCHANGE_URL;
}

const SELECTORS = [
  ["managedIdentityClientId", "client id", "the client ID of the user-assigned managed identity"],
  ["managedIdentityObjectId", "object id", "the object (principal) ID of the user-assigned managed identity"],
  ["managedIdentityResourceId", "resource id", "the Azure resource ID of the user-assigned managed identity"],
] as const;

type SelectorKey = (typeof SELECTORS)[number][0];

/** The `SignedAssertionFromManagedIdentity` source type. */
export const managedIdentitySourceType: SourceDescriptor<
  "SignedAssertionFromManagedIdentity",
  NormalizedManagedIdentityDescription
> = {
  sourceType: "SignedAssertionFromManagedIdentity",
  keys: ["managedIdentityClientId", "managedIdentityObjectId", "managedIdentityResourceId", "tokenExchangeUrl"],
  read({ c, entry: e, path, context }) {
    const given: { key: SelectorKey; label: string; value: string }[] = [];
    for (const [key, label, meaning] of SELECTORS) {
      const value = readString(c, e, key, path, { meaning });
      if (value !== undefined) given.push({ key, label, value });
    }
    if (given.length > 1) {
      c.fail(
        "BCC_CONFLICTING_FIELDS",
        [...path, given[1]!.key],
        `selects the managed identity, but ${given.map((s) => c.key(s.key)).join(" and ")} are ${given.length === 2 ? "both" : "all"} given.`,
        `Give only one of ${SELECTORS.map(([key]) => c.key(key)).join(", ")} (or none for the system-assigned identity).`,
      );
    }
    const selector = given[0];
    if (selector?.key === "managedIdentityResourceId" && !selector.value.startsWith("/")) {
      c.fail(
        "BCC_INVALID_VALUE",
        [...path, "managedIdentityResourceId"],
        "is not an Azure resource ID.",
        "Give the full resource ID, /subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}.",
      );
    }
    const givenUrl = readString(c, e, "tokenExchangeUrl", path, {
      meaning: "the audience of the exchange token, for example api://AzureADTokenExchange",
    });
    if (givenUrl !== undefined) {
      if (!URL.canParse(givenUrl)) {
        c.fail(
          "BCC_INVALID_VALUE",
          [...path, "tokenExchangeUrl"],
          "is not an absolute URI.",
          "Use api://AzureADTokenExchange (public cloud), api://AzureADTokenExchangeUSGov or api://AzureADTokenExchangeChina, or leave it out.",
        );
      }
      if (/\/\.default$/i.test(givenUrl)) {
        c.fail(
          "BCC_INVALID_VALUE",
          [...path, "tokenExchangeUrl"],
          "ends with /.default, which is added when the token is requested.",
          "Remove the /.default suffix, for example api://AzureADTokenExchange.",
        );
      }
    }
    return {
      description: {
        sourceType: "SignedAssertionFromManagedIdentity",
        ...(selector === undefined ? {} : { [selector.key]: selector.value }),
        tokenExchangeUrl: givenUrl ?? defaultTokenExchangeUrl(context.authorityHost),
      },
      detail: `SignedAssertionFromManagedIdentity ${selector === undefined ? "system-assigned" : `${selector.label} ${selector.value}`}`,
    };
  },
  create: (entry, context) =>
    entry.bound
      ? createBoundManagedIdentitySource(entry, {
          ...context,
          ...(context.sleep === undefined
            ? {}
            : { tuning: { imdsRetry: { sleep: context.sleep }, tokenRetry: { sleep: context.sleep } } }),
        })
      : createManagedIdentityAssertionSource(entry, context),
};
