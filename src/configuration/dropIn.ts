/**
 * The drop-in constructor: the arguments of `@azure/identity`'s `ClientCertificateCredential`
 * turned into {@link BoundClientCredentialOptions} with one certificate entry. Options of
 * `ClientCertificateCredentialOptions` that only make sense for its pipeline are either harmless
 * (dropped) or would silently change behaviour if ignored (rejected, saying what to use instead).
 */
import { Checker, describeType, isPlainObject, rejectUnknownKeys } from "./checks.ts";
import { MappedNaming } from "./naming.ts";
import type { BoundClientCredentialOptions, CredentialDescription } from "./types.ts";
import { validateOptions } from "./validate.ts";

/** Accepted for compatibility and dropped: they tune a pipeline this credential does not use. */
const DROPPED_OPTIONS = new Set([
  "userAgentOptions",
  "telemetryOptions",
  "redirectOptions",
  "disableInstanceDiscovery",
]);

/** Accepted and dropped inside `loggingOptions`: `@azure/logger` is configured globally. */
const DROPPED_LOGGING_OPTIONS = new Set(["logger", "additionalAllowedHeaderNames", "additionalAllowedQueryParameters"]);

/** Options that cannot be honoured, with what to do instead. */
const REJECTED_OPTIONS: Readonly<Record<string, { readonly when: (value: unknown) => boolean; readonly remedy: string }>> = {
  tokenCachePersistenceOptions: {
    when: (value) => isPlainObject(value) && value["enabled"] === true,
    remedy: "Remove it: this credential keeps tokens in memory only, per instance; reuse one instance to share its cache.",
  },
  httpClient: {
    when: () => true,
    remedy: "Remove it: this credential uses its own transport (needed for mutual TLS); give extra trusted CAs with tls.ca.",
  },
  additionalPolicies: {
    when: (value) => !Array.isArray(value) || value.length > 0,
    remedy: "Remove it: this credential does not run an HTTP pipeline, so policies would never be called.",
  },
  allowInsecureConnection: {
    when: (value) => value !== false,
    remedy: "Remove it: credentials and tokens only travel over https; for a local emulator trust its CA with tls.ca.",
  },
  agent: {
    when: () => true,
    remedy: "Remove it: this credential manages its own connections (one per client certificate); give extra trusted CAs with tls.ca.",
  },
};

/**
 * Turns the arguments of `new ClientCertificateCredential(tenantId, clientId, certificate, options)`
 * into options with one entry: `Path` for a file, `Certificate` for PEM text. `options.useBoundCredential`
 * marks it bound.
 *
 * @param tenantId - the directory (tenant) ID
 * @param clientId - the application (client) ID
 * @param certificate - a file path, `{ certificatePath, certificatePassword? }` or `{ certificate, certificatePassword? }`
 * @param options - `ClientCertificateCredentialOptions` plus `useBoundCredential` and the options of this library
 * @throws BoundCredentialConfigurationError naming the argument that is wrong
 */
export function optionsFromDropInArguments(
  tenantId: unknown,
  clientId: unknown,
  certificate: unknown,
  options: unknown,
): BoundClientCredentialOptions {
  const naming = new MappedNaming("", (name) => name);
  const c: Checker = new Checker(naming);
  naming.set(["clientCredentials"], typeof certificate === "string" ? "certificatePath" : "configuration");
  naming.set(["clientCredentials", 0], typeof certificate === "string" ? "certificatePath" : "configuration");

  const entry = readCertificateArgument(c, naming, certificate);
  const result: Record<string, unknown> = { tenantId, clientId };
  if (options !== undefined && options !== null) {
    if (!isPlainObject(options)) {
      c.fail("BCC_INVALID_OPTIONS", "options", `must be an object but is ${describeType(options)}.`, "Pass ClientCertificateCredentialOptions as an object, or leave it out.");
    }
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined || DROPPED_OPTIONS.has(key)) continue;
      const rejected = REJECTED_OPTIONS[key];
      if (rejected !== undefined) {
        if (rejected.when(value)) {
          c.fail("BCC_INVALID_OPTIONS", `options.${key}`, "is not supported by BoundClientCredential.", rejected.remedy);
        }
        continue;
      }
      if (key === "useBoundCredential") {
        naming.set(["clientCredentials", 0, "useBoundCredential"], "options.useBoundCredential");
        entry["useBoundCredential"] = value;
        continue;
      }
      if (key === "tlsOptions") {
        readTlsOptions(c, naming, value, options, result);
        continue;
      }
      naming.set([key], `options.${key}`, true);
      result[key] = key === "loggingOptions" && isPlainObject(value) ? withoutDroppedLogging(value) : value;
    }
  }
  result["clientCredentials"] = [entry];
  validateOptions(result, process.env, naming);
  // validateOptions has just proven the shape.
  return result as unknown as BoundClientCredentialOptions;
}

