/**
 * Validation of one entry of `clientCredentials`: its source type, the fields that source needs,
 * and whether it may be bound. Produces a frozen copy with defaults applied and a secret-free id.
 */
import { KeyObject } from "node:crypto";
import { DEFAULT_TOKEN_EXCHANGE_URL } from "../constants.ts";
import type { TokenCredential } from "@azure/core-auth";
import {
  type Checker,
  describeType,
  echo,
  frozenDataCopy,
  isPlainObject,
  isTokenCredentialLike,
  readBoolean,
  readFunction,
  readString,
  rejectUnknownKeys,
} from "./checks.ts";
import type { PathSegment } from "./naming.ts";
import type { NormalizedEntry } from "./normalized.ts";
import { closestMatch } from "./suggest.ts";
import type {
  CredentialDescription,
  CredentialSourceType,
  CustomSignedAssertionProvider,
} from "./types.ts";
import { KEY_VAULT_URL_RULES, parseOrigin } from "./urls.ts";

/** Every source type, in the order of DESIGN.md §2. */
export const SOURCE_TYPES: readonly CredentialSourceType[] = [
  "Certificate",
  "Path",
  "Base64Encoded",
  "KeyVault",
  "StoreWithThumbprint",
  "StoreWithDistinguishedName",
  "StoreWithSubjectName",
  "ClientSecret",
  "SignedAssertionFromManagedIdentity",
  "SignedAssertionFilePath",
  "CustomSignedAssertion",
];

/** Keys every entry accepts. */
export const COMMON_ENTRY_KEYS: readonly string[] = ["sourceType", "skip", "useBoundCredential"];

/** Keys each source type accepts besides {@link COMMON_ENTRY_KEYS}. */
export const SOURCE_KEYS: Readonly<Record<CredentialSourceType, readonly string[]>> = {
  Certificate: ["certificate", "privateKey", "privateKeyPassword"],
  Path: ["certificateDiskPath", "certificatePassword"],
  Base64Encoded: ["base64EncodedValue", "certificatePassword"],
  KeyVault: [
    "keyVaultUrl",
    "keyVaultCertificateName",
    "keyVaultCertificateVersion",
    "managedIdentityClientId",
    "keyVaultCredential",
  ],
  StoreWithThumbprint: ["certificateStorePath", "certificateThumbprint"],
  StoreWithDistinguishedName: ["certificateStorePath", "certificateDistinguishedName"],
  StoreWithSubjectName: ["certificateStorePath", "certificateSubjectName"],
  ClientSecret: ["clientSecret"],
  SignedAssertionFromManagedIdentity: [
    "managedIdentityClientId",
    "managedIdentityObjectId",
    "managedIdentityResourceId",
    "tokenExchangeUrl",
  ],
  SignedAssertionFilePath: ["signedAssertionFileDiskPath"],
  CustomSignedAssertion: ["getAssertion", "customSignedAssertionProviderName", "customSignedAssertionProviderData"],
};

/**
 * Source types Microsoft.Identity.Web knows but this library cannot serve, with the reason. They
 * are rejected with their own code so that the user is not told the name is misspelled.
 */
export const UNSUPPORTED_SOURCE_TYPES: ReadonlyMap<string, string> = new Map([
  ["SignedAssertionFromVault", "it is a Microsoft-internal source for which no public loader exists"],
  ["AutoDecryptKeys", "it describes token decryption keys, not a client credential"],
  ["ManagedCertificate", "it is a Microsoft-internal source for which no public loader exists"],
]);

/** Sources that cannot present anything in a TLS handshake. */
const CANNOT_BIND: ReadonlyMap<CredentialSourceType, string> = new Map<CredentialSourceType, string>([
  ["ClientSecret", "a client secret cannot be presented in a TLS handshake"],
  ["SignedAssertionFilePath", "an assertion read from a file carries no binding certificate"],
]);

/** The audience of the exchange token in each cloud, by login host (issue #2749 of Identity.Web). */
const TOKEN_EXCHANGE_URL_BY_HOST: ReadonlyMap<string, string> = new Map([
  ["login.microsoftonline.us", "api://AzureADTokenExchangeUSGov"],
  ["login.usgovcloudapi.net", "api://AzureADTokenExchangeUSGov"],
  ["login.partner.microsoftonline.cn", "api://AzureADTokenExchangeChina"],
  ["login.chinacloudapi.cn", "api://AzureADTokenExchangeChina"],
]);

