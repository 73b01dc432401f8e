/**
 * The overall deadline of one `getToken` call: a signal that aborts when the caller's signal
 * does or when the deadline passes, whichever comes first. Everything a call does — waiting for a
 * connection, connecting, headers, body, retries and their sleeps — listens to it, so no host,
 * however slow, keeps a call pending past its deadline.
 */

/** The reason a call's signal aborts with when its deadline passes: a `TimeoutError`. */
export function deadlineExceeded(timeoutMs: number): DOMException {
  return new DOMException(
    `getToken did not complete within its deadline of ${timeoutMs} ms (getTokenTimeoutInMs); the token endpoint or a network hop on the way to it is too slow.`,
    "TimeoutError",
  );
}

/**
 * `callerSignal` bounded by a deadline of `timeoutMs` from now. Call `release` when the call has
 * settled, so that neither the timer nor the listener outlives it.
 */
export function withDeadline(
  caller: { signal: AbortSignal | undefined; release: () => void },
  timeoutMs: number,
): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const callerSignal = caller.signal;
  if (callerSignal?.aborted === true) {
    controller.abort(callerSignal.reason);
    return { signal: controller.signal, release: caller.release };
  }
  const timer = setTimeout(() => controller.abort(deadlineExceeded(timeoutMs)), timeoutMs);
  // A pending deadline must not keep the process alive on its own.
  timer.unref();
  const onAbort = (): void => controller.abort(callerSignal?.reason);
  callerSignal?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    release: () => {
      clearTimeout(timer);
      callerSignal?.removeEventListener("abort", onAbort);
      caller.release();
    },
  };
}
