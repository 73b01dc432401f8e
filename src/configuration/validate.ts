/**
 * Turns whatever the caller passed into {@link NormalizedOptions}: checked field by field, defaults
 * applied once, and frozen, so that nothing downstream has to re-check or can be surprised by a
 * later change to the caller's objects.
 */
import { DEFAULT_AUTHORITY_HOST, DEFAULT_IMDS_ENDPOINT } from "../constants.ts";
import { isValidRegionName, MtlsEndpointUnsupportedError, mtlsAuthorityHostFor } from "../transport/endpoints.ts";
import {
  Checker,
  describeType,
  echo,
  isPlainObject,
  isTokenCredentialLike,
  readBoolean,
  readFunction,
  readString,
  readStringArray,
  rejectUnknownKeys,
  shortKey,
  type Where,
} from "./checks.ts";
import { normalizeEntry } from "./entries.ts";
import { canonicalNaming, type PathNaming } from "./naming.ts";
import { NETWORK_OPTION_KEYS, readNetworkOptions } from "./network.ts";
import type { NormalizedEntry, NormalizedOptions } from "./normalized.ts";
import type { AttestationProvider, CustomSignedAssertionProvider } from "./types.ts";
import { AUTHORITY_HOST_RULES, IMDS_ENDPOINT_RULES, MTLS_AUTHORITY_HOST_RULES, parseOrigin, readOrigin } from "./urls.ts";

/** Environment variables as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The keys of {@link BoundClientCredentialOptions}. */
export const OPTION_KEYS: readonly string[] = [
  "tenantId",
  "clientId",
  "clientCredentials",
  "authorityHost",
  "mtlsAuthorityHost",
  "azureRegion",
  "imdsEndpoint",
  "additionallyAllowedTenants",
  "sendCertificateChain",
  "clientCapabilities",
  "extraQueryParameters",
  "tls",
  "loggingOptions",
  "keyVaultCredential",
  "customSignedAssertionProviders",
  "attestationProvider",
  "maxCachedTokens",
  "distributedCache",
  "distributedCacheOptions",
  ...NETWORK_OPTION_KEYS,
];

/** Keys that people put at the top level although they belong inside an entry. */
const ENTRY_LEVEL_KEYS = new Set([
  "clientSecret",
  "certificate",
  "certificatePath",
  "certificateDiskPath",
  "certificatePassword",
  "managedIdentityClientId",
  "signedAssertionFileDiskPath",
  "sourceType",
]);

/** Tenants that name no single directory; an app token needs a real one. */
const MULTI_TENANT_NAMES = new Set(["common", "organizations", "consumers"]);

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Whether `tenant` is `common`, `organizations` or `consumers` (any case). */
export function isMultiTenantName(tenant: string): boolean {
  return MULTI_TENANT_NAMES.has(tenant.toLowerCase());
}

/** Whether `tenant` is a GUID or a domain name such as `contoso.onmicrosoft.com`. */
export function isTenantIdOrDomain(tenant: string): boolean {
  return GUID.test(tenant) || DOMAIN.test(tenant);
}

/**
 * Validates options given in any shape and returns them normalised and deeply frozen.
 *
 * @param input - the options, as the caller passed them (treated as untrusted)
 * @param env - environment variables for defaults: `AZURE_AUTHORITY_HOST`,
 *   `AZURE_POD_IDENTITY_AUTHORITY_HOST`, `AZURE_FEDERATED_TOKEN_FILE`; `process.env` by default
 * @throws BoundCredentialConfigurationError for every mistake, naming its path and the remedy
 */
export function normalizeOptions(input: unknown, env: Environment = process.env): NormalizedOptions {
  return validateOptions(input, env, canonicalNaming);
}

/**
 * {@link normalizeOptions} with errors spelled for another front end (a configuration section,
 * environment variables, the drop-in constructor).
 */
