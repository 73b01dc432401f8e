/**
 * `bound-credential doctor`: checks each entry of a configuration's `ClientCredentials` without
 * acquiring a token (unless `--acquire`): whether it loads, whether it can bind, the certificate's
 * thumbprint and validity window, IMDS v2 for managed identity entries, and the token endpoint it
 * would use. For a bound managed identity, IMDS is asked for a binding certificate (no token is
 * requested), since only that answers whether the entry can bind and where it would go.
 */
import path from "node:path";
import { decodeJwt } from "jose";
import { BoundClientCredential } from "../boundClientCredential.ts";
import type { NormalizedEntry, NormalizedOptions } from "../configuration/normalized.ts";
import type { BoundClientCredentialOptions } from "../configuration/types.ts";
import { normalizeOptions } from "../configuration/validate.ts";
import { BoundCredentialConfigurationError } from "../errors.ts";
import type { CredentialSource } from "../sources/types.ts";
import { readCacheSettings } from "../cache/cacheSettings.ts";
import { createRuntime, dependenciesFrom } from "../runtime.ts";
import type { LoadedCertificate } from "../sources/loadedCertificate.ts";
import { bindingKeyStoreOf } from "../sources/boundManagedIdentitySource.ts";
import type { BindingProbe } from "../sources/managedIdentity/bindingService.ts";
import { selectorOf } from "../sources/managedIdentity/identity.ts";
import type { NormalizedManagedIdentityDescription } from "../sources/managedIdentitySourceType.ts";
import type { ManagedIdentityServices } from "../sources/managedIdentity/services.ts";
import { mtlsAuthorityHostFor, tokenEndpointFor } from "../transport/endpoints.ts";
import type { HttpClient } from "../transport/httpClient.ts";
import { ImdsV2Error, type PlatformMetadata } from "../transport/imdsV2.ts";
import { resolveRegion } from "../transport/region.ts";
import {
  captureCredentialLog,
  CONFIGURATION_FLAGS_HELP,
  describeError,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  humanDuration,
  loadConfiguration,
  parseCommandArguments,
  Progress,
  table,
  timeoutMs,
  UsageError,
  type ConfigurationFlagValues,
  type LoadedConfiguration,
} from "./token.ts";
import type { CliCommand, CliIo } from "./types.ts";

/** A certificate as doctor shows it. */
export interface CertificateFacts {
  readonly subject: string;
  readonly issuer: string;
  readonly thumbprintSha256: string;
  readonly thumbprintSha1: string;
  readonly keyType: string;
  readonly notBefore: string;
  readonly notAfter: string;
}

/** What doctor found out about one entry. */
export interface EntryReport {
  readonly id: string;
  readonly sourceType: string;
  readonly bound: boolean;
  readonly skipped: boolean;
  /** Whether the entry's material could be read (for managed identity: IMDS answered). */
  loads: boolean | undefined;
  loadDetail: string;
  /** Whether the entry can present a certificate in the TLS handshake. */
  canBind: boolean | undefined;
  bindDetail: string;
  certificate: CertificateFacts | undefined;
  /** For managed identity entries: whether IMDS offers the credential endpoint. */
  imdsV2: "present" | "absent" | "unreachable" | "error" | undefined;
  imdsDetail: string | undefined;
  /** The token endpoint this entry would use. */
  endpoint: string | undefined;
  warnings: string[];
  acquire: { ok: boolean; ms: number; detail: string; tokenEndpoint?: string; claims?: Record<string, unknown> } | undefined;
  /** How long the check took (without `--acquire`), in ms. */
  ms: number;
}