/** The default `tokenExchangeUrl` for a login authority (`https://host[:port]`). */
export function defaultTokenExchangeUrl(authorityHost: string): string {
  return TOKEN_EXCHANGE_URL_BY_HOST.get(new URL(authorityHost).hostname.toLowerCase()) ?? DEFAULT_TOKEN_EXCHANGE_URL;
}

/** What an entry's validation needs from the rest of the options. */
export interface EntryContext {
  /** The normalised login authority, for per-cloud defaults. */
  readonly authorityHost: string;
  /** The environment, for `AZURE_FEDERATED_TOKEN_FILE`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Names registered in `customSignedAssertionProviders`. */
  readonly providerNames: readonly string[];
}

/** An example entry per source type, for remedies. */
const EXAMPLE_ENTRY = '{ sourceType: "Path", certificateDiskPath: "/certs/app.pfx" }';

/** Validates `value` as the entry at `clientCredentials[index]`. */
export function normalizeEntry(c: Checker, value: unknown, index: number, ctx: EntryContext): NormalizedEntry {
  const path: readonly PathSegment[] = ["clientCredentials", index];
  if (!isPlainObject(value)) {
    c.fail(
      "BCC_INVALID_TYPE",
      path,
      `must be an object describing one credential but is ${describeType(value)}.`,
      `Give an object such as ${EXAMPLE_ENTRY}.`,
    );
  }
  const sourceType = readSourceType(c, value, path);
  rejectUnknownKeys(c, value, path, [...COMMON_ENTRY_KEYS, ...SOURCE_KEYS[sourceType]], `a ${sourceType} entry`, (key) => {
    const owners = SOURCE_TYPES.filter((t) => SOURCE_KEYS[t].includes(key));
    return owners.length === 0
      ? undefined
      : `${c.key(key)} belongs to sourceType ${owners.join(" or ")}; remove it here, or change ${c.key("sourceType")}.`;
  });
  const skip = readBoolean(c, value, "skip", path, false);
  const bound = readBoolean(c, value, "useBoundCredential", path, false);
  const fields = readSourceFields(c, sourceType, value, path, ctx);
  const reason = CANNOT_BIND.get(sourceType);
  if (bound && reason !== undefined) {
    c.fail(
      "BCC_BOUND_NOT_SUPPORTED",
      [...path, "useBoundCredential"],
      `is true, but a ${sourceType} entry cannot be bound: ${reason}.`,
      `To obtain tokens over mutual TLS use a certificate entry (Path, KeyVault, Base64Encoded, Certificate) or a managed identity (SignedAssertionFromManagedIdentity) with ${c.key("useBoundCredential")}, or drop the flag from this entry.`,
    );
  }
  const description = Object.freeze({ ...fields.description, skip, useBoundCredential: bound }) as Readonly<CredentialDescription>;
  const id = `clientCredentials[${index}] (${fields.detail}${bound ? ", bound" : ""}${skip ? ", skipped" : ""})`;
  return Object.freeze({ index, id, bound, skip, description });
}

function readSourceType(c: Checker, entry: Record<string, unknown>, path: readonly PathSegment[]): CredentialSourceType {
  const value = entry["sourceType"];
  const at = [...path, "sourceType"];
  const valid = `Use one of: ${SOURCE_TYPES.join(", ")}.`;
  if (value === undefined) {
    c.fail("BCC_MISSING_FIELD", at, "is required: it says where the credential comes from.", valid);
  }
  if (typeof value !== "string") {
    c.fail("BCC_INVALID_TYPE", at, `must be a string but is ${describeType(value)}.`, valid);
  }
  const known = SOURCE_TYPES.find((t) => t === value);
  if (known !== undefined) return known;
  const unsupported = [...UNSUPPORTED_SOURCE_TYPES].find(([name]) => name.toLowerCase() === value.toLowerCase());
  if (unsupported !== undefined) {
    c.fail(
      "BCC_UNSUPPORTED_SOURCE_TYPE",
      at,
      `${unsupported[0]} is not supported by this library: ${unsupported[1]}.`,
      `Remove this entry, or replace it with one of: ${SOURCE_TYPES.join(", ")}.`,
    );
  }
  const caseless = SOURCE_TYPES.find((t) => t.toLowerCase() === value.toLowerCase());
  const match = caseless ?? closestMatch(value, SOURCE_TYPES);
  c.fail(
    "BCC_UNKNOWN_SOURCE_TYPE",
    at,
    `${echo(value)} is not a known source type.${match === undefined ? "" : ` Did you mean ${match}?`}`,
    caseless === undefined ? valid : `Write it as ${caseless} (source type names are case-sensitive in options). ${valid}`,
  );
}

