/**
 * Options from the `AZURE_*` environment variables that `@azure/identity`'s EnvironmentCredential
 * and WorkloadIdentityCredential read, plus {@link USE_BOUND_CREDENTIAL_VARIABLE}.
 *
 * Where `EnvironmentCredential` picks one credential (secret first), this builds an ordered list
 * with the strongest first: the certificate (which can also be bound), then the federated token
 * file (short-lived, nothing stored), then the secret. A deployment that has moved to a
 * certificate but still carries an old secret thus uses the certificate, and the secret only when
 * the others are unavailable.
 */
import { Checker, describeType } from "./checks.ts";
import { MappedNaming } from "./naming.ts";
import type { BoundClientCredentialOptions, CredentialDescription } from "./types.ts";
import { validateOptions, type Environment } from "./validate.ts";

/**
 * Our own variable: `true` or `1` marks the certificate of `AZURE_CLIENT_CERTIFICATE_PATH` as bound,
 * so tokens are obtained over mutual TLS with it.
 *
 * @public
 */
export const USE_BOUND_CREDENTIAL_VARIABLE = "BOUND_CLIENT_CREDENTIAL_USE_BOUND";

/** Every variable read, in the order they are documented. */
export const ENVIRONMENT_VARIABLES: readonly string[] = [
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_ID",
  "AZURE_CLIENT_CERTIFICATE_PATH",
  "AZURE_CLIENT_CERTIFICATE_PASSWORD",
  "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
  USE_BOUND_CREDENTIAL_VARIABLE,
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZURE_CLIENT_SECRET",
  "AZURE_AUTHORITY_HOST",
  "BOUND_CLIENT_CREDENTIAL_MTLS_AUTHORITY_HOST",
  "AZURE_REGIONAL_AUTHORITY_NAME",
  "AZURE_ADDITIONALLY_ALLOWED_TENANTS",
];

/**
 * Our own variable for the mutual TLS token host (`mtlsAuthorityHost`), for the clouds and hosts
 * whose `mtlsauth` host cannot be derived from `AZURE_AUTHORITY_HOST`, such as an emulator. Its
 * name is ours rather than `AZURE_*` because the Azure SDK defines no such variable.
 */
export const MTLS_AUTHORITY_HOST_VARIABLE = "BOUND_CLIENT_CREDENTIAL_MTLS_AUTHORITY_HOST";

const CREDENTIAL_VARIABLES = ["AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_SECRET"];

/**
 * Builds {@link BoundClientCredentialOptions} from environment variables and validates them, so
 * that mistakes name the variable to fix.
 *
 * @param env - the variables; `process.env` by default
 * @throws BoundCredentialConfigurationError naming the missing or wrong variables
 */