const HELP = `Usage: bound-credential doctor --config <appsettings.json> [--acquire --scope <scope>] [options]

Checks each entry of ClientCredentials in order, without acquiring a token: whether it loads
(file, password, key, validity), whether it can bind (present a certificate in the TLS
handshake), its certificate's thumbprint and validity window, IMDS v2 for managed identity
entries, and the token endpoint it would use. For a bound managed identity entry, IMDS is asked
for a binding certificate (no token is requested). With --acquire, each entry also acquires a
token on its own.

Options:
      --acquire                  acquire a token with each entry, one at a time
      --scope <scope>            the scope for --acquire, such as https://storage.azure.com/.default
${CONFIGURATION_FLAGS_HELP}

Exit codes: 0 at least one entry is usable (with --acquire: obtained a token), 1 none is,
2 usage or configuration error.
`;

const OWN_FLAGS = {
  acquire: { type: "boolean" },
  scope: { type: "string" },
} as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const values = parseCommandArguments("doctor", argv, OWN_FLAGS, HELP, io);
  if (typeof values === "number") return values;
  const flags = values as ConfigurationFlagValues & { acquire?: boolean; scope?: string };
  const progress = new Progress(io, flags.quiet === true);

  let configuration: LoadedConfiguration;
  let normalized: NormalizedOptions;
  let deadline: number;
  try {
    if (flags.acquire === true && (flags.scope === undefined || flags.scope.trim() === "")) {
      throw new UsageError("--acquire needs --scope: the resource's scope, such as https://storage.azure.com/.default.");
    }
    if (flags.acquire !== true && flags.scope !== undefined) {
      throw new UsageError("--scope is used only with --acquire: add --acquire to acquire a token with each entry.");
    }
    deadline = timeoutMs(flags.timeout);
    configuration = await loadConfiguration(flags);
    normalized = normalizeOptions(configuration.options, process.env);
  } catch (error) {
    if (error instanceof BoundCredentialConfigurationError) {
      io.stderr.write(`bound-credential doctor: ${describeError(error)}\n`);
      return EXIT_USAGE;
    }
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`bound-credential doctor: ${error.message}\nRun \`bound-credential doctor --help\` for the options.\n`);
    return EXIT_USAGE;
  }

  // The credential's own composition root: the same HTTP client (proxy, pools, CAs), sources and
  // managed identity services, so that what doctor reaches is what getToken reaches.
  const runtime = createRuntime(normalized, dependenciesFrom(undefined, { env: process.env }), readCacheSettings(configuration.options));
  const { http, managedIdentity } = runtime;
  const log = captureCredentialLog(io, flags.verbose === true);
  try {
    const signal = AbortSignal.timeout(deadline);
    const hosts = await describeHosts(configuration, flags, normalized, http, signal);
    const reports: EntryReport[] = [];
    for (const [position, entry] of normalized.entries.entries()) {
      const source = runtime.sources[position]!;
      const report = await progress.time(entry.id, () => checkEntry(entry, source, normalized, hosts, managedIdentity, signal), `Checking ${entry.id}`);
      report.ms = progress.steps.at(-1)?.ms ?? 0;
      if (flags.acquire === true && !report.skipped) {
        report.acquire = await progress.time(
          `${entry.id} acquire`,
          () => acquireWith(configuration.options, entry.index, flags.scope!.trim(), deadline),
          `Acquiring a token with ${entry.id} alone`,
        );
      }
      reports.push(report);
    }
    const usable = reports.filter((r) => isUsable(r));
    const summary = {
      config: configuration.file,
      section: configuration.section,
      tenantId: normalized.tenantId,
      clientId: normalized.clientId,
      ...hosts,
      entries: reports,
      usable: usable.map((r) => r.id),
      wouldServe: usable[0]?.id,
    };
    if (flags.json === true) io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else io.stdout.write(humanReport(summary, flags.acquire === true));
    return usable.length > 0 ? EXIT_OK : EXIT_FAILED;
  } finally {
    log.restore();
    await runtime.close();
  }
}

interface Hosts {
  readonly authorityHost: string;
  readonly authorityHostFrom: string;
  /** The mutual TLS host for certificate entries, or why there is none. */
  readonly mtlsAuthorityHost: string | undefined;
  readonly mtlsAuthorityHostFrom: string;
  readonly imdsEndpoint: string;
  readonly extraCaCertificates: number;
}

