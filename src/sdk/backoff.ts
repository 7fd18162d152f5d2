/**
 * Exponential backoff with "equal jitter": half of the step is fixed, half random. The
 * fixed half keeps a client from spinning on a node that refuses at once; the random half
 * keeps a fleet of clients that all saw the same failover from retrying in lockstep.
 *
 * @param attempt 0 for the first retry
 * @param random source in [0, 1), injectable for tests
 */
export function backoffDelayMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + random() * (step / 2));
}
