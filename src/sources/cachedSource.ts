import { inspect } from "node:util";
import { abortable } from "../abortable.ts";
import { type FlightWork, RefreshAhead } from "../cache/singleFlight.ts";
import type { NormalizedEntryOf } from "../configuration/normalized.ts";
import { credentialLogger } from "../logging.ts";
import type { CredentialSource, SourceMaterial } from "./types.ts";

/** The one value a source keeps. */
const MATERIAL = "material";

/**
 * One read at a time: callers that arrive while a read is in flight share it, and a successful
 * result is kept until a fresh read replaces it. A failed read is forgotten (a failed fresh read
 * takes what was kept with it), so the next caller tries again.
 */
export class KeptRead<T> {
  readonly #values = new RefreshAhead<T>({ freshness: () => "fresh", now: Date.now });

  /** The kept result, or the read in flight, or a new read. */
  get(read: () => Promise<T>): Promise<T> {
    return this.#values.get(MATERIAL, this.#forgettingOnFailure(read));
  }

  /**
   * A read that starts after this call (or the fresh read already in flight): what was kept may
   * predate a change, so it is not reused.
   */
  refresh(read: () => Promise<T>): Promise<T> {
    return this.#values.refresh(MATERIAL, this.#forgettingOnFailure(read));
  }

  #forgettingOnFailure(read: () => Promise<T>): FlightWork<T> {
    return async (_signal, flight) => {
      try {
        return await read();
      } catch (error) {
        if (!flight.superseded) this.#values.invalidate(MATERIAL);
        throw error;
      }
    };
  }
}

const logger = credentialLogger("BoundClientCredential");

/**
 * The common shape of a source: `load` reads once and keeps the material (concurrent callers share
 * one read), `reload` reads again. A kept certificate that has since expired is not handed out:
 * `load` reads again, in case the certificate was rotated in the meantime, and reports the source
 * unavailable if it was not. Sources describe themselves by entry id only, so neither
 * `JSON.stringify` nor `util.inspect` can reach the configuration and its secrets.
 */
export abstract class CachedSource implements CredentialSource {
  readonly #entryId: string;
  readonly #sourceType: string;
  readonly #now: () => number;
  readonly #flight = new KeptRead<SourceMaterial>();

  constructor(entry: NormalizedEntryOf<{ readonly sourceType: string }>, now: () => number) {
    this.#entryId = entry.id;
    this.#sourceType = entry.description.sourceType;
    this.#now = now;
  }

  /** Reads the material; throws `SourceUnavailableError` when it cannot be had. */
  protected abstract read(): Promise<SourceMaterial>;

  /** The id of the entry, for log lines. */
  protected get entryId(): string {
    return this.#entryId;
  }

  /** The injected clock. */
  protected now(): number {
    return this.#now();
  }

  async load(signal?: AbortSignal): Promise<SourceMaterial> {
    const material = await abortable(
      this.#flight.get(() => this.#readAndLog()),
      signal,
    );
    if (material.kind === "certificate" && !material.certificate.isValidAt(this.now())) return this.reload(signal);
    return material;
  }

  reload(signal?: AbortSignal): Promise<SourceMaterial> {
    return abortable(
      this.#flight.refresh(() => this.#readAndLog()),
      signal,
    );
  }

  async #readAndLog(): Promise<SourceMaterial> {
    const material = await this.read();
    if (material.kind === "certificate") {
      const certificate = material.certificate;
      logger.verbose(
        `${this.#entryId} => loaded certificate ${certificate.thumbprintSha256} (${certificate.keyType}, ` +
          `valid until ${certificate.notAfter.toISOString()}, chain of ${certificate.chain.length})`,
      );
    }
    return material;
  }

  toJSON(): Record<string, string> {
    return { entry: this.#entryId, sourceType: this.#sourceType };
  }

  [inspect.custom](): string {
    return `${this.constructor.name} ${inspect(this.toJSON())}`;
  }
}
