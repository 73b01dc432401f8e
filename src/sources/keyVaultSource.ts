import type { TokenCredential } from "@azure/core-auth";
import type { KeyVaultSecret, SecretClient, SecretClientOptions } from "@azure/keyvault-secrets";
import { loadKeyVaultSecrets } from "../dependencies.ts";
import * as tls from "node:tls";
import { type Checker, describeType, isTokenCredentialLike, readString } from "../configuration/checks.ts";
import type { NormalizedEntryOf, NormalizedOptions } from "../configuration/normalized.ts";
import type { KeyVaultCredentialDescription } from "../configuration/types.ts";
import { KEY_VAULT_URL_RULES, parseOrigin } from "../configuration/urls.ts";
import { SDK_VERSION } from "../constants.ts";
import { decodeBase64 } from "./base64Source.ts";
import { CachedSource } from "./cachedSource.ts";
import { parseCertificateBytes, parsePemCertificate, parsePkcs12 } from "./certificateParsing.ts";
import { assertCertificateTimeValid } from "./certificateValidity.ts";
import type { Normalized, SourceDescriptor } from "./descriptor.ts";
import type { LoadedCertificate } from "./loadedCertificate.ts";
import { createManagedIdentityServices } from "./managedIdentity/services.ts";
import { managedIdentityTokenCredential } from "./managedIdentityTokenCredential.ts";
import { messageOf } from "../text.ts";
import { withContextAsync } from "./reasons.ts";
import { SourceUnavailableError, type SourceMaterial } from "./types.ts";

/** The content type Key Vault gives the secret of a certificate created with PKCS#12 content. */
const PKCS12_CONTENT_TYPE = "application/x-pkcs12";
/** The content type Key Vault gives the secret of a certificate created with PEM content. */
const PEM_CONTENT_TYPE = "application/x-pem-file";

/** Key Vault and Managed HSM hosts of the Azure clouds; the SDK checks their challenges itself. */
const AZURE_VAULT_HOST_SUFFIXES = [
  ".vault.azure.net",
  ".vault.azure.cn",
  ".vault.usgovcloudapi.net",
  ".vault.microsoftazure.de",
  ".managedhsm.azure.net",
  ".managedhsm.azure.cn",
  ".managedhsm.usgovcloudapi.net",
  ".managedhsm.microsoftazure.de",
];

/** Node's codes for a server certificate that does not verify. */
const TLS_TRUST_ERROR_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** One attempt per request at most, besides the first: a vault that is down makes the entry unavailable. */
const KEY_VAULT_RETRIES = 1;
/** Per attempt; a hung vault must not hold the whole credential list. */
const KEY_VAULT_TIMEOUT_MS = 30_000;

/**
 * A `KeyVault` entry: the certificate with its private key, read from the secret that Key Vault
 * keeps for every certificate (`/secrets/{name}/{version}`), in PKCS#12 or PEM form. Authenticates
 * with the entry's `keyVaultCredential`, else the options' `keyVaultCredential`, else a managed
 * identity (`managedIdentityClientId`, or the system-assigned one).
 */
export class KeyVaultSource extends CachedSource {
  readonly #description: NormalizedKeyVaultDescription;
  readonly #options: NormalizedOptions;
  readonly #managedIdentity: () => TokenCredential;
  #client: SecretClient | undefined;

  /**
   * @param managedIdentity - makes the managed identity credential used when no credential is given
   */
  constructor(
    entry: NormalizedEntryOf<NormalizedKeyVaultDescription>,
    options: NormalizedOptions,
    now: () => number,
    managedIdentity: () => TokenCredential,
  ) {
    super(entry, now);
    this.#description = entry.description;
    this.#options = options;
    this.#managedIdentity = managedIdentity;
  }

  protected override async read(): Promise<SourceMaterial> {
    const { keyVaultUrl, keyVaultCertificateName: name, keyVaultCertificateVersion: version } = this.#description;
    const what = `the certificate ${describeSecret(keyVaultUrl, name, version)}`;
    const client = this.#client ?? (this.#client = await this.#createClient());
    let secret: KeyVaultSecret;
    try {
      secret = await client.getSecret(name, {
        ...(version === undefined ? {} : { version }),
        requestOptions: { timeout: KEY_VAULT_TIMEOUT_MS },
      });
    } catch (error) {
      throw new SourceUnavailableError(`${what} cannot be read: ${describeKeyVaultError(error)}`);
    }
    const certificate = await withContextAsync(what, async () => {
      const parsed = await certificateFromSecret(secret);
      assertCertificateTimeValid(parsed, this.now());
      return parsed;
    });
    return { kind: "certificate", certificate };
  }

