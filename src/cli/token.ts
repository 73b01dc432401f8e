/**
 * `bound-credential token`: acquires a token with the credentials of a Microsoft.Identity.Web
 * configuration section and prints its decoded claims, the entry that served, whether it was bound
 * and how long each step took. Also home of what `token` and `doctor` share: reading the
 * configuration file, the connection flags, progress and timing.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { AzureLogger, setLogLevel } from "@azure/logger";
import { decodeJwt } from "jose";
import { BoundClientCredential } from "../boundClientCredential.ts";
import { optionsFromConfiguration } from "../configuration/fromConfiguration.ts";
import type { BoundClientCredentialOptions, CustomSignedAssertionProvider } from "../configuration/types.ts";
import { AuthenticationError, BoundCredentialConfigurationError, BoundCredentialError, CredentialUnavailableError, type EntryReport } from "../errors.ts";
import type { CliCommand, CliIo } from "./types.ts";

/** Exit codes shared by `token` and `doctor`. */
export const EXIT_OK = 0;
/** No token could be acquired (or, for `doctor`, no entry is usable). */
export const EXIT_FAILED = 1;
/** Bad flags, an unreadable file, or a configuration the library refuses. */
export const EXIT_USAGE = 2;

/** A mistake of the caller: wrong flags, a missing or unreadable file, a refused configuration. Exit code 2. */
export class UsageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** The flags that say where the configuration is and how to reach its hosts, for `parseArgs`. */
export const CONFIGURATION_FLAGS = {
  config: { type: "string", short: "c" },
  section: { type: "string", short: "s" },
  "ca-file": { type: "string", multiple: true },
  "authority-host": { type: "string" },
  "mtls-authority-host": { type: "string" },
  "imds-endpoint": { type: "string" },
  timeout: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Help lines for {@link CONFIGURATION_FLAGS}. */
export const CONFIGURATION_FLAGS_HELP = `  -c, --config <file>            appsettings.json to read (comments and trailing commas are fine)
  -s, --section <name>           the section; default AzureAd (nested sections: Identity:AzureAd)
      --ca-file <file>           also trust this CA certificate (PEM), such as the emulator's; repeatable
      --authority-host <url>     the login host, instead of the section's Instance
      --mtls-authority-host <url>
                                 the mutual TLS token host, instead of the one derived from the login host
      --imds-endpoint <url>      the instance metadata service, instead of http://169.254.169.254
      --timeout <seconds>        give up after this long; default 60
      --json                     print one JSON object on stdout, for scripts
  -q, --quiet                    no progress messages on stderr
  -v, --verbose                  the credential's log (info level) on stderr
  -h, --help                     show this help`;

/** The values of {@link CONFIGURATION_FLAGS} as `parseArgs` returns them. */
export interface ConfigurationFlagValues {
  config?: string | undefined;
  section?: string | undefined;
  "ca-file"?: string[] | undefined;
  "authority-host"?: string | undefined;
  "mtls-authority-host"?: string | undefined;
  "imds-endpoint"?: string | undefined;
  timeout?: string | undefined;
  quiet?: boolean | undefined;
  verbose?: boolean | undefined;
  json?: boolean | undefined;
}

/** A configuration file read and turned into credential options. */
export interface LoadedConfiguration {
  /** The file, as given on the command line. */
  readonly file: string;
  /** The section read, such as `AzureAd`. */
  readonly section: string;
  /** Options for {@link BoundClientCredential}, overrides applied. */
  readonly options: BoundClientCredentialOptions;
  /** Names of `CustomSignedAssertion` providers in the file: code the CLI cannot run. */
  readonly customProviders: readonly string[];
}

/** One timed step. */
export interface TimedStep {
  readonly step: string;
  readonly ms: number;
}

/** Times steps and, unless quiet, tells stderr about the slow ones while they run. */
export class Progress {
  readonly steps: TimedStep[] = [];
  readonly #io: CliIo;
  readonly #quiet: boolean;

  constructor(io: CliIo, quiet: boolean) {
    this.#io = io;
    this.#quiet = quiet;
  }

  /** Prints a line on stderr unless quiet. */
  note(message: string): void {
    if (!this.#quiet) this.#io.stderr.write(`${message}\n`);
  }

  /**
   * Runs `work` as a step. A `slow` step is announced, and every 5 s it runs a "still …" line
   * follows, so that a hang shows itself as one.
   */
  async time<T>(step: string, work: () => Promise<T>, slow?: string): Promise<T> {
    const started = performance.now();
    let ticker: NodeJS.Timeout | undefined;
    if (slow !== undefined) {
      this.note(`${slow}…`);
      if (!this.#quiet) {
        ticker = setInterval(() => {
          this.note(`  still ${slow.charAt(0).toLowerCase()}${slow.slice(1)} (${Math.round((performance.now() - started) / 1000)} s)`);
        }, 5000);
      }
    }
    try {
      return await work();
    } finally {
      if (ticker !== undefined) clearInterval(ticker);
      this.steps.push({ step, ms: Math.round((performance.now() - started) * 10) / 10 });
    }
  }
}

/**
 * Parses `argv` with the shared flags and the command's own.
 *
 * @throws UsageError naming the flag that is wrong
 */
/**
 * Parses a command's arguments: the values, or the exit code when there is nothing more to do
 * (`--help` was printed, or the arguments were wrong and the usage was printed).
 */
export function parseCommandArguments<T extends Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>>(
  command: string,
  argv: readonly string[],
  own: T,
  help: string,
  io: CliIo,
): Record<string, string | boolean | string[] | undefined> | number {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseFlags(argv, own);
  } catch (error) {
    io.stderr.write(`bound-credential ${command}: ${describeError(error)}\n\n${help}`);
    return EXIT_USAGE;
  }
  if (values["help"] === true) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  return values;
}

export function parseFlags<T extends Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>>(
  argv: readonly string[],
  own: T,
): Record<string, string | boolean | string[] | undefined> {
  try {
    const { values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: { ...CONFIGURATION_FLAGS, ...own } });
    return values as Record<string, string | boolean | string[] | undefined>;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The timeout flag in milliseconds.
 *
 * @throws UsageError when it is not a positive number of seconds
 */
export function timeoutMs(value: string | undefined): number {
  if (value === undefined) return 60_000;
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || seconds <= 0 || seconds > 3600) {
    throw new UsageError(`--timeout must be a number of seconds from 1 to 3600, got "${value}".`);
  }
  return seconds * 1000;
}

/**
 * Reads the configuration file and the CA files and builds credential options: the section as
 * Microsoft.Identity.Web binds it, then the host flags and `tls.ca` on top.
 *
 * @throws UsageError when a file cannot be read or parsed, or the library refuses the configuration
 */
export async function loadConfiguration(values: ConfigurationFlagValues): Promise<LoadedConfiguration> {
  const file = values.config;
  if (file === undefined || file === "") {
    throw new UsageError("--config is required: pass the appsettings.json that holds the AzureAd section.");
  }
  const json = parseJsonWithComments(await readText(file, "--config"), file);
  const caCertificates: string[] = [];
  for (const caFile of values["ca-file"] ?? []) {
    const pem = await readText(caFile, "--ca-file");
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new UsageError(`--ca-file ${caFile} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"): pass the CA certificate in PEM.`);
    }
    caCertificates.push(pem);
  }
  const customProviders = [...new Set(findStrings(json, "customsignedassertionprovidername"))];
  const overrides: Partial<BoundClientCredentialOptions> = {
    ...(values["authority-host"] === undefined ? {} : { authorityHost: values["authority-host"] }),
    ...(values["mtls-authority-host"] === undefined ? {} : { mtlsAuthorityHost: values["mtls-authority-host"] }),
    ...(values["imds-endpoint"] === undefined ? {} : { imdsEndpoint: values["imds-endpoint"] }),
    ...(caCertificates.length === 0 ? {} : { tls: { ca: caCertificates } }),
    ...(customProviders.length === 0 ? {} : { customSignedAssertionProviders: unrunnableProviders(customProviders) }),
  };
  try {
    const options = optionsFromConfiguration(json, overrides, values.section === undefined ? undefined : { sectionName: values.section });
    return { file, section: values.section ?? "AzureAd", options, customProviders };
  } catch (error) {
    if (error instanceof BoundCredentialConfigurationError) {
      throw new UsageError(`${file}: ${error.message}`.replace(/overrides\.(\w+)/g, (_, key: string) => `--${flagOf(key)}`), { cause: error });
    }
    throw error;
  }
}

