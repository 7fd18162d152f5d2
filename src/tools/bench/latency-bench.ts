// Over 300 lines on purpose: one benchmark run, start to report, read top to bottom (start both servers, probe, warm up, measure, compare).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import type { SeatServiceClient } from '../../contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../../contract/proto';
import { clusterKeys } from '../../server/store/keys';
import { startBaselineProcess } from './baseline-process';
import { BASELINE_COUNTER_KEY } from './baseline-server';
import { BENCH_FEATURE, type MachineInfo } from './checkout-bench';
import { startBenchNode } from './bench-node';
import type { Cleanup } from './cleanup';
import { checkoutBody, h2loadVersion, percentileMs, probeCheckout, readH2loadLog, runH2load } from './h2load';
import { machineCpuSample, processCpuSeconds } from './proc-cpu';
import { describeMachine, loadAverage1m } from './proc-stats';
import { quantileUpperBoundMs, scrapeBuckets } from './server-histogram';
import { fmtFixed, fmtInt, fmtMs, textTable } from './text-table';

export interface LatencyBenchOptions {
  /** Checkouts per second, one timed run per rate and target. */
  readonly rates: readonly number[];
  readonly durationSeconds: number;
  /** An untimed h2load run at the same rate before each timed one (JIT, connection pools). */
  readonly warmupSeconds: number;
  /** h2load connections (-c); each sends rate / clients per second. */
  readonly clients: number;
  /** h2load streams in flight per connection at most (-m). */
  readonly streams: number;
  /**
   * Times each rate is run against both targets, alternating which goes first. A p99 of
   * 10,000 calls on shared cores moves by 2× from run to run; the report gives each
   * round's product/baseline ratio and their median.
   */
  readonly rounds?: number;
  readonly log: (line: string) => void;
}

export type Target = 'product' | 'baseline';

export interface LatencyRun {
  /** 0-based round (LatencyBenchOptions.rounds). */
  readonly round: number;
  readonly rate: number;
  readonly target: Target;
  /** Requests h2load sent (-n). */
  readonly requests: number;
  /** Answers with HTTP 200 in h2load's log (gRPC errors included: they are HTTP 200 too). */
  readonly answered: number;
  /** Seats the server granted during the run (its own count, in Redis). */
  readonly granted: number;
  /** Requests that got no seat: sent − granted. */
  readonly errors: number;
  /** Requests h2load saw fail or never logged (not HTTP 200). */
  readonly transportErrors: number;
  /** Answers per second over the log's span (first start to last end). */
  readonly achievedPerSec: number;
  /**
   * How much longer the run took than its schedule (span − requests / rate), seconds: above
   * a fraction of a second, h2load had to hold requests back (all --streams in flight), so
   * the node could not keep up and the latencies leave out that wait.
   */
  readonly behindSeconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** The node's own histogram (bucket upper bounds), product only. */
  readonly nodeP50Ms: number | undefined;
  readonly nodeP99Ms: number | undefined;
  /** Server process CPU per answered request, µs. */
  readonly serverUsPerCall: number | undefined;
  readonly redisUsPerCall: number | undefined;
  /** CPU over the run, 100 = one core. */
  readonly serverPct: number | undefined;
  readonly h2loadPct: number | undefined;
  readonly machineBusyPct: number | undefined;
  /** CPU of processes outside this bench (100 = one core): interference on a shared machine. */
  readonly othersPct: number | undefined;
  readonly h2loadSummary: string;
}

export interface LatencyReport {
  readonly machine: MachineInfo;
  readonly h2load: string;
  readonly options: Omit<LatencyBenchOptions, 'log'>;
  readonly loadAverage: { readonly start: string; readonly end: string };
  /** What the pre-run probes answered, per target. */
  readonly probes: Readonly<Record<Target, string>>;
  readonly runs: readonly LatencyRun[];
}

const PROBES = 3;

