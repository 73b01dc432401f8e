/**
 * Public option and handle types of the emulator (`bound-client-credential/emulator`).
 */
import type { IssueCertificateOptions, IssuedCertificate } from "./pki.ts";

/** Which of the emulator's servers received a request. */
export type EmulatorHostKind = "login" | "mtls" | "imds" | "keyVault";

/**
 * The routes the emulator serves, by name. Faults are scripted per route and every journal entry
 * names its route (`undefined` for paths the emulator does not serve).
 *
 * - `login.token`: `POST /{tenant}/oauth2/v2.0/token` on the login host
 * - `login.instanceDiscovery`: `GET /common/discovery/instance`
 * - `login.openidConfiguration`: `GET /{tenant}/v2.0/.well-known/openid-configuration`
 * - `login.jwks`: `GET /{tenant}/discovery/v2.0/keys` (and `/common/discovery/keys`)
 * - `mtls.token`: `POST /{tenant}/oauth2/v2.0/token` on the mutual TLS host
 * - `imds.token`: `GET /metadata/identity/oauth2/token` (IMDS v1)
 * - `imds.platformMetadata`: `GET /metadata/identity/getplatformmetadata` (IMDS v2)
 * - `imds.issueCredential`: `POST /metadata/identity/issuecredential` (IMDS v2)
 * - `imds.compute`: `GET /metadata/instance/compute`
 * - `keyVault.secret`: `GET /secrets/{name}[/{version}]`
 */
export type EmulatorRoute =
  | "login.token"
  | "login.instanceDiscovery"
  | "login.openidConfiguration"
  | "login.jwks"
  | "mtls.token"
  | "imds.token"
  | "imds.platformMetadata"
  | "imds.issueCredential"
  | "imds.compute"
  | "keyVault.secret";

/** Options of {@link startEmulator}. Every field is optional. */
export interface EmulatorOptions {
  /** The default tenant; a random GUID when omitted. */
  tenantId?: string;
  /**
   * Ports to listen on, on 127.0.0.1. 0 (the default) picks a free port. The CLI's `--port N`
   * uses N, N+1, N+2 and N+3.
   */
  ports?: { login?: number; mtls?: number; imds?: number; keyVault?: number };
  /** Lifetime of the access tokens of the token endpoints, in seconds. Default 3599. */
  tokenLifetimeSeconds?: number;
  /** Lifetime of IMDS v1 managed identity tokens, in seconds. Default 86399, as IMDS. */
  managedIdentityTokenLifetimeSeconds?: number;
  /**
   * Whether token responses carry `refresh_in` (half the lifetime). Default true; Entra sends it
   * for long-lived tokens, and tests of proactive refresh want it on short ones too.
   */
  sendRefreshIn?: boolean;
  /**
   * Refuse a client assertion whose `jti` was presented before (AADSTS700027). Default true. Set it
   * to false to accept what msal-node does — it signs one assertion and re-sends it for up to ten
   * minutes — as Entra ID accepts it in practice.
   */
  rejectReplayedAssertions?: boolean;
  /** Clock skew allowed on client assertion times, in seconds. Default 300, as Entra. */
  clockSkewSeconds?: number;
  /** The emulator's clock, in milliseconds since the epoch; default `Date.now`. Lets tests expire tokens without waiting. */
  clock?: () => number;
  /**
   * Resources (scopes without `/.default`) that exist besides the built-in ones: Azure Storage,
   * Key Vault, Resource Manager, Microsoft Graph, `api://AzureADTokenExchange`, and every
   * registered app as `api://{clientId}` and `{clientId}`. Others answer AADSTS500011.
   */
  resources?: string[];
  /** Accept any resource instead of answering AADSTS500011. Default false. */
  acceptAnyResource?: boolean;
  /**
   * Root certificates (PEM) trusted for subject name and issuer authentication, besides the
   * emulator's own CA.
   */
  trustedRootCertificates?: string[];
  /** IMDS behaviour. */
  imds?: EmulatorImdsOptions;
  /** `location` of `/metadata/instance/compute`. Default `westus2`. */
  location?: string;
  /**
   * Host names its server certificate is valid for besides `localhost` and `127.0.0.1`, such as
   * `login.emulator.test`, for clients that reach the emulator under another name — through a
   * forward proxy that maps the name to this machine.
   */
  hostNames?: string[];
}