/** The command-line flag that sets an option, for messages about overrides. */
function flagOf(option: string): string {
  const flags: Record<string, string> = {
    authorityHost: "authority-host",
    mtlsAuthorityHost: "mtls-authority-host",
    imdsEndpoint: "imds-endpoint",
    tls: "ca-file",
  };
  return flags[option] ?? option;
}

/** Providers for names found in the file: the application registers the real ones in code. */
function unrunnableProviders(names: readonly string[]): Record<string, CustomSignedAssertionProvider> {
  return Object.fromEntries(
    names.map((name) => [
      name,
      () => {
        throw new Error(
          `the custom assertion provider "${name}" is code the application registers (customSignedAssertionProviders); bound-credential cannot run it`,
        );
      },
    ]),
  );
}

function findStrings(value: unknown, lowerCaseKey: string): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => findStrings(item, lowerCaseKey));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, item]) =>
    key.toLowerCase() === lowerCaseKey && typeof item === "string" && item !== "" ? [item] : findStrings(item, lowerCaseKey),
  );
}

async function readText(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? `no such file (looked in ${path.resolve(file)})`
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "it is a directory"
            : (error as Error).message;
    throw new UsageError(`Cannot read ${flag} ${file}: ${why}.`, { cause: error });
  }
}

/**
 * Parses JSON as .NET configuration files are written: `//` and `/* *\/` comments and trailing
 * commas are allowed, as `Microsoft.Extensions.Configuration.Json` allows them.
 *
 * @throws UsageError naming the line and column of a syntax error
 */
