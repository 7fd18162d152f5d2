// Over 300 lines on purpose: one benchmark run, start to report, read top to bottom (start the cluster, warm up, measure, compare).
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { Redis } from 'ioredis';
import { createDevPki } from '../local/dev-pki';
import { startLocalCluster } from '../local/local-cluster';
import { startBaselineProcess } from './baseline-process';
import type { Cleanup } from './cleanup';
import { Histogram, type Summary } from './histogram';
import { type MachineCpuSample, machineCpuSample, processCpuSeconds } from './proc-cpu';
import type { LoadResult, OpName, Window, WorkerCommand } from './protocol';
import { quantileUpperBoundMs, scrapeBuckets } from './server-histogram';
import { WorkerPool } from './worker-pool';

export const BENCH_FEATURE = 'bench';

export interface CheckoutBenchOptions {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly workers: number;
  /** Async loops per worker. */
  readonly concurrency: number;
  /** Checkouts per second of the fixed-rate (open-loop) phase, all its workers together. */
  readonly rate: number;
  /** Workers driving the fixed-rate phase (at most `workers`). */
  readonly rateWorkers: number;
  readonly seatsHeld: number;
  readonly holdSessions: number;
  /** Run the product node with TLS (a throwaway CA); the baseline stays plaintext. */
  readonly tls?: boolean;
  /** Run the product node with this seat policy (LICENSE_POLICY_FILE, absolute path). */
  readonly policyFile?: string;
  readonly log: (line: string) => void;
}

export interface CpuPercent {
  /** All load workers together; 100 = one core busy. */
  readonly clients: number;
  /** The busiest worker's event-loop utilization (0..1): near 1, the load client was the limit. */
  readonly clientMaxElu: number;
  readonly server: number | undefined;
  readonly redis: number | undefined;
  /** All CPUs together: share of CPU time busy (100 = every core busy). */
  readonly machineBusy: number | undefined;
  /** Share of wall time in which some runnable task waited for a CPU (Linux PSI "some"). */
  readonly machineStall: number | undefined;
  /** CPU used by processes that are not part of this bench (100 = one core): interference. */
  readonly others: number | undefined;
}

export interface LoadPhase {
  /** Completed units (pairs or calls) per second inside the recording window. */
  readonly perSecond: number;
  readonly windowMs: number;
  readonly ops: Partial<Record<OpName, Summary>>;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly cpu: CpuPercent;
  readonly maxInFlight: number | undefined;
  /** Open loop: starts due per second inside the window. */
  readonly offeredPerSecond: number | undefined;
}

export interface MemoryResult {
  readonly sessions: number;
  readonly seatsHeld: number;
  readonly holdErrors: number;
  readonly firstError: string | undefined;
  readonly usedBefore: number;
  readonly usedWithSessions: number;
  readonly usedWithSeats: number;
  readonly usedAfterClose: number;
  readonly leasesReleasedOnClose: number;
  readonly bytesPerSession: number;
  readonly bytesPerSeat: number;
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  readonly redis: string;
}

export interface CheckoutBenchReport {
  readonly machine: MachineInfo;
  readonly options: Omit<CheckoutBenchOptions, 'log'>;
  readonly product: LoadPhase;
  readonly baseline: LoadPhase;
  readonly fixedRate: LoadPhase;
  /** Fixed-rate Checkout latency as the node measured it (histogram bucket upper bounds). */
  readonly serverSide: { p50: { boundMs: number; count: number }; p99: { boundMs: number; count: number } };
  readonly baselineFixedRate: LoadPhase;
  readonly heartbeat: LoadPhase;
  readonly memory: MemoryResult;
}

export type LoadCommand = Extract<WorkerCommand, { cmd: 'pairs' | 'rate' | 'heartbeat' }>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Splits `total` over `n` parts as evenly as whole numbers allow. */
export function share(total: number, n: number, i: number): number {
  return Math.floor(total / n) + (i < total % n ? 1 : 0);
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const m = /^used_memory:(\d+)/m.exec(info);
  if (!m?.[1]) throw new Error('INFO memory has no used_memory');
  return Number(m[1]);
}