export function optionsFromEnvironment(env: Environment = process.env): BoundClientCredentialOptions {
  // Remedies that name an option ("set mtlsAuthorityHost") name its variable instead.
  const variableOf: Record<string, string> = { authorityHost: "AZURE_AUTHORITY_HOST", mtlsAuthorityHost: MTLS_AUTHORITY_HOST_VARIABLE };
  const naming = new MappedNaming("environment", (name) => variableOf[name] ?? name);
  const c: Checker = new Checker(naming);
  if (typeof env !== "object" || env === null) {
    c.fail(
      "BCC_INVALID_OPTIONS",
      "environment",
      `The environment must be an object of variables but is ${describeType(env)}.`,
      "Pass process.env or an object such as { AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH }, or leave it out.",
    );
  }
  // An empty variable counts as unset, as in @azure/identity.
  const read = (name: string): string | undefined => {
    const value: unknown = env[name];
    if (value === undefined || value === "") return undefined;
    if (typeof value !== "string") {
      c.fail("BCC_INVALID_TYPE", name, `must be a string but is ${describeType(value)}.`, "Pass environment variables as strings.");
    }
    return value;
  };

  if (ENVIRONMENT_VARIABLES.every((name) => read(name) === undefined)) {
    c.fail(
      "BCC_MISSING_FIELD",
      "environment",
      `None of the variables this reads is set: ${ENVIRONMENT_VARIABLES.join(", ")}.`,
      `Set AZURE_TENANT_ID, AZURE_CLIENT_ID and at least one of ${CREDENTIAL_VARIABLES.join(", ")}.`,
    );
  }
  const tenantId = read("AZURE_TENANT_ID");
  const clientId = read("AZURE_CLIENT_ID");
  const missing = [tenantId === undefined ? "AZURE_TENANT_ID" : undefined, clientId === undefined ? "AZURE_CLIENT_ID" : undefined].filter(
    (name): name is string => name !== undefined,
  );
  if (missing.length > 0) {
    c.fail(
      "BCC_MISSING_FIELD",
      missing[0]!,
      `is not set${missing.length > 1 ? `, and neither is ${missing[1]!}` : ""}.`,
      `Set ${missing.join(" and ")} to the directory (tenant) ID and the application (client) ID of the app registration.`,
    );
  }

  const options: Record<string, unknown> = { tenantId, clientId };
  naming.set(["tenantId"], "AZURE_TENANT_ID");
  naming.set(["clientId"], "AZURE_CLIENT_ID");

  const bound = readFlag(c, read(USE_BOUND_CREDENTIAL_VARIABLE));
  const entries: CredentialDescription[] = [];
  const certificatePath = read("AZURE_CLIENT_CERTIFICATE_PATH");
  if (certificatePath !== undefined) {
    const at = ["clientCredentials", entries.length];
    naming.set(at, "AZURE_CLIENT_CERTIFICATE_PATH");
    naming.set([...at, "certificateDiskPath"], "AZURE_CLIENT_CERTIFICATE_PATH");
    naming.set([...at, "certificatePassword"], "AZURE_CLIENT_CERTIFICATE_PASSWORD");
    naming.set([...at, "useBoundCredential"], USE_BOUND_CREDENTIAL_VARIABLE);
    const certificatePassword = read("AZURE_CLIENT_CERTIFICATE_PASSWORD");
    entries.push({
      sourceType: "Path",
      certificateDiskPath: certificatePath,
      ...(certificatePassword === undefined ? {} : { certificatePassword }),
      ...(bound ? { useBoundCredential: true } : {}),
    });
  } else if (bound) {
    c.fail(
      "BCC_BOUND_NOT_SUPPORTED",
      USE_BOUND_CREDENTIAL_VARIABLE,
      "is true, but AZURE_CLIENT_CERTIFICATE_PATH is not set: only a certificate can be bound from the environment.",
      `Set AZURE_CLIENT_CERTIFICATE_PATH to the certificate to bind, or unset ${USE_BOUND_CREDENTIAL_VARIABLE}.`,
    );
  }
  const tokenFile = read("AZURE_FEDERATED_TOKEN_FILE");
  if (tokenFile !== undefined) {
    const at = ["clientCredentials", entries.length];
    naming.set(at, "AZURE_FEDERATED_TOKEN_FILE");
    naming.set([...at, "signedAssertionFileDiskPath"], "AZURE_FEDERATED_TOKEN_FILE");
    entries.push({ sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: tokenFile });
  }
  const secret = read("AZURE_CLIENT_SECRET");
  if (secret !== undefined) {
    const at = ["clientCredentials", entries.length];
    naming.set(at, "AZURE_CLIENT_SECRET");
    naming.set([...at, "clientSecret"], "AZURE_CLIENT_SECRET");
    entries.push({ sourceType: "ClientSecret", clientSecret: secret });
  }
  if (entries.length === 0) {
    c.fail(
      "BCC_CREDENTIALS_EMPTY",
      "environment",
      `AZURE_TENANT_ID and AZURE_CLIENT_ID are set, but none of ${CREDENTIAL_VARIABLES.join(", ")} is.`,
      "Set AZURE_CLIENT_CERTIFICATE_PATH (and AZURE_CLIENT_CERTIFICATE_PASSWORD for a protected PFX), AZURE_FEDERATED_TOKEN_FILE, or AZURE_CLIENT_SECRET.",
    );
  }
  options["clientCredentials"] = entries;

  const authorityHost = read("AZURE_AUTHORITY_HOST");
  if (authorityHost !== undefined) {
    naming.set(["authorityHost"], "AZURE_AUTHORITY_HOST");
    options["authorityHost"] = authorityHost;
  }
  const mtlsAuthorityHost = read(MTLS_AUTHORITY_HOST_VARIABLE);
  if (mtlsAuthorityHost !== undefined) {
    naming.set(["mtlsAuthorityHost"], MTLS_AUTHORITY_HOST_VARIABLE);
    options["mtlsAuthorityHost"] = mtlsAuthorityHost;
  }
  const region = read("AZURE_REGIONAL_AUTHORITY_NAME");
  if (region !== undefined) {
    naming.set(["azureRegion"], "AZURE_REGIONAL_AUTHORITY_NAME");
    // @azure/identity's RegionalAuthority.AutoDiscoverRegion means MSAL's "TryAutoDetect".
    options["azureRegion"] = region.toLowerCase() === "autodiscoverregion" ? "TryAutoDetect" : region;
  }
  const allowed = read("AZURE_ADDITIONALLY_ALLOWED_TENANTS");
  if (allowed !== undefined) {
    naming.set(["additionallyAllowedTenants"], "AZURE_ADDITIONALLY_ALLOWED_TENANTS");
    options["additionallyAllowedTenants"] = allowed
      .split(";")
      .map((tenant) => tenant.trim())
      .filter((tenant) => tenant !== "");
  }
  const chain = read("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN");
  if (chain !== undefined) {
    // As EnvironmentCredential: "true" or "1" turns it on, anything else leaves it off.
    options["sendCertificateChain"] = ["true", "1"].includes(chain.trim().toLowerCase());
  }

  validateOptions(options, env, naming);
  // validateOptions has just proven the shape.
  return options as unknown as BoundClientCredentialOptions;
}

/** Our own flag is strict: a typo must not silently leave the certificate unbound. */
function readFlag(c: Checker, value: string | undefined): boolean {
  if (value === undefined) return false;
  const text = value.trim().toLowerCase();
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  c.fail(
    "BCC_INVALID_VALUE",
    USE_BOUND_CREDENTIAL_VARIABLE,
    "is neither true/1 nor false/0.",
    `Set ${USE_BOUND_CREDENTIAL_VARIABLE}=true to bind the certificate, or unset it.`,
  );
}