function unary<Res>(start: (cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => start((err, res) => (err || res === undefined ? reject(err ?? new Error('empty reply')) : resolve(res))));
}

/**
 * `npm run bench -- latency`: Checkout latency at fixed rates, sent by h2load (C, no GC)
 * as a pre-encoded gRPC request, against one real `licensed` node and against the bare
 * grpc-js + one-EVALSHA baseline on the same redis-server, rate by rate in the same run.
 * Every request of a run is one new seat (no request_id) on one open session, so the
 * server's seat counter says how many really succeeded. Everything started is registered
 * with `cleanup`; the caller runs it.
 */
export async function runLatencyBench(opts: LatencyBenchOptions, cleanup: Cleanup): Promise<LatencyReport> {
  const { log } = opts;
  const h2load = h2loadVersion();
  const loadStart = loadAverage1m();
  const perRun = (rate: number): number => Math.round(rate * (opts.durationSeconds + opts.warmupSeconds)) + PROBES;
  const mostInOneSession = Math.max(...opts.rates.map(perRun));
  const rounds = opts.rounds ?? 1;
  const seatsLicensed = Math.max(1_000_000, 2 * rounds * opts.rates.reduce((a, r) => a + perRun(r), 0));
  // A run never heartbeats its session: it must outlive warm-up + run several times over.
  const sessionTtlMs = Math.max(600_000, Math.ceil((opts.durationSeconds + opts.warmupSeconds) * 3_000));

  log('starting redis-server and one licensed node (primary, no peer)');
  // All of a run's checkouts go to one session: the per-session limit (1,024) is raised to what a run takes.
  const c = await startBenchNode(
    {
      clusterId: 'bench-latency',
      seats: seatsLicensed,
      env: { LICENSE_SESSION_TTL_MS: String(sessionTtlMs), LICENSE_MAX_SEATS_PER_SESSION: String(mostInOneSession) },
    },
    cleanup,
  );

  const redis = new Redis(c.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  cleanup.add('bench redis client', () => redis.disconnect());
  const machine = await describeMachine(redis);

  log('starting the baseline server (bare grpc-js SeatService, one EVALSHA per call, same redis-server)');
  const baseline = await startBaselineProcess(c.redisUrl);
  cleanup.add('baseline server', () => baseline.stop());

  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-latency-'));
  cleanup.add('h2load files', () => rmSync(dir, { recursive: true, force: true }));

  const proto = loadLicenseProto();
  const clients: Record<Target, SeatServiceClient> = {
    product: new proto.SeatService(c.addr.primary, grpc.credentials.createInsecure()),
    baseline: new proto.SeatService(baseline.addr, grpc.credentials.createInsecure()),
  };
  cleanup.add('session clients', () => Object.values(clients).forEach((cl) => cl.close()));
  const addrOf: Record<Target, string> = { product: c.addr.primary, baseline: baseline.addr };
  const pidOf: Record<Target, number | undefined> = { product: c.primary.pid, baseline: baseline.pid };
  const redisPid = c.redis?.child.pid;
  const keys = clusterKeys(c.clusterId);
  /** The server's own count of seats granted so far (the baseline's counter is INCRed once per Checkout answered OK). */
  const grantedSoFar = async (t: Target): Promise<number> =>
    Number((t === 'product' ? await redis.hget(keys.used, BENCH_FEATURE) : await redis.get(BASELINE_COUNTER_KEY)) ?? '0');
  const metricsUrl = `http://${c.metricsAddr.primary}/metrics`;
  const probes: Record<Target, string> = { product: '', baseline: '' };
  const runs: LatencyRun[] = [];

  for (let round = 0; round < rounds; round++) {
    for (const [i, rate] of opts.rates.entries()) {
      // Alternate which target goes first, so neither always runs on the warmer (or busier) machine.
      const order: Target[] = (i + round) % 2 === 0 ? ['product', 'baseline'] : ['baseline', 'product'];
      for (const target of order) {
        const cl = clients[target];
        const opened = await unary<{ session_id: string }>((cb) =>
          cl.OpenSession(
            { client_id: `bench-latency-${rate}-${round}`, user: 'bench', hostname: 'localhost', pid: process.pid },
            { deadline: Date.now() + 10_000 },
            cb,
          ),
        );
        const bodyFile = path.join(dir, `${target}-${rate}-${round}.bin`);
        const body = checkoutBody({ session_id: opened.session_id, feature: BENCH_FEATURE, count: 1, request_id: '' });
        writeFileSync(bodyFile, body);

        // h2load only sees HTTP 200, which failed gRPC calls get too: check a few real answers first.
        for (let k = 0; k < PROBES; k++) {
          const p = await probeCheckout(addrOf[target], body);
          if (p.httpStatus !== 200 || p.grpcStatus !== 0 || !p.response?.lease_id) {
            throw new Error(`${target}: probe Checkout answered HTTP ${p.httpStatus}, grpc-status ${p.grpcStatus ?? 'none'} ${p.grpcMessage}`.trim());
          }
          probes[target] = `HTTP 200, grpc-status 0, lease_id ${p.response.lease_id.slice(0, 8)}…, count ${p.response.count}`;
        }

        const common = { addr: addrOf[target], bodyFile, ratePerSec: rate, clients: opts.clients, streams: opts.streams };
        const track = (stop: () => Promise<void>): (() => Promise<void>) => cleanup.add('h2load', stop);
        log(`${target} at ${rate}/s: warm-up ${opts.warmupSeconds} s`);
        await runH2load({ ...common, requests: Math.max(opts.clients, Math.round(rate * opts.warmupSeconds)) }, track);

        log(`${target} at ${rate}/s: ${opts.durationSeconds} s timed`);
        const requests = Math.max(opts.clients, Math.round(rate * opts.durationSeconds));
        const logFile = path.join(dir, `${target}-${rate}-${round}.tsv`);
        const grantedBefore = await grantedSoFar(target);
        const bucketsBefore = target === 'product' ? await scrapeBuckets(metricsUrl, 'Checkout') : undefined;
        const cpu0 = { product: processCpuSeconds(pidOf.product), baseline: processCpuSeconds(pidOf.baseline), redis: processCpuSeconds(redisPid) };
        const m0 = machineCpuSample();
        const self0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        const run = await runH2load({ ...common, requests, logFile }, track);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu1 = { product: processCpuSeconds(pidOf.product), baseline: processCpuSeconds(pidOf.baseline), redis: processCpuSeconds(redisPid) };
        const m1 = machineCpuSample();
        const self = process.cpuUsage(self0);
        const granted = (await grantedSoFar(target)) - grantedBefore;
        const bucketsAfter = bucketsBefore ? await scrapeBuckets(metricsUrl, 'Checkout') : undefined;

        if (run.status !== 0) log(`  h2load exited with ${run.status ?? 'a signal'}: ${run.summary.replace(/\n/g, '; ')}`);
        const h = readH2loadLog(logFile);
        const delta = (k: keyof typeof cpu0): number | undefined => {
          const a = cpu0[k];
          const b = cpu1[k];
          return a === undefined || b === undefined ? undefined : b - a;
        };
        const pct = (s: number | undefined): number | undefined => (s === undefined ? undefined : (s / seconds) * 100);
        const perCall = (s: number | undefined): number | undefined => (s === undefined || h.ok === 0 ? undefined : (s / h.ok) * 1e6);
        const machineBusyPct = m0 && m1 && m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 : undefined;
        const ours = [delta('product'), delta('baseline'), delta('redis'), run.cpuSeconds, (self.user + self.system) / 1e6];
        const othersPct =
          machineBusyPct === undefined || ours.some((v) => v === undefined)
            ? undefined
            : Math.max(0, machineBusyPct * os.cpus().length - (pct(ours.reduce<number>((a, v) => a + (v ?? 0), 0)) ?? 0));
        runs.push({
          round,
          rate,
          target,
          requests,
          answered: h.ok,
          granted,
          errors: Math.max(0, requests - granted),
          transportErrors: requests - h.ok,
          achievedPerSec: h.spanSeconds > 0 ? h.ok / h.spanSeconds : 0,
          behindSeconds: Math.max(0, h.spanSeconds - requests / rate),
          p50Ms: percentileMs(h.sortedUs, 50),
          p99Ms: percentileMs(h.sortedUs, 99),
          p999Ms: percentileMs(h.sortedUs, 99.9),
          maxMs: percentileMs(h.sortedUs, 100),
          nodeP50Ms: bucketsBefore && bucketsAfter ? quantileUpperBoundMs(bucketsBefore, bucketsAfter, 0.5).boundMs : undefined,
          nodeP99Ms: bucketsBefore && bucketsAfter ? quantileUpperBoundMs(bucketsBefore, bucketsAfter, 0.99).boundMs : undefined,
          serverUsPerCall: perCall(delta(target)),
          redisUsPerCall: perCall(delta('redis')),
          serverPct: pct(delta(target)),
          h2loadPct: pct(run.cpuSeconds),
          machineBusyPct,
          othersPct,
          h2loadSummary: run.summary,
        });
        const last = runs[runs.length - 1] as LatencyRun;
        log(`  p50 ${fmtMs(last.p50Ms)} ms, p99 ${fmtMs(last.p99Ms)} ms, ${last.errors} errors, load average ${loadAverage1m()}`);

        // Frees the run's seats, so every run starts from the same Redis state (the baseline keeps none).
        await unary((cb) => cl.CloseSession({ session_id: opened.session_id }, { deadline: Date.now() + 30_000 }, cb));
      }
    }
  }
  const { log: _log, ...options } = opts;
  return { machine, h2load, options, loadAverage: { start: loadStart, end: loadAverage1m() }, probes, runs };
}

export function formatLatencyReport(r: LatencyReport): string {
  const o = r.options;
  const m = r.machine;
  const out: string[] = [''];
  out.push('latency bench: Checkout at fixed rates, sent by h2load (C) as a pre-encoded gRPC request over h2c, loopback');
  out.push(`  machine  ${m.cpus} CPUs (${m.cpuModel}), ${m.platform}, node ${m.node}, redis-server ${m.redis}, ${r.h2load}`);
  out.push(
    `           load average (1 min) ${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end: the cores are shared with whatever else runs`,
  );
  out.push(
    `  params   --rates ${o.rates.join(',')}  --rounds ${o.rounds ?? 1}  --duration ${o.durationSeconds} s (after a ${o.warmupSeconds} s warm-up run)  --clients ${o.clients} connections  --streams ${o.streams} per connection`,
  );
  out.push('  product  one licensed node (ACTIVE, no peer), its own redis-server; one session per run, one new seat per request (no request_id)');
  out.push('  baseline bare grpc-js SeatService, one EVALSHA per Checkout, same redis-server, same request bytes');
  out.push(`  probes   product: ${r.probes.product}; baseline: ${r.probes.baseline}`);
  out.push('  latency  from the moment h2load sends a request to the end of its answer; a due request waits in h2load only');
  out.push('           while --streams calls are already in flight on its connection: then "achieved/s" falls below the rate, the run');
  out.push('           ends "behind s" seconds late, and that wait is not in the latencies (the node did not keep up)');
  out.push('');
  const rows = r.runs.map((x) => [
    fmtInt(x.rate),
    x.target,
    fmtInt(x.requests),
    fmtInt(x.achievedPerSec),
    fmtFixed(x.behindSeconds, 1),
    fmtMs(x.p50Ms),
    fmtMs(x.p99Ms),
    fmtMs(x.p999Ms),
    fmtMs(x.maxMs),
    x.nodeP99Ms === undefined ? '' : `<= ${fmtMs(x.nodeP50Ms)} / ${fmtMs(x.nodeP99Ms)}`,
    `${x.errors}${x.transportErrors > 0 ? ` (${x.transportErrors} not HTTP 200)` : ''}`,
    fmtFixed(x.serverUsPerCall, 0),
    fmtFixed(x.redisUsPerCall, 0),
    `${fmtFixed(x.serverPct, 0)} / ${fmtFixed(x.h2loadPct, 0)}`,
    `${fmtFixed(x.machineBusyPct, 0)} / ${fmtFixed(x.othersPct, 0)}`,
  ]);
  out.push(
    ...textTable(
      [
        'rate/s',
        'target',
        'requests',
        'achieved/s',
        'behind s',
        'p50 ms',
        'p99 ms',
        'p99.9 ms',
        'max ms',
        'node p50/p99 ms',
        'errors',
        'server CPU µs/checkout',
        'redis µs/checkout',
        'CPU % server/h2load',
        'machine busy % / others',
      ],
      rows,
      new Set([0, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14]),
    ),
  );
  out.push('');
  const rounds = o.rounds ?? 1;
  const ratioOf = (a: number | undefined, z: number | undefined): number | undefined => (a !== undefined && z !== undefined && z > 0 ? a / z : undefined);
  const ratio = (a: number | undefined, z: number | undefined): string => fmtFixed(ratioOf(a, z), 2);
  for (const rate of o.rates) {
    const p99Ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const p = r.runs.find((x) => x.rate === rate && x.round === round && x.target === 'product');
      const b = r.runs.find((x) => x.rate === rate && x.round === round && x.target === 'baseline');
      if (!p || !b) continue;
      const p99 = ratioOf(p.p99Ms, b.p99Ms);
      if (p99 !== undefined) p99Ratios.push(p99);
      out.push(
        `  ${fmtInt(rate)}/s${rounds > 1 ? ` round ${round + 1}` : ''}  product/baseline: p99 ${ratio(p.p99Ms, b.p99Ms)}x (${fmtMs(p.p99Ms)} / ${fmtMs(b.p99Ms)} ms), p50 ${ratio(p.p50Ms, b.p50Ms)}x, p99.9 ${ratio(p.p999Ms, b.p999Ms)}x, server CPU per checkout ${ratio(p.serverUsPerCall, b.serverUsPerCall)}x (${fmtFixed(p.serverUsPerCall, 0)} / ${fmtFixed(b.serverUsPerCall, 0)} µs)`,
      );
    }
    if (p99Ratios.length > 1) {
      const sorted = [...p99Ratios].sort((x, y) => x - y);
      const mid = Math.floor(sorted.length / 2);
      const median = sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
      out.push(`  ${fmtInt(rate)}/s  p99 ratio over ${sorted.length} rounds: median ${fmtFixed(median, 2)}x (${sorted.map((x) => fmtFixed(x, 2)).join(', ')})`);
    }
  }
  out.push('');
  for (const x of r.runs.filter((y) => y.transportErrors > 0)) {
    out.push(
      `  ${fmtInt(x.rate)}/s ${x.target}: ${x.transportErrors} requests not answered with HTTP 200; h2load said: ${x.h2loadSummary.replace(/\n/g, '; ')}`,
    );
  }
  out.push('  errors = requests sent − seats the server granted in the run (its own count in Redis; a gRPC error is an HTTP 200 to h2load)');
  out.push('  node p50/p99 = upper bounds of the buckets of license_grpc_request_duration_seconds (the node measured it, without the network)');
  out.push('  "others" = CPU used by processes outside this bench, 100 = one core; high values mean the figures carry interference');
  out.push('');
  return out.join('\n');
}
