/**
 * The emulator and the credentials under comparison, all in this process: the same certificate,
 * the same app registration and the same emulator for every contender.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import type { TokenCredential } from "@azure/core-auth";
import { ClientCertificateCredential } from "@azure/identity";
import { BoundClientCredential, type CredentialDescription } from "../src/index.ts";
import {
  startEmulator,
  type Emulator,
  type IssuedCertificate,
  type RegisteredApp,
  type RegisteredManagedIdentity,
} from "../src/emulator/index.ts";

/** The credentials the benchmark knows how to build. */
export type ContenderKind = "bound" | "unbound" | "azureIdentity" | "azureIdentityPath" | "boundManagedIdentity";

/** Row labels, fixed width friendly. */
export const CONTENDER_LABELS: Readonly<Record<ContenderKind, string>> = {
  bound: "BoundClientCredential, bound cert",
  unbound: "BoundClientCredential, unbound cert",
  azureIdentity: "ClientCertificateCredential (PEM)",
  azureIdentityPath: "ClientCertificateCredential (path)",
  boundManagedIdentity: "BoundClientCredential, bound MI",
};

/** One credential under test. */
export interface Contender {
  readonly kind: ContenderKind;
  readonly label: string;
  readonly credential: TokenCredential;
  /** Closes what the credential keeps open (ours); ClientCertificateCredential has nothing to close. */
  close(): Promise<void>;
}

/** What the emulator saw, for counting token requests and TLS handshakes around a piece of work. */
export interface WireCounts {
  /** Token requests on the login host and on the mTLS host. */
  readonly tokenRequests: number;
  readonly loginHandshakes: number;
  readonly mtlsHandshakes: number;
  /** IMDS v2 calls (platform metadata and credential issuance). */
  readonly imdsV2Calls: number;
}

/** The emulator, one app with one certificate, and a managed identity federated with the app. */
export interface BenchEnvironment {
  readonly emulator: Emulator;
  readonly certificate: IssuedCertificate;
  readonly app: RegisteredApp;
  readonly identity: RegisteredManagedIdentity;
  /** Builds a fresh credential of `kind`. */
  create(kind: ContenderKind): Contender;
  /** The emulator's counters now. */
  counts(): WireCounts;
  /**
   * Waits until every credential created so far is garbage (up to `timeoutMs`), so that a heap
   * measurement does not see earlier credentials go. False if one is still reachable then.
   * Call it only when every contender was closed and dropped.
   */
  awaitCollected(timeoutMs?: number): Promise<boolean>;
  /** Stops the emulator and removes the temporary certificate file. */
  close(): Promise<void>;
}


/** Starts the emulator and registers what every contender needs. */
export async function startBenchEnvironment(): Promise<BenchEnvironment> {
  // msal-node re-sends one signed assertion for up to ten minutes, which Entra ID accepts; so must
  // the emulator for ClientCertificateCredential's second request. (Ours are fresh every time.)
  const emulator = await startEmulator({ acceptAnyResource: true, rejectReplayedAssertions: false });
  // ClientCertificateCredential has no CA option of its own: trust the emulator's CA process-wide.
  tls.setDefaultCACertificates([...tls.getCACertificates("default"), emulator.caCertificatePem]);
  const certificate = await emulator.issueCertificate({ subject: "CN=bound-client-credential bench" });
  const identity = emulator.registerManagedIdentity({ kind: "user" });
  const app = emulator.registerApp({
    certificates: [certificate.certificatePem],
    federatedCredentials: [emulator.federatedCredentialFor(identity)],
  });
  const directory = await mkdtemp(join(tmpdir(), "bcc-bench-"));
  const pemPath = join(directory, "app.pem");
  await writeFile(pemPath, certificate.certificatePem + certificate.privateKeyPem, { mode: 0o600 });

  const ours = (entry: CredentialDescription): BoundClientCredential =>
    new BoundClientCredential({
      tenantId: emulator.tenantId,
      clientId: app.clientId,
      authorityHost: emulator.authorityHost,
      mtlsAuthorityHost: emulator.mtlsAuthorityHost,
      imdsEndpoint: emulator.imdsEndpoint,
      tls: { ca: emulator.caCertificatePem },
      clientCredentials: [entry],
    });
  const theirsOptions = { authorityHost: emulator.authorityHost, disableInstanceDiscovery: true };
  const certificateEntry = (useBoundCredential: boolean): CredentialDescription => ({
    sourceType: "Certificate",
    certificate: certificate.certificatePem,
    privateKey: certificate.privateKeyPem,
    useBoundCredential,
  });
  let created: WeakRef<object>[] = [];
  const track = <T extends object>(credential: T): T => {
    created.push(new WeakRef(credential));
    return credential;
  };
  const oursContender = (kind: ContenderKind, credential: BoundClientCredential): Contender => ({
    kind,
    label: CONTENDER_LABELS[kind],
    credential: track(credential),
    close: () => credential.close(),
  });
  const theirsContender = (kind: ContenderKind, credential: ClientCertificateCredential): Contender => ({
    kind,
    label: CONTENDER_LABELS[kind],
    credential: track(credential),
    close: () => Promise.resolve(),
  });

  return {
    emulator,
    certificate,
    app,
    identity,
    create(kind) {
      switch (kind) {
        case "bound":
          return oursContender(kind, ours(certificateEntry(true)));
        case "unbound":
          return oursContender(kind, ours(certificateEntry(false)));
        case "boundManagedIdentity":
          return oursContender(
            kind,
            ours({ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: identity.clientId, useBoundCredential: true }),
          );
        case "azureIdentity":
          return theirsContender(
            kind,
            new ClientCertificateCredential(
              emulator.tenantId,
              app.clientId,
              { certificate: certificate.certificatePem + certificate.privateKeyPem },
              theirsOptions,
            ),
          );
        case "azureIdentityPath":
          return theirsContender(kind, new ClientCertificateCredential(emulator.tenantId, app.clientId, { certificatePath: pemPath }, theirsOptions));
      }
    },
    counts() {
      const journal = emulator.journal;
      return {
        tokenRequests: journal.ofRoute("login.token").length + journal.ofRoute("mtls.token").length,
        loginHandshakes: emulator.stats.handshakes.login,
        mtlsHandshakes: emulator.stats.handshakes.mtls,
        imdsV2Calls: journal.ofRoute("imds.platformMetadata").length + journal.ofRoute("imds.issueCredential").length,
      };
    },
    async awaitCollected(timeoutMs = 10_000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        // Not in the job that created or last dereferenced them: a WeakRef keeps its target alive until the job ends.
        await new Promise((resolve) => setTimeout(resolve, 100));
        globalThis.gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
        created = created.filter((ref) => ref.deref() !== undefined);
        if (created.length === 0) return true;
        if (performance.now() > deadline) return false;
      }
    },
    async close() {
      await emulator.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** `after - before`, field by field. */
export function countsSince(before: WireCounts, after: WireCounts): WireCounts {
  return {
    tokenRequests: after.tokenRequests - before.tokenRequests,
    loginHandshakes: after.loginHandshakes - before.loginHandshakes,
    mtlsHandshakes: after.mtlsHandshakes - before.mtlsHandshakes,
    imdsV2Calls: after.imdsV2Calls - before.imdsV2Calls,
  };
}

/** Handshakes on both Entra hosts. */
export function handshakes(counts: WireCounts): number {
  return counts.loginHandshakes + counts.mtlsHandshakes;
}

/** A scope the emulator accepts (`acceptAnyResource`) and no credential has seen yet. */
export function freshScope(tag: string): string {
  return `api://bench-${tag}/.default`;
}
