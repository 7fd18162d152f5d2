import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { LicenseClient } from '../../sdk/index';
import { clusterKeys } from '../../server/store/keys';
import type { LocalClusterOptions } from '../local/local-cluster';
import { startLocalCluster } from '../local/local-cluster';
import { logTime } from '../local/node-process';

export interface TimingOptions {
  readonly reps: number;
  /** Repetitions of SIGSTOP (each waits a whole TTL); default min(reps, 5). */
  readonly pauseReps?: number;
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  /** Only shortens the wait between repetitions; failover times do not depend on it. */
  readonly handbackAfterMs: number;
  readonly log?: (line: string) => void;
}

/** One way of losing the primary: kill -9, SIGSTOP (resumed once the redundant serves), SIGTERM. */
export type LossKind = 'crash' | 'pause' | 'planned';

export interface KindTimings {
  /** Signal to the redundant logging FAILOVER_ACTIVE, ms. */
  readonly activeMs: number[];
  /** Signal to the answer of the first checkout an SDK client asked for after the signal, ms (granted; the client retries through the failover). */
  readonly grantMs: number[];
}

export interface TimingResult {
  readonly crash: KindTimings;
  readonly pause: KindTimings;
  readonly planned: KindTimings;
  /** Seats still counted by the cluster after the client released everything and closed (0 expected). */
  readonly seatsLeftCounted: number;
}

const ts = logTime;

export function summarize(values: readonly number[]): { median: number; max: number; min: number; p99: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  // Nearest rank: with 20 values, p99 is the largest.
  const p99 = s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] as number;
  return { median, max: s[s.length - 1] as number, min: s[0] as number, p99 };
}

/**
 * An SDK client checking a seat out and back in without pause; records, on the monotonic
 * clock, when each granted checkout was asked for and when its grant came back.
 */
