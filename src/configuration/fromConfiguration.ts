/**
 * Reads a Microsoft.Identity.Web `AzureAd` section (as parsed from `appsettings.json`) the way
 * Identity.Web binds it: keys and `SourceType` names case-insensitively, `Instance`/`TenantId`
 * before `Authority`, and the legacy `ClientSecret`/`ClientCertificates`/
 * `ClientCredentialsUsingManagedIdentity` folded in only when `ClientCredentials` is empty.
 * Where Identity.Web fails late or silently (an object instead of an array, issue #3431; a missing
 * `SourceType` that defaults to an unusable `Certificate`), this fails at once instead.
 */
import { BoundCredentialConfigurationError } from "../errors.ts";
import { credentialLogger } from "../logging.ts";
import { Checker, describeType, isPlainObject, shortKey } from "./checks.ts";
import { COMMON_ENTRY_KEYS, descriptorOf, SOURCE_TYPES, sourceTypesWithKey } from "./entries.ts";
import { MappedNaming, pascalCase, type PathSegment } from "./naming.ts";
import { closestMatch } from "./suggest.ts";
import type { BoundClientCredentialOptions, CredentialSourceType } from "./types.ts";
import { isMultiTenantName, validateOptions } from "./validate.ts";

const log = credentialLogger("BoundClientCredential.fromConfiguration");

/** Where to find the section inside a larger configuration object. */
export interface ConfigurationSectionOptions {
  /**
   * The name of the section inside the object given, such as `AzureAd` or `Identity:AzureAd`
   * (`:` separates levels, as in .NET configuration). When omitted, an object that holds no
   * section keys but an `AzureAd` member (a whole `appsettings.json`) is unwrapped.
   */
  readonly sectionName?: string;
}

/** `CredentialSource` in the order of its numeric values (Abstractions `CredentialSource.cs`). */
const CREDENTIAL_SOURCE_VALUES: readonly string[] = [
  "Certificate",
  "KeyVault",
  "Base64Encoded",
  "Path",
  "StoreWithThumbprint",
  "StoreWithDistinguishedName",
  "ClientSecret",
  "SignedAssertionFromManagedIdentity",
  "SignedAssertionFilePath",
  "SignedAssertionFromVault",
  "AutoDecryptKeys",
  "CustomSignedAssertion",
  "ManagedCertificate",
  "StoreWithSubjectName",
];

/** Keys that mark an object as the section itself rather than a whole `appsettings.json`. */
const SECTION_KEYS = [
  "Instance",
  "TenantId",
  "ClientId",
  "Authority",
  "ClientCredentials",
  "ClientSecret",
  "ClientCertificates",
  "ClientCredentialsUsingManagedIdentity",
];

/**
 * Keys of Identity.Web's `CredentialDescription` (Microsoft.Identity.Abstractions
 * `CredentialDescription.cs`) that describe nothing this library reads from a file: they are
 * ignored without a warning, as Identity.Web ignores what does not apply to a source type.
 */
const IDENTITY_WEB_KEYS_NOT_READ = new Set(
  ["Id", "TokenExchangeAuthority", "Algorithm", "DecryptKeysAuthenticationOptions", "CachedValue", "CredentialType"].map((k) =>
    k.toLowerCase(),
  ),
);

/** Identity.Web's generic aliases of the source-specific keys, which this library does not read. */
const GENERIC_ALIASES: ReadonlyMap<string, string> = new Map([
  ["container", "KeyVaultUrl, CertificateStorePath or CertificateDiskPath"],
  ["referenceorvalue", "KeyVaultCertificateName, CertificateThumbprint, CertificateDistinguishedName, CertificateSubjectName, Base64EncodedValue, ClientSecret or SignedAssertionFileDiskPath"],
]);

/** Names that were proposed for a setting and not adopted, with the setting that was. */
const NOT_ADOPTED: ReadonlyMap<string, string> = new Map([["preferboundcredential", "UseBoundCredential"]]);

/** Section names of option keys whose names differ from the options. */
const SECTION_NAME_OF: Readonly<Record<string, string>> = {
  authorityHost: "Instance",
  sendCertificateChain: "SendX5C",
};