/** IMDS behaviour of the emulator. */
export interface EmulatorImdsOptions {
  /** Serve IMDS v2 (`getplatformmetadata`, `issuecredential`). Default true; false answers 404 as a v1-only host. */
  v2?: boolean;
  /** Answer 400 to `issuecredential` without an `attestation_token`. Default false. */
  requireAttestation?: boolean;
  /** Validity of the binding certificates that `issuecredential` issues, in seconds. Default 7 days. */
  bindingCertificateLifetimeSeconds?: number;
  /** `cuId.vmId` of `getplatformmetadata`; a random GUID by default. */
  vmId?: string;
  /** `cuId.vmssId`, omitted by default. */
  vmssId?: string;
}

/**
 * A certificate registered on an app. A PEM string registers that certificate (matched by its
 * thumbprint). `{ subjectName }` trusts any certificate with that subject that chains to a trusted
 * root (subject name and issuer authentication, "SN/I"), sent in the TLS handshake or as `x5c`.
 */
export type AppCertificate =
  | string
  | {
      /** The certificate, PEM. */
      readonly certificatePem: string;
      /** When the registration stops being accepted; default the certificate's `notAfter`. */
      readonly expiresOn?: Date;
    }
  | {
      /** Distinguished name to match, e.g. `CN=app.contoso.com`; compared attribute by attribute, case-insensitively. */
      readonly subjectName: string;
      /** Issuer distinguished name to match as well; any trusted issuer when omitted. */
      readonly issuerName?: string;
    };

/** A client secret registered on an app. A string never expires. */
export type AppSecret = string | { readonly value: string; readonly expiresOn?: Date };

/**
 * A federated identity credential: the app accepts as client assertion a token whose `iss`,
 * `sub` and one `aud` match. For a managed identity of this emulator, use
 * {@link Emulator.federatedCredentialFor}: issuer `${authorityHost}/${tenantId}/v2.0`, subject the
 * identity's object id, audience `api://AzureADTokenExchange`.
 */
export interface FederatedCredential {
  /** The `iss` a presented assertion must carry, exactly. */
  readonly issuer: string;
  /** The `sub` a presented assertion must carry, exactly. */
  readonly subject: string;
  /** Default `["api://AzureADTokenExchange"]`. */
  readonly audiences?: readonly string[];
  /** A label for the journal and error messages. */
  readonly name?: string;
}

/** Options of {@link Emulator.registerApp}. */
export interface RegisterAppOptions {
  /** The application (client) id; a random GUID when omitted. */
  clientId?: string;
  /** Home tenant; the emulator's default tenant when omitted. */
  tenantId?: string;
  /** Other tenants in which the app may get tokens (a multi-tenant app with consent there). */
  additionalTenantIds?: string[];
  /** Certificates and subject name trusts the app authenticates with. */
  certificates?: AppCertificate[];
  /** Client secrets, optionally with an expiry. */
  secrets?: AppSecret[];
  /** Tokens of other issuers the app accepts as client assertions. */
  federatedCredentials?: FederatedCredential[];
  /** Whether the app may authenticate on the mutual TLS host. Default true; false answers 412 AADSTS51000. */
  mtlsClientAuth?: boolean;
  /** Lifetime of this app's access tokens, in seconds; the emulator default when omitted. */
  tokenLifetimeSeconds?: number;
}

/** An app registered in the emulator, with the calls that change its credentials (rotation tests). */
export interface RegisteredApp {
  /** The application (client) id. */
  readonly clientId: string;
  /** Object id of the app's service principal: `oid` and `sub` of its tokens. */
  readonly objectId: string;
  /** The home tenant. */
  readonly tenantId: string;
  /** Registers one more certificate or subject name trust (certificate rotation). */
  addCertificate(certificate: AppCertificate): void;
  /**
   * Removes a certificate registered by PEM.
   *
   * @throws Error when no such certificate is registered
   */
  removeCertificate(thumbprintSha256: string): void;
  /** Registers one more client secret. */
  addSecret(secret: AppSecret): void;
  /**
   * Removes a client secret.
   *
   * @throws Error when the secret is not registered
   */
  removeSecret(value: string): void;
  /** Trusts one more federated credential. */
  addFederatedCredential(credential: FederatedCredential): void;
  /** Allows or refuses (412 AADSTS51000) authentication on the mutual TLS host. */
  setMtlsClientAuth(enabled: boolean): void;
}