interface SourceFields {
  readonly description: CredentialDescription;
  /** The secret-free part of the entry id after the index. */
  readonly detail: string;
}

function readSourceFields(
  c: Checker,
  sourceType: CredentialSourceType,
  e: Record<string, unknown>,
  path: readonly PathSegment[],
  ctx: EntryContext,
): SourceFields {
  switch (sourceType) {
    case "Certificate":
      return readCertificate(c, e, path);
    case "Path": {
      const certificateDiskPath = readString(c, e, "certificateDiskPath", path, {
        required: true,
        requiredFor: "a Path entry",
        meaning: "the path of the PFX/P12 or PEM file",
      })!;
      const certificatePassword = readString(c, e, "certificatePassword", path, {
        allowEmpty: true,
        meaning: "the password of the PFX or of the encrypted private key",
      });
      return {
        description: { sourceType, certificateDiskPath, ...(certificatePassword === undefined ? {} : { certificatePassword }) },
        detail: `Path ${certificateDiskPath}`,
      };
    }
    case "Base64Encoded": {
      const base64EncodedValue = readString(c, e, "base64EncodedValue", path, {
        required: true,
        requiredFor: "a Base64Encoded entry",
        meaning: "the PFX bytes in base64",
      })!;
      const compact = base64EncodedValue.replace(/\s+/g, "");
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
        c.fail(
          "BCC_INVALID_VALUE",
          [...path, "base64EncodedValue"],
          "is not valid base64.",
          "Give the PFX file's bytes encoded in base64 (for example the output of `base64 -w0 app.pfx`).",
        );
      }
      const certificatePassword = readString(c, e, "certificatePassword", path, {
        allowEmpty: true,
        meaning: "the password of the PFX",
      });
      return {
        description: { sourceType, base64EncodedValue, ...(certificatePassword === undefined ? {} : { certificatePassword }) },
        detail: "Base64Encoded",
      };
    }
    case "KeyVault":
      return readKeyVault(c, e, path);
    case "StoreWithThumbprint":
    case "StoreWithDistinguishedName":
    case "StoreWithSubjectName":
      return readStore(c, sourceType, e, path);
    case "ClientSecret": {
      readString(c, e, "clientSecret", path, {
        required: true,
        requiredFor: "a ClientSecret entry",
        meaning: "the client secret of the app registration",
      });
      return { description: { sourceType, clientSecret: e["clientSecret"] as string }, detail: "ClientSecret" };
    }
    case "SignedAssertionFromManagedIdentity":
      return readManagedIdentity(c, e, path, ctx);
    case "SignedAssertionFilePath": {
      const given = readString(c, e, "signedAssertionFileDiskPath", path, {
        meaning: "the path of the file that holds the signed assertion (JWT)",
      });
      const fromEnv = ctx.env["AZURE_FEDERATED_TOKEN_FILE"];
      const signedAssertionFileDiskPath = given ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : undefined);
      return {
        description: { sourceType, ...(signedAssertionFileDiskPath === undefined ? {} : { signedAssertionFileDiskPath }) },
        detail: `SignedAssertionFilePath ${signedAssertionFileDiskPath ?? "AZURE_FEDERATED_TOKEN_FILE (not set)"}`,
      };
    }
    case "CustomSignedAssertion":
      return readCustom(c, e, path, ctx);
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----/;
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