/**
 * Builds {@link BoundClientCredentialOptions} from a Microsoft.Identity.Web `AzureAd` configuration
 * section, validating them so that mistakes are reported with the section's own paths (for
 * example `AzureAd.ClientCredentials[0].CertificateDiskPath`).
 *
 * Ignored, as Identity.Web ignores them: the section's other keys (`CallbackPath`, `Scopes`, …),
 * `TokenExchangeAuthority`, `Algorithm`, and the legacy credentials when `ClientCredentials` is
 * non-empty. A key of an entry that its source type does not have is ignored too, but logged as a
 * warning with the closest key, since it usually is a typo. `Authority` may be a CIAM authority
 * without a tenant (`https://contoso.ciamlogin.com`), whose tenant is then `contoso.onmicrosoft.com`;
 * `ExtraQueryParameters` is sent on every token request. `MtlsAuthorityHost`, an extension of this
 * library, sets `mtlsAuthorityHost` (the mutual TLS token host) from the section.
 *
 * @param section - the parsed section, or a whole `appsettings.json` object holding `AzureAd`
 * @param overrides - options that a file cannot express (`customSignedAssertionProviders`,
 *   `keyVaultCredential`, `tls`, …); they replace the section's values key by key
 * @param settings - where the section is inside `section`
 * @throws BoundCredentialConfigurationError when the section is wrong
 */
export function optionsFromConfiguration(
  section: unknown,
  overrides?: Partial<BoundClientCredentialOptions>,
  settings?: ConfigurationSectionOptions,
): BoundClientCredentialOptions {
  const located = locateSection(section, settings?.sectionName);
  const camel = usesCamelCase(located.section);
  const naming = new MappedNaming(located.root, (name) => {
    const sectionName = SECTION_NAME_OF[name] ?? pascalCase(name);
    return camel ? sectionName[0]!.toLowerCase() + sectionName.slice(1) : sectionName;
  });
  const c: Checker = new Checker(naming);
  const view = new SectionView(c, located.section, located.root);
  const options: Record<string, unknown> = {};

  readIdentity(c, view, naming, options);
  const extra = view.get("ExtraQueryParameters");
  if (extra !== undefined) {
    // MSAL.NET appends them to its requests; the validator checks names and values.
    naming.set(["extraQueryParameters"], extra.path, true);
    options["extraQueryParameters"] = extra.value;
  }

  const clientId = view.get("ClientId");
  if (clientId !== undefined) {
    naming.set(["clientId"], clientId.path);
    options["clientId"] = clientId.value;
  }
  // Not an Identity.Web key: MSAL.NET derives the mTLS host from the authority (and region), which
  // works for Entra's public and sovereign clouds; a section for another host (an emulator, a test
  // slice) names it here so that the file alone describes the app.
  const mtlsHost = view.get("MtlsAuthorityHost");
  if (mtlsHost !== undefined) {
    naming.set(["mtlsAuthorityHost"], mtlsHost.path);
    options["mtlsAuthorityHost"] = typeof mtlsHost.value === "string" ? mtlsHost.value.replace(/\/+$/, "") : mtlsHost.value;
  }
  const region = view.get("AzureRegion");
  if (region !== undefined) {
    naming.set(["azureRegion"], region.path);
    options["azureRegion"] = region.value;
  }
  const sendX5C = view.get("SendX5C");
  if (sendX5C !== undefined) {
    naming.set(["sendCertificateChain"], sendX5C.path);
    options["sendCertificateChain"] = coerceBoolean(sendX5C.value);
  }
  const capabilities = view.get("ClientCapabilities");
  if (capabilities !== undefined) {
    naming.set(["clientCapabilities"], capabilities.path);
    options["clientCapabilities"] = capabilities.value;
  }
  const ignored = new Map<string, string[]>();
  options["clientCredentials"] = readCredentials(c, view, naming, ignored);

  if (overrides !== undefined) {
    if (!isPlainObject(overrides)) {
      c.fail("BCC_INVALID_OPTIONS", "overrides", `must be an object but is ${describeType(overrides)}.`, "Pass an object of BoundClientCredentialOptions, or leave it out.");
    }
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) continue;
      naming.set([key], `overrides.${key}`, true);
      options[key] = value;
    }
  }

  try {
    validateOptions(options, process.env, naming);
  } catch (error) {
    throw withIgnoredKeyHint(error, ignored);
  }
  // validateOptions has just proven the shape.
  return options as unknown as BoundClientCredentialOptions;
}