export function parseJsonWithComments(text: string, file: string): unknown {
  const source = text.replace(/^\uFEFF/, "");
  let out = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== '"') j += source[j] === "\\" ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
    } else if (c === "/" && source[i + 1] === "/") {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2);
      const comment = source.slice(i, end === -1 ? source.length : end + 2);
      // Keep line breaks, so that error positions still point at the right line.
      out += comment.replace(/[^\n]/g, " ");
      i += comment.length;
    } else if (c === ",") {
      let j = i + 1;
      while (j < source.length && /\s/.test(source[j]!)) j++;
      out += source[j] === "}" || source[j] === "]" ? " " : ",";
      i++;
    } else {
      out += c;
      i++;
    }
  }
  try {
    return JSON.parse(out);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message);
    let where = "";
    if (position !== null) {
      const before = out.slice(0, Number(position[1]));
      const line = before.split("\n").length;
      where = ` at line ${line}, column ${before.length - before.lastIndexOf("\n")}`;
    }
    throw new UsageError(`${file} is not valid JSON${where}: ${message.replace(/ in JSON at position \d+.*$/, "")}. Fix the file and try again.`);
  }
}

/**
 * Collects what the credential logs while a command runs: warnings (why an entry did not serve),
 * and with `verbose` everything at info level, echoed to stderr. Restores `@azure/logger` after.
 */
export function captureCredentialLog(io: CliIo, verbose: boolean): { readonly warnings: string[]; restore(): void } {
  const warnings: string[] = [];
  const previous = AzureLogger.log;
  setLogLevel(verbose ? "info" : "warning");
  AzureLogger.log = (...args: unknown[]) => {
    const line = args.map(String).join(" ").trimEnd();
    if (verbose) io.stderr.write(`${line}\n`);
    const warning = /^azure:bound-client-credential:warning (?:BoundClientCredential => )?(.*)$/s.exec(line);
    if (warning !== null) warnings.push(warning[1]!);
  };
  return {
    warnings,
    restore: () => {
      AzureLogger.log = previous;
    },
  };
}

