/**
 * The emulated directory: tenants, app registrations with their credentials, managed identities
 * of the emulated VM, and the resources tokens can be requested for.
 */
import { createHash, randomUUID, X509Certificate } from "node:crypto";
import { TOKEN_EXCHANGE_AUDIENCE } from "./constants.ts";
import type {
  AppCertificate,
  AppSecret,
  FederatedCredential,
  RegisterAppOptions,
  RegisteredApp,
  RegisteredManagedIdentity,
  RegisterManagedIdentityOptions,
} from "./types.ts";

/** A certificate registered on an app by value (matched by thumbprint). */
export interface ThumbprintCertificate {
  readonly kind: "thumbprint";
  readonly certificate: X509Certificate;
  readonly thumbprintSha256: string;
  readonly thumbprintSha1: string;
  readonly notBefore: Date;
  readonly expiresOn: Date;
}

/** A subject name and issuer trust (SN/I). */
export interface SubjectNameTrust {
  readonly kind: "subject";
  readonly subjectName: string;
  readonly issuerName: string | undefined;
}

export type CertificateRegistration = ThumbprintCertificate | SubjectNameTrust;

/** A client secret as stored: the value never leaves the emulator. */
export interface SecretRegistration {
  readonly value: string;
  readonly expiresOn: Date | undefined;
}

/** An app or a managed identity: what can ask for a token. */
export interface Principal {
  readonly kind: "app" | "managedIdentity";
  readonly clientId: string;
  readonly objectId: string;
  readonly homeTenantId: string;
  readonly tenantIds: ReadonlySet<string>;
  readonly certificates: CertificateRegistration[];
  readonly secrets: SecretRegistration[];
  readonly federatedCredentials: FederatedCredential[];
  mtlsClientAuth: boolean;
  readonly tokenLifetimeSeconds: number | undefined;
  /** ARM id, for managed identities. */
  readonly resourceId: string | undefined;
  /** `system` or `user`, for managed identities. */
  readonly identityKind: "system" | "user" | undefined;
}

const BUILT_IN_RESOURCES = [
  "https://storage.azure.com",
  "https://vault.azure.net",
  "https://management.azure.com",
  "https://management.core.windows.net",
  "https://graph.microsoft.com",
  "https://database.windows.net",
  "https://cognitiveservices.azure.com",
  "https://servicebus.azure.net",
  "https://eventhubs.azure.net",
  TOKEN_EXCHANGE_AUDIENCE,
];

/** Resource identifiers compare case-insensitively and without trailing slashes. */
export function normalizeResource(resource: string): string {
  return resource.replace(/\/+$/, "").toLowerCase();
}

/**
 * A distinguished name in a comparable form: attributes upper-cased type, trimmed lower-cased
 * value, sorted (so that `CN=a, DC=b`, `DC=b,CN=a` and Node's `DC=b\nCN=a` compare equal).
 */
export function normalizeDistinguishedName(name: string): string {
  return name
    .split(/(?<!\\)[,\n]/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const equals = part.indexOf("=");
      return equals < 0
        ? part.toLowerCase()
        : `${part.slice(0, equals).trim().toUpperCase()}=${part.slice(equals + 1).trim().toLowerCase()}`;
    })
    .sort()
    .join(",");
}

function thumbprintRegistration(certificatePem: string, expiresOn: Date | undefined): ThumbprintCertificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch (error) {
    throw new TypeError(
      `registerApp: a certificate could not be parsed (${error instanceof Error ? error.message : String(error)}); pass the certificate as PEM.`,
    );
  }
  return {
    kind: "thumbprint",
    certificate,
    thumbprintSha256: createHash("sha256").update(certificate.raw).digest("hex").toUpperCase(),
    thumbprintSha1: createHash("sha1").update(certificate.raw).digest("hex").toUpperCase(),
    notBefore: new Date(certificate.validFrom),
    expiresOn: expiresOn ?? new Date(certificate.validTo),
  };
}

