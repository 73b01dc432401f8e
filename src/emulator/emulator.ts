/**
 * `startEmulator`: wires the directory, the token key and the four servers (login, mTLS, IMDS,
 * Key Vault) together.
 */
import { randomUUID, X509Certificate } from "node:crypto";
import { TOKEN_EXCHANGE_AUDIENCE } from "./constants.ts";
import { LocalCertificateAuthority } from "./certificateAuthority.ts";
import { type AuthenticationContext, ReplayCache } from "./clientAuthentication.ts";
import { Directory } from "./directory.ts";
import {
  type EntraContext,
  entraFaultReply,
  instanceDiscovery,
  loginRoutes,
  mtlsRoutes,
  openIdConfiguration,
} from "./entraRoutes.ts";
import { FaultQueue } from "./faults.ts";
import { issueUserToken } from "./onBehalfOf.ts";
import { EmulatorHost, type EmulatorHostOptions, type RouteMatch } from "./httpHost.ts";
import { imdsFaultReply, imdsRoutes } from "./imdsRoutes.ts";
import { RequestJournal } from "./journal.ts";
import { keyVaultFaultReply, keyVaultRoutes, KeyVaultStore } from "./keyVaultRoutes.ts";
import type { IssueCertificateOptions, IssuedCertificate } from "./pki.ts";
import { TokenService } from "./tokenService.ts";
import type {
  Emulator,
  EmulatorOptions,
  EmulatorRoute,
  EmulatorStats,
  FederatedAssertionOptions,
  FederatedCredential,
  IssueUserTokenOptions,
  RegisterAppOptions,
  RegisteredApp,
  RegisteredManagedIdentity,
  RegisterManagedIdentityOptions,
} from "./types.ts";

const DEFAULT_TOKEN_LIFETIME_SECONDS = 3599;
const DEFAULT_MANAGED_IDENTITY_TOKEN_LIFETIME_SECONDS = 86_399;
const DEFAULT_BINDING_CERTIFICATE_LIFETIME_SECONDS = 7 * 86_400;

function positiveInteger(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`startEmulator: ${name} must be a positive integer number of seconds, got ${String(value)}.`);
  }
  return value;
}

function port(value: number | undefined, name: string): number {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    throw new RangeError(`startEmulator: ports.${name} must be an integer from 0 to 65535, got ${String(value)}.`);
  }
  return value;
}

function parseRoots(pems: readonly string[] | undefined): X509Certificate[] {
  return (pems ?? []).map((pem, index) => {
    try {
      return new X509Certificate(pem);
    } catch {
      throw new TypeError(`startEmulator: trustedRootCertificates[${index}] is not a PEM certificate.`);
    }
  });
}

