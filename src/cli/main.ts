#!/usr/bin/env node
/**
 * `bound-credential`: the command line of bound-client-credential. Each subcommand lives in its
 * own module and registers here with a one-line summary.
 */
// First: refuses an unsupported Node.js before any dependency is loaded.
import "../nodeVersion.ts";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { doctorCommand } from "./doctor.ts";
import { emulatorCommand } from "./emulatorCommand.ts";
import { tokenCommand } from "./token.ts";
import type { CliCommand, CliIo } from "./types.ts";

/** The subcommands, by name. Add new ones here. */
export const commands: ReadonlyMap<string, CliCommand> = new Map([
  ["emulator", emulatorCommand],
  ["token", tokenCommand],
  ["doctor", doctorCommand],
]);

function usage(): string {
  const width = Math.max(...[...commands.keys()].map((name) => name.length));
  const lines = [...commands].map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return [
    "Usage: bound-credential <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Run `bound-credential <command> --help` for the options of a command.",
    "",
  ].join("\n");
}

/**
 * Runs the command line and resolves to the exit code.
 *
 * @param argv - the arguments after the program name
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // No command is a usage error: exit code 2, as for every command's wrong arguments.
    io.stderr.write(usage());
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return 0;
  }
  const command = commands.get(name);
  if (command === undefined) {
    io.stderr.write(`Unknown command "${name}".\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    io.stderr.write(`bound-credential ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/** Whether this module is the program (`import.meta.main` arrived in Node.js 22.18 and 24.2). */
function isProgram(): boolean {
  const main = (import.meta as { main?: unknown }).main;
  if (typeof main === "boolean") return main;
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isProgram()) {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    signals: process,
  });
}
