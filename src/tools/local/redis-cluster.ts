import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports';
import { type RedisProcess, startRedis } from './redis-process';

const run = promisify(execFile);

export interface RedisClusterProcess {
  /** Every data server (masters and replicas; which is which is the cluster's business). */
  readonly masters: readonly RedisProcess[];
  /** `host:port,host:port,...` for LICENSE_REDIS_CLUSTER_NODES. */
  readonly seeds: string;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` real redis-server processes on loopback, each with
 * `replicasPerMaster` replicas (default 1: the product waits for one replica to
 * acknowledge every write on a cluster, LICENSE_REDIS_MIN_REPLICAS), created with
 * `redis-cli --cluster create`, for tests of the cluster topology.
 */
export async function startRedisCluster(masters = 3, replicasPerMaster = 1): Promise<RedisClusterProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'licensed-rcluster-'));
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      const port = await freePort();
      // The bus port too: the default (port + 10000) is not known to be free.
      const busPort = await freePort();
      nodes.push(
        await startRedis({
          port,
          dir: path.join(dir, String(i)),
          extraArgs: [
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPort),
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      );
    }
    const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'], { timeout: 30_000 });
    // Wait until every node agrees the cluster is up (slots assigned and gossiped).
    const deadline = Date.now() + 30_000;
    for (const n of nodes) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(n.port), 'cluster', 'info']);
        if (/cluster_state:ok/.test(stdout) && (await replicasOnline(n.port, replicasPerMaster))) break;
        if (Date.now() > deadline) throw new Error(`redis cluster node ${n.port} not ok: ${stdout}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return {
      masters: nodes,
      seeds: addrs.join(','),
      async stop() {
        await Promise.all(nodes.map((n) => n.stop()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** True on a replica, or on a master once `want` replicas follow it (writes can then be acknowledged). */
async function replicasOnline(port: number, want: number): Promise<boolean> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'info', 'replication']);
  if (/role:slave/.test(stdout)) return true;
  return (stdout.match(/^slave\d+:.*state=online/gm) ?? []).length >= want;
}
