#!/usr/bin/env node
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { runCheckoutBench } from '../bench/checkout-bench';
import { Cleanup } from '../bench/cleanup';
import { formatLatencyReport, runLatencyBench } from '../bench/latency-bench';
import { formatCheckoutReport } from '../bench/report';
import { runScaleBench } from '../bench/scale-bench';
import { formatScaleReport } from '../bench/scale-report';
import { formatScrapeReport, runScrapeBench } from '../bench/scrape-bench';
import { formatUsageBenchReport, runUsageBench } from '../bench/usage-bench';
import { formatWaitReport, runWaitBench } from '../bench/wait-bench';
import { measureFailover, timingTable } from '../drills/failover-timing';
import { errorMessage } from '../../server/errors';

/**
 * `npm run bench -- <benchmark>`: benchmarks on real processes. Progress goes to
 * stderr, the report to stdout. Everything started is stopped at the end, on error
 * and on Ctrl-C.
 */
const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

const positiveInt =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a whole number above 0`);
    return n;
  };

/** `1000,5000` -> [1000, 5000]: whole numbers above 0, in the order given. */
const positiveIntList =
  (name: string) =>
  (v: string): number[] => {
    const parts = v.split(',').map((p) => p.trim());
    if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) <= 0 || !Number.isSafeInteger(Number(p)))) {
      throw new InvalidArgumentError(`${name} must be whole numbers above 0, separated by commas`);
    }
    return parts.map(Number);
  };

interface CheckoutFlags {
  durationMs: number;
  workers: number;
  concurrency: number;
  rate: number;
  rateWorkers?: number;
  seatsHeld: number;
  tls?: boolean;
  policy?: string;
}

/**
 * Workers for the fixed-rate run unless --rate-workers says otherwise: as few as the
 * rate needs (one Node client does ~3k pairs/s), because on a 2-core machine every
 * extra client process adds to the tail latency being measured.
 */
const PAIRS_PER_RATE_WORKER = 1_500;

async function checkout(flags: CheckoutFlags): Promise<void> {
  const cleanup = new Cleanup(log);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping workers, servers and redis-server`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const { rateWorkers, policy, ...rest } = flags;
    const report = await runCheckoutBench(
      {
        ...rest,
        ...(policy === undefined ? {} : { policyFile: path.resolve(policy) }),
        rateWorkers: rateWorkers ?? Math.ceil(flags.rate / PAIRS_PER_RATE_WORKER),
        warmupMs: 1_000,
        holdSessions: 100,
        log,
      },
      cleanup,
    );
    process.stdout.write(formatCheckoutReport(report));
  } catch (err) {
    if (!interrupted) {
      log(`failed: ${errorMessage(err)}`);
      process.exitCode = 1;
    }
  } finally {
    await cleanup.run();
  }
}

const program = new Command('bench').description('benchmarks of the license server on real processes (run through `npm run bench`, which builds first)');

program
  .command('checkout')
  .description('checkout+release throughput and latency against one node and a bare grpc-js baseline, fixed-rate latency, heartbeats, Redis memory per seat')
  .option('--duration-ms <ms>', 'recording window of each phase (each phase warms up 1 s first)', positiveInt('--duration-ms'), 10_000)
  .option('--workers <n>', 'load worker processes', positiveInt('--workers'), 3)
  .option('--concurrency <n>', 'concurrent call loops per worker', positiveInt('--concurrency'), 16)
  .option('--rate <n>', 'checkouts per second of the fixed-rate run (all workers together)', positiveInt('--rate'), 1_000)
  .option(
    '--rate-workers <n>',
    `workers driving the fixed-rate run (default: one per ${PAIRS_PER_RATE_WORKER}/s of --rate, at most --workers)`,
    positiveInt('--rate-workers'),
  )
  .option('--seats-held <n>', 'seats held (checked out, not released) for the memory figure', positiveInt('--seats-held'), 10_000)
  .option('--tls', 'run the product node with TLS (throwaway CA; needs openssl); compare with a run without')
  .option('--policy <file>', 'run the product node with this seat policy (LICENSE_POLICY_FILE; rules for feature "bench"); compare with a run without')
  .action(checkout);

interface ScrapeFlags {
  durationMs: number;
  workers: number;
  concurrency: number;
  rate: number;
  expiredSessions: number;
  scrapesPerSecond: number;
  rounds: number;
}

/**
 * Runs one benchmark whose parts register with a Cleanup (run at the end, on error and on
 * Ctrl-C) and prints its report to stdout.
 */