async function describeHosts(
  configuration: LoadedConfiguration,
  flags: ConfigurationFlagValues,
  options: NormalizedOptions,
  http: HttpClient,
  signal: AbortSignal,
): Promise<Hosts> {
  const authorityHostFrom =
    flags["authority-host"] !== undefined
      ? "--authority-host"
      : configuration.options.authorityHost !== undefined
        ? "Instance"
        : process.env["AZURE_AUTHORITY_HOST"]
          ? "AZURE_AUTHORITY_HOST"
          : "default";
  let mtlsAuthorityHost: string | undefined;
  let mtlsAuthorityHostFrom: string;
  if (options.mtlsAuthorityHost !== undefined) {
    mtlsAuthorityHost = options.mtlsAuthorityHost;
    mtlsAuthorityHostFrom =
      flags["mtls-authority-host"] === undefined && configuration.options.mtlsAuthorityHost !== undefined
        ? "MtlsAuthorityHost"
        : "--mtls-authority-host";
  } else {
    try {
      const region = await resolveRegion(options.azureRegion, process.env, { http, endpoint: options.imdsEndpoint, signal });
      mtlsAuthorityHost = mtlsAuthorityHostFor(options.authorityHost, region);
      mtlsAuthorityHostFrom = region === undefined ? "derived from the login host" : `derived from the login host, region ${region}`;
    } catch (error) {
      mtlsAuthorityHostFrom = describeError(error);
    }
  }
  return {
    authorityHost: options.authorityHost,
    authorityHostFrom,
    mtlsAuthorityHost,
    mtlsAuthorityHostFrom,
    imdsEndpoint: options.imdsEndpoint,
    extraCaCertificates: options.tlsCa.length,
  };
}

function newReport(entry: NormalizedEntry): EntryReport {
  return {
    id: entry.id,
    sourceType: entry.description.sourceType,
    bound: entry.bound,
    skipped: entry.skip,
    loads: undefined,
    loadDetail: "",
    canBind: undefined,
    bindDetail: "",
    certificate: undefined,
    imdsV2: undefined,
    imdsDetail: undefined,
    endpoint: undefined,
    warnings: [],
    acquire: undefined,
    ms: 0,
  };
}

async function checkEntry(
  entry: NormalizedEntry,
  source: CredentialSource,
  options: NormalizedOptions,
  hosts: Hosts,
  managedIdentity: ManagedIdentityServices,
  signal: AbortSignal,
): Promise<EntryReport> {
  const report = newReport(entry);
  if (entry.skip) {
    report.loadDetail = "skipped (Skip: true): never loaded, never tried";
    return report;
  }
  const loginEndpoint = tokenEndpointFor(options.authorityHost, options.tenantId);
  const mtlsEndpoint = hosts.mtlsAuthorityHost === undefined ? undefined : tokenEndpointFor(hosts.mtlsAuthorityHost, options.tenantId);
  const description = entry.description;
  if (description.sourceType === "SignedAssertionFromManagedIdentity") {
    await checkManagedIdentity(report, entry, description, managedIdentity, loginEndpoint, signal);
    return report;
  }

  let material;
  try {
    material = await source.load(signal);
  } catch (error) {
    report.loads = false;
    report.loadDetail = describeError(error);
    report.canBind = false;
    report.bindDetail = "it does not load";
    report.endpoint = entry.bound ? mtlsEndpoint : loginEndpoint;
    return report;
  }
  switch (material.kind) {
    case "certificate": {
      const certificate = material.certificate;
      report.loads = true;
      report.loadDetail = `certificate ${certificate.leaf.subject.replace(/\n/g, ", ")} with its ${certificate.keyType.toUpperCase()} private key`;
      report.certificate = facts(certificate);
      addValidityWarnings(report, certificate);
      report.canBind = mtlsEndpoint !== undefined;
      if (mtlsEndpoint === undefined) {
        report.bindDetail = `no mutual TLS host: ${hosts.mtlsAuthorityHostFrom}`;
      } else if (entry.bound) {
        report.bindDetail = "yes: the certificate is presented in the TLS handshake with the mTLS token endpoint";
      } else {
        report.bindDetail = "it could (set UseBoundCredential: true); as configured it is used unbound";
      }
      report.endpoint = entry.bound ? mtlsEndpoint : loginEndpoint;
      return report;
    }
    case "secret":
      report.loads = true;
      report.loadDetail = "a client secret (value not shown)";
      report.canBind = false;
      report.bindDetail = "no: a secret has no certificate to present";
      report.endpoint = loginEndpoint;
      return report;
    case "assertion": {
      report.canBind = false;
      report.endpoint = loginEndpoint;
      try {
        const assertion = await material.getAssertion({
          clientId: options.clientId,
          tenantId: options.tenantId,
          tokenEndpoint: entry.bound && mtlsEndpoint !== undefined ? mtlsEndpoint : loginEndpoint,
          bound: entry.bound,
          abortSignal: signal,
        });
        report.loads = true;
        const expires = assertion.expiresOnTimestamp;
        report.loadDetail = `an assertion${expires === undefined ? "" : `, valid until ${new Date(expires).toISOString()} (in ${humanDuration(expires - Date.now())})`}`;
        if (assertion.bindingCertificate !== undefined) {
          report.canBind = true;
          report.certificate = facts(assertion.bindingCertificate);
          report.bindDetail = "yes: the provider returned a binding certificate";
          report.endpoint = mtlsEndpoint;
        } else {
          report.bindDetail = "no: the assertion comes without a binding certificate";
        }
      } catch (error) {
        report.loads = false;
        report.loadDetail = describeError(error);
        report.bindDetail = "it does not load";
      }
      return report;
    }
  }
}

