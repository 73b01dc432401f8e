/**
 * The login host and the mTLS host: the token endpoint of both, and the discovery documents of
 * the login host (instance discovery, OpenID configuration, JWKS).
 */
import { createHash, randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import {
  authenticateOnLoginHost,
  authenticateOnMtlsHost,
  type AuthenticationContext,
  type ReplayCache,
} from "./clientAuthentication.ts";
import type { Directory, Principal } from "./directory.ts";
import { EntraError, entraErrorBody, entraErrors, USER_FLOW_DESCRIPTIONS } from "./entraErrors.ts";
import type { IncomingCall, Reply, RouteMatch } from "./httpHost.ts";
import {
  type AssertedUser,
  type DelegatedScopes,
  delegatedScopes,
  JWT_BEARER_GRANT,
  verifyUserAssertion,
} from "./onBehalfOf.ts";
import { redactFields } from "./journal.ts";
import type { TokenService } from "./tokenService.ts";
import type { FaultSpec } from "./types.ts";

/** What the Entra routes need from the emulator. */
export interface EntraContext {
  readonly directory: Directory;
  readonly tokens: TokenService;
  readonly authentication: AuthenticationContext;
  /** Undefined when repeated assertions are accepted. */
  readonly replays: ReplayCache | undefined;
  /** Filled in once the servers listen. */
  readonly urls: { authorityHost: string; mtlsAuthorityHost: string };
  readonly clock: () => number;
  readonly tokenLifetimeSeconds: number;
  readonly managedIdentityTokenLifetimeSeconds: number;
  readonly sendRefreshIn: boolean;
}

const TOKEN_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/token\/?$/;
const OPENID_PATH = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration\/?$/;
const JWKS_PATH = /^\/([^/]+)\/discovery(?:\/v2\.0)?\/keys\/?$/;
const MULTI_TENANT_SEGMENTS = new Set(["common", "organizations", "consumers"]);

const notFound = (): Reply => ({
  status: 404,
  headers: { "content-type": "text/plain; charset=utf-8" },
  body: "The emulator does not serve this path.",
});

/** The correlation id the client sent (header, query or, as msal-node does, form body). */
function correlationIdOf(headers: IncomingHttpHeaders, query: URLSearchParams, form?: URLSearchParams): string | undefined {
  const header = headers["client-request-id"] ?? headers["x-ms-client-request-id"];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  return fromHeader ?? query.get("client-request-id") ?? form?.get("client-request-id") ?? undefined;
}

/** The Entra error reply, recorded in the journal. */
export function entraErrorReply(error: EntraError, call: IncomingCall, context: EntraContext, form?: URLSearchParams): Reply {
  call.journal.error = error.error;
  call.journal.errorCode = error.code;
  const correlationId = correlationIdOf(call.headers, call.query, form);
  return {
    status: error.status,
    headers: {
      "cache-control": "no-store, no-cache",
      pragma: "no-cache",
      ...(correlationId === undefined ? {} : { "client-request-id": correlationId }),
      "x-ms-request-id": randomUUID(),
    },
    body: entraErrorBody(error, correlationId, new Date(context.clock()), context.urls.authorityHost),
  };
}

/** The reply of a scripted `status` fault on an Entra route. */
export function entraFaultReply(fault: FaultSpec & { status: number }, call: IncomingCall, context: EntraContext): Reply {
  const transient = entraErrors.transient(fault.status);
  const code = fault.errorCode ?? transient.code;
  const error = new EntraError(
    fault.status,
    fault.error ?? transient.error,
    code,
    USER_FLOW_DESCRIPTIONS[code] ?? transient.message.replace(/^AADSTS\d+: /, ""),
    { claims: fault.claims, suberror: fault.suberror },
  );
  return entraErrorReply(error, call, context);
}

/** Routes of the login host. */
export function loginRoutes(context: EntraContext): (method: string, path: string) => RouteMatch {
  return (method, path) => {
    if (TOKEN_PATH.test(path)) {
      return { route: "login.token", handle: (call) => tokenEndpoint(call, context, "login") };
    }
    if (method !== "GET") return { route: undefined, handle: async () => notFound() };
    if (path === "/common/discovery/instance") {
      return { route: "login.instanceDiscovery", handle: async (call) => instanceDiscoveryReply(call, context) };
    }
    const openId = OPENID_PATH.exec(path);
    if (openId !== null) {
      const tenant = decodeURIComponent(openId[1] ?? "");
      return {
        route: "login.openidConfiguration",
        handle: async (call) =>
          isKnownTenantSegment(tenant, context)
            ? { status: 200, body: openIdConfiguration(context, tenant) }
            : entraErrorReply(entraErrors.tenantNotFound(tenant), call, context),
      };
    }
    if (JWKS_PATH.test(path)) return { route: "login.jwks", handle: async () => ({ status: 200, body: context.tokens.jwks() }) };
    return { route: undefined, handle: async () => notFound() };
  };
}

/** Routes of the mTLS host: only the token endpoint. */
export function mtlsRoutes(context: EntraContext): (method: string, path: string) => RouteMatch {
  return (_method, path) =>
    TOKEN_PATH.test(path)
      ? { route: "mtls.token", handle: (call) => tokenEndpoint(call, context, "mtls") }
      : { route: undefined, handle: async () => notFound() };
}

function isKnownTenantSegment(tenant: string, context: EntraContext): boolean {
  return MULTI_TENANT_SEGMENTS.has(tenant.toLowerCase()) || context.directory.hasTenant(tenant);
}

/** The OpenID configuration of a tenant, as Entra shapes it, pointing at the emulator. */
export function openIdConfiguration(context: EntraContext, tenant: string): Record<string, unknown> {
  const login = context.urls.authorityHost;
  const issuerTenant = MULTI_TENANT_SEGMENTS.has(tenant.toLowerCase()) ? "{tenantid}" : tenant;
  const hostName = new URL(login).host;
  return {
    token_endpoint: `${login}/${tenant}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic", "tls_client_auth"],
    jwks_uri: `${login}/${tenant}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${login}/${issuerTenant}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: "https://graph.microsoft.com/oidc/userinfo",
    authorization_endpoint: `${login}/${tenant}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${login}/${tenant}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${login}/${tenant}/oauth2/v2.0/logout`,
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "oid"],
    kerberos_endpoint: `${login}/${tenant}/kerberos`,
    mtls_endpoint_aliases: { token_endpoint: `${context.urls.mtlsAuthorityHost}/${tenant}/oauth2/v2.0/token` },
    tls_client_certificate_bound_access_tokens: true,
    tenant_region_scope: "NA",
    cloud_instance_name: hostName,
    cloud_graph_host_name: "graph.windows.net",
    msgraph_host: "graph.microsoft.com",
    rbac_url: "https://pas.windows.net",
  };
}