async function runReported<R>(run: (cleanup: Cleanup) => Promise<R>, format: (report: R) => string): Promise<void> {
  const cleanup = new Cleanup(log);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    log(`${signal}: stopping workers, the nodes and redis-server`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    process.stdout.write(format(await run(cleanup)));
  } catch (err) {
    // After Ctrl-C the run fails because its processes are being stopped: that is no news.
    if (!interrupted) log(`failed: ${errorMessage(err)}`);
    process.exitCode = 1;
  } finally {
    await cleanup.run();
  }
}

const scrape = (flags: ScrapeFlags): Promise<void> => runReported((cleanup) => runScrapeBench({ ...flags, warmupMs: 1_000, log }, cleanup), formatScrapeReport);

program
  .command('scrape')
  .description(
    'checkout throughput and latency, clean and hostile: many sessions expiring at once while /metrics is scraped hard (issue 12: at most 20% slower)',
  )
  .option('--duration-ms <ms>', 'recording window of each phase (each phase warms up 1 s first)', positiveInt('--duration-ms'), 10_000)
  .option('--workers <n>', 'load worker processes', positiveInt('--workers'), 3)
  .option('--concurrency <n>', 'concurrent call loops per worker', positiveInt('--concurrency'), 16)
  .option('--rate <n>', 'checkouts per second of the fixed-rate phases', positiveInt('--rate'), 1_000)
  .option('--expired-sessions <n>', 'sessions (one seat each) that expire as a hostile window opens', positiveInt('--expired-sessions'), 50_000)
  .option('--scrapes-per-second <n>', 'GET /metrics per second during a hostile window', positiveInt('--scrapes-per-second'), 100)
  .option('--rounds <n>', 'run every phase this many times, interleaved; ratios are medians over the rounds', positiveInt('--rounds'), 3)
  .action(scrape);

interface WaitFlags {
  durationMs: number;
  workers: number;
  concurrency: number;
  rate: number;
}

const wait = (flags: WaitFlags): Promise<void> => runReported((cleanup) => runWaitBench({ ...flags, warmupMs: 1_000, log }, cleanup), formatWaitReport);

program
  .command('wait')
  .description('what acknowledging every write on a replica (LICENSE_REDIS_MIN_REPLICAS=1, Redis WAIT) costs against no WAIT, master + 1 replica')
  .option('--duration-ms <ms>', 'recording window of each phase (each phase warms up 1 s first)', positiveInt('--duration-ms'), 10_000)
  .option('--workers <n>', 'load worker processes', positiveInt('--workers'), 3)
  .option('--concurrency <n>', 'concurrent call loops per worker', positiveInt('--concurrency'), 16)
  .option('--rate <n>', 'checkouts per second of the fixed-rate phase', positiveInt('--rate'), 1_000)
  .action(wait);

interface LatencyFlags {
  rates: number[];
  rounds: number;
  duration: number;
  warmup: number;
  clients: number;
  streams: number;
}

const latency = (f: LatencyFlags): Promise<void> =>
  runReported(
    (cleanup) =>
      runLatencyBench(
        { rates: f.rates, rounds: f.rounds, durationSeconds: f.duration, warmupSeconds: f.warmup, clients: f.clients, streams: f.streams, log },
        cleanup,
      ),
    formatLatencyReport,
  );

program
  .command('latency')
  .description(
    'Checkout latency (p50/p99/p99.9) at fixed rates sent by h2load (C, no client GC) against one node and the bare grpc-js baseline; server CPU per checkout',
  )
  .addOption(
    new Option('--rates <list>', 'checkouts per second, one timed run per rate and target')
      .argParser(positiveIntList('--rates'))
      .default([1_000, 5_000], '1000,5000'),
  )
  .option('--duration <s>', 'seconds of each timed run', positiveInt('--duration'), 10)
  .option('--warmup <s>', 'seconds of the untimed run at the same rate before each timed one', positiveInt('--warmup'), 2)
  .option('--clients <n>', 'h2load connections (its --rps is per connection: each sends rate / clients)', positiveInt('--clients'), 10)
  .option(
    '--rounds <n>',
    'runs of each rate against both targets, alternating which goes first; the p99 ratio is reported per round and as the median',
    positiveInt('--rounds'),
    1,
  )
  .option(
    '--streams <n>',
    'calls in flight per connection at most (h2load -m); a due request waits in h2load only when this many are in flight',
    positiveInt('--streams'),
    32,
  )
  .action(latency);