async function checkManagedIdentity(
  report: EntryReport,
  entry: NormalizedEntry,
  description: NormalizedManagedIdentityDescription,
  services: ManagedIdentityServices,
  loginEndpoint: string,
  signal: AbortSignal,
): Promise<void> {
  // The binding service runs the steps of a mint and reports each; for a bound entry that includes
  // issuecredential, since only a binding certificate tells whether it can bind and where it goes.
  // A token's binding keys are generated for the probe and destroyed after it.
  const keys = entry.bound ? bindingKeyStoreOf(description, process.env) : undefined;
  let probe: BindingProbe;
  try {
    probe = await services.binding.probe(
      { selector: selectorOf(description), expectedClientId: description.managedIdentityClientId, keys },
      { signal, issue: entry.bound, requester: entry.id },
    );
  } finally {
    await keys?.close();
  }
  const host = probe.imdsHost;
  if (probe.otherHost !== undefined) {
    report.warnings.push(`${probe.otherHost.variable} is set: this host's managed identity endpoint is not IMDS, and cannot issue binding certificates.`);
  }
  let metadata: PlatformMetadata | undefined;
  /** Whether the selected identity can get tokens here at all (IMDS v1 or v2). */
  let identityHere: boolean;
  let probeFailure: string | undefined;
  if (probe.metadata.ok) {
    metadata = probe.metadata.value;
    report.imdsV2 = "present";
    report.imdsDetail = `at ${host}`;
    identityHere = true;
  } else {
    const error = probe.metadata.error;
    const kind = error instanceof ImdsV2Error ? error.kind : undefined;
    probeFailure = describeError(error);
    report.imdsDetail = kind === "identity-not-found" ? `at ${host}` : probeFailure;
    // A v1-only host still serves unbound managed identity tokens; the other failures serve nothing.
    report.imdsV2 = kind === "v2-unavailable" ? "absent" : kind === "identity-not-found" ? "present" : kind === "unreachable" ? "unreachable" : "error";
    identityHere = kind === "v2-unavailable";
  }
  if (probe.identityMismatch !== undefined) report.warnings.push(probe.identityMismatch);

  if (!entry.bound) {
    // Unbound: IMDS v1 hands out the managed identity token when a token is acquired.
    report.loads = identityHere;
    if (!identityHere) report.loadDetail = probeFailure ?? `IMDS at ${host} did not answer`;
    else if (metadata === undefined) report.loadDetail = `IMDS (v1) answers at ${host}; the managed identity token is requested when a token is acquired`;
    else report.loadDetail = `${identityDetail(metadata, host)}; its token is requested when a token is acquired`;
    report.canBind = report.imdsV2 === "present" && identityHere;
    report.bindDetail = report.canBind
      ? "it could: this host has IMDS v2 (set UseBoundCredential: true); as configured it is used unbound"
      : report.imdsV2 === "absent"
        ? "no: binding needs IMDS v2"
        : "no: it does not load";
    report.endpoint = loginEndpoint;
    return;
  }

  if (metadata === undefined) {
    report.loads = false;
    report.loadDetail = probeFailure ?? "IMDS v2 did not answer";
    report.canBind = false;
    report.bindDetail = "no: a bound managed identity needs IMDS v2 to issue a binding certificate";
    return;
  }
  report.loads = true;
  report.loadDetail = identityDetail(metadata, host);
  const issued = probe.issued;
  if (issued?.ok === true) {
    const binding = issued.value;
    report.imdsDetail = `at ${host}; issued a binding certificate ${services.binding.attests ? "for an attested key" : "without key attestation"}`;
    report.canBind = true;
    report.bindDetail = `yes: IMDS issued a binding certificate for ${binding.identityType} ${binding.clientId} (no token was requested)`;
    report.certificate = facts(binding.certificate);
    report.endpoint = binding.tokenEndpoint;
  } else {
    const error = issued?.error;
    report.canBind = false;
    report.bindDetail = describeError(error);
    if (error instanceof ImdsV2Error && error.kind === "attestation-required") {
      report.bindDetail += " The attestationProvider option is code: the application sets it; the CLI cannot.";
    }
  }
}

