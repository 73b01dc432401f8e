/**
 * Shared setup of the credential end-to-end tests: one emulator per file, credentials built with an
 * injected clock and environment, temporary files, token verification and log capture. Nothing of
 * the library is mocked; every token comes from the emulator over real TLS.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AzureLogger, setLogLevel, getLogLevel, type AzureLogLevel } from "@azure/logger";
import { BoundClientCredential } from "../../src/boundClientCredential.ts";
import type { BoundClientCredentialOptions, CredentialDescription } from "../../src/configuration/types.ts";
import { startEmulator } from "../../src/emulator/index.ts";
import type { Emulator, EmulatorOptions, RegisteredApp } from "../../src/emulator/index.ts";
import { type Seams, withSeams } from "../helpers/index.ts";

export type { Emulator, RegisteredApp };

/** The scope most tests ask for; Azure Storage exists in the emulator. */
export const STORAGE_SCOPE = "https://storage.azure.com/.default";
/** The resource of {@link STORAGE_SCOPE}, as `aud` of its tokens. */
export const STORAGE_RESOURCE = "https://storage.azure.com";
/** A second scope, to tell cache keys apart. */
export const VAULT_SCOPE = "https://vault.azure.net/.default";

export { TestClock } from "../helpers/index.ts";

/**
 * One emulator and the credentials and temporary directories of a test file; `close()` releases
 * all of them.
 */
export class Harness {
  readonly emulator: Emulator;
  readonly #credentials: BoundClientCredential[] = [];
  readonly #directories: string[] = [];

  private constructor(emulator: Emulator) {
    this.emulator = emulator;
  }

  static async start(options: EmulatorOptions = {}): Promise<Harness> {
    return new Harness(await startEmulator(options));
  }

  /** The options that point a credential at the emulator, for `app`, with `clientCredentials`. */
  options(
    app: RegisteredApp,
    clientCredentials: readonly CredentialDescription[],
    extra: Partial<BoundClientCredentialOptions> = {},
  ): BoundClientCredentialOptions {
    return { ...this.emulator.credentialOptions(app), clientCredentials, ...extra };
  }

  /**
   * A credential from `options`, closed by {@link Harness.close}. Retries do not sleep, and the
   * environment is empty unless given, so the machine's `AZURE_*` variables play no part.
   */
  credential(options: BoundClientCredentialOptions, seams: Seams = {}): BoundClientCredential {
    return this.track(new BoundClientCredential(withSeams(options, { env: {}, retry: { sleep: async () => undefined }, ...seams })));
  }

  /** Registers a credential made elsewhere so that {@link Harness.close} closes it. */
  track(credential: BoundClientCredential): BoundClientCredential {
    this.#credentials.push(credential);
    return credential;
  }

  /** A new temporary directory, removed by {@link Harness.close}. */
  async directory(): Promise<string> {
    const directory = await mkdtemp(join(tmpdir(), "bcc-credential-"));
    this.#directories.push(directory);
    return directory;
  }

  /** Writes `content` to a new file in a temporary directory; returns its path. */
  async file(name: string, content: string | Uint8Array): Promise<string> {
    const path = join(await this.directory(), name);
    await writeFile(path, content);
    return path;
  }

  /** Verifies `token` with the emulator and checks it was issued to `app` for `resource`. */
  async verify(token: string, app: RegisteredApp, resource = STORAGE_RESOURCE): Promise<Record<string, unknown>> {
    const claims = await this.emulator.verifyAccessToken(token);
    assert.equal(claims["aud"], resource);
    assert.equal(claims["appid"], app.clientId);
    return claims;
  }

  /** The token requests the login host has seen so far. */
  loginTokenRequests(): number {
    return this.emulator.journal.ofRoute("login.token").length;
  }

  async close(): Promise<void> {
    await Promise.all(this.#credentials.splice(0).map((credential) => credential.close()));
    await this.emulator.close();
    await Promise.all(this.#directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
  }
}

/** Log lines captured from `@azure/logger` while {@link captureLogs} is active. */
export interface LogCapture {
  readonly lines: string[];
  stop(): void;
}

/** Turns on verbose logging and collects every line written by any Azure logger. */
export function captureLogs(level: AzureLogLevel = "verbose"): LogCapture {
  const lines: string[] = [];
  const previousLog = AzureLogger.log;
  const previousLevel = getLogLevel();
  AzureLogger.log = (...args: unknown[]) => {
    lines.push(args.map((arg) => (typeof arg === "string" ? arg : String(arg))).join(" "));
  };
  setLogLevel(level);
  return {
    lines,
    stop() {
      AzureLogger.log = previousLog;
      setLogLevel(previousLevel);
    },
  };
}

/** The rejection of `promise`, failing the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a rejection");
}

/** Every text a secret could leak through: message, causes (recursively), JSON and inspect. */
export function everyTextOf(value: unknown, inspectValue: (value: unknown) => string): string[] {
  const texts: string[] = [];
  const seen = new Set<unknown>();
  const visit = (current: unknown, depth: number): void => {
    if (depth > 8 || current === null || current === undefined || seen.has(current)) return;
    seen.add(current);
    texts.push(inspectValue(current));
    try {
      texts.push(JSON.stringify(current) ?? "");
    } catch {
      // Circular structures cannot be stringified: inspect covers them.
    }
    if (current instanceof Error) {
      texts.push(current.message, current.stack ?? "");
      visit(current.cause, depth + 1);
      if (current instanceof AggregateError) for (const inner of current.errors) visit(inner, depth + 1);
    }
  };
  visit(value, 0);
  return texts;
}
