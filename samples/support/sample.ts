/**
 * Plumbing shared by the samples, kept out of them so that each sample shows only what an
 * application writes: choosing Azure or the local emulator from the environment, starting the
 * emulator, summarizing a token's claims (never the token), and running a sample's `main()` when
 * its file is executed directly.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { rootCertificates } from "node:tls";
import { AzureLogger, getLogLevel, setLogLevel, type AzureLogLevel } from "@azure/logger";
import { decodeJwt } from "jose";
import type { BoundClientCredential, BoundClientCredentialOptions } from "bound-client-credential";
import { startEmulator, type Emulator, type EmulatorOptions } from "bound-client-credential/emulator";

/** Environment variables, as `process.env`. */
export type SampleEnvironment = Readonly<Record<string, string | undefined>>;

/** What every sample's `main()` accepts. */
export interface SampleOptions {
  /** The environment to read; `process.env` by default. Tests pass `{}` to force the emulator. */
  readonly env?: SampleEnvironment;
  /** Where the sample's account goes; `console.log` by default. */
  readonly print?: (line: string) => void;
}

/** The claims a sample shows. The token itself is never printed or returned. */
export interface TokenClaims {
  readonly aud: string | undefined;
  readonly iss: string | undefined;
  readonly tid: string | undefined;
  /** The application the token was issued to (`appid`, or `azp` for v2 tokens). */
  readonly appid: string | undefined;
  readonly oid: string | undefined;
  readonly expiresOn: string | undefined;
}

/** What every sample returns, for the reader and for the test that runs it. */
export interface SampleResult {
  /** Where the token came from. */
  readonly mode: "emulator" | "azure";
  /** The entry of the list that served, as `BoundClientCredential.lastServed` names it. */
  readonly servedBy: string | undefined;
  /** Whether the serving entry is bound (its token was obtained over mutual TLS). */
  readonly bound: boolean | undefined;
  /** The token endpoint that issued the token. */
  readonly tokenEndpoint: string | undefined;
  readonly claims: TokenClaims;
}

/** The options that point a credential at the emulator instead of Entra ID. */
export type EmulatorConnection = Required<
  Pick<BoundClientCredentialOptions, "authorityHost" | "mtlsAuthorityHost" | "imdsEndpoint" | "tls">
>;

/** The scope samples ask for unless `SAMPLE_SCOPE` says otherwise. */
export const DEFAULT_SCOPE = "https://storage.azure.com/.default";

/** `SAMPLE_SCOPE`, or {@link DEFAULT_SCOPE}. */
export function scopeFrom(env: SampleEnvironment): string {
  return nonEmpty(env["SAMPLE_SCOPE"]) ?? DEFAULT_SCOPE;
}

/**
 * The Azure settings of a sample: undefined when none of `required` is set (run against the
 * emulator), the values when all are.
 *
 * @throws Error naming the missing variables when only some of `required` are set
 */
export function azureSettings<K extends string>(env: SampleEnvironment, required: readonly K[]): Record<K, string> | undefined {
  const present = required.filter((name) => nonEmpty(env[name]) !== undefined);
  if (present.length === 0) return undefined;
  const missing = required.filter((name) => !present.includes(name));
  if (missing.length > 0) {
    throw new Error(
      `To run this sample against Azure, set ${missing.join(", ")} as well (${present.join(", ")} ${present.length === 1 ? "is" : "are"} set). ` +
        "To run it against the local emulator, unset them all.",
    );
  }
  return Object.fromEntries(required.map((name) => [name, env[name]!])) as Record<K, string>;
}

/** The value, or undefined when unset or empty. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** Starts the emulator and returns it with the credential options that point at it. */
export async function startSampleEmulator(options: EmulatorOptions = {}): Promise<{ emulator: Emulator; connection: EmulatorConnection }> {
  const emulator = await startEmulator(options);
  return {
    emulator,
    connection: {
      authorityHost: emulator.authorityHost,
      mtlsAuthorityHost: emulator.mtlsAuthorityHost,
      imdsEndpoint: emulator.imdsEndpoint,
      tls: { ca: emulator.caCertificatePem },
    },
  };
}

/** `tlsOptions` for an Azure SDK client that talks to the emulator's Key Vault: Node's roots plus the emulator CA. */
export function trustingEmulator(emulator: Emulator): { ca: string } {
  return { ca: [...rootCertificates, emulator.caCertificatePem].join("\n") };
}

/** A temporary directory and its removal. */
export async function temporaryDirectory(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const directory = await mkdtemp(path.join(tmpdir(), prefix));
  return { path: directory, remove: () => rm(directory, { recursive: true, force: true }) };
}

/** The claims a sample shows, decoded (not verified: the resource verifies them). */
export function tokenClaims(token: string): TokenClaims {
  const claims = decodeJwt(token);
  const text = (name: string): string | undefined => (typeof claims[name] === "string" ? (claims[name] as string) : undefined);
  return {
    aud: typeof claims.aud === "string" ? claims.aud : claims.aud?.join(" "),
    iss: claims.iss,
    tid: text("tid"),
    appid: text("appid") ?? text("azp"),
    oid: text("oid"),
    expiresOn: claims.exp === undefined ? undefined : new Date(claims.exp * 1000).toISOString(),
  };
}

/** The result of a credential's last token, with its claims. */
export function resultOf(mode: "emulator" | "azure", credential: BoundClientCredential, token: string): SampleResult {
  const served = credential.lastServed;
  return {
    mode,
    servedBy: served?.entryId,
    bound: served?.bound,
    tokenEndpoint: served?.tokenEndpoint,
    claims: tokenClaims(token),
  };
}

/** Prints a result as aligned lines. */
export function printResult(print: (line: string) => void, title: string, result: object): void {
  print(title);
  const walk = (value: object, indent: string): void => {
    for (const [key, field] of Object.entries(value)) {
      if (field === undefined) continue;
      if (field !== null && typeof field === "object" && !Array.isArray(field)) {
        print(`${indent}${key}`);
        walk(field as object, `${indent}  `);
      } else {
        print(`${indent}${key.padEnd(16)} ${Array.isArray(field) ? field.join("\n" + " ".repeat(indent.length + 17)) : String(field)}`);
      }
    }
  };
  walk(result, "  ");
}

/**
 * Collects the warnings BoundClientCredential logs (why an entry was skipped) while `work` runs.
 * `@azure/logger` is process-wide, so its level and output are restored afterwards.
 */
export async function withCredentialWarnings<T>(work: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const warnings: string[] = [];
  const previousLevel: AzureLogLevel | undefined = getLogLevel();
  const previousLog = AzureLogger.log;
  setLogLevel("warning");
  AzureLogger.log = (...args: unknown[]) => {
    const line = args.map(String).join(" ");
    if (line.includes("bound-client-credential")) warnings.push(line.replace(/^azure:bound-client-credential:warning /, ""));
  };
  try {
    return { value: await work(), warnings };
  } finally {
    AzureLogger.log = previousLog;
    setLogLevel(previousLevel);
  }
}

/**
 * Runs `main` when the sample's file is the program (`node samples/x.ts`), prints its result as
 * JSON, and sets the exit code; does nothing when the sample is imported (by the tests).
 */
export function runWhenExecuted(meta: ImportMeta, main: () => Promise<unknown>): void {
  if (!meta.main) return;
  main().then(
    () => undefined,
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exitCode = 1;
    },
  );
}