function readCertificate(c: Checker, e: Record<string, unknown>, path: readonly PathSegment[]): SourceFields {
  const at = [...path, "certificate"];
  const raw = e["certificate"];
  let certificate: string | Uint8Array;
  if (raw === undefined) {
    c.fail(
      "BCC_MISSING_FIELD",
      at,
      "is required for a Certificate entry but is missing.",
      "Set it to the PEM text of the certificate or its DER bytes; for a file use sourceType Path instead.",
    );
  } else if (typeof raw === "string") {
    if (raw.trim() === "") {
      c.fail("BCC_EMPTY_FIELD", at, "is empty.", "Set it to the PEM text of the certificate (-----BEGIN CERTIFICATE----- …).");
    }
    if (!PEM_CERTIFICATE.test(raw)) {
      c.fail(
        "BCC_INVALID_VALUE",
        at,
        "is a string without a -----BEGIN CERTIFICATE----- block.",
        "Give the PEM text of the certificate, DER bytes as a Uint8Array, or use sourceType Path with certificateDiskPath for a file.",
      );
    }
    certificate = raw;
  } else if (raw instanceof Uint8Array) {
    if (raw.byteLength === 0) {
      c.fail("BCC_EMPTY_FIELD", at, "is an empty byte array.", "Give the DER bytes of the certificate, or its PEM text.");
    }
    // Copied so that later changes to the caller's buffer cannot change the configured certificate.
    certificate = Uint8Array.from(raw);
  } else {
    c.fail(
      "BCC_INVALID_TYPE",
      at,
      `must be a string (PEM) or a Uint8Array (DER) but is ${describeType(raw)}.`,
      "Give the PEM text of the certificate or its DER bytes.",
    );
  }

  const keyAt = [...path, "privateKey"];
  const rawKey = e["privateKey"];
  let privateKey: string | KeyObject | undefined;
  if (rawKey === undefined) {
    if (typeof certificate !== "string" || !PEM_PRIVATE_KEY.test(certificate)) {
      c.fail(
        "BCC_MISSING_FIELD",
        keyAt,
        "is required because the certificate holds no private key.",
        "Set privateKey to the PEM private key or a KeyObject, or give a PEM certificate that includes its private key.",
      );
    }
  } else if (typeof rawKey === "string") {
    if (!PEM_PRIVATE_KEY.test(rawKey)) {
      c.fail(
        "BCC_INVALID_VALUE",
        keyAt,
        "is a string without a -----BEGIN … PRIVATE KEY----- block.",
        "Give the private key as PEM (PKCS#8, PKCS#1 or SEC1) or as a KeyObject from crypto.createPrivateKey().",
      );
    }
    privateKey = rawKey;
  } else if (rawKey instanceof KeyObject) {
    if (rawKey.type !== "private") {
      c.fail("BCC_INVALID_VALUE", keyAt, `is a ${rawKey.type} KeyObject, not a private key.`, "Pass the private key, for example from crypto.createPrivateKey().");
    }
    privateKey = rawKey;
  } else {
    c.fail(
      "BCC_INVALID_TYPE",
      keyAt,
      `must be a PEM string or a KeyObject but is ${describeType(rawKey)}.`,
      "Give the private key as PEM or as a KeyObject from crypto.createPrivateKey().",
    );
  }
  const privateKeyPassword = readString(c, e, "privateKeyPassword", path, {
    allowEmpty: true,
    meaning: "the password of the encrypted PEM private key",
  });
  return {
    description: {
      sourceType: "Certificate",
      certificate,
      ...(privateKey === undefined ? {} : { privateKey }),
      ...(privateKeyPassword === undefined ? {} : { privateKeyPassword }),
    },
    detail: "Certificate in memory",
  };
}

