import type { EmulatorRoute, Faults, FaultSpec } from "./types.ts";

const ROUTES: ReadonlySet<string> = new Set<EmulatorRoute>([
  "login.token",
  "login.instanceDiscovery",
  "login.openidConfiguration",
  "login.jwks",
  "mtls.token",
  "imds.token",
  "imds.platformMetadata",
  "imds.issueCredential",
  "imds.compute",
  "keyVault.secret",
]);

interface QueuedFault {
  readonly spec: FaultSpec;
  remaining: number;
}

/** Scripted faults, consumed one request (or one connection, for `tls`) at a time. */
export class FaultQueue implements Faults {
  #queue: QueuedFault[] = [];

  add(fault: FaultSpec): void {
    if (!ROUTES.has(fault.route)) {
      throw new TypeError(`Unknown emulator route "${String(fault.route)}"; use one of ${[...ROUTES].join(", ")}.`);
    }
    const count = fault.count ?? 1;
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`faults.add: count must be a positive integer, got ${String(fault.count)}.`);
    }
    const answers = fault.status !== undefined || fault.body !== undefined;
    const effects = [answers, fault.reset === true, fault.tls !== undefined];
    if (effects.filter(Boolean).length > 1) {
      throw new TypeError(
        "faults.add: give at most one of status/body, reset and tls (status and body combine, delayMs combines with any).",
      );
    }
    if (effects.every((effect) => !effect) && fault.delayMs === undefined) {
      throw new TypeError("faults.add: give one of status, reset, body, tls or delayMs.");
    }
    if (fault.tls !== undefined && fault.route.startsWith("imds.")) {
      throw new TypeError("faults.add: IMDS is plain HTTP; a tls fault needs an HTTPS route.");
    }
    this.#queue.push({ spec: { ...fault }, remaining: count });
  }

  /** Takes the next request fault of a route (not `tls` faults), if any. */
  takeRequestFault(route: EmulatorRoute): FaultSpec | undefined {
    return this.#take((fault) => fault.route === route && fault.tls === undefined);
  }

  /** Takes the next `tls` fault among routes served by one server, if any. */
  takeConnectionFault(routes: readonly EmulatorRoute[]): FaultSpec | undefined {
    return this.#take((fault) => fault.tls !== undefined && routes.includes(fault.route));
  }

  pending(route?: EmulatorRoute): number {
    return this.#queue
      .filter((queued) => route === undefined || queued.spec.route === route)
      .reduce((sum, queued) => sum + queued.remaining, 0);
  }

  clear(): void {
    this.#queue = [];
  }

  #take(matches: (fault: FaultSpec) => boolean): FaultSpec | undefined {
    const index = this.#queue.findIndex((queued) => matches(queued.spec));
    const queued = this.#queue[index];
    if (queued === undefined) return undefined;
    queued.remaining -= 1;
    if (queued.remaining === 0) this.#queue.splice(index, 1);
    return queued.spec;
  }
}
