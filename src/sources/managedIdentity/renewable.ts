/**
 * A remotely produced value with the times that govern its reuse, as the managed identity caches
 * keep it in the shared {@link RefreshAhead} primitive.
 */
import type { Freshness } from "../../cache/singleFlight.ts";

/** A value, when it is due for renewal and until when it may stand in for a failed renewal (ms since the epoch). */
export class Renewable<V> {
  readonly value: V;
  /** Served as it is until this time. */
  readonly refreshAt: number;
  /** After `refreshAt`, served when a renewal fails until this time. */
  readonly staleUntil: number;
  #revoked = false;

  constructor(value: V, refreshAt: number, staleUntil: number) {
    this.value = value;
    this.refreshAt = refreshAt;
    this.staleUntil = Math.max(refreshAt, staleUntil);
  }

  /** Never served again, not even stale: it was refused, or forgotten while a renewal ran. */
  revoke(): void {
    this.#revoked = true;
  }

  /** How it stands at `now`. */
  freshness(now: number): Freshness {
    if (this.#revoked) return "expired";
    if (now < this.refreshAt) return "fresh";
    return now < this.staleUntil ? "stale" : "expired";
  }

  toJSON(): Record<string, unknown> {
    return { refreshAt: this.refreshAt, staleUntil: this.staleUntil };
  }
}

/** The `freshness` option of a {@link RefreshAhead} of {@link Renewable} values. */
export function freshnessOf<V>(kept: Renewable<V>, now: number): Freshness {
  return kept.freshness(now);
}
