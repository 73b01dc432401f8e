import assert from "node:assert/strict";
import { AzureLogger, getLogLevel, setLogLevel } from "@azure/logger";
import { BoundCredentialConfigurationError, type ConfigurationErrorCode } from "../../src/errors.ts";

/** The shared tenant and client of the tests. */
import { CLIENT, TENANT } from "../helpers/options.ts";
export { CLIENT, TENANT };

/** A PEM block with the right markers; validation only looks at the structure, never parses it. */
export const FAKE_CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";

/** What a configuration error must look like. */
export interface ExpectedError {
  readonly code: ConfigurationErrorCode;
  readonly path: string;
  /** Must match the remedy sentence. */
  readonly remedy: RegExp;
  /** Optionally, must match the whole message. */
  readonly message?: RegExp;
}

/** Runs `fn`, which must throw the expected configuration error, and returns the error. */
export function expectConfigError(fn: () => unknown, expected: ExpectedError): BoundCredentialConfigurationError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown !== undefined, "expected a configuration error, but nothing was thrown");
  assert.ok(
    thrown instanceof BoundCredentialConfigurationError,
    `expected BoundCredentialConfigurationError, got ${String(thrown)}`,
  );
  assert.ok(thrown instanceof TypeError, "configuration errors are TypeErrors");
  assert.equal(thrown.name, "BoundCredentialConfigurationError");
  assert.equal(thrown.code, expected.code, thrown.message);
  assert.equal(thrown.path, expected.path, thrown.message);
  assert.match(thrown.remedy, expected.remedy, thrown.message);
  assert.ok(thrown.message.includes(thrown.remedy), "the message carries the remedy");
  if (thrown.path !== "") assert.ok(thrown.message.startsWith(`${thrown.path}: `), "the message starts with the path");
  if (expected.message !== undefined) assert.match(thrown.message, expected.message);
  return thrown;
}

/** A Path entry: the smallest valid credential description. */
export const PATH_ENTRY: Readonly<Record<string, unknown>> = Object.freeze({ sourceType: "Path", certificateDiskPath: "/certs/app.pfx" });

/**
 * Options as a caller passes them, untyped so that a test can hand the validator anything: the
 * shared tenant and client, `entries` (one Path entry by default), and `extra` on top. Typed
 * options are `testOptions` of `test/helpers/options.ts`.
 */
export function optionsOf(
  entries: readonly Record<string, unknown>[] = [PATH_ENTRY],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { tenantId: TENANT, clientId: CLIENT, clientCredentials: entries, ...extra };
}

/** Runs `fn` and returns what it logged at warning level or above through `@azure/logger`. */
export function warningsOf(fn: () => unknown): string[] {
  const lines: string[] = [];
  const previousLog = AzureLogger.log;
  const previousLevel = getLogLevel();
  AzureLogger.log = (...args: unknown[]) => {
    lines.push(args.map((arg) => (typeof arg === "string" ? arg : String(arg))).join(" "));
  };
  setLogLevel("warning");
  try {
    fn();
  } finally {
    AzureLogger.log = previousLog;
    setLogLevel(previousLevel);
  }
  return lines;
}
