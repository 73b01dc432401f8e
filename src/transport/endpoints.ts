/**
 * Where tokens are requested. The mutual TLS host is derived from the login host the way MSAL.NET
 * derives it (`RegionAndMtlsDiscoveryProvider`): public-cloud aliases go to `mtlsauth.microsoft.com`,
 * other `login.*` hosts to `mtlsauth.*`, and two legacy sovereign hosts have no mTLS endpoint at all.
 */

import { BoundCredentialError } from "../errors.ts";

const PUBLIC_CLOUD_ALIASES = new Set([
  "login.microsoftonline.com",
  "login.windows.net",
  "login.microsoft.com",
  "sts.windows.net",
]);

const NO_MTLS_ENDPOINT: ReadonlyMap<string, string> = new Map([
  ["login.usgovcloudapi.net", "https://login.microsoftonline.us"],
  ["login.chinacloudapi.cn", "https://login.partner.microsoftonline.cn"],
]);

/** Raised when an authority host has no mutual TLS token endpoint. */
export class MtlsEndpointUnsupportedError extends BoundCredentialError {
  /** A host to use instead, when there is one. */
  readonly suggestedHost: string | undefined;
  constructor(message: string, suggestedHost: string | undefined) {
    super("BCC_MTLS_ENDPOINT_UNSUPPORTED", message);
    this.name = "MtlsEndpointUnsupportedError";
    this.suggestedHost = suggestedHost;
  }
}

/** A region name must be letters and digits only, as MSAL.NET accepts it. */
export function isValidRegionName(region: string): boolean {
  return /^[a-zA-Z0-9]+$/.test(region);
}

/**
 * The mTLS authority (`https://[region.]mtlsauth.…[:port]`) for a login authority host.
 *
 * @param authorityHost - `https://login.…[:port]`
 * @param region - a validated region name, or undefined for the global endpoint
 * @throws MtlsEndpointUnsupportedError for hosts without an mTLS endpoint
 */
export function mtlsAuthorityHostFor(authorityHost: string, region?: string): string {
  const url = new URL(authorityHost);
  const host = url.hostname.toLowerCase();
  const instead = NO_MTLS_ENDPOINT.get(host);
  if (instead !== undefined) {
    throw new MtlsEndpointUnsupportedError(
      `The authority host ${host} has no mutual TLS token endpoint; use ${instead} instead.`,
      instead,
    );
  }
  let mtlsHost: string;
  if (PUBLIC_CLOUD_ALIASES.has(host)) {
    mtlsHost = "mtlsauth.microsoft.com";
  } else if (host.startsWith("login.")) {
    mtlsHost = `mtlsauth.${host.slice("login.".length)}`;
  } else {
    throw new MtlsEndpointUnsupportedError(
      `The authority host ${host} does not start with "login.", so its mutual TLS host cannot be derived; set mtlsAuthorityHost explicitly.`,
      undefined,
    );
  }
  const prefix = region === undefined ? "" : `${region.toLowerCase()}.`;
  return `https://${prefix}${mtlsHost}${url.port ? `:${url.port}` : ""}`;
}

/**
 * `{host}/{tenant}`: the tenant's authority on a login or mutual TLS host. The only place a tenant is
 * put into a URL, encoded, so that no tenant value can change the path (`..`, `/`).
 */
export function tenantAuthorityFor(authority: string, tenantId: string): string {
  return `${authority.replace(/\/+$/, "")}/${encodeURIComponent(tenantId)}`;
}

/** `{authority}/{tenant}/oauth2/v2.0/token`, the v2 token endpoint of a tenant. */
export function tokenEndpointFor(authority: string, tenantId: string): string {
  return `${tenantAuthorityFor(authority, tenantId)}/oauth2/v2.0/token`;
}
