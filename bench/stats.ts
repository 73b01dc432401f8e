import { Socket } from "node:net";
import { getHeapSpaceStatistics } from "node:v8";

/**
 * Small statistics for the benchmark: percentiles of latency samples and medians across rounds.
 */

/** The `p`-th percentile (0–100) of `samples`, nearest rank; the samples need not be sorted. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError("percentile of no samples");
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** The median of `values`. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Milliseconds since an arbitrary origin, with sub-microsecond resolution. */
export const now: () => number = () => performance.now();

/** Runs `work` and returns how long it took, in milliseconds, with its result. */
export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = now();
  const value = await work();
  return { ms: now() - started, value };
}

/**
 * V8 spaces that hold program data. The code and trusted spaces are left out: they hold compiled
 * code and bytecode, which grow while the JIT warms up and shrink when V8 flushes bytecode that
 * has not run for a while, by megabytes, whatever the credential caches.
 */
const DATA_SPACES: ReadonlySet<string> = new Set([
  "new_space",
  "old_space",
  "new_large_object_space",
  "large_object_space",
  "shared_space",
  "shared_large_object_space",
]);

/**
 * Runs full garbage collections until nothing more goes, then returns the bytes in use in V8's data spaces (see {@link DATA_SPACES}).
 */
export function settledHeapBytes(): number {
  const collect = globalThis.gc;
  if (collect === undefined) throw new Error("The benchmark needs --expose-gc; run it as `node bench/run.ts`, which adds it.");
  // "last-resort" collects repeatedly until nothing more goes, and finishes sweeping.
  collect({ type: "major", execution: "sync", flavor: "last-resort" });
  let used = 0;
  for (const space of getHeapSpaceStatistics()) if (DATA_SPACES.has(space.space_name)) used += space.space_used_size;
  return used;
}

/** Lets pending timers and I/O callbacks run (sockets closing, keep-alive bookkeeping). */
export function settle(ms = 20): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Rotates `items` by `round`, so that alternating runs do not always give the same contender the
 * first (or last) slot.
 */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/**
 * Open sockets, the unreferenced ones included. `process.getActiveResourcesInfo()` lists only
 * handles that keep the event loop alive, and an HTTP agent unreferences the idle keep-alive
 * sockets it keeps: those are exactly the ones left by earlier work. Node's internal
 * `_getActiveHandles` (undocumented, and the only way to see them) lists every open handle.
 */
function openSockets(): number {
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.();
  if (handles === undefined) return process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap" || r === "TLSWrap").length;
  return handles.filter((handle) => handle instanceof Socket).length;
}

/**
 * Waits until at most `maxSockets` sockets are open in this process (or `timeoutMs` passed):
 * keep-alive connections left by earlier work close only when the emulator's idle timeout (5 s)
 * ends them, and the memory they free must not land inside a heap measurement.
 */
export async function quiesceSockets(maxSockets = 4, timeoutMs = 15_000): Promise<number> {
  const deadline = now() + timeoutMs;
  while (openSockets() > maxSockets && now() < deadline) await settle(100);
  return openSockets();
}
