/**
 * What `getToken` is asked, checked and normalised before anything else happens: its options (from
 * any caller, typed or not), its scopes, and the tenant the request is for.
 */
import type { GetTokenOptions } from "@azure/core-auth";
import { isMultiTenantName, isTenantIdOrDomain } from "./configuration/validate.ts";
import { BoundCredentialConfigurationError, CredentialUnavailableError } from "./errors.ts";

/**
 * `additionallyAllowedTenants` as a set of lower-cased names: tenant IDs and domains are ASCII and
 * compared without regard to case, as `@azure/identity` compares them, and a set answers in the same
 * time for ten tenants or a hundred thousand.
 */
export function allowedTenantSet(allowed: readonly string[]): ReadonlySet<string> {
  return new Set(allowed.map((tenant) => tenant.toLowerCase()));
}

/**
 * The tenant a request is for: the configured one, or the one asked for when
 * `additionallyAllowedTenants` allows it — `@azure/identity`'s `processMultiTenantRequest`, with its
 * message, so that callers that match on it keep working. An allowed tenant must be what the
 * constructor accepts as `tenantId` (a GUID or a domain, not `common`/`organizations`/`consumers`),
 * so nothing else (`..`, `/`, spaces) reaches a token endpoint URL.
 *
 * @param allowed - from {@link allowedTenantSet}
 * @throws CredentialUnavailableError for a tenant that is not allowed or is not a tenant
 */
export function resolveTenant(
  requested: string | undefined,
  configured: string,
  allowed: ReadonlySet<string>,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (requested === undefined || requested === "" || requested === configured) return configured;
  if (env["AZURE_IDENTITY_DISABLE_MULTITENANTAUTH"]) return configured;
  if (allowed.has("*") || allowed.has(requested.toLowerCase())) {
    if (isMultiTenantName(requested) || !isTenantIdOrDomain(requested)) {
      throw new CredentialUnavailableError(`The requested tenant "${requested}" is not a valid tenant ID or domain.`, {
        code: "BCC_TENANT_NOT_ALLOWED",
      });
    }
    return requested;
  }
  throw new CredentialUnavailableError(
    `The current credential is not configured to acquire tokens for tenant ${requested}. To enable acquiring tokens for this tenant add it to the AdditionallyAllowedTenants on the credential options, or add "*" to AdditionallyAllowedTenants to allow acquiring tokens for any tenant.`,
    { code: "BCC_TENANT_NOT_ALLOWED" },
  );
}

/**
 * `GetTokenOptions` come from any caller, typed or not: refuse what would otherwise fail deep
 * inside with a TypeError, naming the field. `null` counts as no options.
 */
export function checkGetTokenOptions(options: unknown): GetTokenOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object") {
    throw invalidOption("getTokenOptions", `must be an object, not ${typeof options}`);
  }
  const o = options as Record<string, unknown>;
  // Called on every getToken, the cached ones included: plain reads, no closure, no allocation.
  const tenantId = o["tenantId"];
  if (tenantId !== undefined && typeof tenantId !== "string") throw invalidOption("getTokenOptions.tenantId", "must be a string");
  const claims = o["claims"];
  if (claims !== undefined && typeof claims !== "string") throw invalidOption("getTokenOptions.claims", "must be a string");
  if (typeof claims === "string" && claims.trim() !== "") checkClaims(claims);
  if (o["enableCae"] !== undefined && typeof o["enableCae"] !== "boolean") {
    throw invalidOption("getTokenOptions.enableCae", "must be a boolean");
  }
  const signal = o["abortSignal"];
  if (signal !== undefined && (signal === null || typeof signal !== "object" || typeof (signal as { addEventListener?: unknown }).addEventListener !== "function")) {
    throw invalidOption("getTokenOptions.abortSignal", "must be an AbortSignal");
  }
  const requestOptions = o["requestOptions"];
  if (requestOptions !== undefined) {
    const timeout = requestOptions !== null && typeof requestOptions === "object" ? (requestOptions as { timeout?: unknown }).timeout : null;
    if (timeout !== undefined && (typeof timeout !== "number" || !(timeout > 0))) {
      throw invalidOption("getTokenOptions.requestOptions.timeout", "must be a positive number of milliseconds");
    }
  }
  const tracingOptions = o["tracingOptions"];
  if (tracingOptions !== undefined && (tracingOptions === null || typeof tracingOptions !== "object")) {
    throw invalidOption("getTokenOptions.tracingOptions", "must be an object");
  }
  return options as GetTokenOptions;
}

/**
 * A claims challenge is the JSON object of RFC 9470 / OpenID Connect Core §5.5, as the `claims`
 * parameter of `WWW-Authenticate` carries it base64-encoded; Azure SDK clients decode it before
 * calling `getToken`. Anything else would be sent on one path and dropped on another, so it is
 * refused on all of them.
 */
function checkClaims(claims: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_VALUE",
      "getTokenOptions.claims",
      "getTokenOptions.claims is not a JSON object.",
      "Pass the decoded claims of the WWW-Authenticate challenge (base64-decode its claims parameter), such as {\"access_token\":{\"nbf\":{\"essential\":true,\"value\":\"1700000000\"}}}.",
    );
  }
}

function invalidOption(path: string, problem: string): BoundCredentialConfigurationError {
  return new BoundCredentialConfigurationError("BCC_INVALID_TYPE", path, `${path} ${problem}.`, "Pass GetTokenOptions as @azure/core-auth defines them.");
}

/** The scopes as a trimmed list; at least one, none empty. */
export function normalizeScopes(scopes: string | string[]): string[] {
  const list = Array.isArray(scopes) ? scopes : [scopes];
  if (list.length === 0 || list.some((s) => typeof s !== "string" || s.trim() === "")) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_VALUE",
      "scopes",
      "getToken needs at least one non-empty scope.",
      "Pass the resource's default scope, such as https://storage.azure.com/.default.",
    );
  }
  return list.map((s) => s.trim());
}

/**
 * GetTokenOptions carries an `AbortSignalLike`; undici and the cache need a real `AbortSignal`. A
 * foreign signal is bridged with a listener that `release` removes once the call is over, so a
 * long-lived signal reused for many calls does not collect listeners.
 */
export function toAbortSignal(signal: GetTokenOptions["abortSignal"]): { signal: AbortSignal | undefined; release: () => void } {
  if (signal === undefined) return { signal: undefined, release: () => undefined };
  if (signal instanceof AbortSignal) return { signal, release: () => undefined };
  const controller = new AbortController();
  if (signal.aborted) {
    controller.abort();
    return { signal: controller.signal, release: () => undefined };
  }
  const onAbort = (): void => controller.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  return { signal: controller.signal, release: () => signal.removeEventListener("abort", onAbort) };
}