function readCertificateArgument(c: Checker, naming: MappedNaming, certificate: unknown): Record<string, unknown> {
  const missing =
    "Provide either a PEM certificate in string form, or the path to that certificate in the filesystem.";
  if (certificate === undefined || certificate === null) {
    c.fail(
      "BCC_MISSING_FIELD",
      "configuration",
      "is missing: no certificate was given.",
      `${missing} For example "/certs/app.pem", { certificatePath: "/certs/app.pfx", certificatePassword } or { certificate: pemText }.`,
    );
  }
  if (typeof certificate === "string") {
    if (certificate.trim() === "") {
      c.fail("BCC_EMPTY_FIELD", "certificatePath", "is empty.", "Give the path of the PEM or PFX file.");
    }
    naming.set(["clientCredentials", 0, "certificateDiskPath"], "certificatePath");
    return { sourceType: "Path", certificateDiskPath: certificate } satisfies CredentialDescription;
  }
  if (!isPlainObject(certificate)) {
    c.fail(
      "BCC_INVALID_TYPE",
      "configuration",
      `must be a path string or an object but is ${describeType(certificate)}.`,
      `${missing} For example { certificatePath: "/certs/app.pfx", certificatePassword }.`,
    );
  }
  rejectUnknownKeys(c, certificate, ["configuration"], ["certificate", "certificatePath", "certificatePassword"], "the certificate configuration");
  const hasPem = certificate["certificate"] !== undefined;
  const hasPath = certificate["certificatePath"] !== undefined;
  if (hasPem && hasPath) {
    c.fail(
      "BCC_CONFLICTING_FIELDS",
      "configuration.certificatePath",
      "is given together with configuration.certificate; to avoid unexpected behaviour, only one is allowed.",
      "Keep either certificate (the PEM text) or certificatePath (the file), not both.",
    );
  }
  if (!hasPem && !hasPath) {
    c.fail("BCC_MISSING_FIELD", "configuration", "has neither certificate nor certificatePath.", `${missing}`);
  }
  const password = certificate["certificatePassword"];
  if (hasPem) {
    naming.set(["clientCredentials", 0, "certificate"], "configuration.certificate");
    naming.set(["clientCredentials", 0, "privateKey"], "configuration.certificate");
    naming.set(["clientCredentials", 0, "privateKeyPassword"], "configuration.certificatePassword");
    return {
      sourceType: "Certificate",
      certificate: certificate["certificate"],
      ...(password === undefined ? {} : { privateKeyPassword: password }),
    };
  }
  naming.set(["clientCredentials", 0, "certificateDiskPath"], "configuration.certificatePath");
  naming.set(["clientCredentials", 0, "certificatePassword"], "configuration.certificatePassword");
  return {
    sourceType: "Path",
    certificateDiskPath: certificate["certificatePath"],
    ...(password === undefined ? {} : { certificatePassword: password }),
  };
}

/** `tlsOptions.ca` becomes `tls.ca`; a client certificate in `tlsOptions` is refused. */
function readTlsOptions(
  c: Checker,
  naming: MappedNaming,
  value: unknown,
  options: Record<string, unknown>,
  result: Record<string, unknown>,
): void {
  if (!isPlainObject(value)) {
    c.fail("BCC_INVALID_TYPE", "options.tlsOptions", `must be an object but is ${describeType(value)}.`, "Give { ca } or leave it out.");
  }
  for (const key of ["cert", "key", "pfx", "passphrase"]) {
    if (value[key] !== undefined) {
      c.fail(
        "BCC_INVALID_OPTIONS",
        `options.tlsOptions.${key}`,
        "is not supported: the client certificate is the credential's own.",
        "Remove it; to present the credential's certificate over mutual TLS, set options.useBoundCredential to true.",
      );
    }
  }
  rejectUnknownKeys(c, value, ["tlsOptions"], ["ca"], "tlsOptions");
  const ca = value["ca"];
  if (ca === undefined) return;
  if (options["tls"] !== undefined) {
    c.fail("BCC_CONFLICTING_FIELDS", "options.tlsOptions.ca", "is given together with options.tls.", "Give the extra CAs once, in tls.ca.");
  }
  // TlsSettings allows Buffers; PEM text is what tls.ca takes.
  const asText = (item: unknown): unknown => (item instanceof Uint8Array ? Buffer.from(item).toString("utf8") : item);
  naming.set(["tls"], "options.tlsOptions", true);
  result["tls"] = { ca: Array.isArray(ca) ? ca.map(asText) : asText(ca) };
}

function withoutDroppedLogging(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([key]) => !DROPPED_LOGGING_OPTIONS.has(key)));
}
