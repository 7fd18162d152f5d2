#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { measureFailover, summarize } from '../drills/failover-timing';
import { errorMessage } from '../errors';
import { REDIS_INSTALL_HINT, redisServerAvailable } from '../local/redis-process';

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('must be a whole number above 0');
  return n;
};

const program = new Command('drill').description('Failover drills on a local cluster of real processes (redis-server + two nodes on loopback)');

program
  .command('timing')
  .description('measure crash failover (kill -9) and planned handover (SIGTERM) of the primary, repeated')
  .option('--reps <n>', 'repetitions of each', positiveInt, 10)
  .option('--lease-ttl-ms <ms>', 'LICENSE_LEASE_TTL_MS', positiveInt, 5_000)
  .option('--heartbeat-interval-ms <ms>', 'LICENSE_HEARTBEAT_INTERVAL_MS', positiveInt, 1_000)
  .option('--handback-after-ms <ms>', 'LICENSE_HANDBACK_AFTER_MS (only shortens the wait between repetitions)', positiveInt, 2_000)
  .action(async (o: { reps: number; leaseTtlMs: number; heartbeatIntervalMs: number; handbackAfterMs: number }) => {
    if (!redisServerAvailable()) throw new Error(REDIS_INSTALL_HINT);
    process.stdout.write(`failover timing: ${o.reps} reps each, LICENSE_LEASE_TTL_MS=${o.leaseTtlMs} LICENSE_HEARTBEAT_INTERVAL_MS=${o.heartbeatIntervalMs}\n`);
    const r = await measureFailover({ ...o, log: (l) => process.stdout.write(`  ${l}\n`) });
    const crash = summarize(r.crashMs);
    const planned = summarize(r.plannedMs);
    process.stdout.write(
      [
        '',
        'measure                                 median     max     min',
        `crash failover (kill -9 -> active)   ${String(crash.median).padStart(7)} ms ${String(crash.max).padStart(5)} ms ${String(crash.min).padStart(5)} ms`,
        `planned handover (SIGTERM -> active) ${String(planned.median).padStart(7)} ms ${String(planned.max).padStart(5)} ms ${String(planned.min).padStart(5)} ms`,
        '',
      ].join('\n'),
    );
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`drill: ${errorMessage(err)}\n`);
  process.exit(1);
});
