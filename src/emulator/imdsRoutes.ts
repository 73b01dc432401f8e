/**
 * The instance metadata service (plain HTTP, as IMDS is): managed identity tokens (v1), the
 * binding certificate flow (v2 `getplatformmetadata` and `issuecredential`), and instance compute
 * metadata. Errors are shaped as IMDS answers them, with its `Server` header.
 */
import { createHash } from "node:crypto";
import { validateBindingCsr, CsrRejectedError } from "./bindingCsr.ts";
import type { LocalCertificateAuthority } from "./certificateAuthority.ts";
import type { Directory, Principal } from "./directory.ts";
import { entraErrorBody, entraErrors } from "./entraErrors.ts";
import type { IncomingCall, Reply, RouteMatch } from "./httpHost.ts";
import { redactFields } from "./journal.ts";
import type { TokenService } from "./tokenService.ts";
import type { FaultSpec } from "./types.ts";

/** IMDS names itself in `Server`; MSAL.NET refuses `getplatformmetadata` answers without it. */
export const IMDS_SERVER_HEADER = "IMDS/150.870.65.1854";

/** What the IMDS routes need from the emulator. */
export interface ImdsContext {
  readonly directory: Directory;
  readonly tokens: TokenService;
  readonly managedIdentityCa: LocalCertificateAuthority;
  readonly urls: { authorityHost: string; mtlsAuthorityHost: string };
  readonly clock: () => number;
  readonly tokenLifetimeSeconds: number;
  readonly v2: boolean;
  readonly requireAttestation: boolean;
  readonly bindingCertificateLifetimeSeconds: number;
  readonly cuId: Readonly<Record<string, string>>;
  readonly location: string;
  readonly vmId: string;
}

const NEWEST_COMPUTE_VERSIONS = ["2023-07-01", "2021-12-13", "2021-02-01"];

const reply = (status: number, body: Record<string, unknown>): Reply => ({
  status,
  headers: { server: IMDS_SERVER_HEADER },
  body,
});

/** An IMDS error, recorded in the journal. */
function imdsError(call: IncomingCall, status: number, error: string, description: string): Reply {
  call.journal.error = error;
  return reply(status, { error, error_description: description });
}

/** The reply of a scripted `status` fault on an IMDS route. */
export function imdsFaultReply(fault: FaultSpec & { status: number }, call: IncomingCall): Reply {
  const error = fault.error ?? (fault.status >= 500 ? "server_error" : fault.status === 429 ? "too_many_requests" : "invalid_request");
  return imdsError(call, fault.status, error, `Scripted emulator fault: HTTP ${fault.status}.`);
}

/** Routes of the IMDS host. */
export function imdsRoutes(context: ImdsContext): (method: string, path: string) => RouteMatch {
  const guarded =
    (method: string, handler: (call: IncomingCall) => Promise<Reply>) =>
    async (call: IncomingCall): Promise<Reply> => {
      if (call.method !== method) return imdsError(call, 405, "method_not_allowed", `Use ${method} for this path.`);
      if (String(call.headers["metadata"] ?? "").toLowerCase() !== "true") {
        return imdsError(call, 400, "invalid_request", "Required metadata header not specified");
      }
      return handler(call);
    };
  const absent = async (call: IncomingCall): Promise<Reply> => {
    call.journal.error = "not_found";
    return { status: 404, headers: { server: IMDS_SERVER_HEADER, "content-type": "text/plain" }, body: "Not Found" };
  };
  return (_method, path) => {
    switch (path.replace(/\/+$/, "")) {
      case "/metadata/identity/oauth2/token":
        return { route: "imds.token", handle: guarded("GET", (call) => managedIdentityToken(call, context)) };
      case "/metadata/identity/getplatformmetadata":
        return {
          route: "imds.platformMetadata",
          handle: context.v2 ? guarded("GET", (call) => platformMetadata(call, context)) : absent,
        };
      case "/metadata/identity/issuecredential":
        return {
          route: "imds.issueCredential",
          handle: context.v2 ? guarded("POST", (call) => issueCredential(call, context)) : absent,
        };
      case "/metadata/instance/compute":
        return { route: "imds.compute", handle: guarded("GET", (call) => compute(call, context)) };
      default:
        return { route: undefined, handle: absent };
    }
  };
}

