import type { Cluster, Redis } from 'ioredis';
import { type UsageEvent, parseUsageEntry } from './usage-event';

/** Entries per XRANGE: one page is one short Redis command (~13-30 ms of Redis time), so the node's own calls never wait long behind a report. */
export const USAGE_PAGE_SIZE = 10_000;

/** Where the events go: a usage report, or anything else that takes them in stream order. */
export interface UsageSink {
  add(event: UsageEvent): void;
}

/** One XRANGE page, its events not yet decoded: the next page is asked for first. */
export interface UsagePage {
  /** Stream entries in the page, events or not. */
  readonly entries: number;
  /** Id of the page's last entry ('' when empty): the next page starts after it. */
  readonly lastId: string;
  /** Gives the page's events to `sink` in stream order; returns how many entries were events (the rest are skipped). */
  feed(sink: UsageSink): number;
}

/** `XRANGE key start end COUNT count`, one page at a time: ioredis (ioredisUsagePages) or the fast reader (connectUsageStream). */
export interface UsagePages {
  range(key: string, start: string, end: string, count: number): Promise<UsagePage>;
}

/**
 * Pages through any ioredis connection (single, Sentinel, Cluster), each entry parsed by
 * parseUsageEntry. Slow for big streams: ioredis decodes every field of every entry into a
 * Buffer and then a string (~17 µs an event, a million events ~17 s); the CLI reads with
 * connectUsageStream instead, which yields the same events (test/integration/usage-reader.test.ts).
 */
export function ioredisUsagePages(redis: Redis | Cluster): UsagePages {
  return {
    async range(key, start, end, count) {
      const entries = await redis.xrange(key, start, end, 'COUNT', count);
      return {
        entries: entries.length,
        lastId: entries[entries.length - 1]?.[0] ?? '',
        feed(sink) {
          let events = 0;
          for (const [id, fields] of entries) {
            const e = parseUsageEntry(id, fields);
            if (e === undefined) continue;
            events++;
            sink.add(e);
          }
          return events;
        },
      };
    },
  };
}

export interface ReadUsageOptions {
  /** The cluster's usage stream (ClusterKeys.usage). */
  readonly key: string;
  /** Read entries appended before this time (ms, exclusive); everything older, back to the first entry kept. */
  readonly toMs: number;
  readonly pageSize?: number;
}

export interface ReadUsageResult {
  /** Events given to the sink. */
  readonly events: number;
  /** Entries that are not events this version knows (a newer kind): skipped. */
  readonly skipped: number;
  readonly pages: number;
  /** Time of the oldest event read (the retention's edge, unless the stream is young); undefined when none. */
  readonly oldestAtMs: number | undefined;
}

/** The stream id just after `id` (`<ms>-<seq+1>`): the next page's inclusive start, on any Redis with streams. */
export function nextStreamId(id: string): string {
  const dash = id.indexOf('-');
  const ms = BigInt(id.slice(0, dash));
  const seq = BigInt(id.slice(dash + 1));
  return seq === 0xffff_ffff_ffff_ffffn ? `${ms + 1n}-0` : `${ms}-${seq + 1n}`;
}

/**
 * Reads a usage stream from its first entry up to `toMs` in XRANGE pages and feeds every event
 * to `sink` in stream order. The whole history is read even for a short window: the seats held
 * when the window opens are only known from the grants before it. The next page is asked for
 * before this one is decoded, so Redis works while this process does. Read-only: it can run
 * against a replica.
 */
export async function readUsage(pages: UsagePages, opts: ReadUsageOptions, sink: UsageSink): Promise<ReadUsageResult> {
  const pageSize = opts.pageSize ?? USAGE_PAGE_SIZE;
  let events = 0;
  let entries = 0;
  let pageCount = 0;
  let oldestAtMs: number | undefined;
  if (opts.toMs <= 0) return { events, skipped: 0, pages: 0, oldestAtMs };
  // An id's time is the Redis clock at the append; `<ms>` as an end takes every sequence of that ms.
  const end = String(Math.ceil(opts.toMs) - 1);
  const target: UsageSink = {
    add(e) {
      oldestAtMs ??= e.atMs;
      sink.add(e);
    },
  };
  let next: Promise<UsagePage> | undefined = pages.range(opts.key, '-', end, pageSize);
  try {
    while (next !== undefined) {
      const page: UsagePage = await next;
      next = page.entries >= pageSize && page.lastId !== '' ? pages.range(opts.key, nextStreamId(page.lastId), end, pageSize) : undefined;
      pageCount++;
      entries += page.entries;
      events += page.feed(target);
    }
  } finally {
    // A sink that threw leaves a page in flight: its failure is no news.
    next?.catch(() => {});
  }
  return { events, skipped: entries - events, pages: pageCount, oldestAtMs };
}
