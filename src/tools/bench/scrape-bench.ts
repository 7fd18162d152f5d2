import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { Fence } from '../../server/store/fence';
import { clusterKeys } from '../../server/store/keys';
import { SeatStore } from '../../server/store/seat-store';
import { ScriptRunner } from '../../server/store/scripts';
import { BENCH_FEATURE } from './checkout-bench';
import { startBenchNode } from './bench-node';
import type { Cleanup } from './cleanup';
import { Histogram, type Summary } from './histogram';
import { machineCpuSample, processCpuSeconds } from './proc-cpu';
import type { LoadResult, Window, WorkerCommand } from './protocol';
import { WorkerPool } from './worker-pool';

/** What issue 12 asks: hostile conditions may cost checkouts at most this much throughput. */
export const MAX_SLOWDOWN = 0.2;

export interface ScrapeBenchOptions {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly workers: number;
  /** Async checkout+release loops per worker (closed-loop phases). */
  readonly concurrency: number;
  /** Checkouts per second of the fixed-rate phases, all workers together. */
  readonly rate: number;
  /** Sessions (one seat each) that expire together when a hostile window starts. */
  readonly expiredSessions: number;
  /** GET /metrics per second during a hostile window, whatever is still in flight. */
  readonly scrapesPerSecond: number;
  /** Times every phase is run, clean and hostile interleaved, so that interference falls on both alike. */
  readonly rounds: number;
  readonly log: (line: string) => void;
}

export interface ScraperResult {
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly latency: Summary | undefined;
}

/** What a phase turns on: sessions expiring as its window opens, the /metrics scraper. */
export interface Hostility {
  readonly expire: boolean;
  readonly scrape: boolean;
}

export interface ScrapePhase {
  /** 1-based. */
  readonly round: number;
  readonly name: string;
  readonly load: 'saturation' | 'fixed';
  readonly hostility: Hostility;
  /** Completed checkout+release pairs per second in the window. */
  readonly perSecond: number;
  readonly checkout: Summary | undefined;
  readonly errors: number;
  readonly firstError: string | undefined;
  /**
   * CPU in the window, 100 = one core: the node, Redis, this bench process (the scraper runs
   * here, on the same cores) and processes that are not part of the bench (interference).
   */
  readonly cpu: { readonly server: number | undefined; readonly redis: number | undefined; readonly bench: number; readonly others: number | undefined };
  readonly scraper: ScraperResult | undefined;
  /** Times the node lost the lease (a new epoch) between the start of the warm-up and the end of the window: 0 unless it was starved. */
  readonly leaseLosses: number;
  /** Phases with expiring sessions: expired sessions when the window opened, left when it closed, and when the last was reaped. */
  readonly expired: { readonly atStart: number; readonly atEnd: number; readonly reapedAfterMs: number | undefined } | undefined;
}

export interface ScrapeBenchReport {
  readonly options: Omit<ScrapeBenchOptions, 'log'>;
  readonly phases: readonly ScrapePhase[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const CLEAN: Hostility = { expire: false, scrape: false };
const BOTH: Hostility = { expire: true, scrape: true };
const SATURATION_PHASES: readonly Hostility[] = [CLEAN, { expire: true, scrape: false }, { expire: false, scrape: true }, BOTH];
const FIXED_RATE_PHASES: readonly Hostility[] = SATURATION_PHASES;

function describe(h: Hostility): string {
  if (h.expire && h.scrape) return 'expiring sessions + scraper';
  if (h.expire) return 'expiring sessions';
  if (h.scrape) return 'scraper';
  return 'clean';
}

/** GET `url` every 1000/perSecond ms until stopped, without waiting for answers (a hostile scraper does not). */
function startScraper(url: string, perSecond: number): { stop(): Promise<ScraperResult> } {
  const latency = new Histogram();
  let sent = 0;
  let ok = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  // Plain http with keep-alive: the scraper runs on the bench's machine, so its own CPU should stay small.
  const agent = new http.Agent({ keepAlive: true });
  const get = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
  const one = (): void => {
    sent++;
    const t0 = performance.now();
    const p = get()
      .then(() => {
        ok++;
        latency.recordMs(performance.now() - t0);
      })
      .catch(() => {
        errors++;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  // Paced by the clock, not by timer ticks: a late tick sends every scrape that was due.
  const start = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / 1_000) * perSecond);
    while (sent < due) one();
  }, 1_000 / perSecond);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      agent.destroy();
      return { sent, ok, errors, latency: latency.count > 0 ? latency.summary() : undefined };
    },
  };
}