export function validateOptions(input: unknown, env: Environment, naming: PathNaming): NormalizedOptions {
  const c: Checker = new Checker(naming);
  if (!isPlainObject(input)) {
    c.fail(
      "BCC_INVALID_OPTIONS",
      [],
      `The options must be an object but are ${describeType(input)}.`,
      'Pass { tenantId, clientId, clientCredentials: [ { sourceType: "Path", certificateDiskPath: "/certs/app.pfx" } ] }.',
    );
  }
  rejectUnknownKeys(c, input, [], OPTION_KEYS, "BoundClientCredentialOptions", (key) => topLevelHint(c, key));

  const tenantId = readTenantId(c, input);
  const clientId = readClientId(c, input);

  const authority = readAuthorityHost(c, input, env);
  const mtlsAuthorityHost = readOrigin(c, input, "mtlsAuthorityHost", [], MTLS_AUTHORITY_HOST_RULES);
  const azureRegion = readRegion(c, input);
  const imdsEndpoint = readImdsEndpoint(c, input, env);
  const additionallyAllowedTenants = readAllowedTenants(c, input);
  const sendCertificateChain = readBoolean(c, input, "sendCertificateChain", [], false);
  const clientCapabilities =
    readStringArray(c, input, "clientCapabilities", [], 'client capabilities such as "cp1"') ?? [];
  const tlsCa = readTls(c, input);
  const logging = readLogging(c, input);
  const keyVaultCredential = input["keyVaultCredential"];
  if (keyVaultCredential !== undefined && !isTokenCredentialLike(keyVaultCredential)) {
    c.fail(
      "BCC_INVALID_TYPE",
      ["keyVaultCredential"],
      `must be a TokenCredential (an object with getToken) but is ${describeType(keyVaultCredential)}.`,
      "Pass a credential from @azure/identity, such as new ManagedIdentityCredential(), or leave it out.",
    );
  }
  const providers = readProviders(c, input);
  const attestationProvider = readFunction<AttestationProvider>(
    c,
    input,
    "attestationProvider",
    [],
    "a function that returns an attestation token, or leave it out",
  );

  const network = readNetworkOptions(c, input, env, new URL(imdsEndpoint).hostname);

  const entries = readEntries(c, input, {
    authorityHost: authority.origin,
    env,
    providerNames: Object.keys(providers),
  });
  checkCiamUnbound(c, authority, entries);
  if (mtlsAuthorityHost === undefined) {
    checkMtlsEndpoint(c, authority, entries);
  }

  return Object.freeze({
    tenantId,
    clientId,
    entries,
    authorityHost: authority.origin,
    mtlsAuthorityHost,
    azureRegion,
    imdsEndpoint,
    additionallyAllowedTenants,
    sendCertificateChain,
    clientCapabilities: Object.freeze(clientCapabilities),
    extraQueryParameters: readExtraQueryParameters(c, input),
    tlsCa,
    allowLoggingAccountIdentifiers: logging.allowLoggingAccountIdentifiers,
    enableUnsafeSupportLogging: logging.enableUnsafeSupportLogging,
    keyVaultCredential,
    customSignedAssertionProviders: providers,
    attestationProvider,
    network,
  });
}

function topLevelHint(c: Checker, key: string): string | undefined {
  if (key === "useBoundCredential") {
    return `${c.key("useBoundCredential")} is set per credential: put it on the entries of ${c.key("clientCredentials")} that should be bound.`;
  }
  if (ENTRY_LEVEL_KEYS.has(key)) {
    return `Credentials are entries of ${c.key("clientCredentials")}: move it into an entry, for example { sourceType: "Path", certificateDiskPath, certificatePassword } or { sourceType: "ClientSecret", clientSecret }.`;
  }
  if (key === "tlsOptions") return `Use ${c.key("tls")}: { ca } to trust extra certificate authorities.`;
  if (key === "disableInstanceDiscovery") {
    return "Remove it: this credential never calls instance discovery for the hosts it is configured with.";
  }
  return undefined;
}

function readTenantId(c: Checker, input: Record<string, unknown>): string {
  const tenantId = readString(c, input, "tenantId", [], {
    required: true,
    meaning: "the directory (tenant) ID, a GUID or a domain such as contoso.onmicrosoft.com",
  })!;
  checkTenant(c, tenantId, ["tenantId"], false);
  return tenantId;
}

/** Fails unless `tenant` is a GUID or a domain (or `*` where allowed) naming one directory. */
function checkTenant(c: Checker, tenant: string, at: Where, allowStar: boolean): void {
  if (allowStar && tenant === "*") return;
  if (isMultiTenantName(tenant)) {
    c.fail(
      "BCC_MULTI_TENANT_AUTHORITY",
      at,
      `is ${tenant.toLowerCase()}, which names no single directory; app-only tokens must be requested from the app's own tenant.`,
      "Use the tenant's GUID or its domain (for example contoso.onmicrosoft.com).",
    );
  }
  if (/\s/.test(tenant)) {
    c.fail(
      "BCC_INVALID_TENANT",
      at,
      "contains whitespace.",
      "Remove the spaces or line breaks (a trailing newline from a file or .env is a common cause).",
    );
  }
  if (!isTenantIdOrDomain(tenant)) {
    c.fail(
      "BCC_INVALID_TENANT",
      at,
      "is neither a GUID nor a domain name.",
      "Use the directory (tenant) ID GUID or a verified domain such as contoso.onmicrosoft.com; see https://learn.microsoft.com/partner-center/find-ids-and-domain-names.",
    );
  }
}

