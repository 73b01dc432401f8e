/**
 * Checks for the few URLs in the options: the login host, the mTLS host, the IMDS base and Key
 * Vault. Each must be a bare origin (no path, query, fragment or credentials) so that nothing
 * later has to guess how to join paths onto it.
 */
import type { Checker, Where } from "./checks.ts";
import { describeType } from "./checks.ts";
import type { PathSegment } from "./naming.ts";

/** Rules for {@link readOrigin}. */
export interface OriginRules {
  /** Allowed protocols, such as `["https:"]`. */
  readonly protocols: readonly ("https:" | "http:")[];
  /** Whether http: is rejected as insecure (BCC_INSECURE_AUTHORITY) rather than as a bad URL. */
  readonly insecureIsAuthority: boolean;
  /** What the URL is, completing "Set it to …". */
  readonly meaning: string;
  /** An example value. */
  readonly example: string;
  /** What to do with a path, when there is a common mistake to point at. */
  readonly pathRemedy?: (c: Checker) => string;
}

/**
 * Parses `value` (already known to be a string) into `scheme://host[:port]`, lower-cased and
 * without a trailing slash, or throws naming `path`.
 */
export function parseOrigin(c: Checker, value: string, path: Where, rules: OriginRules): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    c.fail("BCC_INVALID_URL", path, "is not an absolute URL.", `Set it to ${rules.meaning}, for example ${rules.example}.`);
  }
  const protocol = url.protocol as "https:" | "http:";
  if (!rules.protocols.includes(protocol)) {
    if (protocol === "http:" && rules.insecureIsAuthority) {
      c.fail(
        "BCC_INSECURE_AUTHORITY",
        path,
        `uses http: (host ${url.hostname}); credentials and tokens must only travel over https.`,
        `Use an https:// URL, for example ${rules.example}; for a local emulator, serve https and trust its CA with tls.ca.`,
      );
    }
    c.fail(
      "BCC_INVALID_URL",
      path,
      `uses the ${protocol.replace(/:$/, "")} scheme; it must be ${rules.protocols.map((p) => p.replace(/:$/, "")).join(" or ")}.`,
      `Set it to ${rules.meaning}, for example ${rules.example}.`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    c.fail("BCC_INVALID_URL", path, "contains a user name or password.", `Remove the credentials from the URL; give ${rules.meaning} only.`);
  }
  if (url.search !== "" || url.hash !== "") {
    c.fail("BCC_INVALID_URL", path, "has a query or fragment.", `Give ${rules.meaning} only, for example ${rules.example}.`);
  }
  if (url.pathname !== "/" && url.pathname !== "") {
    c.fail(
      "BCC_INVALID_URL",
      path,
      `has a path (${url.pathname.length > 60 ? "…" : url.pathname}); only scheme, host and port are expected.`,
      rules.pathRemedy?.(c) ?? `Give ${rules.meaning} only, for example ${rules.example}.`,
    );
  }
  return url.origin;
}

/** Reads an optional origin field of an object. */
export function readOrigin(
  c: Checker,
  obj: Record<string, unknown>,
  key: string,
  path: readonly PathSegment[],
  rules: OriginRules,
): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  const at = [...path, key];
  if (typeof value !== "string") {
    c.fail("BCC_INVALID_TYPE", at, `must be a string but is ${describeType(value)}.`, `Set it to ${rules.meaning}, for example ${rules.example}.`);
  }
  if (value.trim() === "") {
    c.fail("BCC_EMPTY_FIELD", at, "is empty.", `Set it to ${rules.meaning}, for example ${rules.example}, or leave it out.`);
  }
  return parseOrigin(c, value, at, rules);
}

/** Rules of the Entra login host. */
export const AUTHORITY_HOST_RULES: OriginRules = {
  protocols: ["https:"],
  insecureIsAuthority: true,
  meaning: "the Entra login host",
  example: "https://login.microsoftonline.com",
  pathRemedy: (c) =>
    `Give the login host only, for example https://login.microsoftonline.com, and put the tenant in ${c.key("tenantId")}.`,
};

/** Rules of the mutual TLS token host. */
export const MTLS_AUTHORITY_HOST_RULES: OriginRules = {
  protocols: ["https:"],
  insecureIsAuthority: true,
  meaning: "the mutual TLS token host",
  example: "https://mtlsauth.microsoft.com",
  pathRemedy: () =>
    "Give the mTLS host only, for example https://mtlsauth.microsoft.com; the tenant and token path are added per request.",
};

/** Rules of the instance metadata service base URL. */
export const IMDS_ENDPOINT_RULES: OriginRules = {
  protocols: ["http:", "https:"],
  insecureIsAuthority: false,
  meaning: "the instance metadata service base URL",
  example: "http://169.254.169.254",
  pathRemedy: () =>
    "Give the base URL only, for example http://169.254.169.254; the /metadata/... paths are added per request.",
};

/** Rules of a Key Vault URL. */
export const KEY_VAULT_URL_RULES: OriginRules = {
  protocols: ["https:"],
  insecureIsAuthority: false,
  meaning: "the vault URL",
  example: "https://myvault.vault.azure.net",
  pathRemedy: (c) =>
    `Give the vault URL only, for example https://myvault.vault.azure.net, and the certificate name in ${c.key("keyVaultCertificateName")}.`,
};