function identityDetail(metadata: PlatformMetadata, host: string): string {
  return `managed identity ${metadata.clientId} in tenant ${metadata.tenantId} (IMDS at ${host})`;
}

function facts(certificate: LoadedCertificate): CertificateFacts {
  return {
    subject: certificate.leaf.subject.replace(/\n/g, ", "),
    issuer: certificate.leaf.issuer.replace(/\n/g, ", "),
    thumbprintSha256: certificate.thumbprintSha256,
    thumbprintSha1: certificate.thumbprintSha1,
    keyType: certificate.keyType.toUpperCase(),
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
  };
}

const EXPIRY_WARNING_MS = 30 * 24 * 3600 * 1000;

function addValidityWarnings(report: EntryReport, certificate: LoadedCertificate): void {
  const left = certificate.notAfter.getTime() - Date.now();
  if (left < EXPIRY_WARNING_MS) {
    report.warnings.push(`The certificate expires in ${humanDuration(left)}: upload its successor to the app registration and deploy it.`);
  }
  if (certificate.leaf.issuer === certificate.leaf.subject) {
    report.warnings.push("The certificate is self-signed: it must be registered on the app by thumbprint (SN/I does not apply).");
  }
}

async function acquireWith(
  options: BoundClientCredentialOptions,
  index: number,
  scope: string,
  deadline: number,
): Promise<NonNullable<EntryReport["acquire"]>> {
  const entry = options.clientCredentials[index]!;
  const credential = new BoundClientCredential({ ...options, clientCredentials: [entry] });
  const started = performance.now();
  try {
    const token = await credential.getToken(scope, { abortSignal: AbortSignal.timeout(deadline) });
    const ms = Math.round(performance.now() - started);
    const claims = decodeJwt(token.token) as Record<string, unknown>;
    const endpoint = credential.lastServed?.tokenEndpoint;
    return {
      ok: true,
      ms,
      detail: `a token for ${scope} in ${ms} ms${endpoint === undefined ? "" : ` from ${endpoint}`}`,
      ...(endpoint === undefined ? {} : { tokenEndpoint: endpoint }),
      claims,
    };
  } catch (error) {
    // The message names the one entry as clientCredentials[0]: the list had only it.
    return { ok: false, ms: Math.round(performance.now() - started), detail: describeError(error).replace(/clientCredentials\[0\]/g, `clientCredentials[${index}]`) };
  } finally {
    await credential.close();
  }
}

