/**
 * The `bound-credential` command line, run as a child process (`node src/cli/main.ts …`) against an
 * emulator started by this file, with appsettings.json files written to a temporary directory:
 * output, exit codes (0 ok, 1 no token, 2 usage or configuration), and that `doctor` requests no
 * token unless `--acquire`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmulator, type Emulator, type IssuedCertificate, type RegisteredApp, type RegisteredManagedIdentity } from "../../src/emulator/index.ts";

const CLI = path.join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
const STORAGE_SCOPE = "https://storage.azure.com/.default";
const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(args: readonly string[], cwd: string): Promise<Run> {
  // The machine's AZURE_* variables must play no part.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("AZURE_")));
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

describe("bound-credential token and doctor", () => {
  let emulator: Emulator;
  let app: RegisteredApp;
  let identity: RegisteredManagedIdentity;
  let certificate: IssuedCertificate;
  let directory: string;
  let hostFlags: string[];
  const secret = "cli-test-secret";
  const pfxPassword = "cli-pfx-password";

  /** Writes an appsettings.json with this AzureAd section (and a comment, as .NET files have). */
  async function settings(name: string, clientCredentials: unknown[], extra: Record<string, unknown> = {}): Promise<string> {
    const section = {
      Instance: `${emulator.authorityHost}/`,
      TenantId: emulator.tenantId,
      ClientId: app.clientId,
      ClientCredentials: clientCredentials,
      ...extra,
    };
    const text = `{\n  // written by cli.test.ts\n  "Logging": { "LogLevel": { "Default": "Information", } },\n  "AzureAd": ${JSON.stringify(section, null, 2)},\n}\n`;
    await writeFile(path.join(directory, name), text);
    return name;
  }

  const pfxEntry = (): Record<string, unknown> => ({
    SourceType: "Path",
    CertificateDiskPath: path.join(directory, "app.pfx"),
    CertificatePassword: pfxPassword,
    UseBoundCredential: true,
  });

  before(async () => {
    emulator = await startEmulator();
    certificate = await emulator.issueCertificate({ subject: "CN=cli-test-app" });
    identity = emulator.registerManagedIdentity({ kind: "system" });
    app = emulator.registerApp({
      certificates: [certificate.certificatePem],
      secrets: [secret],
      federatedCredentials: [emulator.federatedCredentialFor(identity)],
    });
    directory = await mkdtemp(path.join(tmpdir(), "bcc-cli-test-"));
    await writeFile(path.join(directory, "ca.pem"), emulator.caCertificatePem);
    await writeFile(path.join(directory, "app.pfx"), certificate.toPfx(pfxPassword), { mode: 0o600 });
    hostFlags = ["--ca-file", "ca.pem", "--mtls-authority-host", emulator.mtlsAuthorityHost, "--imds-endpoint", emulator.imdsEndpoint];
    await settings("appsettings.json", [
      { SourceType: "SignedAssertionFromManagedIdentity", UseBoundCredential: true },
      pfxEntry(),
      { SourceType: "ClientSecret", ClientSecret: secret },
    ]);
  });

  after(async () => {
    await emulator?.close();
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  });

  test("--help of the program and of each command, exit code 0", async () => {
    const main = await cli(["--help"], directory);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /^ {2}token +Acquire a token/m);
    assert.match(main.stdout, /^ {2}doctor +Check each credential/m);
    assert.match(main.stdout, /^ {2}emulator +Run a local/m);
    const helps = await Promise.all(["token", "doctor"].map(async (command) => ({ command, help: await cli([command, "--help"], directory) })));
    for (const { command, help } of helps) {
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^Usage: bound-credential ${command} --config`));
      assert.match(help.stdout, /--ca-file <file>/);
      assert.match(help.stdout, /--mtls-authority-host/);
      assert.match(help.stdout, /Exit codes: 0 /);
    }
  });

  test("token: claims, the entry that served, bound, timings; the token itself is not printed", async () => {
    const before = emulator.journal.length;
    const run = await cli(["token", "--config", "appsettings.json", "--scope", STORAGE_SCOPE, ...hostFlags], directory);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /served by +clientCredentials\[0\] \(SignedAssertionFromManagedIdentity system-assigned, bound\)/);
    assert.match(run.stdout, /bound +yes: obtained over mutual TLS/);
    assert.match(run.stdout, new RegExp(`token endpoint +${emulator.mtlsTokenEndpoint().replace(/[.]/g, "\\.")}`));
    assert.match(run.stdout, /^ {2}aud +https:\/\/storage\.azure\.com$/m);
    assert.match(run.stdout, new RegExp(`^ {2}appid +${app.clientId}$`, "m"));
    assert.match(run.stdout, /^Steps\n {2}read appsettings\.json +[\d.]+ ms\n {2}build the credential +[\d.]+ ms\n {2}acquire the token +[\d.]+ ms$/m);
    assert.doesNotMatch(run.stdout + run.stderr, JWT);
    assert.match(run.stderr, /Acquiring a token for https:\/\/storage\.azure\.com\/\.default \(3 entries in AzureAd\.ClientCredentials\)…/);
    const requests = emulator.journal.entries.slice(before);
    assert.ok(requests.some((e) => e.route === "imds.issueCredential" && e.status === 200));
    assert.ok(requests.some((e) => e.route === "mtls.token" && e.clientId === app.clientId && e.status === 200));
  });

  test("token --json: one object for scripts; --raw adds the token, which the emulator verifies", async () => {
    const json = await cli(["token", "-c", "appsettings.json", "--scope", STORAGE_SCOPE, ...hostFlags, "--json", "--quiet"], directory);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stderr, "");
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(report["ok"], true);
    assert.equal(report["bound"], true);
    assert.equal(report["tokenEndpoint"], emulator.mtlsTokenEndpoint());
    assert.equal((report["claims"] as Record<string, unknown>)["appid"], app.clientId);
    assert.deepEqual(
      (report["steps"] as { step: string }[]).map((s) => s.step),
      ["read appsettings.json", "build the credential", "acquire the token"],
    );
    assert.equal(report["token"], undefined);

    const raw = await cli(["token", "-c", "appsettings.json", "--scope", STORAGE_SCOPE, ...hostFlags, "--raw", "-q"], directory);
    assert.equal(raw.code, 0, raw.stderr);
    assert.match(raw.stdout, /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const claims = await emulator.verifyAccessToken(raw.stdout.trim());
    assert.equal(claims["appid"], app.clientId);
    assert.equal(claims["aud"], "https://storage.azure.com");
  });

  test("token: entries that did not serve are listed with their reasons", async () => {
    const file = await settings("fallthrough.json", [
      { SourceType: "Path", CertificateDiskPath: path.join(directory, "missing.pfx"), UseBoundCredential: true },
      { SourceType: "CustomSignedAssertion", CustomSignedAssertionProviderName: "MyAttestedProvider" },
      pfxEntry(),
    ]);
    const run = await cli(["token", "--config", file, "--scope", STORAGE_SCOPE, ...hostFlags], directory);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /served by +clientCredentials\[2\] \(Path .*app\.pfx, bound\)/);
    assert.match(run.stdout, /Entries that did not serve\n {2}clientCredentials\[0\] \(Path .*missing\.pfx, bound\) is unavailable: .*does not exist/);
    assert.match(run.stdout, /clientCredentials\[1\] \(CustomSignedAssertion MyAttestedProvider\) is unavailable: .*bound-credential cannot run it/);
  });

  test("token --json: notServed holds only the entries that did not serve, read from the credential, not its log", async () => {
    // The unbound secret is served through msal-node, which warns "No client info in response":
    // a warning, not an entry that failed.
    const file = await settings("secret-after-missing.json", [
      { SourceType: "Path", CertificateDiskPath: path.join(directory, "missing.pfx"), UseBoundCredential: true },
      { SourceType: "ClientSecret", ClientSecret: secret },
    ]);
    const run = await cli(["token", "--config", file, "--scope", STORAGE_SCOPE, ...hostFlags, "--json", "-q"], directory);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { servedBy: string; notServed: string[] };
    assert.match(report.servedBy, /^clientCredentials\[1\] \(ClientSecret\)/);
    assert.equal(report.notServed.length, 1, report.notServed.join("\n"));
    assert.match(report.notServed[0] ?? "", /^clientCredentials\[0\] \(Path .*missing\.pfx, bound\) is unavailable: .*does not exist/);
    assert.doesNotMatch(report.notServed.join("\n"), /msal-node|client info/i);
  });

  test("token: exit code 1 when no entry obtains a token, with every entry's reason and what to do next", async () => {
    const file = await settings("wrong-secret.json", [
      { SourceType: "Path", CertificateDiskPath: path.join(directory, "missing.pfx"), UseBoundCredential: true },
      { SourceType: "ClientSecret", ClientSecret: "not-the-secret" },
    ]);
    const run = await cli(["token", "--config", file, "--scope", STORAGE_SCOPE, ...hostFlags, "-q"], directory);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /no token for https:\/\/storage\.azure\.com\/\.default/);
    assert.match(run.stderr, /clientCredentials\[0\] \(Path .*missing\.pfx, bound\): unavailable/);
    assert.match(run.stderr, /clientCredentials\[1\] \(ClientSecret\): rejected by Entra ID: AADSTS7000215/);
    assert.match(run.stderr, /bound-credential doctor/);
    assert.doesNotMatch(run.stderr, /not-the-secret/);

    const json = await cli(["token", "--config", file, "--scope", STORAGE_SCOPE, ...hostFlags, "-q", "--json"], directory);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout) as { ok: boolean; error: { name: string; message: string } };
    assert.equal(report.ok, false);
    assert.equal(report.error.name, "AuthenticationError");
    const structured = (report.error as unknown as { code: string; entries: { index: number; outcome: string; aadsts?: number }[] });
    assert.equal(structured.code, "BCC_AUTHENTICATION_FAILED");
    assert.deepEqual(
      structured.entries.map((e) => [e.index, e.outcome, e.aadsts]),
      [
        [0, "unavailable", undefined],
        [1, "rejected", 7000215],
      ],
    );
  });

  test("token: without --ca-file the emulator is not trusted (verification stays on), exit code 1", async () => {
    const run = await cli(
      ["token", "--config", "appsettings.json", "--scope", STORAGE_SCOPE, "--mtls-authority-host", emulator.mtlsAuthorityHost, "--imds-endpoint", emulator.imdsEndpoint, "-q"],
      directory,
    );
    assert.equal(run.code, 1);
    assert.match(run.stderr, /not trusted/);
  });

  test("token: exit code 2 for usage and configuration errors, with what to fix", async () => {
    await writeFile(path.join(directory, "broken.json"), '{\n  "AzureAd": {\n    "TenantId": "x"\n    "ClientId": "y"\n  }\n}\n');
    const notArray = await settings("not-array.json", [], {});
    await writeFile(
      path.join(directory, notArray),
      JSON.stringify({ AzureAd: { TenantId: emulator.tenantId, ClientId: app.clientId, ClientCredentials: { SourceType: "ClientSecret", ClientSecret: "x" } } }),
    );
    const cases: { args: string[]; message: RegExp }[] = [
      { args: ["token", "--config", "appsettings.json"], message: /--scope is required/ },
      { args: ["token", "--scope", STORAGE_SCOPE], message: /--config is required/ },
      { args: ["token", "--config", "nope.json", "--scope", STORAGE_SCOPE], message: /Cannot read --config nope\.json: no such file/ },
      { args: ["token", "--config", "broken.json", "--scope", STORAGE_SCOPE], message: /broken\.json is not valid JSON at line 4/ },
      { args: ["token", "--config", notArray, "--scope", STORAGE_SCOPE], message: /AzureAd\.ClientCredentials: must be a JSON array/ },
      { args: ["token", "--config", "appsettings.json", "--scope", STORAGE_SCOPE, "--mtls-authority-host", "http://127.0.0.1:1"], message: /--mtls-authority-host: uses http:/ },
      { args: ["token", "--config", "appsettings.json", "--scope", STORAGE_SCOPE, "--ca-file", "appsettings.json"], message: /--ca-file appsettings\.json holds no PEM certificate/ },
      { args: ["token", "--config", "appsettings.json", "--scope", STORAGE_SCOPE, "--timeout", "soon"], message: /--timeout must be a number of seconds/ },
      { args: ["token", "--bogus"], message: /Unknown option '--bogus'/ },
      { args: ["doctor", "--config", "appsettings.json", "--acquire"], message: /--acquire needs --scope/ },
      { args: ["doctor", "--config", "appsettings.json", "--section", "Nope"], message: /Nope: is not a section/ },
      { args: ["nonsense"], message: /Unknown command "nonsense"/ },
    ];
    // Independent processes: run them side by side.
    const runs = await Promise.all(cases.map(({ args }) => cli(args, directory)));
    cases.forEach(({ args, message }, i) => {
      const run = runs[i]!;
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(" "));
      assert.equal(run.stdout, "", args.join(" "));
    });
  });

  test("doctor: each entry's facts without requesting a token", async () => {
    const file = await settings("doctor.json", [
      { SourceType: "SignedAssertionFromManagedIdentity", UseBoundCredential: true },
      pfxEntry(),
      { SourceType: "Path", CertificateDiskPath: path.join(directory, "app.pfx"), CertificatePassword: "wrong-password", UseBoundCredential: true },
      { SourceType: "ClientSecret", ClientSecret: secret, Skip: true },
      { SourceType: "ClientSecret", ClientSecret: secret },
    ]);
    const tokensBefore = emulator.journal.filter((e) => e.route === "login.token" || e.route === "mtls.token").length;
    const run = await cli(["doctor", "--config", file, ...hostFlags], directory);
    assert.equal(run.code, 0, run.stderr);
    const tokensAfter = emulator.journal.filter((e) => e.route === "login.token" || e.route === "mtls.token").length;
    assert.equal(tokensAfter, tokensBefore, "doctor requested no token");

    const sections = run.stdout.split("\n\n");
    const entry = (index: number): string => sections.find((s) => s.startsWith(`clientCredentials[${index}]`)) ?? "";
    assert.match(run.stdout, new RegExp(`mTLS host +${emulator.mtlsAuthorityHost.replace(/[.]/g, "\\.")} \\(--mtls-authority-host\\)`));
    assert.match(run.stdout, /extra CAs +1 \(--ca-file\)/);

    assert.match(entry(0), /✓ loads +managed identity [0-9a-f-]+ in tenant/);
    assert.match(entry(0), /✓ can bind +yes: IMDS issued a binding certificate .*\(no token was requested\)/);
    assert.match(entry(0), /IMDS v2 +present/);
    assert.match(entry(0), /thumbprint +SHA-256 [0-9A-F]{64}/);
    assert.match(entry(0), new RegExp(`mTLS endpoint +${emulator.mtlsTokenEndpoint().replace(/[.]/g, "\\.")}`));

    assert.match(entry(1), /✓ loads +certificate CN=cli-test-app with its RSA private key/);
    assert.match(entry(1), /✓ can bind +yes: the certificate is presented in the TLS handshake/);
    assert.match(entry(1), new RegExp(`thumbprint +SHA-256 ${certificate.thumbprintSha256}\\n +SHA-1 +${certificate.thumbprintSha1}`));
    assert.match(entry(1), /valid +\d{4}-\d\d-\d\dT.* → \d{4}-\d\d-\d\dT.* \(expires in /);

    assert.match(entry(2), /✗ loads +.*the PFX password is wrong or missing/);
    assert.match(entry(3), /skipped \(Skip: true\)/);
    assert.match(entry(4), /✓ loads +a client secret \(value not shown\)/);
    assert.match(entry(4), /– can bind +no: a secret has no certificate to present/);
    assert.match(entry(4), new RegExp(`token endpoint +${emulator.tokenEndpoint().replace(/[.]/g, "\\.")}`));
    assert.doesNotMatch(run.stdout, new RegExp(secret));
    assert.match(run.stdout, /3 of 4 entries usable; getToken would be served by clientCredentials\[0\]/);
    assert.match(run.stderr, /Checking clientCredentials\[0\]/);
  });

  test("doctor --acquire: each entry acquires on its own; --json for scripts", async () => {
    const file = await settings("acquire.json", [
      pfxEntry(),
      { SourceType: "ClientSecret", ClientSecret: "not-the-secret" },
    ]);
    const run = await cli(["doctor", "--config", file, ...hostFlags, "--acquire", "--scope", STORAGE_SCOPE, "--json", "-q"], directory);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as {
      entries: { id: string; acquire?: { ok: boolean; detail: string; tokenEndpoint?: string; claims?: Record<string, unknown> }; certificate?: { thumbprintSha256: string } }[];
      usable: string[];
      wouldServe: string;
    };
    assert.equal(report.entries.length, 2);
    assert.equal(report.entries[0]!.acquire?.ok, true);
    assert.equal(report.entries[0]!.acquire?.tokenEndpoint, emulator.mtlsTokenEndpoint());
    assert.equal(report.entries[0]!.acquire?.claims?.["appid"], app.clientId);
    assert.equal(report.entries[0]!.certificate?.thumbprintSha256, certificate.thumbprintSha256);
    assert.equal(report.entries[1]!.acquire?.ok, false);
    assert.match(report.entries[1]!.acquire?.detail ?? "", /clientCredentials\[1\] \(ClientSecret\): rejected by Entra ID: AADSTS7000215/);
    assert.deepEqual(report.usable, [report.entries[0]!.id]);
    assert.equal(report.wouldServe, report.entries[0]!.id);
    assert.doesNotMatch(run.stdout, JWT);
  });

  test("doctor: exit code 1 when no entry is usable", async () => {
    const file = await settings("nothing.json", [
      { SourceType: "Path", CertificateDiskPath: path.join(directory, "missing.pfx"), UseBoundCredential: true },
      { SourceType: "StoreWithThumbprint", CertificateStorePath: "CurrentUser/My", CertificateThumbprint: "0123456789ABCDEF0123456789ABCDEF01234567" },
    ]);
    const run = await cli(["doctor", "--config", file, ...hostFlags, "-q"], directory);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /✗ loads +the certificate file .*missing\.pfx does not exist/);
    assert.match(run.stdout, /✗ loads +Windows certificate stores cannot be read from Node\.js; export the certificate to a PFX/);
    assert.match(run.stdout, /No entry is usable: fix the ✗ above\./);
  });

  test("doctor: a bound managed identity on a host without IMDS v2 cannot bind, and says so", async () => {
    const v1Only = await startEmulator({ imds: { v2: false } });
    try {
      const file = await settings("v1.json", [{ SourceType: "SignedAssertionFromManagedIdentity", UseBoundCredential: true }, { SourceType: "SignedAssertionFromManagedIdentity" }]);
      const run = await cli(["doctor", "--config", file, ...hostFlags.slice(0, 4), "--imds-endpoint", v1Only.imdsEndpoint, "-q"], directory);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /clientCredentials\[0\][^\n]*\n {2}✗ loads +IMDS getplatformmetadata .* answered 404: this host has IMDS v1 only/);
      assert.match(run.stdout, /IMDS v2 +absent/);
      assert.match(run.stdout, /clientCredentials\[1\][^\n]*\n {2}✓ loads +IMDS \(v1\) answers/);
      assert.match(run.stdout, /1 of 2 entries usable; getToken would be served by clientCredentials\[1\]/);
    } finally {
      await v1Only.close();
    }
  });
});
