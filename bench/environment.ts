/**
 * The credentials under comparison, in this process, and the emulator, in a process of its own
 * (bench/emulatorProcess.ts): the same certificate, the same app registration and the same
 * emulator for every contender.
 */
import { constants, createHash, createPrivateKey, createSign, randomUUID, X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import type { TokenCredential } from "@azure/core-auth";
import { ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential } from "@azure/identity";
import { BoundClientCredential, type CredentialDescription } from "../src/index.ts";
import type { EmulatorConfig, WireCounts } from "./emulatorProtocol.ts";
import { startRemoteEmulator, type RemoteEmulator } from "./remoteEmulator.ts";

export type { WireCounts } from "./emulatorProtocol.ts";

/** The credentials the benchmark knows how to build. */
export type ContenderKind =
  | "bound"
  | "unbound"
  | "secret"
  | "azureIdentity"
  | "azureIdentityPath"
  | "azureIdentitySecret"
  | "azureIdentityAssertion"
  | "boundManagedIdentity";

/** Row labels, fixed width friendly. */
export const CONTENDER_LABELS: Readonly<Record<ContenderKind, string>> = {
  bound: "BoundClientCredential, bound cert",
  unbound: "BoundClientCredential, unbound cert",
  secret: "BoundClientCredential, secret",
  azureIdentity: "ClientCertificateCredential (PEM)",
  azureIdentityPath: "ClientCertificateCredential (path)",
  azureIdentitySecret: "ClientSecretCredential",
  azureIdentityAssertion: "ClientAssertionCredential",
  boundManagedIdentity: "BoundClientCredential, bound MI",
};

/** One credential under test. */
export interface Contender {
  readonly kind: ContenderKind;
  readonly label: string;
  readonly credential: TokenCredential;
  /** Closes what the credential keeps open (ours); @azure/identity's have nothing to close. */
  close(): Promise<void>;
}

/** The emulator, one app with one certificate and a secret, and a managed identity federated with the app. */
export interface BenchEnvironment {
  /** The emulator's hosts, CA, app and material. */
  readonly config: EmulatorConfig;
  /** A PEM file with the app's certificate and key, for the path contenders. */
  readonly pemPath: string;
  /** A PEM file with the emulator's CA, for `NODE_EXTRA_CA_CERTS` of child processes. */
  readonly caPath: string;
  /** Builds a fresh credential of `kind`. */
  create(kind: ContenderKind): Contender;
  /** The emulator's counters now. */
  counts(): Promise<WireCounts>;
  /** Empties the emulator's journal (its counters start again from zero). */
  clearJournal(): Promise<void>;
  /** A standing delay of `ms` on every token request of the emulator (0 removes it). */
  setLatency(ms: number): Promise<void>;
  /**
   * Waits until every credential created so far is garbage (up to `timeoutMs`), so that a heap
   * measurement does not see earlier credentials go. False if one is still reachable then.
   * Call it only when every contender was closed and dropped.
   */
  awaitCollected(timeoutMs?: number): Promise<boolean>;
  /** Stops the emulator and removes the temporary files. */
  close(): Promise<void>;
}

/**
 * A client assertion for `ClientAssertionCredential`, signed anew on every call as a
 * `getAssertion` callback does in practice (RFC 7523 §3; x5t#S256 as Entra ID takes it).
 */
function assertionSigner(config: EmulatorConfig): () => Promise<string> {
  const key = createPrivateKey(config.privateKeyPem);
  const x5t = createHash("sha256").update(new X509Certificate(config.certificatePem).raw).digest("base64url");
  const header = Buffer.from(JSON.stringify({ alg: "PS256", typ: "JWT", "x5t#S256": x5t })).toString("base64url");
  const audience = `${config.authorityHost}/${config.tenantId}/oauth2/v2.0/token`;
  return () => {
    const issued = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(
      JSON.stringify({ aud: audience, iss: config.clientId, sub: config.clientId, jti: randomUUID(), nbf: issued, iat: issued, exp: issued + 600 }),
    ).toString("base64url");
    const signer = createSign("sha256");
    signer.update(`${header}.${payload}`);
    const signature = signer.sign({ key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString("base64url");
    return Promise.resolve(`${header}.${payload}.${signature}`);
  };
}

/** Starts the emulator process and registers what every contender needs. */
export async function startBenchEnvironment(): Promise<BenchEnvironment> {
  const remote: RemoteEmulator = await startRemoteEmulator();
  const config = remote.config;
  // @azure/identity's credentials have no CA option of their own: trust the emulator's CA process-wide.
  tls.setDefaultCACertificates([...tls.getCACertificates("default"), config.caCertificatePem]);
  const directory = await mkdtemp(join(tmpdir(), "bcc-bench-"));
  const pemPath = join(directory, "app.pem");
  const caPath = join(directory, "ca.pem");
  await writeFile(pemPath, config.certificatePem + config.privateKeyPem, { mode: 0o600 });
  await writeFile(caPath, config.caCertificatePem);

  const ours = (entry: CredentialDescription): BoundClientCredential =>
    new BoundClientCredential({
      tenantId: config.tenantId,
      clientId: config.clientId,
      authorityHost: config.authorityHost,
      mtlsAuthorityHost: config.mtlsAuthorityHost,
      imdsEndpoint: config.imdsEndpoint,
      tls: { ca: config.caCertificatePem },
      clientCredentials: [entry],
    });
  const theirsOptions = { authorityHost: config.authorityHost, disableInstanceDiscovery: true };
  const certificateEntry = (useBoundCredential: boolean): CredentialDescription => ({
    sourceType: "Certificate",
    certificate: config.certificatePem,
    privateKey: config.privateKeyPem,
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
  const theirsContender = (kind: ContenderKind, credential: TokenCredential): Contender => ({
    kind,
    label: CONTENDER_LABELS[kind],
    credential: track(credential),
    close: () => Promise.resolve(),
  });

  return {
    config,
    pemPath,
    caPath,
    create(kind) {
      switch (kind) {
        case "bound":
          return oursContender(kind, ours(certificateEntry(true)));
        case "unbound":
          return oursContender(kind, ours(certificateEntry(false)));
        case "secret":
          return oursContender(kind, ours({ sourceType: "ClientSecret", clientSecret: config.clientSecret }));
        case "boundManagedIdentity":
          return oursContender(
            kind,
            ours({ sourceType: "SignedAssertionFromManagedIdentity", managedIdentityClientId: config.managedIdentityClientId, useBoundCredential: true }),
          );
        case "azureIdentity":
          return theirsContender(
            kind,
            new ClientCertificateCredential(config.tenantId, config.clientId, { certificate: config.certificatePem + config.privateKeyPem }, theirsOptions),
          );
        case "azureIdentityPath":
          return theirsContender(kind, new ClientCertificateCredential(config.tenantId, config.clientId, { certificatePath: pemPath }, theirsOptions));
        case "azureIdentitySecret":
          return theirsContender(kind, new ClientSecretCredential(config.tenantId, config.clientId, config.clientSecret, theirsOptions));
        case "azureIdentityAssertion":
          return theirsContender(kind, new ClientAssertionCredential(config.tenantId, config.clientId, assertionSigner(config), theirsOptions));
      }
    },
    counts: () => remote.counts(),
    clearJournal: () => remote.clearJournal(),
    setLatency: (ms) => remote.setLatency(ms),
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
      await remote.close();
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
