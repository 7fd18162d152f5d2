import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports';
import { type RedisProcess, startRedis } from './redis-process';

export interface SentinelSetup {
  readonly masterName: string;
  /** Data nodes: [initial master, replica]. */
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
}

/**
 * A master, one replica and three sentinels (quorum 2) as real processes on loopback,
 * started as `redis-server sentinel.conf --sentinel`, for tests of the Sentinel topology.
 */
export async function startSentinelSetup(opts: SentinelOptions = {}): Promise<SentinelSetup> {
  const masterName = opts.masterName ?? 'licmaster';
  const dir = mkdtempSync(path.join(tmpdir(), 'licensed-sentinel-'));
  const master = await startRedis({ dir: path.join(dir, 'master'), appendOnly: true });
  const replica = await startRedis({ dir: path.join(dir, 'replica'), appendOnly: true, extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] });
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
    data: [master, replica],
    sentinelPorts: sentinels.map((s) => s.port),
    sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    async stop() {
      await Promise.all(sentinels.map((s) => s.kill()));
      await Promise.all([master.kill(), replica.kill()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
