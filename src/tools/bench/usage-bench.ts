import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { clusterKeys } from '../../server/store/keys';
import { createUsageReport, type UsageReportResult } from '../../server/usage/usage-report';
import { ioredisUsagePages, readUsage, type UsagePages, USAGE_PAGE_SIZE } from '../../server/usage/usage-reader';
import { connectUsageStream } from '../../server/usage/usage-stream-client';
import type { UsageEventKind } from '../../server/usage/usage-event';
import { startRedis } from '../local/redis-process';
import type { Cleanup } from './cleanup';
import type { MachineInfo } from './checkout-bench';
import { describeMachine, settledRedisMemory } from './proc-stats';
import { fmtFixed, fmtInt, fmtMiB, textTable } from './text-table';

/** What the issue asks of a report over one million events. */
export const TARGET_SECONDS = 10;

const DAY_MS = 86_400_000;
/** The synthetic history spans this much; the report covers its last 30 days, so the grants before set the seats held at the start. */
const HISTORY_DAYS = 60;
const REPORT_DAYS = 30;
/** XADDs per pipeline, and pipelines in flight. */
const BATCH = 2_000;
const IN_FLIGHT = 4;

export interface UsageBenchOptions {
  readonly events: number;
  readonly features: number;
  readonly users: number;
  /** Timed report runs; the figure is their median. */
  readonly rounds: number;
  readonly log: (line: string) => void;
}

export interface UsageRun {
  readonly seconds: number;
  /** Events read. */
  readonly events: number;
  /** This process's RSS growth during the run. */
  readonly rssGrowthBytes: number;
  /** Redis's own time per page (INFO commandstats): how long one page holds Redis up. */
  readonly redisMsPerPage?: number | undefined;
}

export interface UsageBenchReport {
  readonly machine: MachineInfo;
  readonly options: Omit<UsageBenchOptions, 'log'>;
  readonly written: { readonly events: number; readonly seconds: number; readonly byKind: Readonly<Record<string, number>> };
  readonly memory: { readonly usedBefore: number; readonly usedAfter: number; readonly streamBytes: number };
  /** Reading and decoding alone: through ioredis (XRANGE + parseUsageEntry), then the fast reader the CLI uses. */
  readonly reads: readonly [UsageRun, UsageRun];
  /** read + parse + report, end to end: the figure against the target. */
  readonly full: readonly UsageRun[];
  readonly result: UsageReportResult;
}

/** Small deterministic PRNG (mulberry32): the same history on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** 22 characters, like the server's randomBytes(16).toString('base64url') session and lease ids. */
function idFrom(rand: () => number): string {
  let s = '';
  for (let i = 0; i < 22; i++) s += ID_CHARS[Math.floor(rand() * 64)];
  return s;
}

interface Lease {
  readonly id: string;
  readonly user: number;
  readonly count: number;
  readonly session: string;
}

interface FeatureSim {
  readonly name: string;
  readonly seats: number;
  used: number;
  readonly open: Lease[];
}

/** One stream entry's fields, in the order the seat scripts write them (includes/sessions.lua usageEvent). */
type Fields = [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];

/**
 * A synthetic usage history with realistic values: features of 20-100 seats mostly 60-90%
 * used, users on their own hosts and clients, 22-character ids, grants later freed (mostly
 * released, some expired or revoked) under the same lease ids, denials when full, queue waits.
 */