function readKeyVault(c: Checker, e: Record<string, unknown>, path: readonly PathSegment[]): SourceFields {
  const rawUrl = readString(c, e, "keyVaultUrl", path, {
    required: true,
    requiredFor: "a KeyVault entry",
    meaning: "the vault URL, for example https://myvault.vault.azure.net",
  })!;
  const keyVaultUrl = parseOrigin(c, rawUrl, [...path, "keyVaultUrl"], KEY_VAULT_URL_RULES);
  const keyVaultCertificateName = readString(c, e, "keyVaultCertificateName", path, {
    required: true,
    requiredFor: "a KeyVault entry",
    meaning: "the name of the certificate in the vault",
  })!;
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(keyVaultCertificateName)) {
    c.fail(
      "BCC_INVALID_VALUE",
      [...path, "keyVaultCertificateName"],
      "is not a Key Vault object name (1 to 127 letters, digits and dashes).",
      "Give the certificate's name as the vault shows it, without the vault URL or a version.",
    );
  }
  const keyVaultCertificateVersion = readString(c, e, "keyVaultCertificateVersion", path, {
    meaning: "a version of the certificate, or leave it out for the latest",
  });
  if (keyVaultCertificateVersion !== undefined && !/^[0-9a-zA-Z]+$/.test(keyVaultCertificateVersion)) {
    c.fail(
      "BCC_INVALID_VALUE",
      [...path, "keyVaultCertificateVersion"],
      "is not a Key Vault version identifier (letters and digits).",
      "Give the version id only (the last segment of the certificate identifier), or leave it out for the latest.",
    );
  }
  const managedIdentityClientId = readString(c, e, "managedIdentityClientId", path, {
    meaning: "the client ID of the user-assigned managed identity that reads the vault",
  });
  const keyVaultCredential = e["keyVaultCredential"];
  if (keyVaultCredential !== undefined && !isTokenCredentialLike(keyVaultCredential)) {
    c.fail(
      "BCC_INVALID_TYPE",
      [...path, "keyVaultCredential"],
      `must be a TokenCredential (an object with getToken) but is ${describeType(keyVaultCredential)}.`,
      "Pass a credential from @azure/identity, such as new ManagedIdentityCredential(), or leave it out.",
    );
  }
  return {
    description: {
      sourceType: "KeyVault",
      keyVaultUrl,
      keyVaultCertificateName,
      ...(keyVaultCertificateVersion === undefined ? {} : { keyVaultCertificateVersion }),
      ...(managedIdentityClientId === undefined ? {} : { managedIdentityClientId }),
      ...(keyVaultCredential === undefined
        ? {}
        : { keyVaultCredential: keyVaultCredential as TokenCredential }),
    },
    detail: `KeyVault ${keyVaultUrl}/${keyVaultCertificateName}${keyVaultCertificateVersion === undefined ? "" : `/${keyVaultCertificateVersion}`}`,
  };
}

function readStore(
  c: Checker,
  sourceType: "StoreWithThumbprint" | "StoreWithDistinguishedName" | "StoreWithSubjectName",
  e: Record<string, unknown>,
  path: readonly PathSegment[],
): SourceFields {
  const certificateStorePath = readString(c, e, "certificateStorePath", path, {
    required: true,
    requiredFor: `a ${sourceType} entry`,
    meaning: "{StoreLocation}/{StoreName}, for example CurrentUser/My",
  })!;
  if (!/^(CurrentUser|LocalMachine)\/[A-Za-z]+$/i.test(certificateStorePath)) {
    c.fail(
      "BCC_INVALID_VALUE",
      [...path, "certificateStorePath"],
      "must be of the form StoreLocation/StoreName.",
      "Use CurrentUser/My or LocalMachine/My (StoreLocation is CurrentUser or LocalMachine).",
    );
  }
  if (sourceType === "StoreWithThumbprint") {
    const raw = readString(c, e, "certificateThumbprint", path, {
      required: true,
      requiredFor: "a StoreWithThumbprint entry",
      meaning: "the certificate's SHA-1 thumbprint in hex",
    })!;
    const certificateThumbprint = raw.replace(/[\s:]/g, "").toUpperCase();
    if (!/^[0-9A-F]{40}$/.test(certificateThumbprint)) {
      c.fail(
        "BCC_INVALID_VALUE",
        [...path, "certificateThumbprint"],
        "is not a SHA-1 thumbprint (40 hexadecimal digits).",
        "Copy the thumbprint from the certificate's details, for example with `Get-ChildItem Cert:\\CurrentUser\\My`.",
      );
    }
    return {
      description: { sourceType, certificateStorePath, certificateThumbprint },
      detail: `StoreWithThumbprint ${certificateStorePath}/${certificateThumbprint}`,
    };
  }
  if (sourceType === "StoreWithDistinguishedName") {
    const certificateDistinguishedName = readString(c, e, "certificateDistinguishedName", path, {
      required: true,
      requiredFor: "a StoreWithDistinguishedName entry",
      meaning: "the certificate's distinguished name, for example CN=MyCert",
    })!;
    return {
      description: { sourceType, certificateStorePath, certificateDistinguishedName },
      detail: `StoreWithDistinguishedName ${certificateStorePath}/${certificateDistinguishedName}`,
    };
  }
  const certificateSubjectName = readString(c, e, "certificateSubjectName", path, {
    required: true,
    requiredFor: "a StoreWithSubjectName entry",
    meaning: "the certificate's subject name, for example CN=MyCert",
  })!;
  return {
    description: { sourceType, certificateStorePath, certificateSubjectName },
    detail: `StoreWithSubjectName ${certificateStorePath}/${certificateSubjectName}`,
  };
}

