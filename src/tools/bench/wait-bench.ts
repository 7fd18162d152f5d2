import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startLocalCluster } from '../local/local-cluster';
import { startRedis } from '../local/redis-process';
import { BENCH_FEATURE, type LoadCommand, type LoadPhase, measure } from './checkout-bench';
import type { Cleanup } from './cleanup';
import type { Window } from './protocol';
import { WorkerPool } from './worker-pool';

export interface WaitBenchOptions {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly workers: number;
  readonly concurrency: number;
  /** Checkouts per second of the fixed-rate phase. */
  readonly rate: number;
  readonly log: (line: string) => void;
}

export interface WaitMode {
  readonly name: string;
  readonly minReplicas: number;
  readonly saturation: LoadPhase;
  readonly fixedRate: LoadPhase;
}

export interface WaitBenchReport {
  readonly options: Omit<WaitBenchOptions, 'log'>;
  readonly modes: readonly WaitMode[];
}

async function waitForReplica(url: string): Promise<void> {
  const c = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    for (let i = 0; i < 300; i++) {
      if (/slave0:.*state=online/.test(await c.info('replication'))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the replica did not come online in 30 s');
  } finally {
    c.disconnect();
  }
}

/**
 * `npm run bench -- wait`: what acknowledging every write on a replica costs. One
 * redis-server master with one replica (real processes, loopback); one licensed node
 * with LICENSE_REDIS_MIN_REPLICAS=0 (answers as soon as the master has a write), then a
 * fresh one with 1 (each write script is followed by a group-committed WAIT 1), under the
 * same load: checkout+release at saturation and at a fixed rate.
 */
export async function runWaitBench(opts: WaitBenchOptions, cleanup: Cleanup): Promise<WaitBenchReport> {
  const { log } = opts;
  const w: Window = { warmupMs: opts.warmupMs, durationMs: opts.durationMs };
  log('starting a redis-server master and one replica');
  const master = await startRedis();
  cleanup.add('redis master', () => master.stop());
  const replica = await startRedis({ extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] });
  cleanup.add('redis replica', () => replica.stop());
  await waitForReplica(master.url);

  const modes: WaitMode[] = [];
  for (const [name, minReplicas] of [
    ['no WAIT (LICENSE_REDIS_MIN_REPLICAS=0)', 0],
    ['WAIT 1 (LICENSE_REDIS_MIN_REPLICAS=1)', 1],
  ] as const) {
    log(`${name}: starting one licensed node`);
    const c = await startLocalCluster({
      clusterId: `wait-${minReplicas}`,
      redisUrl: master.url,
      startNodes: false,
      logFiles: true,
      features: [{ name: BENCH_FEATURE, seats: 1_000_000 }],
      env: { LICENSE_SESSION_TTL_MS: '600000', LICENSE_REDIS_MIN_REPLICAS: String(minReplicas) },
      roleEnv: { primary: { LICENSE_PEER_ADDR: '' } },
    });
    const stopCluster = cleanup.add(`local cluster ${minReplicas}`, async () => {
      await c.stop();
      rmSync(c.dir, { recursive: true, force: true });
    });
    c.primary.start();
    await c.waitListening('primary');
    await c.primary.waitForState('ACTIVE', 30_000);
    const pool = await WorkerPool.start(opts.workers, c.addr.primary);
    const stopPool = cleanup.add(`load workers ${minReplicas}`, () => pool.stop());
    await pool.all(() => ({ cmd: 'openSessions', tag: 'load', count: opts.concurrency }));
    const pids = { server: c.primary.pid, redis: master.child.pid };
    log(`${name}: checkout+release at saturation (${opts.workers} x ${opts.concurrency} loops, ${opts.durationMs} ms)`);
    const saturation = await measure(
      pool,
      (): LoadCommand => ({ cmd: 'pairs', tag: 'load', concurrency: opts.concurrency, feature: BENCH_FEATURE, ...w }),
      w,
      pids,
    );
    log(`${name}: fixed rate ${opts.rate} checkouts/s`);
    const fixedRate = await measure(
      pool,
      (i): LoadCommand => ({ cmd: 'rate', tag: 'load', ratePerSec: opts.rate, offsetMs: (i * 1_000) / opts.rate, feature: BENCH_FEATURE, ...w }),
      w,
      pids,
      1,
    );
    modes.push({ name, minReplicas, saturation, fixedRate });
    await stopPool();
    await stopCluster();
  }
  const { log: _log, ...options } = opts;
  void _log;
  return { options, modes };
}

const f1 = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(1));
const f2 = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(2));

export function formatWaitReport(r: WaitBenchReport): string {
  const lines: string[] = [];
  lines.push(`# What WAIT costs: one licensed node, redis-server master + 1 replica (loopback)`);
  lines.push(`workers ${r.options.workers} x ${r.options.concurrency} loops, windows of ${r.options.durationMs} ms`);
  lines.push('');
  lines.push('| mode | pairs/s at saturation | checkout p50 ms | p99 ms | fixed rate checkouts/s | checkout p50 ms | p99 ms | p99.9 ms | errors |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const m of r.modes) {
    const s = m.saturation.ops.checkout;
    const x = m.fixedRate.ops.checkout;
    lines.push(
      `| ${m.name} | ${f1(m.saturation.perSecond)} | ${f2(s?.p50Ms)} | ${f2(s?.p99Ms)} | ${f1(m.fixedRate.perSecond)} | ${f2(x?.p50Ms)} | ${f2(x?.p99Ms)} | ${f2(x?.p999Ms)} | ${m.saturation.errors + m.fixedRate.errors} |`,
    );
  }
  const [a, b] = r.modes;
  if (a && b) {
    const ratio = (x: number | undefined, y: number | undefined): string => (x && y ? (y / x).toFixed(2) : '-');
    lines.push('');
    lines.push(
      `WAIT / no WAIT: throughput ${ratio(a.saturation.perSecond, b.saturation.perSecond)}x, saturation checkout p50 ${ratio(a.saturation.ops.checkout?.p50Ms, b.saturation.ops.checkout?.p50Ms)}x,`,
    );
    lines.push(
      `fixed-rate checkout p50 ${ratio(a.fixedRate.ops.checkout?.p50Ms, b.fixedRate.ops.checkout?.p50Ms)}x, p99 ${ratio(a.fixedRate.ops.checkout?.p99Ms, b.fixedRate.ops.checkout?.p99Ms)}x`,
    );
  }
  return `${lines.join('\n')}\n`;
}
