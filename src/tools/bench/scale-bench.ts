// Over 300 lines on purpose: one benchmark run, start to report, read top to bottom (start the node, grow step by step, measure, compare).
import os from 'node:os';
import { Redis } from 'ioredis';
import { BENCH_FEATURE, type MachineInfo } from './checkout-bench';
import { startBenchNode } from './bench-node';
import type { Cleanup } from './cleanup';
import { Histogram, type Summary } from './histogram';
import { machineCpuSample, processCpuSeconds } from './proc-cpu';
import { describeMachine, loadAverage1m, processRssBytes, settledRedisMemory } from './proc-stats';
import { ScalePool } from './scale-pool';
import type { BeatTotals, ScaleWindowResult } from './scale-protocol';
import { quantileUpperBoundMs, scrapeBuckets } from './server-histogram';
import { fmtFixed, fmtMs } from './text-table';

export interface ScaleBenchOptions {
  /** Open sessions at the last step. */
  readonly sessions: number;
  /** Seats held at the last step, spread evenly over the sessions. */
  readonly seats: number;
  /** Session counts to measure at besides `sessions` (default 1,000 and 10,000, those below `sessions`). */
  readonly steps?: readonly number[] | undefined;
  readonly durationSeconds: number;
  /** Checkout+release pairs per second in each step's second window. */
  readonly pairsPerSecond: number;
  readonly workers: number;
  /** Calls in flight per worker while opening sessions and taking the held seats. */
  readonly setupConcurrency: number;
  readonly log: (line: string) => void;
}

export interface WindowFigures {
  readonly heartbeatsPerSec: number;
  /** Client-side, from the instant each heartbeat was due. */
  readonly heartbeat: Summary | undefined;
  readonly heartbeatErrors: number;
  readonly firstHeartbeatError: string | undefined;
  readonly sendLagP99Ms: number;
  /** The node's own Heartbeat histogram (bucket upper bounds). */
  readonly nodeHeartbeatP50Ms: number;
  readonly nodeHeartbeatP99Ms: number;
  readonly pairsPerSec: number;
  readonly checkout: Summary | undefined;
  readonly release: Summary | undefined;
  readonly pairErrors: number;
  readonly firstPairError: string | undefined;
  readonly maxInFlight: number;
  /** CPU seconds of the node over the window. */
  readonly serverCpuSeconds: number | undefined;
  /** 100 = one core. */
  readonly cpu: {
    readonly server: number | undefined;
    readonly redis: number | undefined;
    readonly workers: number;
    readonly workerMaxElu: number;
    readonly machineBusy: number | undefined;
    readonly others: number | undefined;
  };
}

export interface ScaleStep {
  readonly sessions: number;
  readonly seatsHeld: number;
  readonly growSeconds: number;
  readonly growErrors: number;
  readonly firstGrowError: string | undefined;
  readonly redisUsedBytes: number;
  readonly nodeRssBytes: number | undefined;
  /** Sessions lost so far (the server answered NOT_FOUND to their heartbeat), at the end of the step. */
  readonly sessionsLost: number;
  readonly heartbeatsOnly: WindowFigures;
  readonly withPairs: WindowFigures;
  /** The same pairs with the heartbeats paused: what the number of open sessions alone does to a checkout. */
  readonly pairsOnly: WindowFigures;
  /** Node CPU per pair with the heartbeats paused (the node's fixed background work included), µs. */
  readonly serverUsPerPairPaused: number | undefined;
  readonly serverUsPerHeartbeat: number | undefined;
}

export interface ScaleReport {
  readonly machine: MachineInfo;
  readonly options: Omit<ScaleBenchOptions, 'log' | 'steps'> & { readonly steps: readonly number[] };
  readonly loadAverage: { readonly start: string; readonly end: string };
  readonly heartbeatIntervalMs: number;
  readonly sessionTtlMs: number;
  readonly redisUsedBefore: number;
  readonly steps: readonly ScaleStep[];
  /** Every background heartbeat of the run, setup included. */
  readonly beats: {
    readonly sent: number;
    readonly ok: number;
    readonly retries: number;
    readonly lost: number;
    readonly errors: number;
    readonly firstError: string | undefined;
  };
}

