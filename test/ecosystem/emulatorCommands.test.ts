/**
 * What `bound-credential emulator` prints works when pasted: the emulator runs as a child process
 * with an --out-dir whose path needs quoting, and every command block it prints is run by a POSIX
 * shell in turn, as in a second terminal (the `export` lines of earlier blocks still set), with
 * `bound-credential` on PATH. Each must exit 0; the token commands must report a token, bound or
 * not as their comment says.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";

const CLI = path.join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
const root = mkdtempSync(path.join(tmpdir(), "bcc-pasted-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** The variables of the machine running the tests play no part. */
function cleanEnvironment(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("AZURE_") && !name.startsWith("BOUND_CLIENT_CREDENTIAL_") && name !== "NODE_EXTRA_CA_CERTS") env[name] = value;
  }
  return { ...env, ...extra };
}

async function sh(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn("sh", ["-c", script], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, output };
}

test("the commands bound-credential emulator prints run as pasted: doctor, token, fromEnvironment; bound and unbound", async () => {
  // `bound-credential` as an installed package would put it on PATH.
  const bin = path.join(root, "bin");
  const shim = path.join(bin, "bound-credential");
  mkdirSync(bin);
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(shim, 0o755);
  const env = cleanEnvironment({ PATH: `${bin}${path.delimiter}${process.env["PATH"] ?? ""}` });

  const outDir = path.join(root, "my emulator");
  const emulator = spawn(process.execPath, [CLI, "emulator", "--out-dir", outDir], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let printed = "";
  emulator.stdout.on("data", (d: Buffer) => (printed += d.toString()));
  emulator.stderr.on("data", (d: Buffer) => (printed += d.toString()));
  const exited = once(emulator, "exit");
  try {
    while (!printed.includes("Emulator ready.")) {
      if (emulator.exitCode !== null) assert.fail(`the emulator exited early:\n${printed}`);
      await Promise.race([once(emulator.stdout, "data"), exited]);
    }
    for (const file of ["appsettings.json", "ca.pem", "app-certificate.pem", "app-certificate.pfx"]) {
      assert.ok(existsSync(path.join(outDir, file)), `${file} is written into --out-dir`);
    }
    assert.match(readFileSync(path.join(outDir, "ca.pem"), "utf8"), /BEGIN CERTIFICATE/);

    const pasted = /\nPaste into another shell while this one runs:\n\n([\s\S]+?)\n\nIn code,/.exec(printed)?.[1];
    assert.ok(pasted !== undefined, `no commands in:\n${printed}`);
    const blocks = pasted.split("\n\n");
    assert.equal(blocks.length, 4, pasted);
    const commands = blocks.flatMap((block) => block.split("\n").filter((line) => line.startsWith("bound-credential ")));
    assert.ok(commands.some((line) => line.startsWith("bound-credential doctor --config")));
    assert.ok(commands.some((line) => line.startsWith("bound-credential token --config")));
    assert.equal(commands.filter((line) => line.startsWith("bound-credential token --from-environment")).length, 2);

    let exported = "";
    let sawBound = 0;
    let sawUnbound = 0;
    for (const block of blocks) {
      const run = await sh(`set -e\n${exported}${block}\n`, env);
      assert.equal(run.code, 0, `${block}\n---\n${run.output}`);
      exported += block
        .split("\n")
        .filter((line) => line.startsWith("export "))
        .map((line) => `${line}\n`)
        .join("");
      const tokens = run.output.match(/^Token for https:\/\/storage\.azure\.com\/\.default/gm) ?? [];
      const boundLines = run.output.match(/^ {2}bound {11}yes: obtained over mutual TLS$/gm) ?? [];
      const unboundLines = run.output.match(/^ {2}bound {11}no$/gm) ?? [];
      const tokenCommands = block.split("\n").filter((line) => line.startsWith("bound-credential token")).length;
      assert.equal(tokens.length, tokenCommands, run.output);
      if (/^# .*\bunbound\b/m.test(block)) {
        assert.equal(unboundLines.length, tokenCommands, run.output);
        sawUnbound += unboundLines.length;
      } else {
        assert.equal(boundLines.length, tokenCommands, run.output);
        sawBound += boundLines.length;
      }
      if (block.includes("bound-credential doctor")) assert.match(run.output, /4 of 4 entries usable/);
    }
    assert.equal(sawBound, 2, "a bound token from the settings file and from the environment");
    assert.equal(sawUnbound, 2, "an unbound token from the settings file and from the environment");
  } finally {
    emulator.kill("SIGTERM");
    await exited;
  }
});

test("token --help's example names the CA that the emulator writes by default", async () => {
  const child = spawn(process.execPath, [CLI, "token", "--help"], { stdio: ["ignore", "pipe", "pipe"] });
  let help = "";
  child.stdout.on("data", (d: Buffer) => (help += d.toString()));
  await once(child, "exit");
  const emulatorHelp = spawn(process.execPath, [CLI, "emulator", "--help"], { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  emulatorHelp.stdout.on("data", (d: Buffer) => (text += d.toString()));
  await once(emulatorHelp, "exit");
  const defaultDir = /\(default: \.\/([^)]+)\)/.exec(text)?.[1];
  assert.equal(defaultDir, ".emulator");
  assert.match(help, /--ca-file \.emulator\/ca\.pem/);
  assert.match(help, /--config \.emulator\/appsettings\.json/);
});
