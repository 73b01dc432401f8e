import { inspect } from "node:util";
import type { LoadedCertificate } from "./loadedCertificate.ts";
import type { AssertionResult } from "./types.ts";

/**
 * An {@link AssertionResult} whose assertion sits in a `#private` field behind a getter, so that
 * `JSON.stringify` and `util.inspect` of the result show when it expires and which certificate it
 * is bound to, never the JWT.
 */
export class AssertionValue implements AssertionResult {
  readonly expiresOnTimestamp: number | undefined;
  readonly bindingCertificate: LoadedCertificate | undefined;
  readonly #assertion: string;

  constructor(assertion: string, expiresOnTimestamp: number | undefined, bindingCertificate?: LoadedCertificate) {
    this.#assertion = assertion;
    this.expiresOnTimestamp = expiresOnTimestamp;
    this.bindingCertificate = bindingCertificate;
  }

  /** The JWT. Hand it only to the token request body. */
  get assertion(): string {
    return this.#assertion;
  }

  toJSON(): Record<string, unknown> {
    return {
      assertion: "[REDACTED]",
      expiresOnTimestamp: this.expiresOnTimestamp,
      bindingCertificate: this.bindingCertificate,
    };
  }

  [inspect.custom](): string {
    return `AssertionValue ${inspect(this.toJSON())}`;
  }
}