/** The instance discovery answer for the emulator's login host. */
export function instanceDiscovery(context: EntraContext, tenant: string): Record<string, unknown> {
  const host = new URL(context.urls.authorityHost).host;
  return {
    tenant_discovery_endpoint: `${context.urls.authorityHost}/${tenant}/v2.0/.well-known/openid-configuration`,
    "api-version": "1.1",
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
}

function instanceDiscoveryReply(call: IncomingCall, context: EntraContext): Reply {
  const authorizationEndpoint = call.query.get("authorization_endpoint");
  let tenant = "common";
  if (authorizationEndpoint !== null) {
    let url: URL | undefined;
    try {
      url = new URL(authorizationEndpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || url.host !== new URL(context.urls.authorityHost).host) {
      const error = new EntraError(400, "invalid_instance", 50049, "Unknown or invalid instance.");
      return entraErrorReply(error, call, context);
    }
    tenant = url.pathname.split("/").filter(Boolean)[0] ?? "common";
  }
  return { status: 200, body: instanceDiscovery(context, tenant) };
}

/** The token endpoint of the login host and of the mTLS host. */
async function tokenEndpoint(call: IncomingCall, context: EntraContext, host: "login" | "mtls"): Promise<Reply> {
  const contentType = String(call.headers["content-type"] ?? "").toLowerCase();
  const form = contentType.startsWith("application/x-www-form-urlencoded")
    ? new URLSearchParams(call.body.toString("utf8"))
    : new URLSearchParams();
  call.journal.form = redactFields(form);
  try {
    if (call.method !== "POST") {
      throw new EntraError(400, "invalid_request", 900561, "The endpoint only accepts POST requests.");
    }
    return await issueToken(call, context, host, form);
  } catch (error) {
    if (error instanceof EntraError) return entraErrorReply(error, call, context, form);
    throw error;
  }
}

function field(form: URLSearchParams, name: string): string | undefined {
  const value = form.get(name);
  return value === null || value === "" ? undefined : value;
}

async function issueToken(
  call: IncomingCall,
  context: EntraContext,
  host: "login" | "mtls",
  form: URLSearchParams,
): Promise<Reply> {
  const tenant = decodeURIComponent(TOKEN_PATH.exec(call.path)?.[1] ?? "");
  if (!context.directory.hasTenant(tenant)) throw entraErrors.tenantNotFound(tenant);
  const grantType = field(form, "grant_type");
  if (grantType === undefined) throw entraErrors.missingParameter("grant_type");
  if (grantType !== "client_credentials" && grantType !== JWT_BEARER_GRANT) throw entraErrors.unsupportedGrantType(grantType);
  const clientId = field(form, "client_id");
  if (clientId === undefined) throw entraErrors.missingParameter("client_id");
  const principal = context.directory.principal(clientId, tenant);
  if (principal === undefined) throw entraErrors.applicationNotFound(clientId, tenant);
  const scope = field(form, "scope");
  if (scope === undefined) throw entraErrors.missingParameter("scope");
  const userAssertion = grantType === JWT_BEARER_GRANT ? onBehalfOfAssertion(form) : undefined;
  const tokenType = (field(form, "token_type") ?? "bearer").toLowerCase();
  if (tokenType !== "bearer" && tokenType !== "mtls_pop") throw entraErrors.unsupportedTokenType(tokenType);
  const pop = tokenType === "mtls_pop";
  const credentials = {
    clientSecret: field(form, "client_secret"),
    clientAssertion: field(form, "client_assertion"),
    clientAssertionType: field(form, "client_assertion_type"),
  };

  let method: "1" | "2";
  if (host === "login") {
    if (pop) throw entraErrors.mtlsRequiresMtlsHost("token_type=mtls_pop");
    method = await authenticateOnLoginHost(principal, credentials, tenant, context.authentication, context.replays);
  } else {
    if (call.clientCertificate === undefined) throw entraErrors.clientCertificateMissing();
    if (!principal.mtlsClientAuth) throw entraErrors.mtlsClientAuthDisabled(principal.clientId);
    method = await authenticateOnMtlsHost(
      principal,
      credentials,
      tenant,
      call.clientChain,
      pop,
      context.authentication,
      context.replays,
    );
  }

  if (userAssertion !== undefined) {
    // The client authenticated exactly as for its app tokens; now the user's token it presents.
    const user = await verifyUserAssertion(userAssertion, principal.clientId, tenant, context.authentication);
    const delegated = delegatedScopes(scope);
    if (!context.directory.resourceExists(delegated.resource)) throw entraErrors.resourceNotFound(delegated.resource, tenant);
    return tokenReply(call, context, principal, tenant, delegated.resource, method, pop, form, { ...user, ...delegated });
  }
  const resource = resourceOf(scope);
  if (!context.directory.resourceExists(resource)) throw entraErrors.resourceNotFound(resource, tenant);
  return tokenReply(call, context, principal, tenant, resource, method, pop, form);
}

/** The user's token of an On-Behalf-Of request, after its parameters are checked. */
function onBehalfOfAssertion(form: URLSearchParams): string {
  const use = field(form, "requested_token_use");
  if (use === undefined) throw entraErrors.missingRequestedTokenUse();
  if (use !== "on_behalf_of") throw entraErrors.unsupportedRequestedTokenUse(use);
  const assertion = field(form, "assertion");
  if (assertion === undefined) throw entraErrors.missingParameter("assertion");
  return assertion;
}

/** The resource of a client credentials scope: exactly one `{resource}/.default`. */
function resourceOf(scope: string): string {
  const scopes = scope.split(" ").filter((value) => value.length > 0);
  const single = scopes[0];
  if (scopes.length !== 1 || single === undefined) throw entraErrors.invalidScope(scope);
  if (!single.endsWith("/.default")) throw entraErrors.scopeWithoutDefault(single);
  const resource = single.slice(0, -"/.default".length);
  if (resource.length === 0) throw entraErrors.invalidScope(single);
  return resource;
}

/** Client capabilities (`xms_cc`) requested through the `claims` parameter, as MSAL merges them. */
function clientCapabilities(form: URLSearchParams): string[] | undefined {
  const claims = field(form, "claims");
  if (claims === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch {
    throw new EntraError(400, "invalid_request", 90015, "The claims parameter is not valid JSON.");
  }
  const values = (parsed as { access_token?: { xms_cc?: { values?: unknown } } } | null)?.access_token?.xms_cc?.values;
  return Array.isArray(values) ? values.filter((value): value is string => typeof value === "string") : undefined;
}

async function tokenReply(
  call: IncomingCall,
  context: EntraContext,
  principal: Principal,
  tenant: string,
  resource: string,
  method: "1" | "2",
  pop: boolean,
  form: URLSearchParams,
  user?: AssertedUser & DelegatedScopes,
): Promise<Reply> {
  const capabilities = clientCapabilities(form);
  const lifetime =
    principal.tokenLifetimeSeconds ??
    (principal.kind === "managedIdentity" ? context.managedIdentityTokenLifetimeSeconds : context.tokenLifetimeSeconds);
  const bound = pop ? call.clientCertificate : undefined;
  const issued = await context.tokens.issueAccessToken({
    tenantId: tenant,
    resource,
    clientId: principal.clientId,
    objectId: principal.objectId,
    lifetimeSeconds: lifetime,
    clientAuthenticationMethod: method,
    ...(bound === undefined
      ? {}
      : { boundCertificateX5tS256: createHash("sha256").update(bound.raw).digest("base64url") }),
    ...(capabilities === undefined ? {} : { clientCapabilities: capabilities }),
    ...(principal.resourceId === undefined ? {} : { managedIdentityResourceId: principal.resourceId }),
    ...(user === undefined
      ? {}
      : {
          user: {
            objectId: user.objectId,
            subject: user.subject,
            name: user.name,
            preferredUsername: user.preferredUsername,
            permissions: user.permissions,
          },
        }),
  });
  const tokenType = pop ? "mtls_pop" : "Bearer";
  call.journal.clientId = principal.clientId;
  call.journal.tokenType = tokenType;
  call.journal.tokenObjectId = user?.objectId ?? principal.objectId;
  const correlationId = correlationIdOf(call.headers, call.query, form);
  return {
    status: 200,
    headers: {
      "cache-control": "no-store, no-cache",
      pragma: "no-cache",
      ...(correlationId === undefined ? {} : { "client-request-id": correlationId }),
      "x-ms-request-id": randomUUID(),
    },
    body: {
      token_type: tokenType,
      expires_in: lifetime,
      ext_expires_in: lifetime,
      ...(context.sendRefreshIn ? { refresh_in: Math.floor(lifetime / 2) } : {}),
      access_token: issued.token,
      // User flows echo the granted scopes and, when asked (`client_info=1`), who the user is.
      ...(user === undefined ? {} : { scope: user.granted }),
      ...(user !== undefined && field(form, "client_info") === "1"
        ? { client_info: Buffer.from(JSON.stringify({ uid: user.objectId, utid: user.tenantId })).toString("base64url") }
        : {}),
    },
  };
}
