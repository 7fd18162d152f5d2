/**
 * A compact latency histogram: log-linear buckets over whole microseconds with 64
 * sub-buckets per power of two (at most ~1.6% relative error, HdrHistogram's idea),
 * so a worker can send a million samples to the parent as a few hundred numbers.
 */

/** Sub-buckets per power of two; values below 2 * SUB are exact. */
const SUB = 64;
const SUB_BITS = 6;

/** What crosses the IPC channel: sparse [bucketIndex, count] pairs plus exact extremes. */
export interface HistogramSnapshot {
  readonly buckets: readonly (readonly [number, number])[];
  readonly count: number;
  readonly sumUs: number;
  readonly minUs: number;
  readonly maxUs: number;
}

export interface Summary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

function indexOf(us: number): number {
  if (us < 2 * SUB) return us;
  const shift = 31 - Math.clz32(us) - SUB_BITS;
  return shift * SUB + (us >>> shift);
}

/** The middle of the value range bucket `idx` stands for. */
function valueOf(idx: number): number {
  if (idx < 2 * SUB) return idx;
  const shift = Math.floor(idx / SUB) - 1;
  const m = idx - shift * SUB;
  const width = 2 ** shift;
  return m * width + (width - 1) / 2;
}

export class Histogram {
  private counts: number[] = [];
  private n = 0;
  private sum = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = 0;

  /** Records one latency in milliseconds (negative values count as 0). */
  recordMs(ms: number): void {
    // Cap at ~35 min so the bit arithmetic stays within 31 bits.
    const us = Math.min(Math.max(0, Math.round(ms * 1_000)), 2 ** 31 - 1);
    const i = indexOf(us);
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.n++;
    this.sum += us;
    if (us < this.min) this.min = us;
    if (us > this.max) this.max = us;
  }

  get count(): number {
    return this.n;
  }

  merge(s: HistogramSnapshot): this {
    for (const [i, c] of s.buckets) this.counts[i] = (this.counts[i] ?? 0) + c;
    this.n += s.count;
    this.sum += s.sumUs;
    if (s.count > 0) {
      this.min = Math.min(this.min, s.minUs);
      this.max = Math.max(this.max, s.maxUs);
    }
    return this;
  }

  snapshot(): HistogramSnapshot {
    const buckets: [number, number][] = [];
    this.counts.forEach((c, i) => {
      if (c) buckets.push([i, c]);
    });
    return { buckets, count: this.n, sumUs: this.sum, minUs: this.n ? this.min : 0, maxUs: this.max };
  }

  /** The latency (ms) at or below which `p` percent of the samples lie; NaN when empty. */
  percentileMs(p: number): number {
    if (this.n === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(Math.max(valueOf(i), this.min), this.max) / 1_000;
    }
    return this.max / 1_000;
  }

  summary(): Summary {
    return {
      count: this.n,
      meanMs: this.n ? this.sum / this.n / 1_000 : Number.NaN,
      p50Ms: this.percentileMs(50),
      p90Ms: this.percentileMs(90),
      p99Ms: this.percentileMs(99),
      p999Ms: this.percentileMs(99.9),
      maxMs: this.n ? this.max / 1_000 : Number.NaN,
    };
  }

  static from(snapshots: Iterable<HistogramSnapshot | undefined>): Histogram {
    const h = new Histogram();
    for (const s of snapshots) if (s) h.merge(s);
    return h;
  }
}