/** Options of {@link Emulator.registerManagedIdentity}. */
export interface RegisterManagedIdentityOptions {
  /** System-assigned (at most one per emulated VM) or user-assigned. */
  kind: "system" | "user";
  /** The client id; a random GUID when omitted. */
  clientId?: string;
  /** The object (principal) id: `oid`/`sub` of its tokens and the subject of its federated credentials; random when omitted. */
  objectId?: string;
  /** The ARM resource id (`msi_res_id`/`mi_res_id` selector, `xms_mirid` claim); made up when omitted. */
  resourceId?: string;
  /** The emulator's default tenant when omitted. */
  tenantId?: string;
  /** Lifetime of this identity's tokens, in seconds; the emulator default when omitted. */
  tokenLifetimeSeconds?: number;
}

/** A managed identity of the emulated VM. */
export interface RegisteredManagedIdentity {
  /** System-assigned or user-assigned. */
  readonly kind: "system" | "user";
  /** The client id (`client_id` selector, `appid` of its tokens). */
  readonly clientId: string;
  /** The object id (`object_id` selector, `oid`/`sub` of its tokens). */
  readonly objectId: string;
  /** The ARM resource id. */
  readonly resourceId: string;
  /** Its tenant. */
  readonly tenantId: string;
}

/** One request as the emulator saw it. Secrets, assertions and tokens appear only as {@link journalHash}. */
export interface JournalEntry {
  /** Arrival order, from 1. */
  readonly sequence: number;
  /** Arrival time, by the emulator's clock. */
  readonly time: Date;
  /** The server that received the request. */
  readonly host: EmulatorHostKind;
  /** Identifies the TCP connection: equal ids mean a reused connection. */
  readonly connectionId: number;
  /** The route served, or undefined for a path the emulator does not serve. */
  readonly route: EmulatorRoute | undefined;
  /** The HTTP method. */
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  /** The query parameters. */
  readonly query: Readonly<Record<string, string>>;
  /** Request headers, lower-case names; `authorization` redacted. */
  readonly headers: Readonly<Record<string, string>>;
  /** Form fields (token endpoints) or JSON fields (IMDS `issuecredential`), redacted. */
  readonly form: Readonly<Record<string, string>>;
  /** Uppercase hex SHA-256 of the TLS client certificate, when one was presented. */
  readonly clientCertificateThumbprintSha256: string | undefined;
  /** Whether the TLS session was resumed. */
  readonly tlsSessionReused: boolean | undefined;
  /** The HTTP status answered; undefined when the connection was reset or the request is in flight. */
  readonly status: number | undefined;
  /** The OAuth or IMDS `error` answered. */
  readonly error: string | undefined;
  /** The AADSTS code answered. */
  readonly errorCode: number | undefined;
  /** The client that obtained a token (app or managed identity client id). */
  readonly clientId: string | undefined;
  /** `Bearer` or `mtls_pop` for tokens issued. */
  readonly tokenType: string | undefined;
  /** The scripted fault applied, if any. */
  readonly fault: FaultSpec | undefined;
}

/** Every request seen by the emulator, oldest first. */
export interface Journal extends Iterable<JournalEntry> {
  /** How many entries there are. */
  readonly length: number;
  /** A copy of the entries. */
  readonly entries: readonly JournalEntry[];
  /** The entry at an index; negative indexes count from the end. */
  at(index: number): JournalEntry | undefined;
  /** The entries that match. */
  filter(predicate: (entry: JournalEntry) => boolean): JournalEntry[];
  /** The entries of one route. */
  ofRoute(route: EmulatorRoute): JournalEntry[];
  /** The newest entry of a route, or overall. */
  last(route?: EmulatorRoute): JournalEntry | undefined;
  /** Forgets every entry. */
  clear(): void;
}