/**
 * Identity.Web ignores keys it does not know, so `"CertificatePath"` for `"CertificateDiskPath"`
 * only shows up as a missing field. When an entry had an ignored key close to the missing one,
 * say so.
 */
function withIgnoredKeyHint(error: unknown, ignored: ReadonlyMap<string, string[]>): unknown {
  if (!(error instanceof BoundCredentialConfigurationError) || error.code !== "BCC_MISSING_FIELD") return error;
  const dot = error.path.lastIndexOf(".");
  const keys = ignored.get(error.path.slice(0, dot));
  const missing = error.path.slice(dot + 1);
  const match = keys === undefined ? undefined : closestMatch(missing, keys);
  if (match === undefined) return error;
  const problem = error.message.slice(error.path.length + 2, error.message.length - error.remedy.length).trim();
  return new BoundCredentialConfigurationError(
    error.code,
    error.path,
    `${problem} The entry has ${match}, which is not a setting of this source type: did you mean ${missing}?`,
    error.remedy,
  );
}

interface LocatedSection {
  readonly section: Record<string, unknown>;
  /** The spelling of the section in paths, such as `AzureAd`. */
  readonly root: string;
}

function locateSection(input: unknown, sectionName: string | undefined): LocatedSection {
  const c: Checker = new Checker(new MappedNaming("", (name) => name));
  if (sectionName !== undefined) {
    let current: unknown = input;
    const spelled: string[] = [];
    for (const part of sectionName.split(":")) {
      const where = [...spelled, part].join(".");
      const match = isPlainObject(current) ? Object.keys(current).find((k) => k.toLowerCase() === part.toLowerCase()) : undefined;
      if (match === undefined || !isPlainObject(current)) {
        c.fail(
          "BCC_MISSING_FIELD",
          where,
          "is not a section of the configuration given.",
          "Check the section name (levels are separated by ':'), or pass the section object itself.",
        );
      }
      spelled.push(match);
      current = current[match];
    }
    if (!isPlainObject(current)) {
      c.fail("BCC_INVALID_OPTIONS", spelled.join("."), `must be an object but is ${describeType(current)}.`, "Point sectionName at the AzureAd object.");
    }
    return { section: current, root: spelled.join(".") };
  }
  if (!isPlainObject(input)) {
    c.fail(
      "BCC_INVALID_OPTIONS",
      "AzureAd",
      `The configuration section must be an object but is ${describeType(input)}.`,
      'Pass the parsed AzureAd section, for example JSON.parse(readFileSync("appsettings.json", "utf8")).AzureAd.',
    );
  }
  const keys = Object.keys(input);
  const isSection = keys.some((k) => SECTION_KEYS.some((s) => s.toLowerCase() === k.toLowerCase()));
  const wrapper = keys.find((k) => k.toLowerCase() === "azuread");
  if (!isSection && wrapper !== undefined) {
    const inner = input[wrapper];
    if (!isPlainObject(inner)) {
      c.fail("BCC_INVALID_OPTIONS", wrapper, `must be an object but is ${describeType(inner)}.`, "Give the AzureAd section as an object of settings.");
    }
    return { section: inner, root: wrapper };
  }
  return { section: input, root: "AzureAd" };
}

/** Whether the section's keys are mostly camelCase, so missing keys are named in that style. */
function usesCamelCase(section: Record<string, unknown>): boolean {
  const keys = Object.keys(section).filter((k) => /^[a-zA-Z]/.test(k));
  const lower = keys.filter((k) => k[0] === k[0]!.toLowerCase()).length;
  return lower > keys.length - lower;
}

interface Found {
  readonly key: string;
  readonly value: unknown;
  readonly path: string;
}