/**
 * Starts the emulator: a login host, a mutual TLS host and a Key Vault over HTTPS, and IMDS over
 * HTTP, all on 127.0.0.1, with a CA generated for this run. Register apps and managed identities
 * on the result, point the client at its URLs and CA, and `close()` it at the end.
 *
 * @example
 * ```ts
 * const emulator = await startEmulator();
 * const certificate = await emulator.issueCertificate();
 * const app = emulator.registerApp({ certificates: [certificate.certificatePem] });
 * // new BoundClientCredential({ tenantId: emulator.tenantId, clientId: app.clientId,
 * //   authorityHost: emulator.authorityHost, mtlsAuthorityHost: emulator.mtlsAuthorityHost,
 * //   imdsEndpoint: emulator.imdsEndpoint, tls: { ca: emulator.caCertificatePem }, ... })
 * await emulator.close();
 * ```
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const clock = options.clock ?? Date.now;
  const tenantId = options.tenantId ?? randomUUID();
  if (typeof tenantId !== "string" || tenantId.trim() === "") {
    throw new TypeError("startEmulator: tenantId must be a non-empty string (a GUID).");
  }
  const tokenLifetimeSeconds = positiveInteger(options.tokenLifetimeSeconds, "tokenLifetimeSeconds", DEFAULT_TOKEN_LIFETIME_SECONDS);
  const managedIdentityTokenLifetimeSeconds = positiveInteger(
    options.managedIdentityTokenLifetimeSeconds,
    "managedIdentityTokenLifetimeSeconds",
    DEFAULT_MANAGED_IDENTITY_TOKEN_LIFETIME_SECONDS,
  );
  const bindingCertificateLifetimeSeconds = positiveInteger(
    options.imds?.bindingCertificateLifetimeSeconds,
    "imds.bindingCertificateLifetimeSeconds",
    DEFAULT_BINDING_CERTIFICATE_LIFETIME_SECONDS,
  );
  const clockSkewSeconds = options.clockSkewSeconds ?? 300;
  if (!Number.isFinite(clockSkewSeconds) || clockSkewSeconds < 0) {
    throw new RangeError(`startEmulator: clockSkewSeconds must be zero or more, got ${String(options.clockSkewSeconds)}.`);
  }
  const ports = {
    login: port(options.ports?.login, "login"),
    mtls: port(options.ports?.mtls, "mtls"),
    imds: port(options.ports?.imds, "imds"),
    keyVault: port(options.ports?.keyVault, "keyVault"),
  };
  const extraRoots = parseRoots(options.trustedRootCertificates);
  const extraHostNames = hostNames(options.hostNames);

  const [authority, managedIdentityAuthority] = await Promise.all([
    LocalCertificateAuthority.create("bound-client-credential emulator CA"),
    LocalCertificateAuthority.create("bound-client-credential emulator managed identity CA"),
  ]);
  const serverCertificate = await authority.issueCertificate({
    subject: "CN=localhost",
    keyType: "ec",
    dnsNames: ["localhost", ...extraHostNames],
    ipAddresses: ["127.0.0.1"],
    extendedKeyUsage: ["serverAuth"],
    notAfter: new Date(Date.now() + 365 * 86_400_000),
  });

  const journal = new RequestJournal();
  const faults = new FaultQueue();
  const directory = new Directory(tenantId, options.resources ?? [], options.acceptAnyResource ?? false);
  const keyVaultStore = new KeyVaultStore(clock);
  const urls = { authorityHost: "", mtlsAuthorityHost: "", keyVaultUrl: "", imdsEndpoint: "" };
  const routers: Partial<Record<"login" | "mtls" | "imds" | "keyVault", (method: string, path: string) => RouteMatch>> = {};
  const notReady: RouteMatch = {
    route: undefined,
    handle: async () => ({ status: 503, body: { error: "temporarily_unavailable", error_description: "The emulator is starting." } }),
  };
  let entraContext: EntraContext | undefined;

  const tlsOptions = (requestCert: boolean) => ({
    key: serverCertificate.privateKeyPem,
    cert: serverCertificate.certificatePem,
    requestCert,
  });
  const hostOptions = (
    kind: "login" | "mtls" | "imds" | "keyVault",
    routes: readonly EmulatorRoute[],
    faultReply: EmulatorHostOptions["faultReply"],
    tls: EmulatorHostOptions["tls"],
  ): EmulatorHostOptions => ({
    kind,
    routes,
    route: (method, path) => routers[kind]?.(method, path) ?? notReady,
    faultReply,
    journal,
    faults,
    clock,
    ...(tls === undefined ? {} : { tls }),
  });
  const entraFault: EmulatorHostOptions["faultReply"] = (fault, call) => {
    if (entraContext === undefined) return { status: fault.status, body: { error: "temporarily_unavailable" } };
    return entraFaultReply(fault, call, entraContext);
  };
  const hosts = {
    login: new EmulatorHost(
      hostOptions("login", ["login.token", "login.instanceDiscovery", "login.openidConfiguration", "login.jwks"], entraFault, tlsOptions(false)),
    ),
    mtls: new EmulatorHost(hostOptions("mtls", ["mtls.token"], entraFault, tlsOptions(true))),
    imds: new EmulatorHost(
      hostOptions("imds", ["imds.token", "imds.platformMetadata", "imds.issueCredential", "imds.compute"], imdsFaultReply, undefined),
    ),
    keyVault: new EmulatorHost(hostOptions("keyVault", ["keyVault.secret"], keyVaultFaultReply, tlsOptions(false))),
  };
  const closeAll = () => Promise.all(Object.values(hosts).map((host) => host.close())).then(() => undefined);

  let tokens: TokenService;
  try {
    [urls.authorityHost, urls.mtlsAuthorityHost, urls.imdsEndpoint, urls.keyVaultUrl] = await Promise.all([
      hosts.login.listen(ports.login),
      hosts.mtls.listen(ports.mtls),
      hosts.imds.listen(ports.imds),
      hosts.keyVault.listen(ports.keyVault),
    ]);
    tokens = await TokenService.create(authority, urls.authorityHost, clock);
  } catch (error) {
    await closeAll();
    throw new Error(
      `The emulator could not start: ${error instanceof Error ? error.message : String(error)}. If a port is taken, choose other ports or 0.`,
      { cause: error },
    );
  }

  const authentication: AuthenticationContext = {
    tokens,
    trustedRoots: [authority.certificate, ...extraRoots],
    managedIdentityCa: managedIdentityAuthority.certificate,
    audiences: (tenant) =>
      // The same endpoints under each extra host name, for clients that reach it by that name.
      [undefined, ...extraHostNames].flatMap((name) => {
        const as = (origin: string): string => (name === undefined ? origin : origin.replace(/\/\/[^/:]+:/, `//${name}:`));
        return [
          `${as(urls.authorityHost)}/${tenant}/oauth2/v2.0/token`,
          `${as(urls.authorityHost)}/${tenant}/oauth2/token`,
          `${as(urls.authorityHost)}/${tenant}/v2.0`,
          `${as(urls.mtlsAuthorityHost)}/${tenant}/oauth2/v2.0/token`,
        ];
      }),
    clock,
    skewSeconds: clockSkewSeconds,
  };
  entraContext = {
    directory,
    tokens,
    authentication,
    replays: options.rejectReplayedAssertions === false ? undefined : new ReplayCache(),
    urls,
    clock,
    tokenLifetimeSeconds,
    managedIdentityTokenLifetimeSeconds,
    sendRefreshIn: options.sendRefreshIn ?? true,
  };
  const vmId = options.imds?.vmId ?? randomUUID();
  const cuId: Record<string, string> = { vmId };
  if (options.imds?.vmssId !== undefined) cuId["vmssId"] = options.imds.vmssId;
  routers.login = loginRoutes(entraContext);
  routers.mtls = mtlsRoutes(entraContext);
  routers.imds = imdsRoutes({
    directory,
    tokens,
    managedIdentityCa: managedIdentityAuthority,
    urls,
    clock,
    tokenLifetimeSeconds: managedIdentityTokenLifetimeSeconds,
    v2: options.imds?.v2 ?? true,
    requireAttestation: options.imds?.requireAttestation ?? false,
    bindingCertificateLifetimeSeconds,
    cuId,
    location: options.location ?? "westus2",
    vmId,
  });
  routers.keyVault = keyVaultRoutes({ tokens, urls, tenantId, clock }, keyVaultStore);

  const context = entraContext;
  const stats: EmulatorStats = {
    get handshakes() {
      return { login: hosts.login.handshakes, mtls: hosts.mtls.handshakes, keyVault: hosts.keyVault.handshakes };
    },
    get connections() {
      return {
        login: hosts.login.connections,
        mtls: hosts.mtls.connections,
        imds: hosts.imds.connections,
        keyVault: hosts.keyVault.connections,
      };
    },
  };

  const emulator: Emulator = {
    authorityHost: urls.authorityHost,
    mtlsAuthorityHost: urls.mtlsAuthorityHost,
    imdsEndpoint: urls.imdsEndpoint,
    keyVaultUrl: urls.keyVaultUrl,
    caCertificatePem: authority.certificatePem,
    managedIdentityCaCertificatePem: managedIdentityAuthority.certificatePem,
    tenantId,
    journal,
    faults,
    stats,
    keyVault: keyVaultStore,
    credentialOptions: (app) => ({
      tenantId: app.tenantId,
      clientId: app.clientId,
      authorityHost: urls.authorityHost,
      mtlsAuthorityHost: urls.mtlsAuthorityHost,
      imdsEndpoint: urls.imdsEndpoint,
      tls: { ca: authority.certificatePem },
    }),
    tokenEndpoint: (tenant = tenantId) => `${urls.authorityHost}/${tenant}/oauth2/v2.0/token`,
    mtlsTokenEndpoint: (tenant = tenantId) => `${urls.mtlsAuthorityHost}/${tenant}/oauth2/v2.0/token`,
    openIdConfiguration: (tenant = tenantId) => openIdConfiguration(context, tenant),
    instanceDiscovery: (tenant = tenantId) => instanceDiscovery(context, tenant),
    registerApp: (appOptions?: RegisterAppOptions): RegisteredApp => directory.registerApp(appOptions),
    registerManagedIdentity: (identityOptions: RegisterManagedIdentityOptions): RegisteredManagedIdentity =>
      directory.registerManagedIdentity(identityOptions),
    federatedCredentialFor: (
      principal: RegisteredManagedIdentity | RegisteredApp,
      audience = TOKEN_EXCHANGE_AUDIENCE,
    ): FederatedCredential => ({
      issuer: tokens.v2Issuer(principal.tenantId),
      subject: principal.objectId,
      audiences: [audience],
      name: `${"kind" in principal ? "managed-identity" : "app"}-${principal.clientId}`,
    }),
    issueUserToken: (userOptions: IssueUserTokenOptions): Promise<string> => issueUserToken(tokens, userOptions, { tenantId, clock }),
    issueCertificate: (certificateOptions?: IssueCertificateOptions): Promise<IssuedCertificate> =>
      authority.issueCertificate(certificateOptions),
    createFederatedAssertion: async (assertion: FederatedAssertionOptions): Promise<string> => {
      const notBefore = Math.floor((assertion.notBefore?.getTime() ?? clock()) / 1000);
      return tokens.signAssertion({
        iss: assertion.issuer ?? tokens.v2Issuer(tenantId),
        sub: assertion.subject,
        aud: assertion.audience ?? TOKEN_EXCHANGE_AUDIENCE,
        iat: notBefore,
        nbf: notBefore,
        exp: notBefore + (assertion.lifetimeSeconds ?? 3600),
      });
    },
    verifyAccessToken: async (token: string): Promise<Record<string, unknown>> => {
      const { payload } = await tokens.verify(token);
      const now = clock() / 1000;
      const exp = payload["exp"];
      const nbf = payload["nbf"];
      if (typeof exp !== "number" || now >= exp) throw new Error("The access token is expired.");
      if (typeof nbf === "number" && now < nbf) throw new Error("The access token is not yet valid.");
      return payload;
    },
    close: closeAll,
  };
  return emulator;
}

/** Extra host names of the server certificate, checked so that a typo fails here, not in a handshake. */
function hostNames(names: string[] | undefined): string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names)) throw new TypeError("startEmulator: hostNames must be an array of host names.");
  for (const name of names) {
    if (typeof name !== "string" || !/^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(name)) {
      throw new TypeError(`startEmulator: hostNames holds ${JSON.stringify(name)}, which is not a DNS host name.`);
    }
  }
  return [...names];
}