/** used_memory once writes have settled: the smallest of a few reads, as client buffers come and go. */
async function settledMemory(redis: Redis): Promise<number> {
  await sleep(1_000);
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    min = Math.min(min, await usedMemory(redis));
    await sleep(50);
  }
  return min;
}

/**
 * Runs one load phase on the first `workers` workers and merges what they measured.
 * CPU of the server and Redis processes, and of the whole machine, is sampled over
 * the same window (timers in this process, so the edges are a few ms coarse); what
 * the machine used beyond this bench's processes is reported as interference.
 */
export async function measure(
  pool: WorkerPool,
  make: (i: number) => LoadCommand,
  w: Window,
  pids: { server?: number; redis?: number },
  workers: number = pool.size,
): Promise<LoadPhase> {
  type CpuSample = { server: number | undefined; redis: number | undefined; machine: MachineCpuSample | undefined; self: NodeJS.CpuUsage };
  const sample = (): CpuSample => ({
    server: processCpuSeconds(pids.server),
    redis: processCpuSeconds(pids.redis),
    machine: machineCpuSample(),
    self: process.cpuUsage(),
  });
  const timers: NodeJS.Timeout[] = [];
  const sampleAt = (ms: number): Promise<CpuSample> => new Promise((resolve) => timers.push(setTimeout(() => resolve(sample()), ms)));
  // Workers may answer a moment before the window-end timer here fires: wait for both samples.
  const window = Promise.all([sampleAt(w.warmupMs), sampleAt(w.warmupMs + w.durationMs)]);
  let results: LoadResult[];
  let first: CpuSample;
  let last: CpuSample;
  try {
    results = await pool.first(workers, make);
    [first, last] = await window;
  } finally {
    for (const t of timers) clearTimeout(t);
  }
  const seconds = w.durationMs / 1_000;
  const pct = (k: 'server' | 'redis'): number | undefined => {
    const a = first[k];
    const b = last[k];
    return a === undefined || b === undefined ? undefined : ((b - a) / seconds) * 100;
  };
  const m0 = first.machine;
  const m1 = last.machine;
  const machineBusy = m0 && m1 && m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 : undefined;
  const machineStall = m0?.stallUs !== undefined && m1?.stallUs !== undefined ? ((m1.stallUs - m0.stallUs) / 1e6 / seconds) * 100 : undefined;
  const clients = (results.reduce((a, r) => a + r.cpuSeconds, 0) / seconds) * 100;
  const self = ((last.self.user + last.self.system - first.self.user - first.self.system) / 1e6 / seconds) * 100;
  const server = pct('server');
  const redisCpu = pct('redis');
  const others =
    machineBusy === undefined || server === undefined || redisCpu === undefined
      ? undefined
      : Math.max(0, machineBusy * os.cpus().length - clients - server - redisCpu - self);
  const ops: Partial<Record<OpName, Summary>> = {};
  for (const op of ['checkout', 'release', 'heartbeat', 'sendLag'] as const) {
    const h = Histogram.from(results.map((r) => r.ops[op]));
    if (h.count > 0) ops[op] = h.summary();
  }
  const sum = (f: (r: LoadResult) => number | undefined): number => results.reduce((a, r) => a + (f(r) ?? 0), 0);
  const scheduled = results.some((r) => r.scheduled !== undefined) ? sum((r) => r.scheduled) : undefined;
  return {
    perSecond: sum((r) => r.completed) / seconds,
    windowMs: w.durationMs,
    ops,
    errors: sum((r) => r.errors),
    firstError: results.find((r) => r.firstError)?.firstError,
    cpu: {
      clients,
      clientMaxElu: Math.max(...results.map((r) => r.eventLoopUtilization)),
      server,
      redis: redisCpu,
      machineBusy,
      machineStall,
      others,
    },
    maxInFlight: results.some((r) => r.maxInFlight !== undefined) ? sum((r) => r.maxInFlight) : undefined,
    offeredPerSecond: scheduled === undefined ? undefined : scheduled / seconds,
  };
}