/** Case-insensitive access to a configuration object; `null` counts as absent, as in JSON. */
class SectionView {
  readonly #c: Checker;
  readonly #obj: Record<string, unknown>;
  readonly #path: string;

  constructor(c: Checker, obj: Record<string, unknown>, path: string) {
    this.#c = c;
    this.#obj = obj;
    this.#path = path;
  }

  get(name: string): Found | undefined {
    const keys = Object.keys(this.#obj).filter(
      (k) => k.toLowerCase() === name.toLowerCase() && this.#obj[k] !== null && this.#obj[k] !== undefined,
    );
    if (keys.length > 1) {
      this.#c.fail(
        "BCC_CONFLICTING_FIELDS",
        `${this.#path}.${keys[1]!}`,
        `duplicates ${keys[0]!}: configuration keys are case-insensitive, so both name the same setting.`,
        "Keep only one of them.",
      );
    }
    const key = keys[0];
    return key === undefined ? undefined : { key, value: this.#obj[key], path: `${this.#path}.${key}` };
  }

  /** A string setting; empty counts as absent, as Identity.Web's `string.IsNullOrEmpty` checks do. */
  string(name: string): Found | undefined {
    const found = this.get(name);
    if (found === undefined) return undefined;
    if (typeof found.value !== "string") {
      this.#c.fail("BCC_INVALID_TYPE", found.path, `must be a string but is ${describeType(found.value)}.`, `Set ${found.key} to a string.`);
    }
    return found.value === "" ? undefined : found;
  }
}

/** `true`/`false` as JSON booleans or as the strings the .NET binder also accepts. */
function coerceBoolean(value: unknown): unknown {
  if (typeof value === "string") {
    const text = value.trim().toLowerCase();
    if (text === "true") return true;
    if (text === "false") return false;
  }
  return value;
}

/** The host suffix of Microsoft Entra External ID (CIAM) authorities. */
const CIAM_HOST_SUFFIX = ".ciamlogin.com";

/**
 * For a CIAM authority without a tenant segment (`https://contoso.ciamlogin.com`), its login host
 * and the tenant MSAL.NET derives from the host's first label (`contoso.onmicrosoft.com`).
 */
function ciamTenantOf(authority: string): { instance: string; tenant: string } | undefined {
  if (!URL.canParse(authority)) return undefined;
  const url = new URL(authority);
  const host = url.hostname.toLowerCase();
  if (!host.endsWith(CIAM_HOST_SUFFIX)) return undefined;
  const label = host.slice(0, -CIAM_HOST_SUFFIX.length);
  if (label === "" || label.includes(".")) return undefined;
  return { instance: url.origin, tenant: `${label}.onmicrosoft.com` };
}