function readClientId(c: Checker, input: Record<string, unknown>): string {
  const clientId = readString(c, input, "clientId", [], {
    required: true,
    meaning: "the application (client) ID of the app registration",
  })!;
  if (/\s/.test(clientId)) {
    c.fail(
      "BCC_INVALID_VALUE",
      ["clientId"],
      "contains whitespace.",
      "Remove the spaces or line breaks (a trailing newline from a file or .env is a common cause).",
    );
  }
  return clientId;
}

interface Authority {
  readonly origin: string;
  /** Where it came from, to name in errors about it. */
  readonly where: Where;
}

function readAuthorityHost(c: Checker, input: Record<string, unknown>, env: Environment): Authority {
  const given = readOrigin(c, input, "authorityHost", [], AUTHORITY_HOST_RULES);
  if (given !== undefined) return { origin: given, where: ["authorityHost"] };
  const fromEnv = env["AZURE_AUTHORITY_HOST"];
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    return { origin: parseOrigin(c, fromEnv, "AZURE_AUTHORITY_HOST", AUTHORITY_HOST_RULES), where: "AZURE_AUTHORITY_HOST" };
  }
  return { origin: DEFAULT_AUTHORITY_HOST, where: ["authorityHost"] };
}

function readImdsEndpoint(c: Checker, input: Record<string, unknown>, env: Environment): string {
  const given = readOrigin(c, input, "imdsEndpoint", [], IMDS_ENDPOINT_RULES);
  if (given !== undefined) return given;
  const fromEnv = env["AZURE_POD_IDENTITY_AUTHORITY_HOST"];
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    return parseOrigin(c, fromEnv, "AZURE_POD_IDENTITY_AUTHORITY_HOST", IMDS_ENDPOINT_RULES);
  }
  return DEFAULT_IMDS_ENDPOINT;
}

function readRegion(c: Checker, input: Record<string, unknown>): string | undefined {
  const region = readString(c, input, "azureRegion", [], {
    meaning: 'an Azure region name such as westus2, or "TryAutoDetect"',
  });
  if (region === undefined) return undefined;
  if (region.toLowerCase() === "tryautodetect") return "TryAutoDetect";
  if (!isValidRegionName(region)) {
    const squeezed = region.replace(/[\s-]+/g, "").toLowerCase();
    c.fail(
      "BCC_INVALID_VALUE",
      ["azureRegion"],
      `${echo(region)} is not a region name (letters and digits only).${isValidRegionName(squeezed) ? ` Did you mean ${squeezed}?` : ""}`,
      'Use the programmatic region name such as westus2 (as `az account list-locations` shows it), or "TryAutoDetect".',
    );
  }
  return region;
}

function readAllowedTenants(c: Checker, input: Record<string, unknown>): readonly string[] {
  const tenants = readStringArray(c, input, "additionallyAllowedTenants", [], 'tenant IDs or domains, or "*"');
  if (tenants === undefined) return Object.freeze([]);
  tenants.forEach((tenant, index) => checkTenant(c, tenant, ["additionallyAllowedTenants", index], true));
  return Object.freeze(tenants.includes("*") ? ["*"] : tenants);
}

function readTls(c: Checker, input: Record<string, unknown>): readonly string[] {
  const tls = input["tls"];
  if (tls === undefined) return Object.freeze([]);
  if (!isPlainObject(tls)) {
    c.fail("BCC_INVALID_TYPE", ["tls"], `must be an object but is ${describeType(tls)}.`, "Give { ca: pemText } or leave it out.");
  }
  rejectUnknownKeys(c, tls, ["tls"], ["ca"], "tls", (key) =>
    ["cert", "key", "pfx", "passphrase"].includes(key)
      ? "Client certificates are entries of clientCredentials (set useBoundCredential to present one over mutual TLS); tls only takes ca."
      : key === "rejectUnauthorized"
        ? "TLS verification cannot be turned off; trust the server's CA with tls.ca instead."
        : undefined,
  );
  const ca = tls["ca"];
  if (ca === undefined) return Object.freeze([]);
  const list: readonly unknown[] = Array.isArray(ca) ? ca : [ca];
  if (typeof ca !== "string" && !Array.isArray(ca)) {
    c.fail(
      "BCC_INVALID_TYPE",
      ["tls", "ca"],
      `must be PEM text or an array of PEM texts but is ${describeType(ca)}.`,
      "Give the CA certificate as PEM text, for example readFileSync(caPath, \"utf8\").",
    );
  }
  return Object.freeze(
    list.map((item, index) => {
      const at = Array.isArray(ca) ? ["tls", "ca", index] : ["tls", "ca"];
      if (typeof item !== "string") {
        c.fail("BCC_INVALID_TYPE", at, `must be PEM text but is ${describeType(item)}.`, "Give each CA certificate as PEM text.");
      }
      if (!/-----BEGIN CERTIFICATE-----/.test(item)) {
        c.fail(
          "BCC_INVALID_VALUE",
          at,
          "is not PEM text (no -----BEGIN CERTIFICATE----- block).",
          'Give the CA certificate\'s PEM text, not its path: for example readFileSync(caPath, "utf8").',
        );
      }
      return item;
    }),
  );
}