  async #createClient(): Promise<SecretClient> {
    // The Key Vault client is loaded by the first Key Vault read, not by importing the package.
    const { SecretClient } = await loadKeyVaultSecrets();
    const url = parseVaultUrl(this.#description.keyVaultUrl);
    const credential: TokenCredential =
      this.#description.keyVaultCredential ??
      this.#options.keyVaultCredential ??
      this.#managedIdentity();
    const options: SecretClientOptions = {
      // Outside Azure (a private endpoint alias, a local vault) the challenge resource
      // (vault.azure.net) cannot be a suffix of the host, and the SDK would refuse the challenge.
      disableChallengeResourceVerification: !isAzureVaultHost(url.hostname),
      retryOptions: { maxRetries: KEY_VAULT_RETRIES },
      userAgentOptions: { userAgentPrefix: `bound-client-credential/${SDK_VERSION}` },
    };
    if (this.#options.tlsCa.length > 0) {
      // `ca` replaces the default trust store; keep it and add the configured authorities.
      options.tlsOptions = { ca: [...defaultCertificateAuthorities(), ...this.#options.tlsCa] };
    }
    return new SecretClient(url.href.replace(/\/$/, ""), credential, options);
  }
}

/** Key Vault certificate secrets hold PKCS#12 (base64, no password) or PEM (key and certificates). */
async function certificateFromSecret(secret: KeyVaultSecret): Promise<LoadedCertificate> {
  const value = secret.value;
  if (value === undefined || value.trim() === "") throw new SourceUnavailableError("the secret has no value");
  const contentType = secret.properties.contentType?.trim().toLowerCase();
  if (contentType === PKCS12_CONTENT_TYPE) return parsePkcs12(decodeBase64(value), undefined);
  if (contentType === PEM_CONTENT_TYPE) return parsePemCertificate(value);
  if (contentType === undefined || contentType === "") {
    // A plain secret that someone filled with a certificate: tell the two forms apart by content.
    if (value.includes("-----BEGIN ")) return parsePemCertificate(value);
    return parseCertificateBytes(decodeBase64(value), undefined);
  }
  throw new SourceUnavailableError(
    `the secret has content type ${JSON.stringify(secret.properties.contentType)}, which is not a certificate (expected ${PKCS12_CONTENT_TYPE} or ${PEM_CONTENT_TYPE}); name a Key Vault certificate in keyVaultCertificateName`,
  );
}

function parseVaultUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SourceUnavailableError(`the Key Vault URL ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== "https:") {
    throw new SourceUnavailableError(`the Key Vault URL ${url.origin} is not https; Key Vault is only reached over https`);
  }
  return url;
}

/** Whether `hostname` is a Key Vault or Managed HSM host of an Azure cloud. */
export function isAzureVaultHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return AZURE_VAULT_HOST_SUFFIXES.some((suffix) => host.endsWith(suffix));
}

function defaultCertificateAuthorities(): readonly string[] {
  // getCACertificates("default") also holds NODE_EXTRA_CA_CERTS and, when enabled, the system store.
  return typeof tls.getCACertificates === "function" ? tls.getCACertificates("default") : tls.rootCertificates;
}

function describeSecret(vaultUrl: string, name: string, version: string | undefined): string {
  return `"${name}"${version === undefined ? "" : ` (version ${version})`} in Key Vault ${vaultUrl}`;
}

/** A reason for a failed `getSecret` that says what to fix; never a token or a secret value. */
function describeKeyVaultError(error: unknown): string {
  if (error instanceof SourceUnavailableError) return error.reason;
  const status = numberField(error, "statusCode");
  const code = stringField(error, "code");
  const message = messageOf(error);
  const details = code === undefined ? message : `${code}: ${message}`;
  if (status === 401) {
    return `Key Vault refused the credential (401 Unauthorized, ${details}); check keyVaultCredential or the managed identity`;
  }
  if (status === 403) {
    return `the identity may not read the certificate's secret (403 Forbidden, ${details}); grant it the "Key Vault Secrets User" role or the secrets get permission`;
  }
  if (status === 404) {
    return `Key Vault has no such certificate (404 Not Found, ${details}); check keyVaultCertificateName and keyVaultCertificateVersion`;
  }
  if (status !== undefined) return `Key Vault answered ${status} (${details})`;
  const name = error instanceof Error ? error.name : "";
  if (name === "CredentialUnavailableError" || name === "AuthenticationError" || name === "AggregateAuthenticationError") {
    return `no token could be obtained for Key Vault (${message})`;
  }
  if (code !== undefined && TLS_TRUST_ERROR_CODES.has(code)) {
    return `the TLS certificate of Key Vault is not trusted (${details}); if the vault uses a private CA, add it to tls.ca`;
  }
  if (name === "AbortError") return `the request to Key Vault was aborted or timed out (${message})`;
  if (name === "RestError" || code !== undefined) return `Key Vault is unreachable (${details})`;
  return `the request to Key Vault failed (${message})`;
}

function numberField(value: unknown, field: string): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const found: unknown = Reflect.get(value, field);
  return typeof found === "number" ? found : undefined;
}

function stringField(value: unknown, field: string): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const found: unknown = Reflect.get(value, field);
  return typeof found === "string" ? found : undefined;
}

/** A `KeyVault` entry as validated. */
export type NormalizedKeyVaultDescription = Normalized<KeyVaultCredentialDescription>;

/** The `KeyVault` source type. */
export const keyVaultSourceType: SourceDescriptor<"KeyVault", NormalizedKeyVaultDescription> = {
  sourceType: "KeyVault",
  keys: ["keyVaultUrl", "keyVaultCertificateName", "keyVaultCertificateVersion", "managedIdentityClientId", "keyVaultCredential"],
  codeOnlyKeys: ["keyVaultCredential"],
  read(fields) {
    // Annotated, so that `c.fail` (which never returns) narrows what follows it.
    const c: Checker = fields.c;
    const { entry: e, path } = fields;
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
        ...(keyVaultCredential === undefined ? {} : { keyVaultCredential }),
      },
      detail: `KeyVault ${keyVaultUrl}/${keyVaultCertificateName}${keyVaultCertificateVersion === undefined ? "" : `/${keyVaultCertificateVersion}`}`,
    };
  },
  fromSection(entry) {
    // Identity.Web's Key Vault loader falls back to the section-wide user-assigned identity.
    if (entry.has("managedIdentityClientId")) return;
    const identity = entry.sectionString("UserAssignedManagedIdentityClientId");
    if (identity !== undefined) entry.set("managedIdentityClientId", identity);
  },
  create: (entry, context) =>
    new KeyVaultSource(entry, context.options, context.now, () =>
      managedIdentityTokenCredential(entry.id, entry.description.managedIdentityClientId, context.managedIdentity ?? createManagedIdentityServices(context)),
    ),
};