/** Tenant and login host, with Identity.Web's precedence between Instance/TenantId and Authority. */
function readIdentity(c: Checker, view: SectionView, naming: MappedNaming, options: Record<string, unknown>): void {
  const instance = view.string("Instance");
  const tenant = view.string("TenantId");
  const authority = view.string("Authority");
  const emptyTenant = view.get("TenantId");

  let tenantValue: string | undefined = tenant?.value as string | undefined;
  let tenantPath = tenant?.path;
  let instanceValue: string | undefined = instance?.value as string | undefined;
  let instancePath = instance?.path;

  if (authority !== undefined) {
    const text = authority.value as string;
    if (instance === undefined && tenant === undefined) {
      // MergedOptions.ParseAuthorityIfNecessary: the first path segment after the host is the tenant.
      // Identity.Web only skips "https://"; skipping any scheme lets an http: authority be reported
      // as insecure instead of as a nonsense tenant.
      const trimmed = text.replace(/\/+$/, "");
      const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(trimmed);
      const start = scheme === null ? 0 : scheme[0].length;
      const slash = trimmed.indexOf("/", start);
      const ciam = slash === -1 ? ciamTenantOf(trimmed) : undefined;
      if (ciam !== undefined) {
        // MSAL.NET's CiamAuthorityHelper: https://contoso.ciamlogin.com means the tenant
        // contoso.onmicrosoft.com at that host.
        instanceValue = ciam.instance;
        tenantValue = ciam.tenant;
        instancePath = authority.path;
        tenantPath = authority.path;
      } else if (slash === -1) {
        c.fail(
          "BCC_INVALID_VALUE",
          authority.path,
          "has no tenant segment after the host.",
          `Use https://login.microsoftonline.com/{tenant}/v2.0, or set ${naming.key("authorityHost")} and ${naming.key("tenantId")}.`,
        );
      } else {
        const next = trimmed.indexOf("/", slash + 1);
        instanceValue = trimmed.slice(0, slash);
        tenantValue = trimmed.slice(slash + 1, next === -1 ? trimmed.length : next);
        instancePath = authority.path;
        tenantPath = authority.path;
      }
    } else if (tenant === undefined) {
      c.fail(
        "BCC_MISSING_FIELD",
        naming.render(["tenantId"]),
        `is missing; ${authority.key} is ignored because ${instance!.key} is set (as Microsoft.Identity.Web does).`,
        `Set ${naming.key("tenantId")} as well, or remove ${instance!.key} so that the tenant is read from ${authority.key}.`,
      );
    } else if (instance === undefined) {
      // Identity.Web ignores Authority here too; the login host then falls back to the default.
      log.warning(`${authority.path} is ignored because ${tenant.key} is set; the default login host is used unless Instance is set.`);
    } else {
      log.warning(`${authority.path} is ignored because ${instance.key} and ${tenant.key} are set.`);
    }
  }

  if (tenantValue !== undefined && isMultiTenantName(tenantValue)) {
    const home = view.string("AppHomeTenantId");
    if (home !== undefined) {
      tenantValue = home.value as string;
      tenantPath = home.path;
    }
  }
  if (tenantValue !== undefined) {
    naming.set(["tenantId"], tenantPath!);
    options["tenantId"] = tenantValue;
  } else if (emptyTenant !== undefined) {
    // An empty TenantId is reported as empty rather than missing.
    naming.set(["tenantId"], emptyTenant.path);
    options["tenantId"] = emptyTenant.value;
  }
  if (instanceValue !== undefined) {
    naming.set(["authorityHost"], instancePath!);
    // Identity.Web keeps the trailing slash of Instance ("https://login.microsoftonline.com/"); options do not.
    options["authorityHost"] = instanceValue.replace(/\/+$/, "");
  }
}