function readLogging(
  c: Checker,
  input: Record<string, unknown>,
): { allowLoggingAccountIdentifiers: boolean; enableUnsafeSupportLogging: boolean } {
  const logging = input["loggingOptions"];
  if (logging === undefined) return { allowLoggingAccountIdentifiers: false, enableUnsafeSupportLogging: false };
  if (!isPlainObject(logging)) {
    c.fail(
      "BCC_INVALID_TYPE",
      ["loggingOptions"],
      `must be an object but is ${describeType(logging)}.`,
      "Give { allowLoggingAccountIdentifiers, enableUnsafeSupportLogging } or leave it out.",
    );
  }
  rejectUnknownKeys(
    c,
    logging,
    ["loggingOptions"],
    ["allowLoggingAccountIdentifiers", "enableUnsafeSupportLogging"],
    "loggingOptions",
    (key) => (key === "logger" ? "Logging goes through @azure/logger: use setLogLevel() or AZURE_LOG_LEVEL, and AzureLogger.log to redirect it." : undefined),
  );
  return {
    allowLoggingAccountIdentifiers: readBoolean(c, logging, "allowLoggingAccountIdentifiers", ["loggingOptions"], false),
    enableUnsafeSupportLogging: readBoolean(c, logging, "enableUnsafeSupportLogging", ["loggingOptions"], false),
  };
}

/** Parameters the credential sends itself; a second value would make the request ambiguous. */
const RESERVED_QUERY_PARAMETERS = new Set([
  "client_id",
  "client_secret",
  "client_assertion",
  "client_assertion_type",
  "grant_type",
  "scope",
  "claims",
  "client_info",
  "assertion",
  "requested_token_use",
  "resource",
]);

function readExtraQueryParameters(c: Checker, input: Record<string, unknown>): Readonly<Record<string, string>> {
  const value = input["extraQueryParameters"];
  // Null prototype: a parameter named "constructor" must not find Object.prototype members.
  const copy = Object.create(null) as Record<string, string>;
  if (value === undefined) return Object.freeze(copy);
  if (!isPlainObject(value)) {
    c.fail(
      "BCC_INVALID_TYPE",
      ["extraQueryParameters"],
      `must be an object of names and string values but is ${describeType(value)}.`,
      'Give { name: "value" }, for example { dc: "ESTS-PUB-WUS2-AZ1-FD000-TEST1" }, or leave it out.',
    );
  }
  for (const [name, parameter] of Object.entries(value)) {
    if (parameter === undefined) continue;
    const at = ["extraQueryParameters", shortKey(name)];
    if (!/^[A-Za-z0-9_.~-]{1,64}$/.test(name)) {
      c.fail("BCC_INVALID_VALUE", at, "is not a query parameter name (1 to 64 letters, digits, _ . ~ -).", "Rename the parameter, or remove it.");
    }
    if (RESERVED_QUERY_PARAMETERS.has(name.toLowerCase())) {
      c.fail("BCC_INVALID_VALUE", at, "is a parameter the credential sends itself.", "Remove it: the credential sets it from its own options.");
    }
    if (typeof parameter !== "string") {
      c.fail("BCC_INVALID_TYPE", at, `must be a string but is ${describeType(parameter)}.`, "Give the value as a string.");
    }
    copy[name] = parameter;
  }
  return Object.freeze(copy);
}