/**
 * `npm run bench -- scrape`: checkout throughput and latency on one real `licensed` node,
 * clean and hostile. Hostile: `expiredSessions` sessions holding a seat each expire together
 * as the window opens (the clients crashed at once; the sessions were made with the
 * product's own scripts, then their expiry scores moved to now, as if time had passed
 * without heartbeats), and a scraper GETs /metrics `scrapesPerSecond` times a second.
 * Closed-loop (saturation) and fixed-rate (latency) phases, each clean then hostile.
 */
export async function runScrapeBench(opts: ScrapeBenchOptions, cleanup: Cleanup): Promise<ScrapeBenchReport> {
  const { log } = opts;
  const w: Window = { warmupMs: opts.warmupMs, durationMs: opts.durationMs };
  log('starting redis-server and one licensed node (primary, no peer)');
  const c = await startBenchNode({ clusterId: 'bench-scrape', seats: 1_000_000, env: { LICENSE_SESSION_TTL_MS: '600000' } }, cleanup);
  const pids = { server: c.primary.pid, redis: c.redis?.child.pid };
  const metricsUrl = `http://${c.metricsAddr.primary}/metrics`;

  const redis = new Redis(c.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  cleanup.add('bench redis client', () => redis.disconnect());
  const keys = clusterKeys(c.clusterId);
  /** The lease holder's fence now: the bench writes sessions through the product's own scripts, fenced as the node. */
  const leaseHolder = async (): Promise<Fence> => {
    for (let i = 0; i < 100; i++) {
      const owner = /^(.+):(\d+)$/.exec((await redis.get(keys.leader)) ?? '');
      if (owner?.[1] && owner[2]) return { nodeId: owner[1], epoch: Number(owner[2]) };
      await sleep(100);
    }
    throw new Error('the node holds no lease');
  };
  const store = new SeatStore(new ScriptRunner(redis), keys, 10 * 60_000, { maxSessionsPerClient: 1_000_000, maxSeatsPerSession: 1_024 });

  /** Opens `n` sessions holding one seat each (alive for now); returns their ids. */
  const makeSessions = async (n: number, tag: string): Promise<string[]> => {
    const fence = await leaseHolder();
    const ids: string[] = [];
    const CHUNK = 2_000;
    for (let i = 0; i < n; i += CHUNK) {
      const now = Date.now();
      await Promise.all(
        Array.from({ length: Math.min(CHUNK, n - i) }, async (_, j) => {
          const sid = `${tag}-${i + j}`;
          await store.openSession(fence, sid, { clientId: `crashed-app-${(i + j) % 1_000}`, user: 'bench', hostname: 'bench', pid: i + j }, now);
          await store.checkout(fence, {
            sessionId: sid,
            feature: BENCH_FEATURE,
            count: 1,
            seatsLicensed: 1_000_000,
            requestId: `r-${i + j}`,
            newLeaseId: `${sid}-l`,
            nowMs: now,
          });
          ids.push(sid);
        }),
      );
    }
    return ids;
  };
  /**
   * Moves the sessions' expiry to now, as if their clients had stopped heartbeating a TTL
   * ago: all at once (MULTI), so nothing reaps any of them before the last has expired.
   */
  const expireNow = async (ids: readonly string[]): Promise<void> => {
    const at = Date.now() - 1;
    const tx = redis.multi();
    for (let i = 0; i < ids.length; i += 1_000) tx.zadd(keys.sessions, 'XX', ...ids.slice(i, i + 1_000).flatMap((sid) => [at, sid]));
    await tx.exec();
  };
  const expiredNow = (): Promise<number> => redis.zcount(keys.sessions, '-inf', Date.now());

  log(`starting ${opts.workers} load workers against the node at ${c.addr.primary}`);
  const pool = await WorkerPool.start(opts.workers, c.addr.primary);
  cleanup.add('load workers', () => pool.stop());
  await pool.all(() => ({ cmd: 'openSessions', tag: 'load', count: opts.concurrency }));
  const rateWorkers = Math.min(opts.workers, Math.max(1, Math.ceil(opts.rate / 1_500)));

  type Load = Extract<WorkerCommand, { cmd: 'pairs' | 'rate' }>;
  let phaseNo = 0;
  const phase = async (round: number, load: ScrapePhase['load'], hostility: Hostility, make: (i: number) => Load, workers: number): Promise<ScrapePhase> => {
    phaseNo++;
    const name = `${load === 'saturation' ? 'saturation' : `fixed ${opts.rate}/s`}, ${describe(hostility)}`;
    let ids: string[] = [];
    if (hostility.expire) {
      log(`phase ${phaseNo}: opening ${opts.expiredSessions} sessions with a seat each (they expire as the window opens)`);
      ids = await makeSessions(opts.expiredSessions, `crashed-${phaseNo}`);
    }
    log(`phase ${phaseNo} (round ${round}/${opts.rounds}): ${name}, ${opts.durationMs} ms`);
    const epochBefore = (await leaseHolder()).epoch;
    const results = pool.first(workers, make);
    await sleep(w.warmupMs);
    const sample = () => ({
      server: processCpuSeconds(pids.server),
      redis: processCpuSeconds(pids.redis),
      machine: machineCpuSample(),
      self: process.cpuUsage(),
    });
    const cpu0 = sample();
    const windowStart = performance.now();
    let atStart = 0;
    let reapedAfterMs: number | undefined;
    let watching = true;
    let watcher: Promise<void> = Promise.resolve();
    if (hostility.expire) {
      await expireNow(ids);
      atStart = await expiredNow();
      watcher = (async () => {
        while (watching && reapedAfterMs === undefined) {
          if ((await expiredNow()) === 0) reapedAfterMs = performance.now() - windowStart;
          else await sleep(100);
        }
      })();
    }
    const scraper = hostility.scrape ? startScraper(metricsUrl, opts.scrapesPerSecond) : undefined;
    await sleep(Math.max(0, w.durationMs - (performance.now() - windowStart)));
    const cpu1 = sample();
    const scraped = await scraper?.stop();
    const atEnd = hostility.expire ? await expiredNow() : 0;
    watching = false;
    await watcher;
    const done: LoadResult[] = await results;
    const seconds = w.durationMs / 1_000;
    const pct = (k: 'server' | 'redis'): number | undefined => {
      const a = cpu0[k];
      const b = cpu1[k];
      return a === undefined || b === undefined ? undefined : ((b - a) / seconds) * 100;
    };
    const clients = (done.reduce((a, r) => a + r.cpuSeconds, 0) / seconds) * 100;
    const self = ((cpu1.self.user + cpu1.self.system - cpu0.self.user - cpu0.self.system) / 1e6 / seconds) * 100;
    const m0 = cpu0.machine;
    const m1 = cpu1.machine;
    const server = pct('server');
    const redisCpu = pct('redis');
    const others =
      m0 && m1 && m1.total > m0.total && server !== undefined && redisCpu !== undefined
        ? Math.max(0, ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 * os.cpus().length - clients - server - redisCpu - self)
        : undefined;
    const checkout = Histogram.from(done.map((r) => r.ops.checkout));
    const leaseLosses = (await leaseHolder()).epoch - epochBefore;
    // Leave no backlog for the next phase.
    for (let i = 0; i < 600 && (await expiredNow()) > 0; i++) await sleep(100);
    return {
      round,
      name,
      load,
      hostility,
      perSecond: done.reduce((a, r) => a + r.completed, 0) / seconds,
      checkout: checkout.count > 0 ? checkout.summary() : undefined,
      errors: done.reduce((a, r) => a + r.errors, 0),
      firstError: done.find((r) => r.firstError)?.firstError,
      cpu: { server, redis: redisCpu, bench: self, others },
      scraper: scraped,
      leaseLosses,
      expired: hostility.expire ? { atStart, atEnd, reapedAfterMs } : undefined,
    };
  };

  const pairs = (): Load => ({ cmd: 'pairs', tag: 'load', concurrency: opts.concurrency, feature: BENCH_FEATURE, ...w });
  const fixed = (i: number): Load => ({
    cmd: 'rate',
    tag: 'load',
    ratePerSec: opts.rate / rateWorkers,
    offsetMs: (i * 1_000) / opts.rate,
    feature: BENCH_FEATURE,
    ...w,
  });
  // Each cause alone, then both, so a slowdown can be put down to the right one.
  const phases: ScrapePhase[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const h of SATURATION_PHASES) phases.push(await phase(round, 'saturation', h, pairs, opts.workers));
    for (const h of FIXED_RATE_PHASES) phases.push(await phase(round, 'fixed', h, fixed, rateWorkers));
  }
  await pool.all(() => ({ cmd: 'closeSessions', tag: 'load' }));
  const { log: _log, ...options } = opts;
  return { options, phases };
}

