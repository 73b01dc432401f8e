/**
 * The On-Behalf-Of grant of the emulated token endpoints and the user tokens that tests present
 * to it. On the wire (Microsoft identity platform, "OAuth 2.0 On-Behalf-Of flow"; RFC 7523 §2.1):
 * `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `requested_token_use=on_behalf_of`,
 * `assertion` (the user's access token for the middle-tier app), `scope`, and the middle-tier
 * app's own client authentication, checked exactly as for client credentials.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { EntraError, entraErrors } from "./entraErrors.ts";
import type { TokenService } from "./tokenService.ts";
import type { IssueUserTokenOptions } from "./types.ts";

/** The grant type of On-Behalf-Of (RFC 7523 §2.1). */
export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** The OpenID Connect scopes msal adds to every user-flow request; they name no resource. */
const OIDC_SCOPES = new Set(["openid", "profile", "offline_access", "email"]);

/** The user a valid assertion is about: what the downstream token carries. */
export interface AssertedUser {
  readonly objectId: string;
  readonly subject: string;
  readonly tenantId: string;
  readonly name: string | undefined;
  readonly preferredUsername: string | undefined;
}

/** The downstream resource and delegated permissions of a user-flow `scope`. */
export interface DelegatedScopes {
  readonly resource: string;
  /** The `scp` claim's values. */
  readonly permissions: readonly string[];
  /** The `scope` of the answer, as Entra echoes granted scopes. */
  readonly granted: string;
}

/**
 * Signs a user's access token for `options.app`, as Entra issues one to a client app that signed
 * the user in and asked for the middle-tier API's scopes: a v2 token, `aud` the API's client ID.
 */
export async function issueUserToken(
  tokens: TokenService,
  options: IssueUserTokenOptions,
  defaults: { readonly tenantId: string; readonly clock: () => number },
): Promise<string> {
  if (typeof options?.app?.clientId !== "string" || options.app.clientId === "") {
    throw new TypeError("issueUserToken: app must be a registered app (the middle-tier API the user's token is for).");
  }
  const lifetime = options.lifetimeSeconds ?? 3600;
  if (!Number.isInteger(lifetime) || lifetime < 1) {
    throw new RangeError(`issueUserToken: lifetimeSeconds must be a positive integer, got ${String(options.lifetimeSeconds)}.`);
  }
  const scopes = options.scopes ?? ["access_as_user"];
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.some((scope) => typeof scope !== "string" || /\s/.test(scope) || scope === "")) {
    throw new TypeError("issueUserToken: scopes must be a non-empty array of permission names such as 'access_as_user'.");
  }
  const tenantId = options.tenantId ?? options.app.tenantId ?? defaults.tenantId;
  const user = options.user ?? {};
  const objectId = user.oid ?? randomUUID();
  const notBefore = Math.floor((options.notBefore?.getTime() ?? defaults.clock()) / 1000);
  const claims: Record<string, unknown> = {
    aud: options.audience ?? options.app.clientId,
    iss: tokens.v2Issuer(tenantId),
    iat: notBefore,
    nbf: notBefore,
    exp: notBefore + lifetime,
    aio: randomBytes(24).toString("base64url"),
    azp: options.clientAppId ?? "00000000-0000-0000-0000-00000000c11e",
    azpacr: "0",
    oid: objectId,
    sub: user.sub ?? objectId,
    tid: tenantId,
    scp: scopes.join(" "),
    uti: randomBytes(16).toString("base64url"),
    ver: "2.0",
    ...(user.name === undefined ? {} : { name: user.name }),
    ...(user.preferredUsername === undefined ? {} : { preferred_username: user.preferredUsername }),
  };
  return tokens.signAssertion(claims);
}

