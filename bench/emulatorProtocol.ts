/** The messages between the benchmark and its emulator process (bench/emulatorProcess.ts). */

/** What the emulator saw, for counting token requests and TLS handshakes around a piece of work. */
export interface WireCounts {
  /** Token requests on the login host and on the mTLS host. */
  readonly tokenRequests: number;
  readonly loginHandshakes: number;
  readonly mtlsHandshakes: number;
  /** IMDS v2 calls (platform metadata and credential issuance). */
  readonly imdsV2Calls: number;
}

/** Everything a credential needs to talk to the emulator: hosts, CA, the app and its material. */
export interface EmulatorConfig {
  readonly tenantId: string;
  readonly authorityHost: string;
  readonly mtlsAuthorityHost: string;
  readonly imdsEndpoint: string;
  readonly caCertificatePem: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly managedIdentityClientId: string;
}

/** A request to the emulator process; `id` pairs it with its reply. */
export type EmulatorCommand =
  | { readonly type: "counts"; readonly id: number }
  | { readonly type: "clearJournal"; readonly id: number }
  /** A standing delay on both token routes (0 removes it). */
  | { readonly type: "latency"; readonly id: number; readonly ms: number };

/** The emulator process's answer to one command. */
export interface EmulatorReply {
  readonly type: "reply";
  readonly id: number;
  readonly result: WireCounts | null;
  readonly error: string | null;
}
