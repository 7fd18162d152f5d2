/**
 * AbortSignal plumbing shared by the transport and the public API. Every wait of the
 * client takes a list of signals because two sources can end it: the caller's own
 * `signal` and the client's close().
 */

type Signals = ReadonlyArray<AbortSignal | undefined>;

/** Runs `fn` once when any of `signals` aborts, at once if one already has. Returns the unsubscribe. */
export function onAbort(signals: Signals, fn: () => void): () => void {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  if (live.some((s) => s.aborted)) {
    fn();
    return () => undefined;
  }
  const unsubscribe = (): void => {
    for (const s of live) s.removeEventListener('abort', handler);
  };
  const handler = (): void => {
    unsubscribe();
    fn();
  };
  for (const s of live) s.addEventListener('abort', handler);
  return unsubscribe;
}

/**
 * Waits `ms`, or less when a signal aborts. Resolves either way, never rejects: the caller
 * knows which abort means what (closed client, or aborted operation).
 */
export function sleep(ms: number, signals: Signals): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    // The timer exists before onAbort can fire synchronously for an already aborted signal.
    const timer = setTimeout(() => {
      stop();
      resolve();
    }, ms);
    const stop = onAbort(signals, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Settles as `promise` does, or rejects with `aborted()` as soon as `signal` aborts. The
 * work behind `promise` goes on: it may be shared (say, the single-flight OpenSession).
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, aborted: () => Error): Promise<T> {
  if (!signal) return promise;
  let stop = (): void => undefined;
  const abort = new Promise<never>((_, reject) => {
    stop = onAbort([signal], () => reject(aborted()));
  });
  // race() handles both outcomes of `promise`, so its later rejection is never unhandled.
  return Promise.race([promise, abort]).finally(() => stop());
}