/**
 * A scripted fault: the next `count` requests of `route` misbehave. Give `status` and/or `body`,
 * or `reset`, or `tls`, optionally with `delayMs`; `delayMs` alone delays the real answer.
 */
export interface FaultSpec {
  /** The route whose requests misbehave. */
  readonly route: EmulatorRoute;
  /** How many requests; default 1. */
  readonly count?: number;
  /**
   * Answer this status with an error body shaped as the host answers (Entra, IMDS or Key Vault),
   * or with `body` when that is given too.
   */
  readonly status?: number;
  /** Adds a `Retry-After` header, in seconds. */
  readonly retryAfter?: number;
  /** Wait this long before answering (or resetting). */
  readonly delayMs?: number;
  /** Reset the connection instead of answering. */
  readonly reset?: boolean;
  /** Answer a broken body (status 200 unless `status` is given): truncated JSON, an HTML page, or a body of {@link FaultSpec.oversizeBytes}. */
  readonly body?: "malformed-json" | "html" | "oversize";
  /** Size of an `oversize` body; default 4 MiB. */
  readonly oversizeBytes?: number;
  /**
   * `reject`: drop the next `count` connections to the route's server before the TLS handshake
   * completes (a TLS failure, for HTTPS hosts only).
   */
  readonly tls?: "reject";
  /** The AADSTS code of the error body (token routes); a transient-error code by default. */
  readonly errorCode?: number;
  /** The `error` of the error body. */
  readonly error?: string;
}

/** Scripted faults. */
export interface Faults {
  /**
   * Queues a fault; faults of one route apply in the order added.
   *
   * @throws TypeError for an unknown route or a contradictory fault
   */
  add(fault: FaultSpec): void;
  /** How many faulty requests remain, for a route or in total. */
  pending(route?: EmulatorRoute): number;
  /** Drops every queued fault. */
  clear(): void;
}

/** Counters for connection-reuse assertions. */
export interface EmulatorStats {
  /** Completed TLS handshakes (new or resumed) per HTTPS host. */
  readonly handshakes: { readonly login: number; readonly mtls: number; readonly keyVault: number };
  /** TCP connections accepted per host. */
  readonly connections: { readonly login: number; readonly mtls: number; readonly imds: number; readonly keyVault: number };
}

/** Options of {@link EmulatorKeyVault.setSecret}. */
export interface KeyVaultSecretOptions {
  /** The secret's content type, e.g. `application/x-pkcs12`. */
  contentType?: string;
  /** The secret's expiry, reported in `attributes.exp`. */
  expiresOn?: Date;
  /** A version id; random when omitted. */
  version?: string;
}

/** The emulator's Key Vault secrets, set through its API. */
export interface EmulatorKeyVault {
  /** Adds a new version of a secret; returns the version. */
  setSecret(name: string, value: string, options?: KeyVaultSecretOptions): string;
  /**
   * Stores a certificate as Key Vault stores one in its backing secret: base64 PKCS#12 without
   * password and content type `application/x-pkcs12`, or PEM (key and certificate) with
   * `application/x-pem-file`. Returns the version.
   */
  setCertificate(name: string, certificate: IssuedCertificate, options?: { format?: "pfx" | "pem"; version?: string }): string;
  /** Deletes every version of a secret. */
  deleteSecret(name: string): void;
}

/** Options of {@link Emulator.createFederatedAssertion}. */
export interface FederatedAssertionOptions {
  /** The `sub` claim. */
  subject: string;
  /** Default `${authorityHost}/${tenantId}/v2.0`. */
  issuer?: string;
  /** Default `api://AzureADTokenExchange`. */
  audience?: string;
  /** `exp` minus `nbf`, in seconds; default 3600. */
  lifetimeSeconds?: number;
  /** The `nbf`/`iat` claims; default now. */
  notBefore?: Date;
}