type Selection = { readonly identity: Principal } | { readonly reply: Reply };

/** The managed identity a request selects (`client_id`, `object_id`, `msi_res_id`/`mi_res_id`, or the default one). */
function selectIdentity(call: IncomingCall, context: ImdsContext): Selection {
  const selectors = (["client_id", "object_id", "msi_res_id", "mi_res_id"] as const)
    .map((name) => [name, call.query.get(name)] as const)
    .filter((entry): entry is readonly [(typeof entry)[0], string] => entry[1] !== null && entry[1] !== "");
  const identities = context.directory.managedIdentities;
  if (selectors.length > 1) {
    return {
      reply: imdsError(call, 400, "invalid_request", "Only one of client_id, object_id and msi_res_id may be specified."),
    };
  }
  const selector = selectors[0];
  if (selector !== undefined) {
    const [name, value] = selector;
    const wanted = value.toLowerCase();
    const identity = identities.find((candidate) =>
      name === "client_id"
        ? candidate.clientId.toLowerCase() === wanted
        : name === "object_id"
          ? candidate.objectId.toLowerCase() === wanted
          : candidate.resourceId?.toLowerCase() === wanted,
    );
    return identity === undefined ? { reply: imdsError(call, 400, "invalid_request", "Identity not found") } : { identity };
  }
  const system = identities.find((candidate) => candidate.identityKind === "system");
  if (system !== undefined) return { identity: system };
  const [only, ...others] = identities;
  if (only === undefined) return { reply: imdsError(call, 400, "invalid_request", "Identity not found") };
  if (others.length > 0) {
    return {
      reply: imdsError(
        call,
        400,
        "invalid_request",
        "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
      ),
    };
  }
  return { identity: only };
}

async function managedIdentityToken(call: IncomingCall, context: ImdsContext): Promise<Reply> {
  const apiVersion = call.query.get("api-version");
  if (apiVersion === null) return imdsError(call, 400, "invalid_request", "Required query variable 'api-version' is missing");
  if (!/^\d{4}-\d{2}-\d{2}$/.test(apiVersion) || apiVersion < "2018-02-01") {
    return imdsError(call, 400, "invalid_request", `Invalid api-version '${apiVersion}'.`);
  }
  const resource = call.query.get("resource");
  if (resource === null || resource === "") {
    return imdsError(call, 400, "invalid_request", "Required query variable 'resource' is missing");
  }
  const selection = selectIdentity(call, context);
  if ("reply" in selection) return selection.reply;
  const identity = selection.identity;
  if (!context.directory.resourceExists(resource)) {
    const error = entraErrors.resourceNotFound(resource, identity.homeTenantId);
    call.journal.error = error.error;
    call.journal.errorCode = error.code;
    return reply(400, entraErrorBody(error, undefined, new Date(context.clock()), context.urls.authorityHost));
  }
  const lifetime = identity.tokenLifetimeSeconds ?? context.tokenLifetimeSeconds;
  const issued = await context.tokens.issueAccessToken({
    tenantId: identity.homeTenantId,
    resource,
    clientId: identity.clientId,
    objectId: identity.objectId,
    lifetimeSeconds: lifetime,
    clientAuthenticationMethod: "2",
    ...(identity.resourceId === undefined ? {} : { managedIdentityResourceId: identity.resourceId }),
  });
  call.journal.clientId = identity.clientId;
  call.journal.tokenType = "Bearer";
  return reply(200, {
    access_token: issued.token,
    client_id: identity.clientId,
    expires_in: String(lifetime),
    expires_on: String(issued.expiresOn),
    ext_expires_in: String(lifetime),
    not_before: String(issued.notBefore),
    resource,
    token_type: "Bearer",
  });
}

