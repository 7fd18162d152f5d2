import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports';
import { type RedisProcess, startRedis } from './redis-process';

const run = promisify(execFile);

export interface RedisClusterProcess {
  readonly masters: readonly RedisProcess[];
  /** `host:port,host:port,...` for LICENSE_REDIS_CLUSTER_NODES. */
  readonly seeds: string;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` real redis-server processes on loopback (no replicas),
 * created with `redis-cli --cluster create`, for tests of the cluster topology.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'licensed-rcluster-'));
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      nodes.push(
        await startRedis({
          port,
          dir: path.join(dir, String(i)),
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
        }),
      );
    }
    const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    // Wait until every node agrees the cluster is up (slots assigned and gossiped).
    const deadline = Date.now() + 30_000;
    for (const n of nodes) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(n.port), 'cluster', 'info']);
        if (/cluster_state:ok/.test(stdout)) break;
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