/** Warm-up of every recording window. */
export const WARMUP_MS = 1_000;
/** Pairs before the first step's windows, unrecorded. */
const PAIRS_WARMUP_MS = 3_000;

/** Default steps: 1,000 and 10,000 sessions where below the last step, then the last step. */
export function resolveSteps(sessions: number, steps: readonly number[] | undefined): number[] {
  return [...new Set([...(steps ?? [1_000, 10_000]).filter((s) => s < sessions), sessions])].sort((a, b) => a - b);
}

/**
 * `npm run bench -- scale`: one real `licensed` node (no peer) with its default session
 * TTL, so sessions heartbeat at the default interval (TTL / 3). Load workers open sessions
 * step by step (1k, 10k, 50k by default), each holding its share of the seats and
 * heartbeating from the moment it is opened; at every step the bench records a window of
 * heartbeats only, then one with checkout+release pairs at a fixed rate, and reads Redis
 * memory, the node's RSS and CPU. Everything started is registered with `cleanup`.
 */
export async function runScaleBench(opts: ScaleBenchOptions, cleanup: Cleanup): Promise<ScaleReport> {
  const { log } = opts;
  const steps = resolveSteps(opts.sessions, opts.steps);
  const loadStart = loadAverage1m();
  const seatsAt = (sessions: number): number => Math.round((opts.seats * sessions) / opts.sessions);
  const perSession = Math.ceil(opts.seats / opts.sessions) + 1; // + the seat of a pair in flight
  const durationMs = opts.durationSeconds * 1_000;

  log('starting redis-server and one licensed node (primary, no peer, default session TTL)');
  // LICENSE_SESSION_TTL_MS is left at its default on purpose: the heartbeat interval under test is the default one.
  const c = await startBenchNode(
    {
      clusterId: 'bench-scale',
      seats: Math.max(1_000_000, opts.seats + 100 * opts.pairsPerSecond),
      env: perSession > 1_024 ? { LICENSE_MAX_SEATS_PER_SESSION: String(perSession) } : {},
    },
    cleanup,
  );
  const pids = { server: c.primary.pid, redis: c.redis?.child.pid };
  const metricsUrl = `http://${c.metricsAddr.primary}/metrics`;

  const redis = new Redis(c.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  cleanup.add('bench redis client', () => redis.disconnect());
  const machine = await describeMachine(redis);
  const redisUsedBefore = await settledRedisMemory(redis);

  log(`starting ${opts.workers} load workers against the node at ${c.addr.primary}`);
  const pool = await ScalePool.start(opts.workers, c.addr.primary);
  cleanup.add('scale load workers', () => pool.stop());

  /** One recording window on every worker, with the node's, Redis's and the machine's CPU over the same span. */
  const measure = async (pairsPerSec: number, pauseHeartbeats = false): Promise<{ figures: WindowFigures; results: ScaleWindowResult[] }> => {
    type Sample = { server: number | undefined; redis: number | undefined; machine: ReturnType<typeof machineCpuSample>; self: NodeJS.CpuUsage };
    const sample = (): Sample => ({
      server: processCpuSeconds(pids.server),
      redis: processCpuSeconds(pids.redis),
      machine: machineCpuSample(),
      self: process.cpuUsage(),
    });
    const bucketsBefore = await scrapeBuckets(metricsUrl, 'Heartbeat');
    const timers: NodeJS.Timeout[] = [];
    const at = (ms: number): Promise<Sample> => new Promise((r) => timers.push(setTimeout(() => r(sample()), ms)));
    const edges = Promise.all([at(WARMUP_MS), at(WARMUP_MS + durationMs)]);
    let results: ScaleWindowResult[];
    let first: Sample;
    let last: Sample;
    try {
      results = await pool.all((i) => ({
        cmd: 'window',
        warmupMs: WARMUP_MS,
        durationMs,
        pairsPerSec: pairsPerSec / opts.workers,
        pauseHeartbeats,
        // Interleave the workers' schedules so the offered pairs are evenly spaced.
        offsetMs: pairsPerSec > 0 ? (i * 1_000) / pairsPerSec : 0,
        feature: BENCH_FEATURE,
      }));
      [first, last] = await edges;
    } finally {
      for (const t of timers) clearTimeout(t);
    }
    const bucketsAfter = await scrapeBuckets(metricsUrl, 'Heartbeat');
    const seconds = durationMs / 1_000;
    const diff = (k: 'server' | 'redis'): number | undefined => {
      const a = first[k];
      const b = last[k];
      return a === undefined || b === undefined ? undefined : b - a;
    };
    const pct = (s: number | undefined): number | undefined => (s === undefined ? undefined : (s / seconds) * 100);
    const m0 = first.machine;
    const m1 = last.machine;
    const machineBusy = m0 && m1 && m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 : undefined;
    const workers = pct(results.reduce((a, r) => a + r.cpuSeconds, 0)) ?? 0;
    const self = pct((last.self.user + last.self.system - first.self.user - first.self.system) / 1e6) ?? 0;
    const server = pct(diff('server'));
    const redisCpu = pct(diff('redis'));
    const others =
      machineBusy === undefined || server === undefined || redisCpu === undefined
        ? undefined
        : Math.max(0, machineBusy * os.cpus().length - workers - server - redisCpu - self);
    const merged = (f: (r: ScaleWindowResult) => ScaleWindowResult['heartbeat']): Summary | undefined => {
      const h = Histogram.from(results.map(f));
      return h.count > 0 ? h.summary() : undefined;
    };
    const sum = (f: (r: ScaleWindowResult) => number): number => results.reduce((a, r) => a + f(r), 0);
    return {
      results,
      figures: {
        heartbeatsPerSec: sum((r) => r.heartbeats) / seconds,
        heartbeat: merged((r) => r.heartbeat),
        heartbeatErrors: sum((r) => r.heartbeatErrors),
        firstHeartbeatError: results.find((r) => r.firstHeartbeatError)?.firstHeartbeatError,
        sendLagP99Ms: Histogram.from(results.map((r) => r.sendLag)).percentileMs(99),
        nodeHeartbeatP50Ms: quantileUpperBoundMs(bucketsBefore, bucketsAfter, 0.5).boundMs,
        nodeHeartbeatP99Ms: quantileUpperBoundMs(bucketsBefore, bucketsAfter, 0.99).boundMs,
        pairsPerSec: sum((r) => r.pairs) / seconds,
        checkout: merged((r) => r.checkout),
        release: merged((r) => r.release),
        pairErrors: sum((r) => r.pairErrors),
        firstPairError: results.find((r) => r.firstPairError)?.firstPairError,
        maxInFlight: sum((r) => r.maxInFlight),
        serverCpuSeconds: diff('server'),
        cpu: { server, redis: redisCpu, workers, workerMaxElu: Math.max(...results.map((r) => r.eventLoopUtilization)), machineBusy, others },
      },
    };
  };

  const out: ScaleStep[] = [];
  let sessionsNow = 0;
  let seatsNow = 0;
  for (const target of steps) {
    const addSessions = target - sessionsNow;
    const addSeats = seatsAt(target) - seatsNow;
    log(`step ${target} sessions: opening ${addSessions} more and checking out ${addSeats} more seats (each session heartbeats from the moment it is open)`);
    const t0 = process.hrtime.bigint();
    const grown = await pool.all((i) => ({
      cmd: 'grow',
      sessions: Math.floor(addSessions / opts.workers) + (i < addSessions % opts.workers ? 1 : 0),
      seats: Math.floor(addSeats / opts.workers) + (i < addSeats % opts.workers ? 1 : 0),
      feature: BENCH_FEATURE,
      concurrency: opts.setupConcurrency,
    }));
    const growSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    sessionsNow += grown.reduce((a, g) => a + g.opened, 0);
    seatsNow += grown.reduce((a, g) => a + g.held, 0);
    const growErrors = grown.reduce((a, g) => a + g.errors, 0);
    log(
      `  ${sessionsNow} sessions, ${seatsNow} seats in ${growSeconds.toFixed(1)} s${growErrors > 0 ? `, ${growErrors} errors (${grown.find((g) => g.firstError)?.firstError})` : ''}`,
    );
    if (out.length === 0) {
      // The node has served no Release yet, and no checkout at this rate: without this, JIT
      // warm-up would land in the first step's window and flatter every ratio against it.
      log(`  warm-up: ${opts.pairsPerSecond} pairs/s for ${PAIRS_WARMUP_MS / 1_000} s (not recorded)`);
      await pool.all((i) => ({
        cmd: 'window',
        warmupMs: PAIRS_WARMUP_MS,
        durationMs: 1,
        pairsPerSec: opts.pairsPerSecond / opts.workers,
        pauseHeartbeats: false,
        offsetMs: (i * 1_000) / opts.pairsPerSecond,
        feature: BENCH_FEATURE,
      }));
    }
    const redisUsedBytes = await settledRedisMemory(redis);
    const nodeRssBytes = processRssBytes(pids.server);

    log(`  window 1/3: heartbeats only, ${opts.durationSeconds} s`);
    const a = await measure(0);
    log(`  window 2/3: heartbeats + ${opts.pairsPerSecond} checkout+release pairs/s, ${opts.durationSeconds} s`);
    const b = await measure(opts.pairsPerSecond);
    log(`  window 3/3: ${opts.pairsPerSecond} checkout+release pairs/s, heartbeats paused, ${opts.durationSeconds} s`);
    const q = await measure(opts.pairsPerSecond, true);
    const pairsDonePaused = q.figures.pairsPerSec * opts.durationSeconds;
    const hbDone = a.figures.heartbeatsPerSec * opts.durationSeconds;
    out.push({
      sessions: sessionsNow,
      seatsHeld: seatsNow,
      growSeconds,
      growErrors,
      firstGrowError: grown.find((g) => g.firstError)?.firstError,
      redisUsedBytes,
      nodeRssBytes,
      sessionsLost: q.results.reduce((x, w) => x + w.beats.lost, 0),
      heartbeatsOnly: a.figures,
      withPairs: b.figures,
      pairsOnly: q.figures,
      serverUsPerPairPaused:
        q.figures.serverCpuSeconds === undefined || pairsDonePaused === 0 ? undefined : (q.figures.serverCpuSeconds / pairsDonePaused) * 1e6,
      serverUsPerHeartbeat: a.figures.serverCpuSeconds === undefined || hbDone === 0 ? undefined : (a.figures.serverCpuSeconds / hbDone) * 1e6,
    });
    log(
      `  heartbeat p99 ${fmtMs(a.figures.heartbeat?.p99Ms)} ms, checkout p99 ${fmtMs(b.figures.checkout?.p99Ms)} ms, node CPU ${fmtFixed(a.figures.cpu.server, 0)}%, load average ${loadAverage1m()}`,
    );
  }
  const stopped = await pool.all(() => ({ cmd: 'stop' }));
  const beats: BeatTotals[] = stopped.map((s) => s.beats);
  const first = beats[0];
  const { log: _log, ...rest } = opts;
  return {
    machine,
    options: { ...rest, steps },
    loadAverage: { start: loadStart, end: loadAverage1m() },
    heartbeatIntervalMs: first?.intervalMs ?? 0,
    sessionTtlMs: first?.ttlMs ?? 0,
    redisUsedBefore,
    steps: out,
    beats: {
      sent: beats.reduce((x, t) => x + t.sent, 0),
      ok: beats.reduce((x, t) => x + t.ok, 0),
      retries: beats.reduce((x, t) => x + t.retries, 0),
      lost: beats.reduce((x, t) => x + t.lost, 0),
      errors: beats.reduce((x, t) => x + t.errors, 0),
      firstError: beats.find((t) => t.firstError)?.firstError,
    },
  };
}
