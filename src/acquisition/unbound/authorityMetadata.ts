import { tenantAuthorityFor, tokenEndpointFor } from "../../transport/endpoints.ts";

/**
 * The discovery documents msal-node would otherwise fetch. Handing them over means msal-node makes
 * no instance-discovery or OpenID-configuration call at all — in particular none to a real Microsoft
 * host for a private cloud or the local emulator.
 */
export function authorityMetadataFor(authorityHost: string, tenantId: string): {
  knownAuthorities: string[];
  authorityMetadata: string;
  cloudDiscoveryMetadata: string;
} {
  const host = new URL(authorityHost).host;
  const base = tenantAuthorityFor(`https://${host}`, tenantId);
  const openIdConfiguration = {
    token_endpoint: tokenEndpointFor(`https://${host}`, tenantId),
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${base}/v2.0`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
  };
  const discovery = {
    tenant_discovery_endpoint: `${base}/v2.0/.well-known/openid-configuration`,
    "api-version": "1.1",
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
  return {
    knownAuthorities: [host],
    authorityMetadata: JSON.stringify(openIdConfiguration),
    cloudDiscoveryMetadata: JSON.stringify(discovery),
  };
}