function seatLoop(endpoints: string[], feature: string, log: (l: string) => void) {
  const client = new LicenseClient({ endpoints, clientId: 'failover-timing', user: 'drill', hostname: 'drill' });
  const grants: { asked: number; granted: number }[] = [];
  let running = true;
  const loop = (async () => {
    await client.connect();
    while (running) {
      const asked = performance.now();
      try {
        const seat = await client.checkout(feature, { signal: AbortSignal.timeout(60_000) });
        grants.push({ asked, granted: performance.now() });
        await seat.release().catch(() => undefined);
      } catch (err) {
        if (running) log(`checkout failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();
  return {
    /**
     * When the grant of the first checkout asked strictly after `t0` (performance.now())
     * came back. Strictly after: one asked before the signal may have been served by the
     * node that was then stopped.
     */
    async firstGrantAfter(t0: number, timeoutMs: number): Promise<number> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const g = grants.find((a) => a.asked > t0);
        if (g !== undefined) return g.granted;
        if (Date.now() > deadline) throw new Error(`no checkout granted within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async stop(): Promise<void> {
      running = false;
      await loop.catch(() => undefined);
      await client.close();
    },
  };
}

/**
 * Measures, on real processes, what losing the active primary costs: to the redundant
 * logging FAILOVER_ACTIVE, and to the first checkout an SDK client (pointed at both
 * nodes, checking out and releasing without pause) gets granted. kill -9 takes the fast
 * path (the port refuses, the renewals stop: early takeover, peer-death.ts); SIGSTOP
 * waits for the lease TTL; SIGTERM is a planned handover. Between repetitions the
 * primary is restarted (or resumed) and takes the cluster back.
 */
export async function measureFailover(opts: TimingOptions): Promise<TimingResult> {
  const log = opts.log ?? (() => {});
  const clusterOpts: LocalClusterOptions = {
    leaseTtlMs: opts.leaseTtlMs,
    heartbeatIntervalMs: opts.heartbeatIntervalMs,
    handbackAfterMs: opts.handbackAfterMs,
    logFiles: true,
  };
  const c = await startLocalCluster(clusterOpts);
  const none = (): KindTimings => ({ activeMs: [], grantMs: [] });
  const result = { crash: none(), pause: none(), planned: none() };
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const feature = 'solver';
  let seats: ReturnType<typeof seatLoop> | undefined;
  let seatsLeftCounted: number;
  try {
    const timeout = opts.leaseTtlMs * 4 + opts.handbackAfterMs + 30_000;
    await c.primary.waitForState('ACTIVE', timeout);
    seats = seatLoop([c.addr.primary, c.addr.redundant], feature, log);
    const ready = async (): Promise<void> => {
      // Primary active, redundant standby, and the redundant has heard the primary.
      for (;;) {
        const s = await c
          .admin('redundant')
          .getStatus()
          .catch(() => undefined);
        if (s?.state === 'NODE_STATE_STANDBY' && s.peer?.reachable && s.leader_node_id === 'node-a') return;
        await wait(50);
      }
    };
    const kinds: [LossKind, number][] = [
      ['crash', opts.reps],
      ['pause', opts.pauseReps ?? Math.min(opts.reps, 5)],
      ['planned', opts.reps],
    ];
    for (const [kind, reps] of kinds) {
      for (let i = 0; i < reps; i++) {
        await ready();
        // The client is being served by the primary before the loss.
        await seats.firstGrantAfter(performance.now(), timeout);
        // Land the signal at a random point of the renew cycle, as a real crash would.
        await wait(opts.heartbeatIntervalMs * (1 + Math.random()));
        const mark = c.redundant.lines.length;
        const t0 = Date.now();
        const t0Mono = performance.now();
        c.primary.signal(kind === 'crash' ? 'SIGKILL' : kind === 'pause' ? 'SIGSTOP' : 'SIGTERM');
        const took = await c.redundant.waitForState('FAILOVER_ACTIVE', timeout, mark);
        const grantedAt = await seats.firstGrantAfter(t0Mono, timeout);
        const activeMs = ts(took) - t0;
        const grantMs = Math.round(grantedAt - t0Mono);
        result[kind].activeMs.push(activeMs);
        result[kind].grantMs.push(grantMs);
        log(`${kind} ${i + 1}/${reps}: redundant FAILOVER_ACTIVE after ${activeMs} ms, first seat granted to the client after ${grantMs} ms`);
        const pmark = c.primary.lines.length;
        if (kind === 'pause') {
          c.primary.signal('SIGCONT');
        } else {
          await c.primary.waitExit(10_000);
          c.primary.start();
        }
        await c.primary.waitForState('ACTIVE', timeout, pmark);
      }
    }
  } finally {
    await seats?.stop();
    seatsLeftCounted = await seatsCounted(c.redisUrl, c.clusterId, feature).catch(() => -1);
    await c.stop();
  }
  return { ...result, seatsLeftCounted };
}

async function seatsCounted(redisUrl: string, clusterId: string, feature: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    return Number((await redis.hget(`${clusterKeys(clusterId).prefix}:used`, feature)) ?? 0);
  } finally {
    redis.disconnect();
  }
}

/** The table `npm run drill -- timing` and `npm run bench -- failover` print. */
export function timingTable(r: TimingResult): string {
  const ms = (v: number): string => `${String(Math.round(v)).padStart(6)} ms`;
  const rows: string[] = ['loss                 to              n   median      p99      max      min'];
  const add = (label: string, to: string, values: readonly number[]): void => {
    if (values.length === 0) return;
    const s = summarize(values);
    rows.push(`${label.padEnd(20)} ${to.padEnd(14)} ${String(values.length).padStart(2)} ${ms(s.median)} ${ms(s.p99)} ${ms(s.max)} ${ms(s.min)}`);
  };
  for (const [kind, label] of [
    ['crash', 'kill -9 (crash)'],
    ['pause', 'SIGSTOP (hang)'],
    ['planned', 'SIGTERM (planned)'],
  ] as const) {
    add(label, 'active', r[kind].activeMs);
    add(label, 'first grant', r[kind].grantMs);
  }
  rows.push(`seats still counted after the client closed: ${r.seatsLeftCounted} (0 expected)`);
  return rows.join('\n');
}
