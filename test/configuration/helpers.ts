import assert from "node:assert/strict";
import { BoundCredentialConfigurationError, type ConfigurationErrorCode } from "../../src/errors.ts";

/** The shared tenant and client of the tests. */
export { CLIENT, TENANT } from "../helpers/options.ts";

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