function* history(o: UsageBenchOptions, startMs: number, endMs: number): Generator<{ t: number; kind: UsageEventKind; fields: Fields }> {
  const rand = prng(0x5eed);
  const features: FeatureSim[] = Array.from({ length: o.features }, (_, i) => ({
    name: ['cad-pro', 'sim-solver', 'render-farm', 'pcb-designer', 'cam-post', 'fea-mesh'][i % 6] + (i >= 6 ? `-${i}` : ''),
    seats: 20 + Math.floor(rand() * 81),
    used: 0,
    open: [],
  }));
  const users = Array.from({ length: o.users }, (_, i) => ({
    name: `user${String(i).padStart(4, '0')}`,
    host: `ws-${String(i).padStart(4, '0')}.eng.example.com`,
    client: `${idFrom(rand).slice(0, 8)}-${idFrom(rand).slice(0, 4)}`.toLowerCase(),
    session: idFrom(rand),
  }));
  const stepMs = (endMs - startMs) / o.events;
  let t = startMs;
  for (let i = 0; i < o.events; i++) {
    t += Math.floor(rand() * 2 * stepMs);
    if (t >= endMs) t = endMs - 1;
    const f = features[Math.floor(rand() * features.length)] as FeatureSim;
    const r = rand();
    const full = f.used >= f.seats * 0.9;
    const ev = (kind: UsageEventKind, user: number, count: number, session: string, lease: string, reason: string, wait: number): Fields => {
      const u = users[user] ?? users[0];
      return [
        't',
        String(t),
        'e',
        kind,
        'f',
        f.name,
        'n',
        String(count),
        'u',
        u?.name ?? '',
        'h',
        u?.host ?? '',
        'c',
        u?.client ?? '',
        's',
        session,
        'l',
        lease,
        'r',
        reason,
        'w',
        String(wait),
      ];
    };
    if (r < 0.03) {
      const user = Math.floor(rand() * users.length);
      const served = rand() < 0.8;
      yield {
        t,
        kind: 'queue',
        fields: ev('queue', user, 1, users[user]?.session ?? '', served ? idFrom(rand) : '', '', Math.floor(-Math.log(1 - rand()) * 4_000)),
      };
    } else if (r < 0.06 || (full && r < 0.12)) {
      const user = Math.floor(rand() * users.length);
      yield { t, kind: 'deny', fields: ev('deny', user, 1, users[user]?.session ?? '', '', rand() < 0.9 ? 'SEATS_EXHAUSTED' : 'LIMIT_EXCEEDED', 0) };
    } else if (f.open.length > 0 && (full || r < 0.53)) {
      const k = Math.floor(rand() * f.open.length);
      const lease = f.open[k] as Lease;
      f.open[k] = f.open[f.open.length - 1] as Lease;
      f.open.pop();
      f.used -= lease.count;
      const x = rand();
      const kind: UsageEventKind = x < 0.9 ? 'release' : x < 0.98 ? 'expire' : 'revoke';
      yield { t, kind, fields: ev(kind, lease.user, lease.count, lease.session, lease.id, '', 0) };
    } else {
      const user = Math.floor(rand() * users.length);
      const count = rand() < 0.9 ? 1 : 2;
      const lease: Lease = { id: idFrom(rand), user, count, session: users[user]?.session ?? '' };
      f.open.push(lease);
      f.used += count;
      yield { t, kind: 'grant', fields: ev('grant', user, count, lease.session, lease.id, '', 0) };
    }
  }
}

/** INFO commandstats: calls and usec of one command. */
async function commandStats(redis: Redis, command: string): Promise<{ calls: number; usec: number }> {
  const m = new RegExp(`^cmdstat_${command}:calls=(\\d+),usec=(\\d+)`, 'm').exec(await redis.info('commandstats'));
  return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
}

async function timed(fn: () => Promise<number>): Promise<UsageRun> {
  const rss = process.memoryUsage.rss();
  const start = performance.now();
  const events = await fn();
  const seconds = (performance.now() - start) / 1_000;
  return { seconds, events, rssGrowthBytes: Math.max(0, process.memoryUsage.rss() - rss) };
}

/**
 * `npm run bench -- usage`: its own redis-server, N synthetic events written to a usage stream
 * as the seat scripts write them, Redis memory per event, then the report of the last 30 days
 * (which reads every event: the seats held when the window opens come from the grants before)
 * timed end to end, a fresh connection each run.
 */
