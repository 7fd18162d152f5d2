/**
 * The node's own view of a phase: license_grpc_request_duration_seconds buckets
 * scraped from /metrics before and after, so the fixed-rate latency can be read
 * without the load client's GC pauses and scheduling (a Node client adds several ms
 * of p99 on this 2-core machine).
 */
export type Buckets = Map<number, number>;

export async function scrapeBuckets(metricsUrl: string, method: string, code = 'OK'): Promise<Buckets> {
  const text = await (await fetch(metricsUrl)).text();
  const out: Buckets = new Map();
  const re = new RegExp(
    `^license_grpc_request_duration_seconds_bucket\\{le="([^"]+)",method="${method}",code="${code}"\\} (\\d+)$|^license_grpc_request_duration_seconds_bucket\\{method="${method}",code="${code}",le="([^"]+)"\\} (\\d+)$`,
    'gm',
  );
  for (const m of text.matchAll(re)) {
    const le = m[1] ?? m[3];
    const n = m[2] ?? m[4];
    if (le !== undefined && n !== undefined) out.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), Number(n));
  }
  return out;
}

/** Upper bound (ms) of the bucket holding quantile q of the calls between two scrapes. */
export function quantileUpperBoundMs(before: Buckets, after: Buckets, q: number): { boundMs: number; count: number } {
  const les = [...after.keys()].sort((a, b) => a - b);
  const cum = les.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = cum[cum.length - 1] ?? 0;
  if (total === 0) return { boundMs: Number.NaN, count: 0 };
  const idx = cum.findIndex((c) => c >= q * total);
  return { boundMs: (les[idx] ?? Number.POSITIVE_INFINITY) * 1000, count: total };
}