function readCredentials(
  c: Checker,
  view: SectionView,
  naming: MappedNaming,
  ignored: Map<string, string[]>,
): unknown[] {
  const listed = view.get("ClientCredentials");
  const entries: unknown[] = [];
  if (listed !== undefined) {
    naming.set(["clientCredentials"], listed.path);
    if (!Array.isArray(listed.value)) {
      c.fail(
        "BCC_CREDENTIALS_NOT_ARRAY",
        listed.path,
        `must be a JSON array but is ${describeType(listed.value)}.`,
        isPlainObject(listed.value)
          ? `Write ${listed.key} as a JSON array, "${listed.key}": [ { "SourceType": … }, … ]: the entries are tried in array order (Microsoft.Identity.Web issue #3431).`
          : `Write ${listed.key} as a JSON array of credential descriptions.`,
      );
    }
    // An index loop, not forEach: a hole in the array is an entry that is missing, not one to skip.
    for (let index = 0; index < listed.value.length; index++) {
      entries.push(convertEntry(c, view, naming, listed.value[index], `${listed.path}[${index}]`, index, ignored));
    }
  }
  const legacySecret = view.get("ClientSecret");
  if (entries.length > 0) {
    if (legacySecret !== undefined) {
      log.warning(`${legacySecret.path} is ignored because ${listed!.path} is not empty.`);
    }
    return entries;
  }

  // MergedOptions.ComputeFromLegacyClientCredentials, in its order.
  const legacyMi = view.get("ClientCredentialsUsingManagedIdentity");
  if (legacyMi !== undefined) {
    if (!isPlainObject(legacyMi.value)) {
      c.fail("BCC_INVALID_TYPE", legacyMi.path, `must be an object but is ${describeType(legacyMi.value)}.`, 'Give { "IsEnabled": true, "ManagedIdentityClientId": "…" }.');
    }
    const mi = new SectionView(c, legacyMi.value, legacyMi.path);
    const enabled = mi.get("IsEnabled");
    const isEnabled = enabled === undefined ? false : coerceBoolean(enabled.value);
    if (typeof isEnabled !== "boolean") {
      c.fail("BCC_INVALID_TYPE", enabled!.path, `must be a boolean but is ${describeType(isEnabled)}.`, "Set it to true or false.");
    }
    if (isEnabled) {
      const index = entries.length;
      naming.set(["clientCredentials", index], legacyMi.path);
      const entry: Record<string, unknown> = { sourceType: "SignedAssertionFromManagedIdentity" };
      const clientId = mi.get("ManagedIdentityClientId");
      if (clientId !== undefined) {
        naming.set(["clientCredentials", index, "managedIdentityClientId"], clientId.path);
        entry["managedIdentityClientId"] = clientId.value;
      }
      entries.push(entry);
    }
  }
  const certificates = view.get("ClientCertificates");
  if (certificates !== undefined) {
    if (!Array.isArray(certificates.value)) {
      c.fail(
        "BCC_CREDENTIALS_NOT_ARRAY",
        certificates.path,
        `must be a JSON array but is ${describeType(certificates.value)}.`,
        `Write ${certificates.key} as a JSON array of certificate descriptions.`,
      );
    }
    for (let position = 0; position < certificates.value.length; position++) {
      entries.push(convertEntry(c, view, naming, certificates.value[position], `${certificates.path}[${position}]`, entries.length, ignored));
    }
  }
  if (legacySecret !== undefined && legacySecret.value !== "") {
    const index = entries.length;
    naming.set(["clientCredentials", index], legacySecret.path);
    naming.set(["clientCredentials", index, "clientSecret"], legacySecret.path);
    entries.push({ sourceType: "ClientSecret", clientSecret: legacySecret.value });
  }
  return entries;
}

function convertEntry(
  c: Checker,
  section: SectionView,
  naming: MappedNaming,
  raw: unknown,
  spelled: string,
  index: number,
  ignored: Map<string, string[]>,
): unknown {
  const at: readonly PathSegment[] = ["clientCredentials", index];
  naming.set(at, spelled);
  if (!isPlainObject(raw)) return raw;
  const view = new SectionView(c, raw, spelled);
  const entry: Record<string, unknown> = {};

  let sourceType: CredentialSourceType | undefined;
  const declared = view.get("SourceType");
  if (declared !== undefined) {
    naming.set([...at, "sourceType"], declared.path);
    const resolved = resolveSourceType(c, declared);
    entry["sourceType"] = resolved;
    sourceType = SOURCE_TYPES.find((t) => t === resolved);
  }
  for (const flag of ["skip", "useBoundCredential"]) {
    const found = view.get(flag);
    if (found !== undefined) {
      naming.set([...at, flag], found.path);
      entry[flag] = coerceBoolean(found.value);
    }
  }
  if (sourceType === undefined) return entry;
  const descriptor = descriptorOf(sourceType);
  const codeOnly: readonly string[] = descriptor.codeOnlyKeys ?? [];
  const used = new Set(COMMON_ENTRY_KEYS.map((k) => k.toLowerCase()));
  for (const key of descriptor.keys) {
    if (codeOnly.includes(key)) continue;
    const found = view.get(key);
    if (found !== undefined) {
      naming.set([...at, key], found.path);
      entry[key] = found.value;
      used.add(key.toLowerCase());
    }
  }
  // An own key whose value is null counts as absent (as in JSON binding), not as a stray key.
  const own = new Set(descriptor.keys.filter((k) => !codeOnly.includes(k)).map((k) => k.toLowerCase()));
  const unused = Object.keys(raw).filter((key) => !used.has(key.toLowerCase()) && !own.has(key.toLowerCase()));
  ignored.set(spelled, unused);
  for (const key of unused) warnIgnoredEntryKey(spelled, sourceType, key, descriptor.keys, codeOnly);
  descriptor.fromSection?.({
    has: (key) => entry[key] !== undefined,
    sectionString: (name) => section.string(name),
    set: (key, from) => {
      naming.set([...at, key], from.path);
      entry[key] = from.value;
    },
  });
  return entry;
}

