/** Counters of one summary interval and of the whole run. */
export interface LoadCounters {
  checkouts: number;
  granted: number;
  exhausted: number;
  blocked: number;
  errors: number;
  released: number;
  releaseErrors: number;
  failovers: number;
  seatsLost: number;
  sessionsReopened: number;
}

const zero = (): LoadCounters => ({
  checkouts: 0,
  granted: 0,
  exhausted: 0,
  blocked: 0,
  errors: 0,
  released: 0,
  releaseErrors: 0,
  failovers: 0,
  seatsLost: 0,
  sessionsReopened: 0,
});

/** Nearest-rank percentile of an ascending array; undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const round1 = (n: number | undefined): number | null => (n === undefined ? null : Math.round(n * 10) / 10);

/** What the load client counts; `interval()` hands out and resets the interval's share. */
export class LoadStats {
  readonly total: LoadCounters = zero();
  #interval: LoadCounters = zero();
  /** Latencies (ms) of granted checkouts in this interval. */
  #latencies: number[] = [];

  count(key: keyof LoadCounters, n = 1): void {
    this.total[key] += n;
    this.#interval[key] += n;
  }

  grantedIn(ms: number): void {
    this.count('granted');
    this.#latencies.push(ms);
  }

  /** The interval's counters and checkout latency percentiles; starts a new interval. */
  interval(): LoadCounters & { checkoutP50Ms: number | null; checkoutP99Ms: number | null; checkoutMaxMs: number | null } {
    const lat = this.#latencies.sort((a, b) => a - b);
    const out = {
      ...this.#interval,
      checkoutP50Ms: round1(percentile(lat, 50)),
      checkoutP99Ms: round1(percentile(lat, 99)),
      checkoutMaxMs: round1(lat.at(-1)),
    };
    this.#interval = zero();
    this.#latencies = [];
    return out;
  }
}