export async function runUsageBench(o: UsageBenchOptions, cleanup: Cleanup): Promise<UsageBenchReport> {
  o.log('starting redis-server');
  const server = await startRedis();
  cleanup.add('redis-server', () => server.stop());
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  cleanup.add('redis client', () => redis.disconnect());
  const machine = await describeMachine(redis);
  const key = clusterKeys('usage-bench').usage;
  const endMs = Date.UTC(2026, 10, 1);
  const startMs = endMs - HISTORY_DAYS * DAY_MS;

  const usedBefore = await settledRedisMemory(redis, 200);
  o.log(`writing ${fmtInt(o.events)} events (${o.features} features, ${o.users} users) in pipelines of ${BATCH}`);
  const byKind: Record<string, number> = {};
  const writeStart = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  let pipeline = redis.pipeline();
  let queued = 0;
  let lastMs = -1;
  let seq = 0;
  let written = 0;
  for (const e of history(o, startMs, endMs)) {
    // Explicit ids on the synthetic clock (the scripts use `*`, Redis's clock): same shape, past times.
    seq = e.t === lastMs ? seq + 1 : 0;
    lastMs = e.t;
    pipeline.xadd(key, `${e.t}-${seq}`, ...e.fields);
    byKind[e.kind] = (byKind[e.kind] ?? 0) + 1;
    if (++queued === BATCH) {
      const p = pipeline.exec().finally(() => inFlight.delete(p));
      inFlight.add(p);
      pipeline = redis.pipeline();
      queued = 0;
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    if (++written % 200_000 === 0) o.log(`  ${fmtInt(written)} written`);
  }
  if (queued > 0) inFlight.add(pipeline.exec());
  await Promise.all(inFlight);
  const writeSeconds = (performance.now() - writeStart) / 1_000;
  const length = await redis.xlen(key);
  if (length !== o.events) throw new Error(`the stream holds ${length} entries, ${o.events} were written`);

  const usedAfter = await settledRedisMemory(redis);
  // SAMPLES 0: every node of the stream, not an estimate from the first few.
  const streamBytes = Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));

  const toMs = endMs;
  const fromMs = toMs - REPORT_DAYS * DAY_MS;
  /** Each run on a fresh connection of its own, as `licensectl report usage` has. */
  type Reader = 'ioredis' | 'fast';
  const withPages = async <T>(reader: Reader, fn: (pages: UsagePages) => Promise<T>): Promise<T> => {
    if (reader === 'fast') {
      const conn = await connectUsageStream({ url: server.url });
      try {
        return await fn(conn);
      } finally {
        conn.close();
      }
    }
    const c = new Redis(server.url, { maxRetriesPerRequest: 1 });
    try {
      return await fn(ioredisUsagePages(c));
    } finally {
      c.disconnect();
    }
  };

  const readOnly = async (reader: Reader): Promise<UsageRun> => {
    o.log(`read only, ${reader === 'fast' ? "the fast reader (the CLI's)" : 'ioredis XRANGE + parseUsageEntry'}: every event decoded, no report`);
    const before = await commandStats(redis, 'xrange');
    const run = await timed(() =>
      withPages(reader, async (pages) => {
        let n = 0;
        await readUsage(pages, { key, toMs }, { add: () => void n++ });
        return n;
      }),
    );
    const after = await commandStats(redis, 'xrange');
    const calls = after.calls - before.calls;
    return { ...run, redisMsPerPage: calls > 0 ? (after.usec - before.usec) / calls / 1_000 : undefined };
  };
  const reads: [UsageRun, UsageRun] = [await readOnly('ioredis'), await readOnly('fast')];

  const full: UsageRun[] = [];
  let result: UsageReportResult | undefined;
  for (let i = 0; i < o.rounds; i++) {
    o.log(`report ${i + 1}/${o.rounds}: read + decode + compute (the fast reader), ${REPORT_DAYS} days by feature`);
    full.push(
      await timed(() =>
        withPages('fast', async (pages) => {
          const report = createUsageReport({ fromMs, toMs, by: 'feature' });
          const read = await readUsage(pages, { key, toMs }, report);
          result = report.result();
          return read.events;
        }),
      ),
    );
  }
  if (result === undefined) throw new Error('no report run');
  return {
    machine,
    options: { events: o.events, features: o.features, users: o.users, rounds: o.rounds },
    written: { events: o.events, seconds: writeSeconds, byKind },
    memory: { usedBefore, usedAfter, streamBytes },
    reads,
    full,
    result,
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

export function formatUsageBenchReport(r: UsageBenchReport): string {
  const o = r.options;
  const m = r.machine;
  const out: string[] = [''];
  out.push('usage bench: a usage stream of synthetic events in a local redis-server, the report read from it end to end');
  out.push(`  machine  ${m.cpus} CPUs (${m.cpuModel}), ${m.platform}, node ${m.node}, redis-server ${m.redis}`);
  out.push(`  params   --events ${o.events}  --features ${o.features}  --users ${o.users}  --rounds ${o.rounds}  (XRANGE pages of ${fmtInt(USAGE_PAGE_SIZE)})`);
  out.push(
    `  written  ${fmtInt(r.written.events)} events in ${fmtFixed(r.written.seconds, 1)} s: ${Object.entries(r.written.byKind)
      .map(([k, n]) => `${k} ${fmtInt(n)}`)
      .join(', ')}`,
  );
  const mem = r.memory;
  out.push('');
  out.push('  Redis memory');
  out.push(
    ...textTable(
      ['measure', 'bytes', 'bytes/event'],
      [
        [
          `used_memory ${fmtMiB(mem.usedBefore)} -> ${fmtMiB(mem.usedAfter)} MiB`,
          fmtInt(mem.usedAfter - mem.usedBefore),
          fmtFixed((mem.usedAfter - mem.usedBefore) / o.events, 1),
        ],
        ['MEMORY USAGE of the stream (SAMPLES 0)', fmtInt(mem.streamBytes), fmtFixed(mem.streamBytes / o.events, 1)],
      ],
      new Set([1, 2]),
    ).map((l) => `    ${l}`),
  );
  out.push('');
  out.push(`  report of ${REPORT_DAYS} days by feature, reading all ${fmtInt(o.events)} events (a fresh connection each run)`);
  const row = (name: string, run: UsageRun): string[] => [
    name,
    fmtInt(run.events),
    fmtFixed(run.seconds, 2),
    fmtInt(run.events / run.seconds),
    fmtMiB(run.rssGrowthBytes),
    fmtFixed(run.seconds / TARGET_SECONDS, 2),
    run.redisMsPerPage === undefined ? '' : fmtFixed(run.redisMsPerPage, 1),
  ];
  const [viaIoredis, fast] = r.reads;
  out.push(
    ...textTable(
      ['run', 'events', 'seconds', 'events/s', 'RSS growth MiB', `of the ${TARGET_SECONDS} s target`, 'Redis ms/page'],
      [
        row('read only, ioredis + parseUsageEntry', viaIoredis),
        row("read only, fast reader (the CLI's)", fast),
        ...r.full.map((run, i) => row(`read + decode + report #${i + 1}`, run)),
      ],
      new Set([1, 2, 3, 4, 5, 6]),
    ).map((l) => `    ${l}`),
  );
  const sec = median(r.full.map((x) => x.seconds));
  out.push('');
  out.push(
    `  RESULT   ${fmtInt(o.events)} events: report in ${fmtFixed(sec, 2)} s (median of ${r.full.length}), ${fmtInt(o.events / sec)} events/s, ` +
      `${fmtFixed(sec / TARGET_SECONDS, 2)}x the ${TARGET_SECONDS} s target (${sec < TARGET_SECONDS ? 'met' : 'MISSED'}); ` +
      `Redis ${fmtFixed(mem.streamBytes / o.events, 1)} bytes/event (stream), ${fmtFixed((mem.usedAfter - mem.usedBefore) / o.events, 1)} bytes/event (used_memory)`,
  );
  out.push('');
  out.push('  the report itself (a sanity check of the synthetic history)');
  out.push(
    ...textTable(
      ['feature', 'peak', 'average', 'seat-hours', 'grants', 'denials', 'queued', 'wait p50 s', 'wait p95 s'],
      r.result.rows.map((x) => [
        x.feature,
        fmtInt(x.peakSeats),
        fmtFixed(x.averageSeats, 1),
        fmtInt(x.seatHours),
        fmtInt(x.grants),
        fmtInt(x.denials),
        fmtInt(x.queued),
        fmtFixed(x.queueWaitP50Ms === null ? undefined : x.queueWaitP50Ms / 1_000, 1),
        fmtFixed(x.queueWaitP95Ms === null ? undefined : x.queueWaitP95Ms / 1_000, 1),
      ]),
      new Set([1, 2, 3, 4, 5, 6, 7, 8]),
    ).map((l) => `    ${l}`),
  );
  return `${out.join('\n')}\n`;
}