/**
 * `npm run bench -- checkout`: one real `licensed` node (alone, no peer) on its own
 * redis-server, driven by forked load workers; then the same load against a bare
 * grpc-js + one-EVALSHA baseline; then a fixed-rate open-loop run, heartbeats at
 * saturation and Redis memory per held seat. Everything it starts is registered
 * with `cleanup`; the caller runs it.
 */
export async function runCheckoutBench(opts: CheckoutBenchOptions, cleanup: Cleanup): Promise<CheckoutBenchReport> {
  const { log } = opts;
  const w: Window = { warmupMs: opts.warmupMs, durationMs: opts.durationMs };

  log(`starting redis-server and one licensed node (primary, no peer${opts.tls ? ', TLS' : ''}${opts.policyFile ? `, seat policy ${opts.policyFile}` : ''})`);
  const pki = opts.tls ? createDevPki('bench') : undefined;
  const serverCert = pki?.issue('node');
  const c = await startLocalCluster({
    clusterId: 'bench',
    startNodes: false,
    logFiles: true,
    features: [{ name: BENCH_FEATURE, seats: 1_000_000 }],
    env: { LICENSE_SESSION_TTL_MS: '600000' },
    roleEnv: {
      primary: {
        LICENSE_PEER_ADDR: '',
        ...(process.env['BENCH_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['BENCH_NODE_OPTIONS'] } : {}),
        ...(serverCert ? { LICENSE_TLS_CERT: serverCert.certFile, LICENSE_TLS_KEY: serverCert.keyFile } : {}),
        ...(opts.policyFile ? { LICENSE_POLICY_FILE: opts.policyFile } : {}),
      },
    },
  });
  if (pki) cleanup.add('bench pki', () => rmSync(pki.dir, { recursive: true, force: true }));
  cleanup.add('local cluster', async () => {
    await c.stop();
    rmSync(c.dir, { recursive: true, force: true });
  });
  c.primary.start();
  await c.waitListening('primary');
  await c.primary.waitForState('ACTIVE', 30_000);
  const redisPid = c.redis?.child.pid;
  const nodePid = c.primary.pid;

  const redis = new Redis(c.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  cleanup.add('bench redis client', () => redis.disconnect());
  const redisVersion = /^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1] ?? '?';
  const cpus = os.cpus();
  const machine: MachineInfo = {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? '?',
    node: process.version,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
    redis: redisVersion,
  };

  log(`starting ${opts.workers} load workers against the node at ${c.addr.primary}`);
  const pool = await WorkerPool.start(opts.workers, c.addr.primary, pki ? readFileSync(pki.caFile, 'utf8') : undefined);
  const stopPool = cleanup.add('product load workers', () => pool.stop());
  await pool.all(() => ({ cmd: 'openSessions', tag: 'load', count: opts.concurrency }));

  const rateWorkers = Math.min(opts.rateWorkers, opts.workers);
  const pairs = (): LoadCommand => ({ cmd: 'pairs', tag: 'load', concurrency: opts.concurrency, feature: BENCH_FEATURE, ...w });
  const fixed = (i: number): LoadCommand => ({
    cmd: 'rate',
    tag: 'load',
    ratePerSec: opts.rate / rateWorkers,
    // Interleave the workers' schedules so the offered load is evenly spaced.
    offsetMs: (i * 1_000) / opts.rate,
    feature: BENCH_FEATURE,
    ...w,
  });

  log(`1/6 product: checkout+release at saturation (${opts.workers} x ${opts.concurrency} loops, ${opts.durationMs} ms)`);
  const product = await measure(pool, pairs, w, { server: nodePid, redis: redisPid });

  log('2/6 baseline: bare grpc-js SeatService, one EVALSHA per call, same redis-server');
  const baselineServer = await startBaselineProcess(c.redisUrl);
  const stopBaseline = cleanup.add('baseline server', () => baselineServer.stop());
  const basePool = await WorkerPool.start(opts.workers, baselineServer.addr);
  const stopBasePool = cleanup.add('baseline load workers', () => basePool.stop());
  await basePool.all(() => ({ cmd: 'openSessions', tag: 'load', count: opts.concurrency }));
  const baseline = await measure(basePool, pairs, w, { server: baselineServer.pid, redis: redisPid });
  log(`3/6 baseline: fixed rate ${opts.rate} checkouts/s, open loop (the floor for the fixed-rate latency)`);
  const baselineFixedRate = await measure(basePool, fixed, w, { server: baselineServer.pid, redis: redisPid }, rateWorkers);
  await stopBasePool();
  await stopBaseline();

  log(`4/6 product: fixed rate ${opts.rate} checkouts/s, open loop`);
  const metricsUrl = `http://${c.metricsAddr.primary}/metrics`;
  const bucketsBefore = await scrapeBuckets(metricsUrl, 'Checkout');
  const fixedRate = await measure(pool, fixed, w, { server: nodePid, redis: redisPid }, rateWorkers);
  const bucketsAfter = await scrapeBuckets(metricsUrl, 'Checkout');
  const serverSide = {
    p50: quantileUpperBoundMs(bucketsBefore, bucketsAfter, 0.5),
    p99: quantileUpperBoundMs(bucketsBefore, bucketsAfter, 0.99),
  };

  log('5/6 product: session heartbeats at saturation');
  const heartbeat = await measure(pool, () => ({ cmd: 'heartbeat', tag: 'load', concurrency: opts.concurrency, ...w }), w, {
    server: nodePid,
    redis: redisPid,
  });

  log(`6/6 product: Redis memory with ${opts.holdSessions} sessions holding ${opts.seatsHeld} seats`);
  const usedBefore = await settledMemory(redis);
  await pool.all((i) => ({ cmd: 'openSessions', tag: 'hold', count: share(opts.holdSessions, opts.workers, i) }));
  const usedWithSessions = await settledMemory(redis);
  const holds = await pool.all((i) => ({
    cmd: 'hold',
    tag: 'hold',
    seats: share(opts.seatsHeld, opts.workers, i),
    concurrency: opts.concurrency,
    feature: BENCH_FEATURE,
  }));
  const usedWithSeats = await settledMemory(redis);
  const closed = await pool.all(() => ({ cmd: 'closeSessions', tag: 'hold' }));
  const usedAfterClose = await settledMemory(redis);
  const held = holds.reduce((a, h) => a + h.held, 0);
  const memory: MemoryResult = {
    sessions: opts.holdSessions,
    seatsHeld: held,
    holdErrors: holds.reduce((a, h) => a + h.errors, 0),
    firstError: holds.find((h) => h.firstError)?.firstError,
    usedBefore,
    usedWithSessions,
    usedWithSeats,
    usedAfterClose,
    leasesReleasedOnClose: closed.reduce((a, r) => a + r.leasesReleased, 0),
    bytesPerSession: opts.holdSessions > 0 ? (usedWithSessions - usedBefore) / opts.holdSessions : Number.NaN,
    bytesPerSeat: held > 0 ? (usedWithSeats - usedWithSessions) / held : Number.NaN,
  };
  await pool.all(() => ({ cmd: 'closeSessions', tag: 'load' }));
  await stopPool();

  const { log: _log, ...rest } = opts;
  const options = { ...rest, rateWorkers };
  return { machine, options, product, baseline, fixedRate, baselineFixedRate, heartbeat, memory, serverSide };
}