/** A duration for people: `850 ms`, `42 s`, `59 min`, `6 d 23 h`. */
export function humanDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 120_000) return `${Math.round(ms / 1000)} s`;
  if (abs < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (abs < 172_800_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.floor(abs / 86_400_000)} d ${Math.floor((abs % 86_400_000) / 3_600_000)} h`;
}

/** Formats aligned `name  value` lines. */
export function table(rows: readonly (readonly [string, string])[], indent = "  ", minWidth = 0): string {
  const width = Math.max(minWidth, ...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${indent}${name.padEnd(width)}  ${value}`.trimEnd()).join("\n");
}

/**
 * One entry of a structured list as a line: `id: unavailable: reason`, as the final error's message
 * words it. Read from the list, never parsed out of a message.
 */
export function entryLine(entry: EntryReport): string {
  switch (entry.outcome) {
    case "skipped":
      return `${entry.id}: skipped (skip: true).`;
    case "not-tried":
      return `${entry.id}: not tried.`;
    case "rejected":
      return `${entry.id}: rejected by Entra ID: ${entry.reason ?? ""}`.trimEnd();
    default:
      return `${entry.id}: ${entry.outcome}: ${entry.reason ?? ""}`.trimEnd();
  }
}

/** The entry list of a final error, or undefined for any other error. */
export function entriesOf(error: unknown): readonly EntryReport[] | undefined {
  if (error instanceof CredentialUnavailableError || error instanceof AuthenticationError) {
    return error.entries.length === 0 ? undefined : error.entries;
  }
  return undefined;
}

