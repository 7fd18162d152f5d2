import type { Clock } from '../clock';

export interface AttemptLimiter {
  /** Records an attempt by `key`; refused (and not recorded) when `max` already fell in the window, with the wait until one leaves it. */
  attempt(key: string): { allowed: true } | { allowed: false; retryAfterMs: number };
}

/**
 * At most `max` attempts per `windowMs` per key (a client address), a sliding window on the
 * monotonic clock. At most `maxKeys` keys are remembered, the least recently seen forgotten
 * first, so a flood of addresses cannot grow the map without bound.
 */
export function createAttemptLimiter(opts: { max: number; windowMs: number; clock: Clock; maxKeys?: number }): AttemptLimiter {
  const seen = new Map<string, number[]>();
  const maxKeys = opts.maxKeys ?? 10_000;
  return {
    attempt(key) {
      const now = opts.clock.monotonic();
      const times = (seen.get(key) ?? []).filter((t) => t > now - opts.windowMs);
      // Re-inserting moves the key to the end: the Map's front is the least recently seen.
      seen.delete(key);
      const first = times[0];
      if (times.length >= opts.max && first !== undefined) {
        seen.set(key, times);
        return { allowed: false, retryAfterMs: first + opts.windowMs - now };
      }
      times.push(now);
      seen.set(key, times);
      while (seen.size > maxKeys) {
        const oldest = seen.keys().next();
        if (oldest.done === true) break;
        seen.delete(oldest.value);
      }
      return { allowed: true };
    },
  };
}