function certificateRegistration(certificate: AppCertificate): CertificateRegistration {
  if (typeof certificate === "string") return thumbprintRegistration(certificate, undefined);
  if ("certificatePem" in certificate) return thumbprintRegistration(certificate.certificatePem, certificate.expiresOn);
  if (typeof certificate.subjectName !== "string" || certificate.subjectName.trim() === "") {
    throw new TypeError("registerApp: a subject name trust needs a non-empty subjectName such as 'CN=app.contoso.com'.");
  }
  return { kind: "subject", subjectName: certificate.subjectName, issuerName: certificate.issuerName };
}

function secretRegistration(secret: AppSecret): SecretRegistration {
  const registration = typeof secret === "string" ? { value: secret, expiresOn: undefined } : secret;
  if (typeof registration.value !== "string" || registration.value.length === 0) {
    throw new TypeError("registerApp: a client secret must be a non-empty string.");
  }
  return { value: registration.value, expiresOn: registration.expiresOn };
}

function federatedRegistration(credential: FederatedCredential): FederatedCredential {
  if (!credential.issuer || !credential.subject) {
    throw new TypeError("registerApp: a federated credential needs an issuer and a subject.");
  }
  return { ...credential, audiences: [...(credential.audiences ?? [TOKEN_EXCHANGE_AUDIENCE])] };
}

function checkLifetime(seconds: number | undefined, what: string): void {
  if (seconds !== undefined && (!Number.isInteger(seconds) || seconds < 1)) {
    throw new RangeError(`${what}: tokenLifetimeSeconds must be a positive integer, got ${String(seconds)}.`);
  }
}

/** The registry behind `registerApp` and `registerManagedIdentity`. */
export class Directory {
  readonly defaultTenantId: string;
  readonly #principals = new Map<string, Principal>();
  readonly #managedIdentities: Principal[] = [];
  readonly #resources = new Set<string>();
  readonly #acceptAnyResource: boolean;
  readonly #tenants = new Set<string>();

  constructor(defaultTenantId: string, resources: readonly string[], acceptAnyResource: boolean) {
    this.defaultTenantId = defaultTenantId;
    this.#tenants.add(defaultTenantId.toLowerCase());
    for (const resource of [...BUILT_IN_RESOURCES, ...resources]) this.#resources.add(normalizeResource(resource));
    this.#acceptAnyResource = acceptAnyResource;
  }

  hasTenant(tenantId: string): boolean {
    return this.#tenants.has(tenantId.toLowerCase());
  }

  /** The app or managed identity with this client id that exists in `tenantId`. */
  principal(clientId: string, tenantId: string): Principal | undefined {
    const principal = this.#principals.get(clientId.toLowerCase());
    return principal !== undefined && principal.tenantIds.has(tenantId.toLowerCase()) ? principal : undefined;
  }

