import type { TokenCredential } from "@azure/core-auth";
import type { NormalizedDescriptionOf } from "../sources/index.ts";
import type { AttestationProvider, CredentialSourceType, CustomSignedAssertionProvider } from "./types.ts";
import type { NormalizedNetworkOptions } from "./network.ts";

/**
 * One validated entry of the ordered list whose description is `D`: a frozen copy of what the user
 * gave, with the source type's defaults applied; secrets stay inside it and it must never be logged
 * or put in an error.
 */
export interface NormalizedEntryOf<D> {
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
  /** The checked fields; `skip` and `useBoundCredential` are the entry's own, above. */
  readonly description: D;
}

/** One validated entry of the ordered list, of any source type (discriminated by `description.sourceType`). */
export type NormalizedEntry = {
  [K in CredentialSourceType]: NormalizedEntryOf<NormalizedDescriptionOf<K>>;
}[CredentialSourceType];

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
  /** Query parameters for every token request, possibly none; absent in options built by hand. */
  readonly extraQueryParameters?: Readonly<Record<string, string>>;
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