function isUsable(report: EntryReport): boolean {
  if (report.skipped || report.loads !== true) return false;
  if (report.bound && report.canBind !== true) return false;
  return report.acquire === undefined || report.acquire.ok;
}

function mark(value: boolean | undefined): string {
  return value === true ? "✓" : value === false ? "✗" : "–";
}

function humanReport(
  summary: Hosts & {
    config: string;
    section: string;
    tenantId: string;
    clientId: string;
    entries: readonly EntryReport[];
    usable: readonly string[];
    wouldServe: string | undefined;
  },
  acquired: boolean,
): string {
  const lines = [
    `bound-credential doctor: ${path.basename(summary.config)}, section ${summary.section}`,
    table([
      ["tenant", summary.tenantId],
      ["client", summary.clientId],
      ["login host", `${summary.authorityHost} (${summary.authorityHostFrom})`],
      ["mTLS host", summary.mtlsAuthorityHost === undefined ? `none: ${summary.mtlsAuthorityHostFrom}` : `${summary.mtlsAuthorityHost} (${summary.mtlsAuthorityHostFrom})`],
      ["IMDS", summary.imdsEndpoint],
      ["extra CAs", summary.extraCaCertificates === 0 ? "none (system roots only)" : `${summary.extraCaCertificates} (--ca-file)`],
    ]),
  ];
  for (const report of summary.entries) {
    lines.push("", report.id);
    if (report.skipped) {
      lines.push(`  – ${report.loadDetail}`);
      continue;
    }
    // Binding is a fault only for an entry flagged bound; for the others it is information.
    const bindMark = !report.bound && report.canBind === false ? "–" : mark(report.canBind);
    const rows: [string, string][] = [
      [`${mark(report.loads)} loads`, report.loadDetail],
      [`${bindMark} can bind`, report.bindDetail],
    ];
    if (report.certificate !== undefined) {
      const c = report.certificate;
      const left = new Date(c.notAfter).getTime() - Date.now();
      rows.push(
        ["  subject", `${c.subject} (issuer ${c.issuer})`],
        ["  thumbprint", `SHA-256 ${c.thumbprintSha256}`],
        ["", `SHA-1   ${c.thumbprintSha1}`],
        ["  valid", `${c.notBefore} → ${c.notAfter} (${left > 0 ? `expires in ${humanDuration(left)}` : `expired ${humanDuration(-left)} ago`})`],
      );
    }
    if (report.imdsV2 !== undefined) rows.push([`  IMDS v2`, `${report.imdsV2}: ${report.imdsDetail ?? ""}`]);
    rows.push([report.bound ? "  mTLS endpoint" : "  token endpoint", report.endpoint ?? "unknown"]);
    if (report.acquire !== undefined) rows.push([`${mark(report.acquire.ok)} acquire`, report.acquire.detail.replace(/\n/g, `\n${" ".repeat(20)}`)]);
    lines.push(table(rows, "  ", 16));
    for (const warning of report.warnings) lines.push(`  ! ${warning}`);
  }
  lines.push("");
  const total = summary.entries.filter((r) => !r.skipped).length;
  lines.push(
    summary.wouldServe === undefined
      ? `No entry is usable${acquired ? " (none obtained a token)" : ""}: fix the ✗ above. Exit code 1.`
      : `${summary.usable.length} of ${total} entries usable${acquired ? " (obtained a token)" : ""}; getToken would be served by ${summary.wouldServe}.`,
  );
  return `${lines.join("\n")}\n`;
}

/** The `doctor` subcommand. */
export const doctorCommand: CliCommand = {
  summary: "Check each credential of an appsettings.json: loads, binds, thumbprint, validity, IMDS v2, endpoint",
  run,
};