/** An error's message, without its stack; `error.name` first for the unusual ones. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError" || error.name === "AbortError") return `${error.message} (gave up: see --timeout)`;
  // @azure/identity's AuthenticationError wraps the description in "error Status code: … More details: …,".
  const description = (error as { errorResponse?: { errorDescription?: unknown } }).errorResponse?.errorDescription;
  if (error.name === "AuthenticationError" && typeof description === "string" && description !== "") return description;
  return error.message;
}

const HELP = `Usage: bound-credential token --config <appsettings.json> --scope <scope> [options]

Acquires an access token with the ClientCredentials of a Microsoft.Identity.Web configuration
section and prints its claims (decoded, not verified), which entry served, whether it was bound
(obtained over mutual TLS), why earlier entries did not serve, and how long each step took. The
token itself is printed only with --raw.

Options:
      --scope <scope>            the scope, such as https://storage.azure.com/.default (required)
      --raw                      print the access token itself: alone on stdout, or in the --json object
${CONFIGURATION_FLAGS_HELP}

Exit codes: 0 a token was acquired, 1 no token (the message lists every entry and why),
2 usage or configuration error.

Example, against \`bound-credential emulator\` (which prints the hosts and writes its CA):
  bound-credential token --config appsettings.json --scope https://storage.azure.com/.default \\
    --ca-file .bound-credential-emulator/ca.pem \\
    --mtls-authority-host https://127.0.0.1:<port> --imds-endpoint http://127.0.0.1:<port>
`;

const OWN_FLAGS = {
  scope: { type: "string" },
  raw: { type: "boolean" },
} as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const values = parseCommandArguments("token", argv, OWN_FLAGS, HELP, io);
  if (typeof values === "number") return values;
  const flags = values as ConfigurationFlagValues & { scope?: string; raw?: boolean };
  const json = flags.json === true;
  const progress = new Progress(io, flags.quiet === true);

  let configuration: LoadedConfiguration;
  let deadline: number;
  let scope: string;
  try {
    if (flags.scope === undefined || flags.scope.trim() === "") {
      throw new UsageError("--scope is required: the resource's scope, such as https://storage.azure.com/.default.");
    }
    scope = flags.scope.trim();
    deadline = timeoutMs(flags.timeout);
    configuration = await progress.time(`read ${path.basename(flags.config ?? "")}`, () => loadConfiguration(flags));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`bound-credential token: ${error.message}\nRun \`bound-credential token --help\` for the options.\n`);
    return EXIT_USAGE;
  }

  let credential: BoundClientCredential;
  try {
    credential = await progress.time("build the credential", async () => new BoundClientCredential(configuration.options));
  } catch (error) {
    io.stderr.write(`bound-credential token: ${configuration.file}: ${describeError(error)}\n`);
    return EXIT_USAGE;
  }

  const log = captureCredentialLog(io, flags.verbose === true);
  const entries = configuration.options.clientCredentials.length;
  try {
    const token = await progress.time(
      "acquire the token",
      () => credential.getToken(scope, { abortSignal: AbortSignal.timeout(deadline) }),
      `Acquiring a token for ${scope} (${entries} ${entries === 1 ? "entry" : "entries"} in ${configuration.section}.ClientCredentials)`,
    );
    const claims = decodeJwt(token.token) as Record<string, unknown>;
    const served = credential.lastServed;
    const report = {
      ok: true,
      config: configuration.file,
      section: configuration.section,
      scope,
      servedBy: served?.entryId,
      bound: served?.bound,
      tokenEndpoint: served?.tokenEndpoint,
      expiresOn: new Date(token.expiresOnTimestamp).toISOString(),
      // Only entries that were tried and did not serve: not msal-node's warnings, nor anything else logged.
      notServed: (served?.notServed ?? []).map((entry) => `${entry.id} is ${entry.outcome}: ${entry.reason ?? ""}`.trimEnd()),
      claims,
      steps: progress.steps,
      ...(flags.raw === true ? { token: token.token } : {}),
    };
    if (json) {
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else if (flags.raw === true) {
      io.stdout.write(`${token.token}\n`);
      progress.note(`Served by ${served?.entryId ?? "?"}${served?.bound === true ? " over mutual TLS" : ""}.`);
    } else {
      io.stdout.write(humanReport(report, token.expiresOnTimestamp));
    }
    return EXIT_OK;
  } catch (error) {
    const entries = entriesOf(error);
    const message = entries === undefined ? describeError(error) : entries.map((entry) => `  ${entryLine(entry)}`).join("\n");
    if (json) {
      const name = error instanceof Error ? error.name : "Error";
      const code = error instanceof BoundCredentialError || error instanceof BoundCredentialConfigurationError ? error.code : undefined;
      const report = { name, ...(code === undefined ? {} : { code }), message: describeError(error), ...(entries === undefined ? {} : { entries }) };
      io.stdout.write(`${JSON.stringify({ ok: false, config: configuration.file, section: configuration.section, scope, error: report, steps: progress.steps }, null, 2)}\n`);
    }
    io.stderr.write(`bound-credential token: no token for ${scope}.\n${message}\n`);
    io.stderr.write("Run `bound-credential doctor` with the same --config to check each entry.\n");
    return EXIT_FAILED;
  } finally {
    log.restore();
    await credential.close();
  }
}

function humanReport(
  report: {
    config: string;
    section: string;
    scope: string;
    servedBy: string | undefined;
    bound: boolean | undefined;
    tokenEndpoint: string | undefined;
    notServed: readonly string[];
    claims: Record<string, unknown>;
    steps: readonly TimedStep[];
  },
  expiresOnTimestamp: number,
): string {
  const lines = [
    `Token for ${report.scope} (${report.config}, section ${report.section})`,
    table([
      ["served by", report.servedBy ?? "?"],
      ["bound", report.bound === true ? "yes: obtained over mutual TLS" : "no"],
      ["token endpoint", report.tokenEndpoint ?? "?"],
      ["expires", `${new Date(expiresOnTimestamp).toISOString()} (in ${humanDuration(expiresOnTimestamp - Date.now())})`],
    ]),
  ];
  if (report.notServed.length > 0) {
    lines.push("Entries that did not serve", ...report.notServed.map((line) => `  ${line}`));
  }
  lines.push(
    "Claims (decoded, not verified; --raw prints the token)",
    table(
      Object.entries(report.claims).map(([name, value]) => [
        name,
        (name === "exp" || name === "nbf" || name === "iat") && typeof value === "number"
          ? `${value} (${new Date(value * 1000).toISOString()})`
          : typeof value === "string"
            ? value
            : JSON.stringify(value),
      ]),
    ),
    "Steps",
    table(report.steps.map(({ step, ms }) => [step, `${ms.toFixed(1).padStart(9)} ms`])),
  );
  return `${lines.join("\n")}\n`;
}

/** The `token` subcommand. */
export const tokenCommand: CliCommand = {
  summary: "Acquire a token with an appsettings.json and show its claims, the entry that served and timings",
  run,
};