function checkCredentialApiVersion(call: IncomingCall): Reply | undefined {
  const version = call.query.get("cred-api-version");
  if (version === null) return imdsError(call, 400, "invalid_request", "Required query variable 'cred-api-version' is missing");
  if (version !== "2.0") return imdsError(call, 400, "invalid_request", `Unsupported cred-api-version '${version}'; use 2.0.`);
  return undefined;
}

async function platformMetadata(call: IncomingCall, context: ImdsContext): Promise<Reply> {
  const versionError = checkCredentialApiVersion(call);
  if (versionError !== undefined) return versionError;
  const selection = selectIdentity(call, context);
  if ("reply" in selection) return selection.reply;
  call.journal.clientId = selection.identity.clientId;
  return reply(200, {
    cuId: { ...context.cuId },
    clientId: selection.identity.clientId,
    tenantId: selection.identity.homeTenantId,
    attestationEndpoint: "https://attestation.emulator.invalid",
  });
}

async function issueCredential(call: IncomingCall, context: ImdsContext): Promise<Reply> {
  const versionError = checkCredentialApiVersion(call);
  if (versionError !== undefined) return versionError;
  let body: unknown;
  try {
    body = JSON.parse(call.body.toString("utf8"));
  } catch {
    return imdsError(call, 400, "invalid_request", "The request body must be JSON: {\"csr\":\"<base64 DER>\",\"attestation_token\":\"…\"}.");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return imdsError(call, 400, "invalid_request", "The request body must be a JSON object.");
  }
  const { csr, attestation_token: attestationToken } = body as { csr?: unknown; attestation_token?: unknown };
  call.journal.form = {
    ...(typeof csr === "string" ? { csr: `sha256:${createHash("sha256").update(csr).digest("base64url")}` } : {}),
    ...(typeof attestationToken === "string" ? redactFields([["attestation_token", attestationToken]]) : {}),
  };
  if (typeof csr !== "string" || csr === "") {
    return imdsError(call, 400, "invalid_request", "CSR is missing / empty in the issue credential request");
  }
  if (context.requireAttestation && (typeof attestationToken !== "string" || attestationToken === "")) {
    return imdsError(call, 400, "invalid_request", "Attestation Token is missing / empty in the issue credential request");
  }
  const selection = selectIdentity(call, context);
  if ("reply" in selection) return selection.reply;
  const identity = selection.identity;
  let spki: Uint8Array<ArrayBuffer>;
  try {
    spki = await validateBindingCsr(csr, { clientId: identity.clientId, tenantId: identity.homeTenantId, cuId: context.cuId });
  } catch (error) {
    if (error instanceof CsrRejectedError) return imdsError(call, 400, "invalid_request", error.message);
    throw error;
  }
  const now = context.clock();
  const certificate = await context.managedIdentityCa.issueForPublicKey(spki, {
    subject: `DC=${identity.homeTenantId}, CN=${identity.clientId}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + context.bindingCertificateLifetimeSeconds * 1000),
  });
  call.journal.clientId = identity.clientId;
  return reply(200, {
    client_id: identity.clientId,
    tenant_id: identity.homeTenantId,
    certificate: certificate.toString("base64"),
    identity_type: identity.identityKind === "system" ? "SystemAssigned" : "UserAssigned",
    mtls_authentication_endpoint: context.urls.mtlsAuthorityHost,
  });
}

async function compute(call: IncomingCall, context: ImdsContext): Promise<Reply> {
  const apiVersion = call.query.get("api-version");
  if (apiVersion === null) {
    call.journal.error = "bad_request";
    return reply(400, {
      error: "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds",
      "newest-versions": NEWEST_COMPUTE_VERSIONS,
    });
  }
  return reply(200, {
    azEnvironment: "AzurePublicCloud",
    location: context.location,
    name: "emulator-vm",
    osType: "Linux",
    resourceGroupName: "emulator",
    resourceId:
      "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/Microsoft.Compute/virtualMachines/emulator-vm",
    securityProfile: { secureBootEnabled: "true", virtualTpmEnabled: "true", securityType: "TrustedLaunch" },
    subscriptionId: "00000000-0000-0000-0000-000000000000",
    vmId: context.vmId,
    vmSize: "Standard_D2s_v5",
  });
}
