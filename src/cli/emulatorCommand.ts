/**
 * `bound-credential emulator`: starts the local emulator with a demo app (certificate, secret,
 * federated trust of the VM's managed identity) and prints what a client needs to use it.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { startEmulator } from "../emulator/index.ts";
import { describeArgumentError } from "./arguments.ts";
import type { CliCommand, CliIo } from "./types.ts";

const HELP = `Usage: bound-credential emulator [options]

Starts a local emulator of Microsoft Entra ID (login and mTLS hosts), IMDS v1/v2 and Key Vault on
127.0.0.1, registers a demo app and a managed identity, writes an appsettings.json, the CA and the
app's certificates into --out-dir, prints commands to paste (doctor, token, fromEnvironment; bound and
unbound), and runs until interrupted (Ctrl+C).

Options:
  --port <n>            Base port: login n, mTLS n+1, IMDS n+2, Key Vault n+3 (default: free ports)
  --ca-file <path>      Where to write the emulator's CA certificate (default: <out-dir>/ca.pem)
  --out-dir <dir>       Where to write appsettings.json, the CA and the demo certificates
                        (default: ./.emulator)
  --token-lifetime <s>  Access token lifetime in seconds (default: 3599)
  --tenant-id <id>      The tenant id (default: random)
  -h, --help            Show this help
`;

const FLAGS = {
  port: { type: "string" },
  "ca-file": { type: "string" },
  "out-dir": { type: "string" },
  "token-lifetime": { type: "string" },
  "tenant-id": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function integerOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${value}".`);
  }
  return number;
}

/** A word as a POSIX shell reads it back: bare when it is plain, single-quoted otherwise. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

function writePrivateFile(file: string, content: string | Buffer): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: FLAGS }));
  } catch (error) {
    io.stderr.write(`bound-credential emulator: ${describeArgumentError(error, FLAGS)}\n\n${HELP}`);
    return 2;
  }
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  let basePort: number | undefined;
  let tokenLifetimeSeconds: number | undefined;
  try {
    basePort = integerOption(values.port, "port", 0, 65_532);
    tokenLifetimeSeconds = integerOption(values["token-lifetime"], "token-lifetime", 1, 86_400 * 30);
  } catch (error) {
    io.stderr.write(`bound-credential emulator: ${error instanceof Error ? error.message : String(error)}\nRun \`bound-credential emulator --help\` for the options.\n`);
    return 2;
  }
  const outDir = path.resolve(values["out-dir"] ?? ".emulator");
  const caFile = path.resolve(values["ca-file"] ?? path.join(outDir, "ca.pem"));
  mkdirSync(outDir, { recursive: true });
  mkdirSync(path.dirname(caFile), { recursive: true });

  const emulator = await startEmulator({
    ...(values["tenant-id"] === undefined ? {} : { tenantId: values["tenant-id"] }),
    ...(tokenLifetimeSeconds === undefined ? {} : { tokenLifetimeSeconds }),
    ...(basePort === undefined || basePort === 0
      ? {}
      : { ports: { login: basePort, mtls: basePort + 1, imds: basePort + 2, keyVault: basePort + 3 } }),
  });
  try {
    const certificate = await emulator.issueCertificate({ subject: "CN=bound-credential demo app" });
    const pfxPassword = randomBytes(12).toString("base64url");
    const clientSecret = randomBytes(24).toString("base64url");
    const identity = emulator.registerManagedIdentity({ kind: "system" });
    const app = emulator.registerApp({
      certificates: [certificate.certificatePem],
      secrets: [clientSecret],
      federatedCredentials: [emulator.federatedCredentialFor(identity)],
    });
    emulator.keyVault.setCertificate("demo-app-certificate", certificate);

    const pemFile = path.join(outDir, "app-certificate.pem");
    const pfxFile = path.join(outDir, "app-certificate.pfx");
    const settingsFile = path.join(outDir, "appsettings.json");
    writeFileSync(caFile, emulator.caCertificatePem);
    writePrivateFile(pemFile, `${certificate.privateKeyPem}${certificate.certificatePem}`);
    writePrivateFile(pfxFile, certificate.toPfx(pfxPassword));

    const identityWeb = { Instance: `${emulator.authorityHost}/`, TenantId: emulator.tenantId, ClientId: app.clientId };
    const appsettings = {
      // The bound list: the managed identity first, then the certificate, both over mutual TLS.
      AzureAd: {
        ...identityWeb,
        MtlsAuthorityHost: emulator.mtlsAuthorityHost,
        ClientCredentials: [
          { SourceType: "SignedAssertionFromManagedIdentity", UseBoundCredential: true },
          { SourceType: "Path", CertificateDiskPath: pfxFile, CertificatePassword: pfxPassword, UseBoundCredential: true },
          { SourceType: "KeyVault", KeyVaultUrl: emulator.keyVaultUrl, KeyVaultCertificateName: "demo-app-certificate" },
          { SourceType: "ClientSecret", ClientSecret: clientSecret },
        ],
      },
      // The same app without binding: the certificate, then the secret, over the login host.
      AzureAdUnbound: {
        ...identityWeb,
        ClientCredentials: [
          { SourceType: "Path", CertificateDiskPath: pemFile },
          { SourceType: "ClientSecret", ClientSecret: clientSecret },
        ],
      },
    };
    // Holds the demo secret and PFX password: private, like the key files.
    writePrivateFile(settingsFile, `${JSON.stringify(appsettings, null, 2)}\n`);

    const scope = "https://storage.azure.com/.default";
    // The section names its mTLS host (MtlsAuthorityHost); the CA and IMDS are the machine's, not the app's.
    const hosts = ["--ca-file", caFile, "--imds-endpoint", emulator.imdsEndpoint];
    const command = (...args: string[]): string => ["bound-credential", ...args].map(shellWord).join(" ");
    const exports = (variables: Record<string, string>): string[] =>
      Object.entries(variables).map(([name, value]) => `export ${name}=${shellWord(value)}`);
    io.stdout.write(
      [
        "bound-credential emulator (demo credentials below are valid only for this emulator run)",
        "",
        `  Login host        ${emulator.authorityHost}`,
        `  mTLS host         ${emulator.mtlsAuthorityHost}`,
        `  IMDS              ${emulator.imdsEndpoint}`,
        `  Key Vault         ${emulator.keyVaultUrl}`,
        `  Tenant            ${emulator.tenantId}`,
        `  App (client id)   ${app.clientId}`,
        `  Managed identity  ${identity.clientId} (system-assigned, trusted by the app as a federated credential)`,
        `  Settings          ${settingsFile} (sections AzureAd: bound; AzureAdUnbound)`,
        `  CA certificate    ${caFile}`,
        `  App certificate   ${pemFile} (PEM key + certificate), ${pfxFile} (PFX)`,
        "",
        "Paste into another shell while this one runs:",
        "",
        "# Check each entry of the bound list, then get a token over mutual TLS (the managed identity serves):",
        command("doctor", "--config", settingsFile, ...hosts),
        command("token", "--config", settingsFile, "--scope", scope, ...hosts),
        "",
        "# An unbound token (the certificate, over the login host):",
        command("token", "--config", settingsFile, "--section", "AzureAdUnbound", "--scope", scope, "--ca-file", caFile),
        "",
        "# BoundClientCredential.fromEnvironment() with a bound certificate:",
        ...exports({
          AZURE_TENANT_ID: emulator.tenantId,
          AZURE_CLIENT_ID: app.clientId,
          AZURE_AUTHORITY_HOST: emulator.authorityHost,
          AZURE_CLIENT_CERTIFICATE_PATH: pemFile,
          BOUND_CLIENT_CREDENTIAL_MTLS_AUTHORITY_HOST: emulator.mtlsAuthorityHost,
          BOUND_CLIENT_CREDENTIAL_USE_BOUND: "true",
          NODE_EXTRA_CA_CERTS: caFile,
        }),
        command("token", "--from-environment", "--scope", scope),
        "",
        "# ... and unbound (the same variables, the certificate not bound):",
        ...exports({ BOUND_CLIENT_CREDENTIAL_USE_BOUND: "false" }),
        command("token", "--from-environment", "--scope", scope),
        "",
        "In code, the options appsettings.json does not carry:",
        `  BoundClientCredential.fromConfiguration(appsettings.AzureAd, { imdsEndpoint: "${emulator.imdsEndpoint}",`,
        `    tls: { ca: [readFileSync(${JSON.stringify(caFile)}, "utf8")] } })`,
        "",
        "Emulator ready. Press Ctrl+C to stop.",
        "",
      ].join("\n"),
    );
    await new Promise<void>((resolve) => {
      const stop = () => {
        io.signals.off("SIGINT", stop);
        io.signals.off("SIGTERM", stop);
        resolve();
      };
      io.signals.once("SIGINT", stop);
      io.signals.once("SIGTERM", stop);
    });
  } finally {
    await emulator.close();
  }
  io.stdout.write("Emulator stopped.\n");
  return 0;
}

/** The `emulator` subcommand. */
export const emulatorCommand: CliCommand = {
  summary: "Run a local Entra ID / IMDS / Key Vault emulator with a demo app",
  run,
};