function readManagedIdentity(
  c: Checker,
  e: Record<string, unknown>,
  path: readonly PathSegment[],
  ctx: EntryContext,
): SourceFields {
  const selectors = [
    ["managedIdentityClientId", "client id", "the client ID of the user-assigned managed identity"],
    ["managedIdentityObjectId", "object id", "the object (principal) ID of the user-assigned managed identity"],
    ["managedIdentityResourceId", "resource id", "the Azure resource ID of the user-assigned managed identity"],
  ] as const;
  const given = selectors
    .map(([key, label, meaning]) => ({ key, label, value: readString(c, e, key, path, { meaning }) }))
    .filter((s): s is { key: (typeof selectors)[number][0]; label: (typeof selectors)[number][1]; value: string } => s.value !== undefined);
  if (given.length > 1) {
    c.fail(
      "BCC_CONFLICTING_FIELDS",
      [...path, given[1]!.key],
      `selects the managed identity, but ${given.map((s) => c.key(s.key)).join(" and ")} are ${given.length === 2 ? "both" : "all"} given.`,
      `Give only one of ${selectors.map(([key]) => c.key(key)).join(", ")} (or none for the system-assigned identity).`,
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
  const tokenExchangeUrl = givenUrl ?? defaultTokenExchangeUrl(ctx.authorityHost);
  const selection = selector === undefined ? {} : { [selector.key]: selector.value };
  return {
    description: { sourceType: "SignedAssertionFromManagedIdentity", ...selection, tokenExchangeUrl },
    detail: `SignedAssertionFromManagedIdentity ${selector === undefined ? "system-assigned" : `${selector.label} ${selector.value}`}`,
  };
}

function readCustom(c: Checker, e: Record<string, unknown>, path: readonly PathSegment[], ctx: EntryContext): SourceFields {
  const getAssertion = readFunction<CustomSignedAssertionProvider>(
    c,
    e,
    "getAssertion",
    path,
    "a function that returns a signed assertion (or { assertion, bindingCertificate, bindingPrivateKey })",
  );
  const name = readString(c, e, "customSignedAssertionProviderName", path, {
    meaning: "the name of a provider registered in customSignedAssertionProviders",
  });
  const data = e["customSignedAssertionProviderData"];
  if (data !== undefined && !isPlainObject(data)) {
    c.fail(
      "BCC_INVALID_TYPE",
      [...path, "customSignedAssertionProviderData"],
      `must be an object but is ${describeType(data)}.`,
      "Give the provider's data as an object of key/value pairs, or leave it out.",
    );
  }
  if (getAssertion === undefined && name === undefined) {
    c.fail(
      "BCC_MISSING_FIELD",
      [...path, "getAssertion"],
      `is missing, and so is ${c.key("customSignedAssertionProviderName")}: a CustomSignedAssertion entry needs a provider.`,
      `Pass getAssertion (a function returning the assertion), or name a provider registered in customSignedAssertionProviders with ${c.key("customSignedAssertionProviderName")}.`,
    );
  }
  if (getAssertion !== undefined && name !== undefined) {
    c.fail(
      "BCC_CONFLICTING_FIELDS",
      [...path, "customSignedAssertionProviderName"],
      "is given together with getAssertion, so it is unclear which provider to use.",
      `Keep either getAssertion or ${c.key("customSignedAssertionProviderName")}, not both.`,
    );
  }
  if (name !== undefined && !ctx.providerNames.includes(name)) {
    const match = closestMatch(name, ctx.providerNames);
    c.fail(
      "BCC_UNKNOWN_PROVIDER",
      [...path, "customSignedAssertionProviderName"],
      `names the provider ${echo(name)}, which is not registered.${match === undefined ? "" : ` Did you mean ${match}?`}`,
      ctx.providerNames.length === 0
        ? "Register it with the customSignedAssertionProviders option ({ [name]: async (context) => assertion }), or pass getAssertion on the entry."
        : `Register it in customSignedAssertionProviders, or use one of the registered names: ${ctx.providerNames.join(", ")}.`,
    );
  }
  return {
    description: {
      sourceType: "CustomSignedAssertion",
      ...(getAssertion === undefined ? {} : { getAssertion }),
      ...(name === undefined ? {} : { customSignedAssertionProviderName: name }),
      ...(data === undefined
        ? {}
        : { customSignedAssertionProviderData: frozenDataCopy(data) as Record<string, unknown> }),
    },
    detail: `CustomSignedAssertion ${name ?? "inline"}`,
  };
}
