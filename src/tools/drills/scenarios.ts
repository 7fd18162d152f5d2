import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { signActivation } from '../../server/budget/activation-keys';
import type { Role } from '../../server/config';
import type { UnsignedLicense } from '../../server/license/license-file';
import type { LocalCluster } from '../local/local-cluster';
import { logTime, type LogLine } from '../local/node-process';
import { DRILL_SEATS, type DrillCluster, type DrillTimings, sleep, startDrillCluster, Timeline, Workload } from './harness';

export interface DrillContext {
  readonly dc: DrillCluster;
  readonly c: LocalCluster;
  readonly t: Timeline;
  readonly timings: DrillTimings;
  /** Waits for a `state X -> to` log line of a node logged at or after line index `after`. */
  waitState(role: Role, to: string, after?: number, timeoutMs?: number): Promise<LogLine>;
  mark(role: Role): number;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Failover terms signed into the drill cluster's license (a short budget); default: the license defaults. */
  readonly failover?: UnsignedLicense['failover'];
  /** Runs the fault and the recovery; returns notes for the report. */
  run(ctx: DrillContext): Promise<string[]>;
}

export interface ScenarioResult {
  readonly name: string;
  readonly ok: boolean;
  readonly unavailabilityMs: number;
  readonly overGranted: number;
  readonly sessionsLost: number;
  readonly notes: string[];
  readonly timeline: string;
  readonly error?: string;
}

const ts = logTime;

/** Restarts the primary and waits for the handback. */
async function primaryBack(ctx: DrillContext): Promise<void> {
  const m = ctx.mark('primary');
  ctx.t.mark('primary restarted');
  ctx.c.primary.start();
  await ctx.waitState('primary', 'ACTIVE', m);
}

