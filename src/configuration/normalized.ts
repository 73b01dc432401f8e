import type { TokenCredential } from "@azure/core-auth";
import type {
  AttestationProvider,
  CredentialDescription,
  CustomSignedAssertionProvider,
} from "./types.ts";
import type { NormalizedNetworkOptions } from "./network.ts";

/**
 * One validated entry of the ordered list. `description` is a frozen copy of what the user gave,
 * with defaults applied; secrets stay inside it and it must never be logged or put in an error.
 */
export interface NormalizedEntry {
  /** Position in the user's list. */
  readonly index: number;
  /**
   * A stable, secret-free name for logs and errors, such as
   * `clientCredentials[1] (Path /certs/app.pfx, bound)`.
   */
  readonly id: string;
  /** Whether tokens are obtained over mutual TLS with this entry. */
  readonly bound: boolean;
  /** Whether the user switched the entry off; skipped entries are never loaded. */
  readonly skip: boolean;
  readonly description: Readonly<CredentialDescription>;
}

/** Validated, frozen options: everything the credential needs, read once. */
export interface NormalizedOptions {
  readonly tenantId: string;
  readonly clientId: string;
  readonly entries: readonly NormalizedEntry[];
  /** `https://host[:port]`, no trailing slash or path. */
  readonly authorityHost: string;
  /** `https://host[:port]` when given explicitly; otherwise derived per request. */
  readonly mtlsAuthorityHost: string | undefined;
  /** A region name, `"TryAutoDetect"`, or undefined. */
  readonly azureRegion: string | undefined;
  /** `http://host[:port]`, no trailing slash. */
  readonly imdsEndpoint: string;
  /** Empty, or the allowed tenants; `["*"]` when any is allowed. */
  readonly additionallyAllowedTenants: readonly string[];
  readonly sendCertificateChain: boolean;
  readonly clientCapabilities: readonly string[];
  /** Extra trusted CAs (PEM), possibly empty. */
  readonly tlsCa: readonly string[];
  readonly allowLoggingAccountIdentifiers: boolean;
  readonly enableUnsafeSupportLogging: boolean;
  readonly keyVaultCredential: TokenCredential | undefined;
  readonly customSignedAssertionProviders: Readonly<Record<string, CustomSignedAssertionProvider>>;
  readonly attestationProvider: AttestationProvider | undefined;
  /**
   * Proxy, retries, the overall deadline of `getToken`, connections per certificate. Always set
   * by validation; options built by hand may leave it out for the defaults.
   */
  readonly network?: NormalizedNetworkOptions;
}
