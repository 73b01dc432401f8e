import type { LoadedCertificate } from "./loadedCertificate.ts";

/** A binding certificate is renewed once this little validity is left, whatever its lifetime. */
export const BINDING_RENEWAL_MARGIN_MS = 5 * 60 * 1000;

/** What identifies one binding certificate: the IMDS it came from and the identity it is for. */
export interface BindingCacheKeyParts {
  /** IMDS base URL. */
  readonly imdsEndpoint: string;
  /** The selector as sent, such as `client_id=…`, or `system` for the system-assigned identity. */
  readonly identitySelector: string;
  /** Whether the key was attested: an attested and an unattested certificate are not interchangeable. */
  readonly attested: boolean;
}

/** The cache key of {@link BindingCacheKeyParts}, in the `#att=0|1` style of MSAL.NET. */
export function bindingCacheKey(parts: BindingCacheKeyParts): string {
  return `${parts.imdsEndpoint}|${parts.identitySelector}#att=${parts.attested ? 1 : 0}`;
}

/** Whether `certificate` is still worth using at `now`: before half of its lifetime and 5 minutes from its end. */
export function isBindingFresh(certificate: LoadedCertificate, now: number): boolean {
  const notBefore = certificate.notBefore.getTime();
  const notAfter = certificate.notAfter.getTime();
  const halfLife = notBefore + (notAfter - notBefore) / 2;
  // notBefore is not checked against `now`: a few seconds of skew with IMDS must not cause a re-mint on every call.
  return now < halfLife && notAfter - now > BINDING_RENEWAL_MARGIN_MS;
}

/**
 * Binding certificates (or anything that carries one) by key. A value is served while
 * {@link isBindingFresh}; otherwise, or after {@link BindingCertificateCache.invalidate}, the next
 * caller mints a new one. Concurrent callers of one key share a single mint; a failed mint is not
 * remembered, so the next call tries again.
 */
export class BindingCertificateCache<T extends { readonly certificate: LoadedCertificate }> {
  readonly #now: () => number;
  readonly #entries = new Map<string, T>();
  readonly #minting = new Map<string, Promise<T>>();

  /** @param now - the clock, ms since epoch; injectable for tests */
  constructor(now: () => number) {
    this.#now = now;
  }

  /**
   * The fresh value of `key`, or the result of `mint` (shared with every caller that arrives
   * while it runs).
   */
  get(key: string, mint: () => Promise<T>): Promise<T> {
    const current = this.#entries.get(key);
    if (current !== undefined && isBindingFresh(current.certificate, this.#now())) return Promise.resolve(current);
    const inFlight = this.#minting.get(key);
    if (inFlight !== undefined) return inFlight;
    const minted = (async () => {
      try {
        const value = await mint();
        this.#entries.set(key, value);
        return value;
      } finally {
        this.#minting.delete(key);
      }
    })();
    this.#minting.set(key, minted);
    return minted;
  }

  /** The value held for `key` right now, fresh or not, without minting. */
  peek(key: string): T | undefined {
    return this.#entries.get(key);
  }

  /**
   * Drops the value of `key` so that the next {@link BindingCertificateCache.get} mints again.
   * With `rejected`, the value is dropped only if it is still that one: when several requests
   * fail with the same certificate, the first re-mint is not thrown away by the others.
   */
  invalidate(key: string, rejected?: T): void {
    const current = this.#entries.get(key);
    if (rejected === undefined || current === rejected) this.#entries.delete(key);
  }

  /** Forgets everything. */
  clear(): void {
    this.#entries.clear();
  }
}
