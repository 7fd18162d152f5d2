import type { LocalClusterOptions } from '../local/local-cluster';
import { startLocalCluster } from '../local/local-cluster';
import { logTime } from '../local/node-process';

export interface TimingOptions {
  readonly reps: number;
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  /** Only shortens the wait between repetitions; failover times do not depend on it. */
  readonly handbackAfterMs: number;
  readonly log?: (line: string) => void;
}

export interface TimingResult {
  readonly crashMs: number[];
  readonly plannedMs: number[];
}

const ts = logTime;

export function summarize(values: readonly number[]): { median: number; max: number; min: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { median, max: s[s.length - 1] as number, min: s[0] as number };
}

/**
 * Measures, on real processes, the time from killing (SIGKILL) or stopping (SIGTERM)
 * the active primary to the redundant logging FAILOVER_ACTIVE. Between repetitions
 * the primary is restarted and takes the cluster back.
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
  const result: TimingResult = { crashMs: [], plannedMs: [] };
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    const timeout = opts.leaseTtlMs * 4 + opts.handbackAfterMs + 30_000;
    await c.primary.waitForState('ACTIVE', timeout);
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
    for (const kind of ['crash', 'planned'] as const) {
      for (let i = 0; i < opts.reps; i++) {
        await ready();
        // Land the signal at a random point of the renew cycle, as a real crash would.
        await wait(opts.heartbeatIntervalMs * (1 + Math.random()));
        const mark = c.redundant.lines.length;
        const t0 = Date.now();
        c.primary.signal(kind === 'crash' ? 'SIGKILL' : 'SIGTERM');
        const took = await c.redundant.waitForState('FAILOVER_ACTIVE', timeout, mark);
        const ms = ts(took) - t0;
        (kind === 'crash' ? result.crashMs : result.plannedMs).push(ms);
        log(`${kind} ${i + 1}/${opts.reps}: redundant FAILOVER_ACTIVE after ${ms} ms`);
        await c.primary.waitExit(10_000);
        const pmark = c.primary.lines.length;
        c.primary.start();
        await c.primary.waitForState('ACTIVE', timeout, pmark);
      }
    }
  } finally {
    await c.stop();
  }
  return result;
}