const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));
const int = (v: number): string => Math.round(v).toLocaleString('en-US');
const pct = (v: number | undefined): string => (v === undefined ? '?' : v.toFixed(0));
function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] ?? Number.NaN) : ((v[mid - 1] ?? Number.NaN) + (v[mid] ?? Number.NaN)) / 2;
}

export function formatScrapeReport(r: ScrapeBenchReport): string {
  const o = r.options;
  const rows = r.phases.map((p) => {
    const s = p.checkout;
    return [
      `${r.options.rounds > 1 ? `r${p.round} ` : ''}${p.name}`,
      int(p.perSecond),
      `${ms(s?.p50Ms)} / ${ms(s?.p99Ms)} / ${ms(s?.maxMs)}`,
      `${pct(p.cpu.server)} / ${pct(p.cpu.redis)} / ${pct(p.cpu.bench)} / ${pct(p.cpu.others)}`,
      String(p.errors),
      p.scraper ? `${p.scraper.sent}/${p.scraper.ok}, ${ms(p.scraper.latency?.p50Ms)} / ${ms(p.scraper.latency?.p99Ms)}` : '-',
      p.expired
        ? `${int(p.expired.atStart)} -> ${int(p.expired.atEnd)}, ${p.expired.reapedAfterMs === undefined ? 'not in window' : `${int(p.expired.reapedAfterMs)} ms`}`
        : '-',
    ];
  });
  const header = [
    'phase',
    'pairs/s',
    'checkout p50 / p99 / max ms',
    'CPU % node / redis / bench / others',
    'errors',
    '/metrics sent/ok, p50 / p99 ms',
    'expired at start -> end, reaped after',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const lines = [
    `scrape bench: ${o.rounds} round(s), ${o.workers} workers x ${o.concurrency} loops (saturation), ${o.rate} checkouts/s (fixed rate), ${o.durationMs} ms windows after ${o.warmupMs} ms warm-up`,
    `expiring sessions = ${int(o.expiredSessions)} sessions holding a seat each expire as the window opens; scraper = GET /metrics ${o.scrapesPerSecond}/s`,
    '',
    line(header),
    line(widths.map((n) => '-'.repeat(n))),
    ...rows.map(line),
  ];
  for (const p of r.phases) if (p.firstError) lines.push(`first error (${p.name}): ${p.firstError}`);
  for (const p of r.phases)
    if (p.leaseLosses > 0) lines.push(`THE NODE LOST ITS LEASE ${p.leaseLosses} time(s) during ${p.name} (round ${p.round}): Redis or the node was starved`);
  lines.push('');
  // Each hostile phase against the clean one of its own round (run just before it, under the same interference).
  const kinds = [...new Map(r.phases.map((p) => [`${p.load} ${describe(p.hostility)}`, p])).values()].filter((p) => p.hostility.expire || p.hostility.scrape);
  for (const kind of kinds) {
    const ratios: { thr: number; p50: number; p99: number }[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const inRound = r.phases.filter((p) => p.round === round && p.load === kind.load);
      const clean = inRound.find((p) => !p.hostility.expire && !p.hostility.scrape);
      const hostile = inRound.find((p) => p.hostility.expire === kind.hostility.expire && p.hostility.scrape === kind.hostility.scrape);
      if (!clean || !hostile || clean.perSecond === 0) continue;
      ratios.push({
        thr: hostile.perSecond / clean.perSecond,
        p50: (hostile.checkout?.p50Ms ?? Number.NaN) / (clean.checkout?.p50Ms ?? Number.NaN),
        p99: (hostile.checkout?.p99Ms ?? Number.NaN) / (clean.checkout?.p99Ms ?? Number.NaN),
      });
    }
    if (ratios.length === 0) continue;
    const thr = median(ratios.map((x) => x.thr));
    const verdict =
      kind.load === 'saturation' && kind.hostility.expire && kind.hostility.scrape
        ? thr >= 1 - MAX_SLOWDOWN
          ? ' (within 20%)'
          : ' (MORE THAN 20% SLOWER)'
        : '';
    const each = ratios.length > 1 ? ` [rounds: ${ratios.map((x) => x.thr.toFixed(2)).join(', ')}]` : '';
    lines.push(
      `${kind.name} / clean: throughput ${thr.toFixed(2)}${verdict}${each}, checkout p50 ${median(ratios.map((x) => x.p50)).toFixed(2)}x, p99 ${median(ratios.map((x) => x.p99)).toFixed(2)}x${ratios.length > 1 ? ' (medians)' : ''}`,
    );
  }
  const others = Math.max(...r.phases.map((p) => p.cpu.others ?? 0));
  if (others > 20) lines.push(`WARNING: other processes used up to ${others.toFixed(0)}% CPU during a window; the ratios are disturbed`);
  return `${lines.join('\n')}\n`;
}
