import { AuthenticationError, AuthenticationRequiredError, CredentialUnavailableError, type EntryReport, type EntryReportOutcome, MAX_ENTRY_LINES } from "../errors.ts";
import type { CredentialLogger } from "../logging.ts";
import type { NormalizedEntry } from "../configuration/normalized.ts";
import type { EntryFailure } from "./entryOutcome.ts";
import type { AcquiredToken, RequestKind, TokenRequest } from "./types.ts";

/** First cool-down of a benched entry; it doubles on each further failure up to the maximum. */
export const INITIAL_COOLDOWN_MS = 60_000;
/** Longest cool-down of a benched entry. */
export const MAX_COOLDOWN_MS = 30 * 60_000;

/** One entry of the list, able to obtain a token (loading or reloading its material first). */
export interface ListEntry {
  readonly entry: NormalizedEntry;
  /**
   * Obtains a token with this entry.
   * @param reload - drop the loaded material and read it again first (rotation after a rejection)
   */
  acquire(request: TokenRequest, reload: boolean): Promise<AcquiredToken>;
  /** Turns a failure of {@link ListEntry.acquire} for a request of `kind` into an outcome for the list. */
  classify(error: unknown, kind: RequestKind): EntryFailure;
}

/** Which entry served a token, for logs and the CLI. */
export interface ServedToken {
  readonly token: AcquiredToken;
  readonly entry: NormalizedEntry;
  /** The entries tried before it, which did not serve, in the order they were tried. */
  readonly notServed: readonly EntryReport[];
}

interface Failed {
  readonly entry: NormalizedEntry;
  readonly failure: EntryFailure;
  /** It was on the bench when the call began, and tried after the others. */
  readonly wasBenched: boolean;
}

interface BenchState {
  until: number;
  cooldownMs: number;
  lastReason: string;
}

/**
 * Walks the ordered list: the first entry that obtains a token serves. Entries that failed are
 * benched for a cool-down that grows, so a bound primary that failed comes back by itself once it
 * works again; while benched they are tried only after every other entry has failed.
 */
export class CredentialList {
  readonly #entries: readonly ListEntry[];
  readonly #now: () => number;
  readonly #logger: CredentialLogger;
  readonly #bench = new Map<number, BenchState>();

  constructor(entries: readonly ListEntry[], now: () => number, logger: CredentialLogger) {
    this.#entries = entries;
    this.#now = now;
    this.#logger = logger;
  }

  /**
   * Obtains a token from the first entry that can.
   *
   * @throws CredentialUnavailableError when every entry was unavailable
   * @throws AuthenticationError when Entra refused, or the request itself failed
   * @throws the abort reason when the request was aborted
   */
  async acquire(request: TokenRequest): Promise<ServedToken> {
    const now = this.#now();
    const active = this.#entries.filter((e) => !e.entry.skip);
    // Sets and maps, not scans: a list of tens of thousands of entries walks in linear time.
    const benched = new Set(active.filter((e) => (this.#bench.get(e.entry.index)?.until ?? 0) > now));
    const ready = active.filter((e) => !benched.has(e));
    const failures: Failed[] = [];

    for (const candidate of [...ready, ...benched]) {
      const result = await this.#tryEntry(candidate, request);
      if ("token" in result) {
        if (this.#bench.delete(candidate.entry.index)) {
          this.#logger.info(`${candidate.entry.id} works again and is no longer benched.`);
        }
        return { token: result.token, entry: candidate.entry, notServed: failures.map(reportOf) };
      }
      const { failure } = result;
      failures.push({ entry: candidate.entry, failure, wasBenched: benched.has(candidate) });
      if (request.signal.aborted) throw request.signal.reason;
      if (failure.outcome === "stop") {
        this.#logger.warning(`${candidate.entry.id} failed and no other entry would help: ${failure.reason}`);
        throw this.#finalError(request, failures, failure);
      }
      this.#benchEntry(candidate.entry, failure, request.correlationId);
    }
    throw this.#finalError(request, failures, undefined);
  }

  /** The entries benched now, with the time each comes back (for the CLI's `doctor`). */
  benchedEntries(): { id: string; until: number; reason: string }[] {
    return this.#entries.flatMap((e) => {
      const state = this.#bench.get(e.entry.index);
      return state === undefined ? [] : [{ id: e.entry.id, until: state.until, reason: state.lastReason }];
    });
  }

  async #tryEntry(
    candidate: ListEntry,
    request: TokenRequest,
  ): Promise<{ token: AcquiredToken } | { failure: EntryFailure }> {
    const { entry } = candidate;
    this.#logger.verbose(`trying ${entry.id}`);
    let failure: EntryFailure;
    try {
      return { token: await candidate.acquire(request, false) };
    } catch (error) {
      failure = candidate.classify(error, request.kind);
    }
    if (failure.outcome !== "rejected" || request.signal.aborted) return { failure };
    // Entra refused the credential: it may have been rotated under us, so read it again once.
    this.#logger.info(`${entry.id} was rejected (${failure.reason}); reloading it once and retrying.`);
    try {
      return { token: await candidate.acquire(request, true) };
    } catch (error) {
      return { failure: candidate.classify(error, request.kind) };
    }
  }