/**
 * Identity.Web ignores entry keys it does not know, so a misspelled or invented flag (such as
 * `PreferBoundCredential`) silently changes nothing. Say so, with the closest key of the source type.
 */
function warnIgnoredEntryKey(
  spelled: string,
  sourceType: CredentialSourceType,
  key: string,
  keys: readonly string[],
  codeOnly: readonly string[],
): void {
  // Keys are looked at only when short: a name of megabytes is described, never compared or echoed.
  const lower = key.length > 64 ? undefined : key.toLowerCase();
  if (lower !== undefined && IDENTITY_WEB_KEYS_NOT_READ.has(lower)) return;
  const where = `${spelled}.${shortKey(key)}`;
  let why: string;
  const adopted = lower === undefined ? undefined : NOT_ADOPTED.get(lower);
  const alias = lower === undefined ? undefined : GENERIC_ALIASES.get(lower);
  const owners = lower === undefined ? [] : sourceTypesWithKey(SOURCE_KEYS_BY_LOWER.get(lower) ?? "");
  const codeOnlyMatch = codeOnly.find((k) => k.toLowerCase() === lower);
  if (adopted !== undefined) {
    why = `did you mean ${adopted}? ${key} was proposed and not adopted.`;
  } else if (alias !== undefined) {
    why = `this library reads the source-specific keys instead (${alias}).`;
  } else if (codeOnlyMatch !== undefined) {
    why = `${pascalCase(codeOnlyMatch)} can only be given in code, through the overrides of fromConfiguration.`;
  } else if (owners.length > 0) {
    why = `it is a setting of SourceType ${owners.join(" or ")}, not of ${sourceType}.`;
  } else {
    const match = closestMatch(key, [...COMMON_ENTRY_KEYS, ...keys].map(pascalCase));
    why = `it is not a setting of a ${sourceType} entry.${match === undefined ? "" : ` Did you mean ${match}?`}`;
  }
  log.warning(`${where} is ignored: ${why}`);
}

/** Every source type's own key, by its lower-case spelling. */
const SOURCE_KEYS_BY_LOWER: ReadonlyMap<string, string> = new Map(
  SOURCE_TYPES.flatMap((type) => descriptorOf(type).keys.map((key): [string, string] => [key.toLowerCase(), key])),
);

/**
 * The source type name for a `SourceType` value given by name (any case) or by its number in the
 * `CredentialSource` enum. Names this library does not know are passed on for the validator to
 * report with a suggestion.
 */
function resolveSourceType(c: Checker, declared: Found): unknown {
  const value = declared.value;
  let name: string | undefined;
  if (typeof value === "number" || (typeof value === "string" && /^\s*\d+\s*$/.test(value))) {
    const number = Number(value);
    name = Number.isInteger(number) ? CREDENTIAL_SOURCE_VALUES[number] : undefined;
    if (name === undefined) {
      c.fail(
        "BCC_UNKNOWN_SOURCE_TYPE",
        declared.path,
        `${String(value).trim()} is not a CredentialSource value (0 to ${CREDENTIAL_SOURCE_VALUES.length - 1}).`,
        `Give the source type by name, one of: ${SOURCE_TYPES.join(", ")}.`,
      );
    }
  } else if (typeof value === "string") {
    name = CREDENTIAL_SOURCE_VALUES.find((n) => n.toLowerCase() === value.trim().toLowerCase());
  }
  if (name === "Certificate") {
    c.fail(
      "BCC_UNSUPPORTED_SOURCE_TYPE",
      declared.path,
      "is Certificate, which needs a certificate object supplied in code; a configuration file cannot hold one.",
      "Use Path, Base64Encoded or KeyVault in the file, or pass a Certificate entry in code through overrides.clientCredentials.",
    );
  }
  return name ?? value;
}
