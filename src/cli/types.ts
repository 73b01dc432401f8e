/** Where a command writes and which signals end it: the process, or a test double. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Emits `SIGINT` / `SIGTERM`, as `process` does. */
  readonly signals: {
    once(signal: "SIGINT" | "SIGTERM", listener: () => void): unknown;
    off(signal: "SIGINT" | "SIGTERM", listener: () => void): unknown;
  };
}

/** A subcommand of `bound-credential`. */
export interface CliCommand {
  /** One line for the command list. */
  readonly summary: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(argv: readonly string[], io: CliIo): Promise<number>;
}