async function budgetAccuracy(ctx: DrillContext, from: LogLine): Promise<string> {
  const until = await ctx.waitState('redundant', 'STANDBY', ctx.c.redundant.lines.indexOf(from));
  const served = ts(until) - ts(from);
  const b = (await ctx.c.admin('redundant').getStatus()).budget;
  const charged = b?.consumed_ms ?? 0;
  return `budget charged ${charged} ms for ${served} ms served (difference ${charged - served} ms; heartbeat ${ctx.timings.heartbeatIntervalMs} ms)`;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'crash-primary',
    description: 'kill -9 the active primary; the redundant takes over; the restarted primary takes the cluster back',
    async run(ctx) {
      const m = ctx.mark('redundant');
      ctx.t.mark('SIGKILL primary');
      await ctx.c.primary.kill();
      const took = await ctx.waitState('redundant', 'FAILOVER_ACTIVE', m);
      await sleep(1_000);
      await primaryBack(ctx);
      return [await budgetAccuracy(ctx, took)];
    },
  },
  {
    name: 'pause-primary',
    description: 'SIGSTOP the primary past the lease TTL, then SIGCONT: it must step down, never act on its old epoch',
    async run(ctx) {
      const m = ctx.mark('redundant');
      const pm = ctx.mark('primary');
      ctx.t.mark('SIGSTOP primary');
      ctx.c.primary.signal('SIGSTOP');
      await ctx.waitState('redundant', 'FAILOVER_ACTIVE', m);
      await sleep(ctx.timings.leaseTtlMs);
      ctx.t.mark('SIGCONT primary');
      ctx.c.primary.signal('SIGCONT');
      const down = await ctx.waitState('primary', 'STANDBY', pm);
      const back = await ctx.waitState('primary', 'ACTIVE', pm);
      if (ctx.c.primary.lines.slice(pm).some((l) => l['to'] === 'ACTIVE' && ts(l) < ts(down))) throw new Error('resumed primary acted before stepping down');
      return [`resumed primary stepped down: ${String(down.message)}`, `took the cluster back with epoch ${String(back['newEpoch'])}`];
    },
  },
  {
    name: 'planned-handover',
    description: 'SIGTERM the primary: it releases the lease and tells the redundant, which takes over in about one round trip',
    async run(ctx) {
      const m = ctx.mark('redundant');
      const t0 = Date.now();
      ctx.t.mark('SIGTERM primary');
      ctx.c.primary.signal('SIGTERM');
      const took = await ctx.waitState('redundant', 'FAILOVER_ACTIVE', m);
      const exit = await ctx.c.primary.waitExit(6_000);
      await primaryBack(ctx);
      return [`redundant active ${ts(took) - t0} ms after SIGTERM`, `primary exited with code ${String(exit.code)}`];
    },
  },
  {
    name: 'redis-restart',
    description: 'stop Redis (AOF on) and start it again: nodes step down while it is away and recover; sessions survive',
    async run(ctx) {
      const pm = ctx.mark('primary');
      ctx.t.mark('redis stopped');
      await ctx.dc.redis.stop();
      await ctx.waitState('primary', 'STANDBY', pm);
      await sleep(ctx.timings.leaseTtlMs);
      ctx.t.mark('redis starting');
      await ctx.dc.restartRedis();
      ctx.t.mark('redis back');
      await ctx.waitState('primary', 'ACTIVE', pm);
      return ['redis restarted on the same port with its append-only file'];
    },
  },
  {
    name: 'primary-cut-from-redis',
    description: "cut the primary's Redis link: it stops acting before its lease can expire; the redundant takes over; after repair the primary takes back",
    async run(ctx) {
      const m = ctx.mark('redundant');
      const pm = ctx.mark('primary');
      ctx.t.mark('primary <-> redis cut');
      ctx.dc.redisProxy.primary.cut('blackhole');
      const down = await ctx.waitState('primary', 'STANDBY', pm);
      const took = await ctx.waitState('redundant', 'FAILOVER_ACTIVE', m);
      if (ts(took) < ts(down)) throw new Error('redundant active before the primary stepped down');
      await sleep(1_000);
      ctx.t.mark('primary <-> redis restored');
      ctx.dc.redisProxy.primary.restore();
      await ctx.waitState('primary', 'ACTIVE', ctx.c.primary.lines.indexOf(down));
      return [`primary stepped down ${ts(took) - ts(down)} ms before the redundant took over`];
    },
  },
  {
    name: 'nodes-cut-from-each-other',
    description: 'cut the heartbeat links both ways: the lease still decides, so nothing fails over and exactly one node stays active',
    async run(ctx) {
      const m = ctx.mark('redundant');
      ctx.t.mark('peer links cut both ways');
      ctx.dc.peerProxy.primary.cut('blackhole');
      ctx.dc.peerProxy.redundant.cut('blackhole');
      await sleep(ctx.timings.leaseTtlMs * 3);
      const [p, r] = await Promise.all([ctx.c.admin('primary').getStatus(), ctx.c.admin('redundant').getStatus()]);
      if (p.state !== 'NODE_STATE_ACTIVE' || r.state !== 'NODE_STATE_STANDBY') throw new Error(`during the cut: primary ${p.state}, redundant ${r.state}`);
      if (r.peer?.reachable) throw new Error('redundant still reports the peer reachable');
      if (ctx.c.redundant.lines.slice(m).some((l) => l['to'] === 'FAILOVER_ACTIVE'))
        throw new Error('the redundant failed over although the primary held the lease');
      ctx.t.mark('peer links restored');
      ctx.dc.peerProxy.primary.restore();
      ctx.dc.peerProxy.redundant.restore();
      const start = Date.now();
      while (!(await ctx.c.admin('redundant').getStatus()).peer?.reachable) {
        if (Date.now() - start > 30_000) throw new Error('peers did not see each other again');
        await sleep(100);
      }
      return ['during the cut: primary ACTIVE, redundant STANDBY, peer unreachable on both'];
    },
  },
  {
    name: 'budget-exhaust-and-activate',
    description: 'kill the primary with a 3-second budget: the redundant blocks new grants; a vendor-signed key unblocks it; the primary takes back',
    failover: { budget_ms: 3_000, reset_after_ms: 3_000 },
    async run(ctx) {
      const m = ctx.mark('redundant');
      ctx.t.mark('SIGKILL primary');
      await ctx.c.primary.kill();
      const active = await ctx.waitState('redundant', 'FAILOVER_ACTIVE', m);
      const blocked = await ctx.waitState('redundant', 'FAILOVER_BLOCKED', m);
      await sleep(500);
      const admin = ctx.c.admin('redundant');
      const { request_key } = await admin.requestActivationKey();
      ctx.t.mark('activation requested');
      const { key } = signActivation(request_key, createPrivateKey(readFileSync(ctx.c.license.privateKeyFile, 'utf8')));
      const applied = await admin.activate(key);
      ctx.t.mark(`activation applied: ${applied.budget?.remaining_ms ?? 0} ms left`);
      await ctx.waitState('redundant', 'FAILOVER_ACTIVE', ctx.c.redundant.lines.indexOf(blocked));
      await primaryBack(ctx);
      return [`blocked after ${ts(blocked) - ts(active)} ms of a 3000 ms budget`, 'probe gaps include the blocked window (new grants refused by design)'];
    },
  },
];