  resourceExists(resource: string): boolean {
    if (this.#acceptAnyResource) return true;
    const normalized = normalizeResource(resource);
    if (this.#resources.has(normalized)) return true;
    const appId = normalized.startsWith("api://") ? normalized.slice("api://".length) : normalized;
    const principal = this.#principals.get(appId);
    return principal !== undefined && principal.kind === "app";
  }

  get managedIdentities(): readonly Principal[] {
    return this.#managedIdentities;
  }

  registerApp(options: RegisterAppOptions = {}): RegisteredApp {
    const clientId = options.clientId ?? randomUUID();
    this.#checkNewClientId(clientId, "registerApp");
    checkLifetime(options.tokenLifetimeSeconds, "registerApp");
    const homeTenantId = options.tenantId ?? this.defaultTenantId;
    const tenantIds = new Set([homeTenantId, ...(options.additionalTenantIds ?? [])].map((id) => id.toLowerCase()));
    for (const tenant of tenantIds) this.#tenants.add(tenant);
    const principal: Principal = {
      kind: "app",
      clientId,
      objectId: randomUUID(),
      homeTenantId,
      tenantIds,
      certificates: (options.certificates ?? []).map(certificateRegistration),
      secrets: (options.secrets ?? []).map(secretRegistration),
      federatedCredentials: (options.federatedCredentials ?? []).map(federatedRegistration),
      mtlsClientAuth: options.mtlsClientAuth ?? true,
      tokenLifetimeSeconds: options.tokenLifetimeSeconds,
      resourceId: undefined,
      identityKind: undefined,
    };
    this.#principals.set(clientId.toLowerCase(), principal);
    return {
      clientId,
      objectId: principal.objectId,
      tenantId: homeTenantId,
      addCertificate: (certificate) => void principal.certificates.push(certificateRegistration(certificate)),
      removeCertificate: (thumbprintSha256) => {
        const wanted = thumbprintSha256.replaceAll(":", "").toUpperCase();
        const index = principal.certificates.findIndex(
          (registration) => registration.kind === "thumbprint" && registration.thumbprintSha256 === wanted,
        );
        if (index < 0) throw new Error(`No certificate with SHA-256 thumbprint ${wanted} is registered on app ${clientId}.`);
        principal.certificates.splice(index, 1);
      },
      addSecret: (secret) => void principal.secrets.push(secretRegistration(secret)),
      removeSecret: (value) => {
        const index = principal.secrets.findIndex((secret) => secret.value === value);
        if (index < 0) throw new Error(`That secret is not registered on app ${clientId}.`);
        principal.secrets.splice(index, 1);
      },
      addFederatedCredential: (credential) => void principal.federatedCredentials.push(federatedRegistration(credential)),
      setMtlsClientAuth: (enabled) => {
        principal.mtlsClientAuth = enabled;
      },
    };
  }

  registerManagedIdentity(options: RegisterManagedIdentityOptions): RegisteredManagedIdentity {
    if (options?.kind !== "system" && options?.kind !== "user") {
      throw new TypeError('registerManagedIdentity: kind must be "system" or "user".');
    }
    if (options.kind === "system" && this.#managedIdentities.some((identity) => identity.identityKind === "system")) {
      throw new Error("registerManagedIdentity: the emulated VM already has a system-assigned identity.");
    }
    const clientId = options.clientId ?? randomUUID();
    this.#checkNewClientId(clientId, "registerManagedIdentity");
    checkLifetime(options.tokenLifetimeSeconds, "registerManagedIdentity");
    const tenantId = options.tenantId ?? this.defaultTenantId;
    this.#tenants.add(tenantId.toLowerCase());
    const resourceId =
      options.resourceId ??
      (options.kind === "system"
        ? "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/Microsoft.Compute/virtualMachines/emulator-vm"
        : `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/identity-${clientId.slice(0, 8)}`);
    const principal: Principal = {
      kind: "managedIdentity",
      clientId,
      objectId: options.objectId ?? randomUUID(),
      homeTenantId: tenantId,
      tenantIds: new Set([tenantId.toLowerCase()]),
      certificates: [],
      secrets: [],
      federatedCredentials: [],
      mtlsClientAuth: true,
      tokenLifetimeSeconds: options.tokenLifetimeSeconds,
      resourceId,
      identityKind: options.kind,
    };
    this.#principals.set(clientId.toLowerCase(), principal);
    this.#managedIdentities.push(principal);
    return { kind: options.kind, clientId, objectId: principal.objectId, resourceId, tenantId };
  }

  #checkNewClientId(clientId: string, what: string): void {
    if (typeof clientId !== "string" || clientId.trim() === "") {
      throw new TypeError(`${what}: clientId must be a non-empty string (a GUID).`);
    }
    if (this.#principals.has(clientId.toLowerCase())) {
      throw new Error(`${what}: client id ${clientId} is already registered.`);
    }
  }
}