  #benchEntry(entry: NormalizedEntry, failure: EntryFailure, correlationId: string): void {
    const previous = this.#bench.get(entry.index);
    const cooldownMs =
      previous === undefined ? INITIAL_COOLDOWN_MS : Math.min(previous.cooldownMs * 2, MAX_COOLDOWN_MS);
    const until = this.#now() + cooldownMs;
    this.#bench.set(entry.index, { until, cooldownMs, lastReason: failure.reason });
    this.#logger.warning(
      `${entry.id} is ${failure.outcome}: ${failure.reason} It is benched for ${Math.round(cooldownMs / 1000)} s (correlation id ${correlationId}).`,
    );
  }

  #finalError(
    request: TokenRequest,
    failures: readonly Failed[],
    stoppedBy: EntryFailure | undefined,
  ): Error {
    const failedByIndex = new Map(failures.map((f) => [f.entry.index, f]));
    const entries = this.#entries.map((e): EntryReport => {
      const failed = failedByIndex.get(e.entry.index);
      if (failed !== undefined) return reportOf(failed);
      return notFailed(e.entry, e.entry.skip ? "skipped" : "not-tried");
    });
    const allLines = this.#entries.map((e) => {
      const failed = failedByIndex.get(e.entry.index);
      if (e.entry.skip) return `  ${e.entry.id}: skipped (skip: true).`;
      if (failed === undefined) return `  ${e.entry.id}: not tried.`;
      const label = failed.failure.outcome === "rejected" ? "rejected by Entra ID" : failed.failure.outcome;
      return `  ${e.entry.id}: ${label}: ${failed.failure.reason}`;
    });
    const scopes = request.scopes.join(", ");
    const summary =
      stoppedBy === undefined
        ? `BoundClientCredential: no credential in the list could obtain a token for ${scopes} in tenant ${request.tenantId}.`
        : `BoundClientCredential: the token request for ${scopes} in tenant ${request.tenantId} failed, and no other credential would help.`;
    // The message stays readable for long lists; the structured list carries every entry.
    const lines =
      allLines.length <= MAX_ENTRY_LINES
        ? allLines
        : [...allLines.slice(0, MAX_ENTRY_LINES), `  … and ${allLines.length - MAX_ENTRY_LINES} more entries (the error's entries list them all).`];
    const message = `${summary}\n${lines.join("\n")}`;
    const causes = failures.map((f) => f.failure.error);
    const cause = causes.length === 1 ? causes[0] : new AggregateError(causes, "the failures of each entry");
    if (stoppedBy === undefined && failures.every((f) => f.failure.outcome === "unavailable")) {
      return new CredentialUnavailableError(message, { cause, entries });
    }
    const decisive = stoppedBy ?? failures.findLast((f) => f.failure.outcome !== "unavailable")?.failure;
    const aadsts = decisive?.aadsts;
    if (stoppedBy?.claims !== undefined && request.kind.grant === "on_behalf_of") {
      // A user flow's claims challenge: the web API sends it back to its client (WWW-Authenticate),
      // which signs the user in again with those claims, as @azure/identity's user credentials do.
      return new AuthenticationRequiredError({
        scopes: request.scopes,
        getTokenOptions: { claims: stoppedBy.claims, tenantId: request.tenantId },
        message,
        cause,
        entries,
      });
    }
    // 0 when no HTTP answer came at all (a timeout, an abort), as a browser reports it.
    return new AuthenticationError(
      decisive?.statusCode ?? 0,
      {
        error: decisive?.outcome === "stop" ? "request_failed" : "invalid_client",
        error_description: message,
        ...(aadsts === undefined ? {} : { error_codes: [aadsts] }),
        correlation_id: request.correlationId,
      },
      { cause, entries },
    );
  }
}

function reportOf(failed: Failed): EntryReport {
  const { entry, failure } = failed;
  const outcome: EntryReportOutcome =
    failure.outcome === "stop" ? "request-error" : failed.wasBenched ? "benched" : failure.outcome;
  return {
    id: entry.id,
    index: entry.index,
    sourceType: entry.description.sourceType,
    bound: entry.bound,
    outcome,
    code: failure.code,
    aadsts: failure.aadsts,
    statusCode: failure.statusCode,
    reason: failure.reason,
  };
}

function notFailed(entry: NormalizedEntry, outcome: "skipped" | "not-tried"): EntryReport {
  return {
    id: entry.id,
    index: entry.index,
    sourceType: entry.description.sourceType,
    bound: entry.bound,
    outcome,
    code: undefined,
    aadsts: undefined,
    statusCode: undefined,
    reason: undefined,
  };
}