/** What {@link Emulator.credentialOptions} returns: the hosts, tenant, client and CA of a credential. */
export interface EmulatorCredentialOptions {
  /** The app's tenant. */
  readonly tenantId: string;
  /** The app's client ID. */
  readonly clientId: string;
  /** The emulator's login host. */
  readonly authorityHost: string;
  /** The emulator's mutual TLS host. */
  readonly mtlsAuthorityHost: string;
  /** The emulator's IMDS. */
  readonly imdsEndpoint: string;
  /** The emulator's CA, to trust explicitly. */
  readonly tls: { readonly ca: string };
}

/** A running emulator; see {@link startEmulator}. */
export interface Emulator {
  /** `https://127.0.0.1:{port}`: the login host. */
  readonly authorityHost: string;
  /** `https://127.0.0.1:{port}`: the mutual TLS token host (`mtlsauth`). */
  readonly mtlsAuthorityHost: string;
  /** `http://127.0.0.1:{port}`: IMDS (what `AZURE_POD_IDENTITY_AUTHORITY_HOST` points at). */
  readonly imdsEndpoint: string;
  /** `https://127.0.0.1:{port}`: the Key Vault. */
  readonly keyVaultUrl: string;
  /** The CA of every HTTPS server of the emulator: pass it as `tls.ca` to trust them. */
  readonly caCertificatePem: string;
  /** The CA that issues IMDS v2 binding certificates. */
  readonly managedIdentityCaCertificatePem: string;
  /** The default tenant. */
  readonly tenantId: string;
  /** Every request received, for assertions. */
  readonly journal: Journal;
  /** Scripted faults per route. */
  readonly faults: Faults;
  /** TLS handshake and connection counters. */
  readonly stats: EmulatorStats;
  /** The Key Vault's secrets. */
  readonly keyVault: EmulatorKeyVault;
  /**
   * The options that point a `BoundClientCredential` at this emulator for `app`: spread them and
   * add `clientCredentials`. The emulator's CA is trusted through `tls.ca`; verification stays on.
   *
   * @example
   * ```ts
   * new BoundClientCredential({ ...emulator.credentialOptions(app), clientCredentials: [entry] });
   * ```
   */
  credentialOptions(app: Pick<RegisteredApp, "clientId" | "tenantId">): EmulatorCredentialOptions;
  /** `{authorityHost}/{tenant}/oauth2/v2.0/token`. */
  tokenEndpoint(tenantId?: string): string;
  /** `{mtlsAuthorityHost}/{tenant}/oauth2/v2.0/token`. */
  mtlsTokenEndpoint(tenantId?: string): string;
  /** The OpenID configuration of a tenant, as served (msal-node `authorityMetadata`). */
  openIdConfiguration(tenantId?: string): Record<string, unknown>;
  /** The instance discovery answer, as served (msal-node `cloudDiscoveryMetadata`). */
  instanceDiscovery(tenantId?: string): Record<string, unknown>;
  /** Registers an app; see {@link RegisterAppOptions}. */
  registerApp(options?: RegisterAppOptions): RegisteredApp;
  /** Registers a managed identity of the emulated VM. */
  registerManagedIdentity(options: RegisterManagedIdentityOptions): RegisteredManagedIdentity;
  /** The federated credential that trusts a managed identity's tokens for `audience` (default `api://AzureADTokenExchange`). */
  federatedCredentialFor(identity: RegisteredManagedIdentity, audience?: string): FederatedCredential;
  /** Issues a certificate from the emulator's CA (or self-signed), including expired and not-yet-valid ones. */
  issueCertificate(options?: IssueCertificateOptions): Promise<IssuedCertificate>;
  /**
   * Signs a JWT with the emulator's token key, for use as a federated client assertion (for
   * example the content of `AZURE_FEDERATED_TOKEN_FILE`).
   */
  createFederatedAssertion(options: FederatedAssertionOptions): Promise<string>;
  /**
   * Verifies an access token issued by this emulator (signature, times) and returns its claims.
   *
   * @throws Error when the token is not valid
   */
  verifyAccessToken(token: string): Promise<Record<string, unknown>>;
  /** Stops every server, destroys every connection and clears every timer. Idempotent. */
  close(): Promise<void>;
}