function readProviders(c: Checker, input: Record<string, unknown>): Readonly<Record<string, CustomSignedAssertionProvider>> {
  const providers = input["customSignedAssertionProviders"];
  // Null prototype: a provider name such as "constructor" must not find Object.prototype members.
  const copy: Record<string, CustomSignedAssertionProvider> = Object.create(null) as Record<string, CustomSignedAssertionProvider>;
  if (providers === undefined) return Object.freeze(copy);
  if (!isPlainObject(providers)) {
    c.fail(
      "BCC_INVALID_TYPE",
      ["customSignedAssertionProviders"],
      `must be an object mapping names to functions but is ${describeType(providers)}.`,
      "Give { providerName: async (context) => assertion }.",
    );
  }
  for (const [name, provider] of Object.entries(providers)) {
    if (provider === undefined) continue;
    if (name.trim() === "") {
      c.fail("BCC_EMPTY_FIELD", ["customSignedAssertionProviders"], "has a provider with an empty name.", "Give every provider a name.");
    }
    if (typeof provider !== "function") {
      c.fail(
        "BCC_INVALID_TYPE",
        ["customSignedAssertionProviders", name],
        `must be a function but is ${describeType(provider)}.`,
        "Give a function that returns the signed assertion.",
      );
    }
    copy[name] = provider as CustomSignedAssertionProvider;
  }
  return Object.freeze(copy);
}

function readEntries(
  c: Checker,
  input: Record<string, unknown>,
  ctx: Parameters<typeof normalizeEntry>[3],
): readonly NormalizedEntry[] {
  const list = input["clientCredentials"];
  if (list === undefined) {
    c.fail(
      "BCC_MISSING_FIELD",
      ["clientCredentials"],
      "is required: it is the ordered list of credentials to try.",
      'Give an array such as [ { sourceType: "Path", certificateDiskPath: "/certs/app.pfx" } ].',
    );
  }
  if (!Array.isArray(list)) {
    c.fail(
      "BCC_CREDENTIALS_NOT_ARRAY",
      ["clientCredentials"],
      `must be an array but is ${describeType(list)}.`,
      isPlainObject(list)
        ? "Write it as a JSON array, [ { … }, { … } ], not an object: the entries are tried in array order."
        : "Give an array of credential descriptions, tried in order.",
    );
  }
  if (list.length === 0) {
    c.fail(
      "BCC_CREDENTIALS_EMPTY",
      ["clientCredentials"],
      "is empty, so there is no credential to authenticate with.",
      'Add at least one entry, for example { sourceType: "Path", certificateDiskPath: "/certs/app.pfx" }.',
    );
  }
  // An index loop, not map: a hole in a sparse array is reported as a missing entry, not skipped.
  const entries: NormalizedEntry[] = [];
  for (let index = 0; index < list.length; index++) entries.push(normalizeEntry(c, list[index], index, ctx));
  if (entries.every((entry) => entry.skip)) {
    c.fail(
      "BCC_ALL_ENTRIES_SKIPPED",
      ["clientCredentials"],
      "has every entry marked skip, so nothing is left to try.",
      "Set skip to false (or remove it) on at least one entry.",
    );
  }
  return Object.freeze(entries);
}

/**
 * Microsoft Entra External ID (CIAM, `*.ciamlogin.com`) issues app tokens, but has no mutual TLS
 * token endpoint (`mtlsauth`), so a bound entry can never work there.
 */
function checkCiamUnbound(c: Checker, authority: Authority, entries: readonly NormalizedEntry[]): void {
  const host = new URL(authority.origin).hostname;
  if (!host.endsWith(".ciamlogin.com")) return;
  const bound = entries.find((entry) => entry.bound && !entry.skip);
  if (bound === undefined) return;
  c.fail(
    "BCC_MTLS_UNSUPPORTED_CLOUD",
    ["clientCredentials", bound.index, "useBoundCredential"],
    `is true, but the authority ${host} is a Microsoft Entra External ID (CIAM) tenant, which has no mutual TLS token endpoint.`,
    `Set ${c.key("useBoundCredential")} to false on the entries of this app (its certificates still work unbound), or use a workforce tenant's authority for bound tokens.`,
  );
}

function checkMtlsEndpoint(c: Checker, authority: Authority, entries: readonly NormalizedEntry[]): void {
  const bound = entries.find((entry) => entry.bound && !entry.skip);
  if (bound === undefined) return;
  try {
    mtlsAuthorityHostFor(authority.origin);
  } catch (error) {
    if (!(error instanceof MtlsEndpointUnsupportedError)) throw error;
    c.fail(
      "BCC_MTLS_UNSUPPORTED_CLOUD",
      authority.where,
      `${error.message} ${c.path(["clientCredentials", bound.index])} is bound and needs one.`,
      error.suggestedHost === undefined
        ? `Set ${c.key("mtlsAuthorityHost")} to the mutual TLS token host of this cloud, or set useBoundCredential to false on the bound entries.`
        : `Set ${c.key("authorityHost")} to ${error.suggestedHost}, or set ${c.key("mtlsAuthorityHost")} explicitly.`,
    );
  }
}
