import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitForPort } from './ports';
import { type RedisProcess, startRedis } from './redis-process';

export interface SentinelSetup {
  readonly masterName: string;
  /** Data nodes: [initial master, replica, replica, ...]. */
  readonly data: readonly RedisProcess[];
  readonly sentinelPorts: readonly number[];
  /** `host:port,...` for LICENSE_REDIS_SENTINELS. */
  readonly sentinels: string;
  stop(): Promise<void>;
}

export interface SentinelOptions {
  readonly masterName?: string;
  readonly downAfterMs?: number;
  readonly failoverTimeoutMs?: number;
  /** Replicas of the master (default 2: one data server can be lost and writes are still acknowledged). */
  readonly replicas?: number;
  /**
   * The masters' `min-replicas-to-write` (default 1, with `min-replicas-max-lag` 10, as in
   * docker-compose.yml's sentinel profile): a master cut off from every replica refuses writes.
   */
  readonly minReplicasToWrite?: number;
}

/**
 * A master, two replicas and three sentinels (quorum 2) as real processes on loopback,
 * started as `redis-server sentinel.conf --sentinel`, for tests of the Sentinel topology.
 * Every data server carries the same min-replicas settings, so a promoted replica
 * enforces them as the first master did.
 */
export async function startSentinelSetup(opts: SentinelOptions = {}): Promise<SentinelSetup> {
  const masterName = opts.masterName ?? 'licmaster';
  const dir = mkdtempSync(path.join(tmpdir(), 'licensed-sentinel-'));
  // repl-diskless-sync-delay 0: after a switch the other replica usually needs a full
  // resync (it acknowledged old-master writes the new master never had), and Redis 7's
  // default 5 s delay before a diskless sync kept every write unconfirmed that long.
  const minReplicas = ['--min-replicas-to-write', String(opts.minReplicasToWrite ?? 1), '--min-replicas-max-lag', '10', '--repl-diskless-sync-delay', '0'];
  const master = await startRedis({ dir: path.join(dir, 'master'), appendOnly: true, extraArgs: minReplicas });
  const replicas: RedisProcess[] = [];
  for (let i = 0; i < (opts.replicas ?? 2); i++) {
    replicas.push(
      await startRedis({
        dir: path.join(dir, `replica-${i}`),
        appendOnly: true,
        extraArgs: [...minReplicas, '--replicaof', '127.0.0.1', String(master.port)],
      }),
    );
  }
  // Every replica in sync before the setup is handed out: a test must not start while
  // writes can be refused (min-replicas-to-write) or not yet acknowledged (WAIT).
  await waitForReplicas(master.port, replicas.length);
  const sentinels: { port: number; kill: () => Promise<void> }[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const sdir = path.join(dir, `sentinel-${i}`);
    mkdirSync(sdir, { recursive: true });
    const conf = path.join(sdir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${sdir}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${masterName} ${opts.downAfterMs ?? 1_000}`,
        `sentinel failover-timeout ${masterName} ${opts.failoverTimeoutMs ?? 5_000}`,
        `sentinel parallel-syncs ${masterName} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await waitForPort(port);
    sentinels.push({
      port,
      kill: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    });
  }
  return {
    masterName,
    data: [master, ...replicas],
    sentinelPorts: sentinels.map((s) => s.port),
    sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    async stop() {
      await Promise.all(sentinels.map((s) => s.kill()));
      await Promise.all([master, ...replicas].map((d) => d.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForReplicas(port: number, want: number): Promise<void> {
  if (want <= 0) return;
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const info = await client.info('replication');
      const online = info.split('\n').filter((l) => /^slave\d+:.*state=online/.test(l)).length;
      if (online >= want) return;
      if (Date.now() > deadline) throw new Error(`only ${online} of ${want} replica(s) of 127.0.0.1:${port} came online in 30 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    client.disconnect();
  }
}
