#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { measureFailover, timingTable } from '../drills/failover-timing';
import { runScenario, SCENARIOS, type ScenarioResult } from '../drills/scenarios';
import { errorMessage } from '../../server/errors';
import { REDIS_INSTALL_HINT, redisServerAvailable } from '../local/redis-process';

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('must be a whole number above 0');
  return n;
};

const program = new Command('drill').description('Failover drills on a local cluster of real processes (redis-server + two nodes on loopback)');

program
  .command('timing')
  .description('measure what losing the primary costs, repeated: kill -9 (fast path), SIGSTOP (waits for the lease TTL), SIGTERM (planned handover)')
  .option('--reps <n>', 'repetitions of kill -9 and of SIGTERM', positiveInt, 10)
  .option('--pause-reps <n>', 'repetitions of SIGSTOP (each costs a whole TTL); default min(reps, 5)', positiveInt)
  .option('--lease-ttl-ms <ms>', 'LICENSE_LEASE_TTL_MS', positiveInt, 5_000)
  .option('--heartbeat-interval-ms <ms>', 'LICENSE_HEARTBEAT_INTERVAL_MS', positiveInt, 1_000)
  .option('--handback-after-ms <ms>', 'LICENSE_HANDBACK_AFTER_MS (only shortens the wait between repetitions)', positiveInt, 2_000)
  .action(async (o: { reps: number; pauseReps?: number; leaseTtlMs: number; heartbeatIntervalMs: number; handbackAfterMs: number }) => {
    if (!redisServerAvailable()) throw new Error(REDIS_INSTALL_HINT);
    process.stdout.write(`failover timing: ${o.reps} reps each, LICENSE_LEASE_TTL_MS=${o.leaseTtlMs} LICENSE_HEARTBEAT_INTERVAL_MS=${o.heartbeatIntervalMs}\n`);
    const r = await measureFailover({ ...o, log: (l) => process.stdout.write(`  ${l}\n`) });
    process.stdout.write(`\n${timingTable(r)}\n`);
    if (r.seatsLeftCounted !== 0) throw new Error(`seats still counted after the client released everything and closed: ${r.seatsLeftCounted}`);
  });

program
  .command('run', { isDefault: true })
  .description(`run one scenario or all: ${SCENARIOS.map((s) => s.name).join(', ')}`)
  .argument('<scenario>', 'scenario name, or "all"')
  .option('--lease-ttl-ms <ms>', 'LICENSE_LEASE_TTL_MS', positiveInt, 2_000)
  .option('--heartbeat-interval-ms <ms>', 'LICENSE_HEARTBEAT_INTERVAL_MS', positiveInt, 400)
  .option('--handback-after-ms <ms>', 'LICENSE_HANDBACK_AFTER_MS', positiveInt, 2_000)
  .option('--session-ttl-ms <ms>', 'LICENSE_SESSION_TTL_MS', positiveInt, 15_000)
  .option('--quiet', 'print only the summary table')
  .action(async (name: string, o: { leaseTtlMs: number; heartbeatIntervalMs: number; handbackAfterMs: number; sessionTtlMs: number; quiet?: boolean }) => {
    if (!redisServerAvailable()) throw new Error(REDIS_INSTALL_HINT);
    const chosen = name === 'all' ? SCENARIOS : SCENARIOS.filter((s) => s.name === name);
    if (chosen.length === 0) throw new Error(`unknown scenario "${name}"; choose one of: all, ${SCENARIOS.map((s) => s.name).join(', ')}`);
    const timings = { leaseTtlMs: o.leaseTtlMs, heartbeatIntervalMs: o.heartbeatIntervalMs, handbackAfterMs: o.handbackAfterMs, sessionTtlMs: o.sessionTtlMs };
    process.stdout.write(
      `drills on loopback (real processes, fault proxies in front of Redis and each peer link): lease TTL ${o.leaseTtlMs} ms, heartbeat ${o.heartbeatIntervalMs} ms, handback after ${o.handbackAfterMs} ms, session TTL ${o.sessionTtlMs} ms\n`,
    );
    const results: ScenarioResult[] = [];
    for (const s of chosen) {
      process.stdout.write(`\n== ${s.name}: ${s.description}\n`);
      const r = await runScenario(s, timings, (l) => process.stdout.write(`${l}\n`));
      results.push(r);
      if (!o.quiet) process.stdout.write(`${r.timeline}\n`);
      for (const n of r.notes) process.stdout.write(`  note: ${n}\n`);
      process.stdout.write(`  verdict: ${r.ok ? 'PASS' : 'FAIL'}${r.error ? ` (${r.error})` : ''}\n`);
    }
    const rows = [
      ['scenario', 'unavailable', 'over-granted', 'sessions lost', 'verdict'],
      ...results.map((r) => [r.name, `${r.unavailabilityMs} ms`, String(r.overGranted), String(r.sessionsLost), r.ok ? 'PASS' : 'FAIL']),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    process.stdout.write(`\n${rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')}\n`);
    process.stdout.write('unavailable = longest gap between successful probe checkouts; over-granted must be 0; sessions lost must be 0\n');
    if (results.some((r) => !r.ok)) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`drill: ${errorMessage(err)}\n`);
  process.exit(1);
});
