/**
 * The `SignedAssertionFromManagedIdentity` source type: reading its entries (one identity selector
 * at most, the token exchange audience with its per-cloud default) and making its source, the
 * IMDS v2 binding flow when bound and msal-node's managed identity support otherwise.
 */
import { readString } from "../configuration/checks.ts";
import type { SignedAssertionFromManagedIdentityCredentialDescription } from "../configuration/types.ts";
import { DEFAULT_TOKEN_EXCHANGE_URL } from "../constants.ts";
import { createBoundManagedIdentitySource } from "./boundManagedIdentitySource.ts";
import type { EntryFields, Normalized, SourceDescriptor } from "./descriptor.ts";
import { createManagedIdentityAssertionSource } from "./managedIdentityAssertion.ts";
import { type Pkcs11Fields, readPkcs11Fields } from "./pkcs11/fields.ts";

/**
 * A `SignedAssertionFromManagedIdentity` entry as validated: the exchange audience is always set,
 * and `bindingKeyPkcs11Uri`, when given, is decoded with its module and PIN.
 */
export type NormalizedManagedIdentityDescription = Normalized<
  SignedAssertionFromManagedIdentityCredentialDescription,
  { readonly tokenExchangeUrl: string }
> & {
  readonly bindingKey?: Pick<Pkcs11Fields, "selector" | "described" | "modulePath" | "pin" | "pinSource"> | undefined;
};

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

/**
 * `bindingKeyPkcs11Uri` with its `pkcs11ModulePath` and `pkcs11Pin`: a bound entry's token for
 * binding keys. The URI names a token and at most a label; the keys get ids of their own.
 */
function readBindingKey(fields: EntryFields): Pkcs11Fields | undefined {
  const { c, entry: e, path } = fields;
  const uriKey = "bindingKeyPkcs11Uri";
  if (e[uriKey] === undefined) {
    for (const key of ["pkcs11ModulePath", "pkcs11Pin"]) {
      if (e[key] !== undefined) {
        c.fail("BCC_CONFLICTING_FIELDS", [...path, key], `is set without ${c.key(uriKey)}: it is the module or PIN of the token that holds the binding keys.`, `Add ${c.key(uriKey)} naming the token, or remove ${c.key(key)}.`);
      }
    }
    return undefined;
  }
  if (e["useBoundCredential"] !== true) {
    c.fail(
      "BCC_CONFLICTING_FIELDS",
      [...path, uriKey],
      `is set on an unbound entry: only a bound managed identity has binding keys (an unbound one gets its token from IMDS without a key of its own).`,
      `Set ${c.key("useBoundCredential")} to true, or remove ${c.key(uriKey)}.`,
    );
  }
  const read = readPkcs11Fields(fields, uriKey, {
    required: true,
    requiredFor: "a managed identity whose binding keys are in a PKCS#11 token",
    namesKey: false,
    meaning: 'an RFC 7512 URI of the token for binding keys, such as "pkcs11:token=binding;object=mi-binding"',
  })!;
  if (read.uri.id !== undefined) {
    c.fail("BCC_INVALID_VALUE", [...path, uriKey], "has an id attribute, but every binding key is generated with an id of its own.", 'Remove id=; name the keys\' label with object= if you like, such as "pkcs11:token=binding;object=mi-binding".');
  }
  if (read.uri.token === undefined && read.uri.serial === undefined && read.uri.slotId === undefined) {
    c.fail("BCC_INVALID_VALUE", [...path, uriKey], "does not say which token the binding keys are generated in.", 'Add token=<label>, serial=<serial> or slot-id=<id>, such as "pkcs11:token=binding" (softhsm2-util --show-slots or pkcs11-tool -L lists them).');
  }
  return read;
}

/** The `SignedAssertionFromManagedIdentity` source type. */
export const managedIdentitySourceType: SourceDescriptor<
  "SignedAssertionFromManagedIdentity",
  NormalizedManagedIdentityDescription
> = {
  sourceType: "SignedAssertionFromManagedIdentity",
  keys: ["managedIdentityClientId", "managedIdentityObjectId", "managedIdentityResourceId", "tokenExchangeUrl", "bindingKeyPkcs11Uri", "pkcs11ModulePath", "pkcs11Pin"],
  read(fields) {
    const { c, entry: e, path, context } = fields;
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
    const bindingKey = readBindingKey(fields);
    return {
      description: {
        sourceType: "SignedAssertionFromManagedIdentity",
        ...(selector === undefined ? {} : { [selector.key]: selector.value }),
        tokenExchangeUrl: givenUrl ?? defaultTokenExchangeUrl(context.authorityHost),
        ...(bindingKey === undefined
          ? {}
          : {
              bindingKeyPkcs11Uri: bindingKey.text,
              pkcs11ModulePath: bindingKey.modulePath,
              ...(bindingKey.pkcs11Pin === undefined ? {} : { pkcs11Pin: bindingKey.pkcs11Pin }),
              bindingKey: {
                selector: bindingKey.selector,
                described: bindingKey.described,
                modulePath: bindingKey.modulePath,
                pin: bindingKey.pin,
                pinSource: bindingKey.pinSource,
              },
            }),
      },
      detail:
        `SignedAssertionFromManagedIdentity ${selector === undefined ? "system-assigned" : `${selector.label} ${selector.value}`}` +
        (bindingKey === undefined ? "" : `, binding keys in ${bindingKey.described}`),
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
