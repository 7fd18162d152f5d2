import { rmSync } from 'node:fs';
import { type LocalCluster, startLocalCluster } from '../local/local-cluster';
import type { Cleanup } from './cleanup';
import { BENCH_FEATURE } from './checkout-bench';

/**
 * One licensed node (primary, no peer) on its own redis-server, ACTIVE, licensed for
 * `seats` of the bench feature; registered with `cleanup` (stopped, its directory removed).
 * BENCH_NODE_OPTIONS, when set, becomes the node's NODE_OPTIONS (profiling a run).
 */
export async function startBenchNode(
  opts: { readonly clusterId: string; readonly seats: number; readonly env?: Readonly<Record<string, string>> },
  cleanup: Cleanup,
): Promise<LocalCluster> {
  const c = await startLocalCluster({
    clusterId: opts.clusterId,
    startNodes: false,
    logFiles: true,
    features: [{ name: BENCH_FEATURE, seats: opts.seats }],
    ...(opts.env ? { env: opts.env } : {}),
    roleEnv: { primary: { LICENSE_PEER_ADDR: '', ...(process.env['BENCH_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['BENCH_NODE_OPTIONS'] } : {}) } },
  });
  cleanup.add('local cluster', async () => {
    await c.stop();
    rmSync(c.dir, { recursive: true, force: true });
  });
  c.primary.start();
  await c.waitListening('primary');
  await c.primary.waitForState('ACTIVE', 30_000);
  return c;
}
