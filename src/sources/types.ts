import type { AssertionRequestContext } from "../configuration/types.ts";
import type { LoadedCertificate } from "./loadedCertificate.ts";

/** A client secret kept out of logs, `JSON.stringify` and `util.inspect`. */
export class SecretValue {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The secret itself; hand it only to the token request body. */
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return "[REDACTED]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "SecretValue [REDACTED]";
  }
}

/** A signed assertion with the time it stops being usable and, when bound, its certificate. */
export interface AssertionResult {
  /** The JWT. Never log it. */
  readonly assertion: string;
  /** ms since epoch after which the assertion must not be sent; undefined when unknown. */
  readonly expiresOnTimestamp: number | undefined;
  /** For a bound assertion: the certificate to present in the TLS handshake with it. */
  readonly bindingCertificate: LoadedCertificate | undefined;
}

/** What a source yields once loaded. */
export type SourceMaterial =
  | { readonly kind: "certificate"; readonly certificate: LoadedCertificate }
  | { readonly kind: "secret"; readonly secret: SecretValue }
  | {
      readonly kind: "assertion";
      /** Returns an assertion for one request; implementations cache and renew as they see fit. */
      getAssertion(context: AssertionRequestContext): Promise<AssertionResult>;
    };

/**
 * A loaded source. `load` is cheap after the first call (material is cached); `reload` drops the
 * cache and reads again (rotation after a rejection); `hasChanged` is a cheap check (file
 * mtime/size) that a periodic rotation check can call.
 */
export interface CredentialSource {
  load(signal?: AbortSignal): Promise<SourceMaterial>;
  /**
   * @param rejected - the binding certificate Entra refused, when the request presented one: a
   * source that mints them drops it only if it is still the current one, so that concurrent
   * rejections of one certificate make one new certificate, not one each
   */
  reload(signal?: AbortSignal, rejected?: LoadedCertificate): Promise<SourceMaterial>;
  hasChanged?(): Promise<boolean>;
  /**
   * Whether `error`, met by a request that presented this source's binding certificate, means that
   * the certificate itself was refused and a new one may cure it. Only a source that makes its
   * certificates (a managed identity's IMDS v2 binding) says so; for the others such a failure
   * means the host cannot be used.
   */
  isBindingRejection?(error: unknown): boolean;
  /** Releases what the source holds beyond memory (a PKCS#11 session's worker); a later load starts again. */
  close?(): Promise<void>;
}

/**
 * Thrown by a source when its material cannot be had here: file missing, wrong password, expired
 * certificate, Windows store on this platform, IMDS unreachable. The list records `reason` and
 * moves to the next entry. `reason` names the problem and the fix and never holds a secret.
 */
export class SourceUnavailableError extends Error {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = "SourceUnavailableError";
    this.reason = reason;
  }
}
