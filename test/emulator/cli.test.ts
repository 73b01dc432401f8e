import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

interface Run {
  readonly child: ChildProcessWithoutNullStreams;
  output(): string;
  exit: Promise<number | null>;
}

function runCli(args: string[]): Run {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: "pipe" });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  // A guard against a hang, not a timing assertion.
  const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const exit = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(guard);
      resolve(code);
    }),
  );
  return { child, output: () => output, exit };
}

async function waitFor(run: Run, text: string): Promise<void> {
  while (!run.output().includes(text)) {
    if (run.child.exitCode !== null) throw new Error(`The CLI exited early:\n${run.output()}`);
    await Promise.race([new Promise<void>((resolve) => run.child.stdout.once("data", () => resolve())), run.exit]);
  }
}

describe("bound-credential CLI", () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), "bound-credential-cli-"));
  after(() => rmSync(directory, { recursive: true, force: true }));

  test("without a command it prints the commands and exits 2 (usage); --help exits 0", async () => {
    const bare = runCli([]);
    assert.equal(await bare.exit, 2);
    assert.match(bare.output(), /Commands:\n {2}emulator/);
    const help = runCli(["emulator", "--help"]);
    assert.equal(await help.exit, 0);
    assert.match(help.output(), /--port <n>/);
    assert.match(help.output(), /--ca-file <path>/);
  });

  test("bad input exits non-zero with a message naming it", async () => {
    const unknownCommand = runCli(["nope"]);
    assert.equal(await unknownCommand.exit, 2);
    assert.match(unknownCommand.output(), /Unknown command "nope"/);
    const unknownOption = runCli(["emulator", "--bogus"]);
    assert.equal(await unknownOption.exit, 2);
    assert.match(unknownOption.output(), /--bogus/);
    const typo = runCli(["emulator", "--out-dri", "x"]);
    assert.equal(await typo.exit, 2);
    assert.match(typo.output(), /Unknown option '--out-dri'\. Did you mean --out-dir\?/);
    const badPort = runCli(["emulator", "--port", "http"]);
    assert.equal(await badPort.exit, 2);
    assert.match(badPort.output(), /--port must be an integer/);
  });

  test("emulator: prints URLs, settings and env, writes the CA and certificates, serves tokens, stops on SIGTERM", async () => {
    const caFile = path.join(directory, "trust", "emulator-ca.pem");
    const run = runCli(["emulator", "--out-dir", directory, "--ca-file", caFile, "--token-lifetime", "120"]);
    try {
      await waitFor(run, "Emulator ready.");
    } catch (error) {
      run.child.kill("SIGKILL");
      throw error;
    }
    const output = run.output();
    const value = (name: string) => new RegExp(`export ${name}=(\\S+)`).exec(output)?.[1] ?? "";
    const authorityHost = value("AZURE_AUTHORITY_HOST");
    assert.match(authorityHost, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(output, /mTLS host\s+https:\/\/127\.0\.0\.1:\d+/);
    assert.match(output, /IMDS\s+http:\/\/127\.0\.0\.1:\d+/);
    assert.equal(value("NODE_EXTRA_CA_CERTS"), caFile);
    assert.match(output, new RegExp(`Settings +${path.join(directory, "appsettings.json").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    const appsettings = JSON.parse(readFileSync(path.join(directory, "appsettings.json"), "utf8")) as {
      AzureAd: { Instance: string; TenantId: string; ClientId: string; ClientCredentials: Record<string, unknown>[] };
    };
    assert.equal(statSync(path.join(directory, "appsettings.json")).mode & 0o777, 0o600, "it holds the demo secret");
    assert.equal(appsettings.AzureAd.Instance, `${authorityHost}/`);
    assert.deepEqual(
      appsettings.AzureAd.ClientCredentials.map((entry) => entry["SourceType"]),
      ["SignedAssertionFromManagedIdentity", "Path", "KeyVault", "ClientSecret"],
    );
    const pfxPath = String(appsettings.AzureAd.ClientCredentials[1]?.["CertificateDiskPath"]);
    assert.equal(statSync(pfxPath).mode & 0o777, 0o600);
    assert.equal(statSync(value("AZURE_CLIENT_CERTIFICATE_PATH")).mode & 0o777, 0o600);

    const agent = new Agent({ connect: { ca: readFileSync(caFile, "utf8") } });
    try {
      const response = await request(`${authorityHost}/${value("AZURE_TENANT_ID")}/oauth2/v2.0/token`, {
        method: "POST",
        dispatcher: agent,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: value("AZURE_CLIENT_ID"),
          client_secret: String(appsettings.AzureAd.ClientCredentials[3]?.["ClientSecret"]),
          scope: "https://storage.azure.com/.default",
        }).toString(),
      });
      const body = (await response.body.json()) as Record<string, unknown>;
      assert.equal(response.statusCode, 200);
      assert.equal(body["expires_in"], 120);
    } finally {
      await agent.close();
    }

    run.child.kill("SIGTERM");
    assert.equal(await run.exit, 0);
    assert.match(run.output(), /Emulator stopped\./);
  });
});