export async function runScenario(s: Scenario, timings: DrillTimings, log: (line: string) => void = () => {}): Promise<ScenarioResult> {
  const t = new Timeline();
  let dc: DrillCluster | undefined;
  let workload: Workload | undefined;
  const notes: string[] = [];
  let error: string | undefined;
  let held = 0;
  let stats;
  try {
    dc = await startDrillCluster(timings, { ...s.env }, s.failover);
    const c = dc.cluster;
    const timeout = timings.leaseTtlMs * 6 + timings.handbackAfterMs + 20_000;
    const ctx: DrillContext = {
      dc,
      c,
      t,
      timings,
      waitState: (role, to, after = 0, timeoutMs = timeout) => c.node(role).waitForState(to, timeoutMs, after),
      mark: (role) => c.node(role).lines.length,
    };
    await c.primary.waitForState('ACTIVE', timeout);
    await c.redundant.waitForState('STANDBY', timeout);
    for (const start = Date.now(); !(await c.admin('redundant').getStatus()).peer?.reachable;) {
      if (Date.now() - start > timeout) throw new Error('peers never saw each other');
      await sleep(50);
    }
    workload = new Workload(c, t);
    await workload.start();
    t.mark('workload running: 2 holders x 2 seats, a greedy client, a probe, a sampler');
    await sleep(1_000);
    notes.push(...(await s.run(ctx)));
    await sleep(1_000);
    t.mark('recovered');
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    log(`  ${s.name}: ${error}`);
  } finally {
    if (workload) {
      held = workload.held();
      stats = await workload.stop();
    }
    if (dc) {
      t.addTransitions('primary', dc.cluster.primary.lines);
      t.addTransitions('redundant', dc.cluster.redundant.lines);
      await dc.stop().catch(() => undefined);
    }
  }
  const overGranted = stats ? Math.max(0, stats.maxUsed - DRILL_SEATS) : 0;
  const sessionsLost = stats?.seatsLost ?? 0;
  if (stats)
    notes.push(
      `probe: ${stats.probeOps} checkouts; seats in use peaked at ${stats.maxUsed}/${DRILL_SEATS} over ${stats.samples} samples; holders still hold ${held}/4`,
    );
  const ok = error === undefined && stats !== undefined && overGranted === 0 && sessionsLost === 0 && held === 4;
  return {
    name: s.name,
    ok,
    unavailabilityMs: stats?.maxGapMs ?? -1,
    overGranted,
    sessionsLost,
    notes,
    timeline: t.render(),
    ...(error === undefined ? {} : { error }),
  };
}
