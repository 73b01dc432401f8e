import type { LoadedCertificate } from "./loadedCertificate.ts";
import { RefreshAhead } from "../cache/singleFlight.ts";
import { freshnessOf, Renewable } from "./managedIdentity/renewable.ts";

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
  /** Where the keys live when not in this process (a token's label); nor are a software and a hardware key's. */
  readonly keyStore?: string | undefined;
}

/** The cache key of {@link BindingCacheKeyParts}, in the `#att=0|1` style of MSAL.NET. */
export function bindingCacheKey(parts: BindingCacheKeyParts): string {
  const base = `${parts.imdsEndpoint}|${parts.identitySelector}#att=${parts.attested ? 1 : 0}`;
  return parts.keyStore === undefined ? base : `${base}#keys=${parts.keyStore}`;
}

/**
 * Whether `certificate` is still worth using at `now`: before half of its lifetime and more than 5
 * minutes from its end. With `mintedAt` (when it was obtained, on this machine's clock): a
 * certificate already past its half-life when obtained (this clock runs ahead of the issuer's) is
 * kept until half of what was left then, rather than looking stale at once and being re-minted on
 * every call.
 */
export function isBindingFresh(certificate: LoadedCertificate, now: number, mintedAt?: number): boolean {
  return now < bindingRenewalTime(certificate, mintedAt ?? Number.NEGATIVE_INFINITY);
}

/**
 * When a certificate obtained at `mintedAt` stops being {@link isBindingFresh}: the earlier of its
 * (adjusted) half-life and 5 minutes before its end.
 */
export function bindingRenewalTime(certificate: LoadedCertificate, mintedAt: number): number {
  const notBefore = certificate.notBefore.getTime();
  const notAfter = certificate.notAfter.getTime();
  let renewAt = notBefore + (notAfter - notBefore) / 2;
  if (mintedAt >= renewAt) renewAt = mintedAt + (notAfter - mintedAt) / 2;
  return Math.min(renewAt, notAfter - BINDING_RENEWAL_MARGIN_MS);
}

/**
 * Binding certificates (or anything that carries one) by key. A value is served while
 * {@link isBindingFresh}; otherwise, or after {@link BindingCertificateCache.invalidate}, the next
 * caller mints a new one. Concurrent callers of one key share a single mint; a failed mint is not
 * remembered, so the next call tries again, and a stale certificate is never served.
 */
export class BindingCertificateCache<T extends { readonly certificate: LoadedCertificate }> {
  readonly #now: () => number;
  readonly #values: RefreshAhead<Renewable<T>>;

  /**
   * @param now - the clock, ms since epoch; injectable for tests
   * @param onDiscard - told when a value is replaced or invalidated, so that what was opened for
   *   it (a TLS agent for its certificate) can be closed
   */
  constructor(now: () => number, onDiscard?: (value: T) => void) {
    this.#now = now;
    this.#values = new RefreshAhead<Renewable<T>>({
      now,
      freshness: freshnessOf,
      ...(onDiscard === undefined ? {} : { onDiscard: (kept: Renewable<T>) => onDiscard(kept.value) }),
    });
  }

  /**
   * The fresh value of `key`, or the result of `mint` (shared with every caller that arrives
   * while it runs). A caller whose `signal` aborts stops waiting; the mint is aborted (its
   * `signal`) only once every caller has gone.
   */
  async get(key: string, mint: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const kept = await this.#values.get(
      key,
      async (flightSignal) => {
        const mintedAt = this.#now();
        const value = await mint(flightSignal);
        const refreshAt = bindingRenewalTime(value.certificate, mintedAt);
        // Never served stale: a certificate past its renewal time is replaced or nothing.
        return new Renewable(value, refreshAt, refreshAt);
      },
      { signal },
    );
    return kept.value;
  }

  /** The value held for `key` right now, fresh or not, without minting. */
  peek(key: string): T | undefined {
    return this.#values.kept(key)?.value;
  }

  /**
   * Drops the value of `key` so that the next {@link BindingCertificateCache.get} mints again.
   * With `rejected`, the value is dropped only if it is still that one: when several requests
   * fail with the same certificate, the first re-mint is not thrown away by the others.
   */
  invalidate(key: string, rejected?: T): void {
    const kept = this.#values.kept(key);
    if (kept === undefined || (rejected !== undefined && kept.value !== rejected)) return;
    kept.revoke();
    this.#values.invalidate(key, kept);
  }
}