function numeric(payload: Record<string, unknown>, name: string): number | undefined {
  const value = payload[name];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/**
 * Checks a user assertion in Entra's order: shape, signature, issuer and tenant, audience (the
 * presenting app), times, and that it is a user's delegated token. Every failure is
 * `invalid_grant`: AADSTS500133 for times, AADSTS50013 otherwise.
 */
export async function verifyUserAssertion(
  assertion: string,
  presentingClientId: string,
  tenant: string,
  context: { readonly tokens: TokenService; readonly clock: () => number; readonly skewSeconds: number },
): Promise<AssertedUser> {
  if (assertion.split(".").length !== 3) throw entraErrors.invalidUserAssertion("The assertion is not a JWT.");
  let payload: Record<string, unknown>;
  try {
    payload = (await context.tokens.verify(assertion)).payload;
  } catch {
    throw entraErrors.invalidUserAssertion("The key was not found.");
  }
  const tid = payload["tid"];
  if (typeof tid !== "string" || tid.toLowerCase() !== tenant.toLowerCase()) {
    throw entraErrors.invalidUserAssertion(
      `The assertion was issued in tenant '${String(tid)}'; On-Behalf-Of requests go to the user's tenant, here '${tenant}'.`,
    );
  }
  const issuer = payload["iss"];
  if (issuer !== context.tokens.v2Issuer(tid) && issuer !== `https://sts.windows.net/${tid}/`) {
    throw entraErrors.invalidUserAssertion(`The issuer '${String(issuer)}' is not this tenant's.`);
  }
  const aud = payload["aud"];
  const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === "string") : [];
  const accepted = [presentingClientId.toLowerCase(), `api://${presentingClientId.toLowerCase()}`];
  if (!audiences.some((value) => accepted.includes(value.toLowerCase()))) {
    throw entraErrors.userAssertionAudienceMismatch(audiences.join(", "), presentingClientId);
  }
  const nowMs = context.clock();
  const now = nowMs / 1000;
  const exp = numeric(payload, "exp");
  const nbf = numeric(payload, "nbf");
  const at = (seconds: number | undefined) => (seconds === undefined ? "none" : new Date(seconds * 1000).toISOString());
  if (exp === undefined || now > exp + context.skewSeconds || (nbf !== undefined && now < nbf - context.skewSeconds)) {
    throw entraErrors.userAssertionExpired(new Date(nowMs), `assertion valid from ${at(nbf)}, expiry time of assertion ${at(exp)}`);
  }
  const scp = payload["scp"];
  const oid = payload["oid"];
  if (typeof scp !== "string" || scp === "" || typeof oid !== "string") {
    throw entraErrors.invalidUserAssertion("The assertion is an app-only token; On-Behalf-Of needs a user's delegated token (with scp).");
  }
  const sub = payload["sub"];
  const name = payload["name"];
  const preferredUsername = payload["preferred_username"];
  return {
    objectId: oid,
    subject: typeof sub === "string" ? sub : oid,
    tenantId: tid,
    name: typeof name === "string" ? name : undefined,
    preferredUsername: typeof preferredUsername === "string" ? preferredUsername : undefined,
  };
}

/**
 * The resource and permissions of a user-flow `scope`: the OpenID Connect scopes aside, either
 * `{resource}/.default` or permissions of one resource (`https://storage.azure.com/user_impersonation`).
 */
export function delegatedScopes(scope: string): DelegatedScopes {
  const requested = scope.split(" ").filter((value) => value.length > 0 && !OIDC_SCOPES.has(value.toLowerCase()));
  if (requested.length === 0) throw entraErrors.invalidScope(scope);
  const split = requested.map((value) => {
    const slash = value.lastIndexOf("/");
    if (slash <= 0 || slash === value.length - 1) throw entraErrors.invalidScope(value);
    return { resource: value.slice(0, slash), permission: value.slice(slash + 1) };
  });
  const resource = split[0]?.resource ?? "";
  if (split.some((entry) => entry.resource.toLowerCase() !== resource.toLowerCase())) {
    throw new EntraError(400, "invalid_scope", 70011, `The scopes ${requested.join(" ")} name more than one resource; request one resource at a time.`);
  }
  const isDefault = split.some((entry) => entry.permission === ".default");
  if (isDefault && split.length > 1) throw entraErrors.invalidScope(requested.join(" "));
  const permissions = isDefault ? ["user_impersonation"] : split.map((entry) => entry.permission);
  return {
    resource,
    permissions,
    granted: permissions.map((permission) => `${resource}/${permission}`).join(" "),
  };
}