interface ScaleFlags {
  sessions: number;
  seats: number;
  steps?: number[];
  duration: number;
  rate: number;
  workers: number;
  concurrency: number;
}

const scale = (f: ScaleFlags): Promise<void> =>
  runReported(
    (cleanup) =>
      runScaleBench(
        {
          sessions: f.sessions,
          seats: f.seats,
          steps: f.steps,
          durationSeconds: f.duration,
          pairsPerSecond: f.rate,
          workers: f.workers,
          setupConcurrency: f.concurrency,
          log,
        },
        cleanup,
      ),
    formatScaleReport,
  );

program
  .command('scale')
  .description(
    'one node with many open sessions heartbeating at the default interval and their held seats: heartbeat latency, Redis memory, node RSS/CPU, checkout cost from 1k sessions up',
  )
  .option('--sessions <n>', 'open sessions at the last step', positiveInt('--sessions'), 50_000)
  .option('--seats <n>', 'seats held at the last step (spread evenly over the sessions; earlier steps hold their share)', positiveInt('--seats'), 100_000)
  .option(
    '--steps <list>',
    'session counts to measure at on the way to --sessions (default 1000,10000; those not below --sessions are dropped, --sessions is always the last)',
    positiveIntList('--steps'),
  )
  .option(
    '--duration <s>',
    'seconds of each recording window (three per step: heartbeats only, with checkout+release pairs, pairs with the heartbeats paused)',
    positiveInt('--duration'),
    10,
  )
  .option('--rate <n>', 'checkout+release pairs per second in the second and third window of each step', positiveInt('--rate'), 500)
  .option('--workers <n>', 'load worker processes (they open the sessions and heartbeat them)', positiveInt('--workers'), 2)
  .option('--concurrency <n>', 'calls in flight per worker while opening sessions and checking out the held seats', positiveInt('--concurrency'), 16)
  .addHelpText('after', '\nQuick run (a minute or two on 2 cores): npm run bench -- scale --sessions 2000 --seats 4000 --duration 5')
  .action(scale);

interface UsageFlags {
  events: number;
  features: number;
  users: number;
  rounds: number;
}

const usage = (f: UsageFlags): Promise<void> => runReported((cleanup) => runUsageBench({ ...f, log }, cleanup), formatUsageBenchReport);

program
  .command('usage')
  .description(
    'usage reports: N synthetic usage events written to a stream in a local redis-server, Redis memory per event, the report (read + compute) timed end to end (target: 1M events under 10 s)',
  )
  .option('--events <n>', 'events in the stream', positiveInt('--events'), 1_000_000)
  .option('--features <n>', 'features the events are spread over', positiveInt('--features'), 5)
  .option('--users <n>', 'users (each on its own host)', positiveInt('--users'), 200)
  .option('--rounds <n>', 'timed report runs; the figure is their median', positiveInt('--rounds'), 3)
  .action(usage);

program
  .command('failover')
  .description(
    'what losing the primary costs an SDK client, on real processes: kill -9 (fast path), SIGSTOP (lease TTL), SIGTERM (planned); p50/p99 to the redundant active and to the first granted checkout',
  )
  .option('--reps <n>', 'repetitions of kill -9 and of SIGTERM', positiveInt('--reps'), 20)
  .option('--pause-reps <n>', 'repetitions of SIGSTOP (each costs a whole TTL)', positiveInt('--pause-reps'), 5)
  .option('--lease-ttl-ms <ms>', 'LICENSE_LEASE_TTL_MS', positiveInt('--lease-ttl-ms'), 5_000)
  .option('--heartbeat-interval-ms <ms>', 'LICENSE_HEARTBEAT_INTERVAL_MS', positiveInt('--heartbeat-interval-ms'), 1_000)
  .action(async (o: { reps: number; pauseReps: number; leaseTtlMs: number; heartbeatIntervalMs: number }) => {
    // The same measurement as `npm run drill -- timing`, with the benchmark's defaults (20 repetitions).
    const r = await measureFailover({ ...o, handbackAfterMs: 2_000, log: (l) => log(`  ${l}`) });
    process.stdout.write(`\n# Failover: LICENSE_LEASE_TTL_MS=${o.leaseTtlMs}, LICENSE_HEARTBEAT_INTERVAL_MS=${o.heartbeatIntervalMs}\n${timingTable(r)}\n`);
    if (r.seatsLeftCounted !== 0) throw new Error(`seats still counted after the client released everything and closed: ${r.seatsLeftCounted}`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  log(errorMessage(err));
  process.exit(1);
});
