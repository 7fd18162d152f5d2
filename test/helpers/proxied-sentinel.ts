import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { type FaultProxy, startFaultProxy } from '../../src/tools/local/fault-proxy';
import { freePort, waitForPort } from '../../src/tools/local/ports';
import { type RedisProcess, startRedis } from '../../src/tools/local/redis-process';

export interface ProxiedSentinelSetup {
  readonly masterName: string;
  /** Data nodes: [initial master, replica, replica]. */
  readonly data: readonly RedisProcess[];
  /**
   * The one way to the first master: the replicas replicate through it, the sentinels
   * monitor it through it, and so every node that asks a sentinel connects through it.
   * Cutting it (cutExcept) partitions the first master from everything but the kept clients.
   */
  readonly masterProxy: FaultProxy;
  /** The sentinels' own ports. */
  readonly sentinelPorts: readonly number[];
  /** `host:port,...` of the sentinels' own ports, for LICENSE_REDIS_SENTINELS of a node the partition leaves with the sentinels. */
  readonly sentinels: string;
  /**
   * One proxy in front of each sentinel, and the address each sentinel announces: the
   * sentinels reach each other through them, and a client that discovers sentinels
   * (ioredis `updateSentinels`, which the failover detector then subscribes to) finds only
   * these. A node configured with `proxiedSentinels` therefore reaches sentinels only
   * through them, and `cutExcept(isSentinelLink)` on each cuts it off from every sentinel
   * while the sentinels still talk to each other.
   */
  readonly sentinelProxies: readonly FaultProxy[];
  /** `host:port,...` of sentinelProxies, for LICENSE_REDIS_SENTINELS of a node the partition cuts off. */
  readonly proxiedSentinels: string;
  /** Port of the master the sentinels name now (the proxy's port while the first master is in charge). */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * As src/tools/local/redis-sentinel.ts's startSentinelSetup (a master, two replicas with
 * `min-replicas-to-write 1` / `min-replicas-max-lag 10` on every data server, three
 * sentinels with quorum 2, real processes), except that the first master is reached only
 * through a fault proxy, so a test can cut it off together with chosen clients. Resolves
 * once the sentinels know both replicas and each other, so a real (voted) failover works.
 */
export async function startProxiedSentinelSetup(
  opts: { masterName?: string; downAfterMs?: number; failoverTimeoutMs?: number } = {},
): Promise<ProxiedSentinelSetup> {
  const masterName = opts.masterName ?? 'licmaster';
  const dir = mkdtempSync(path.join(tmpdir(), 'licensed-psentinel-'));
  const minReplicas = ['--min-replicas-to-write', '1', '--min-replicas-max-lag', '10'];
  const started: RedisProcess[] = [];
  const sentinels: { port: number; child: ChildProcess; exited: Promise<void> }[] = [];
  const proxies: FaultProxy[] = [];
  const stop = async (): Promise<void> => {
    for (const s of sentinels) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    await Promise.all(sentinels.map((s) => s.exited));
    await Promise.all(started.map((d) => d.kill()));
    await Promise.all(proxies.map((p) => p.close()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const master = await startRedis({ dir: path.join(dir, 'master'), appendOnly: true, extraArgs: minReplicas });
    started.push(master);
    const proxy = await startFaultProxy('127.0.0.1', master.port);
    proxies.push(proxy);
    for (let i = 0; i < 2; i++) {
      started.push(
        await startRedis({
          dir: path.join(dir, `replica-${i}`),
          appendOnly: true,
          extraArgs: [...minReplicas, '--replicaof', '127.0.0.1', String(proxy.port)],
        }),
      );
    }
    await until(master.port, async (c) => onlineReplicas(await c.info('replication')) >= 2, 'both replicas online');
    const sentinelProxies: FaultProxy[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const announced = await startFaultProxy('127.0.0.1', port);
      proxies.push(announced);
      sentinelProxies.push(announced);
      const sdir = path.join(dir, `sentinel-${i}`);
      mkdirSync(sdir, { recursive: true });
      const conf = path.join(sdir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${sdir}`,
          'sentinel announce-ip 127.0.0.1',
          `sentinel announce-port ${announced.port}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${proxy.port} 2`,
          `sentinel down-after-milliseconds ${masterName} ${opts.downAfterMs ?? 1_000}`,
          `sentinel failover-timeout ${masterName} ${opts.failoverTimeoutMs ?? 5_000}`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      sentinels.push({ port, child, exited });
      await waitForPort(port);
    }
    // A voted failover needs sentinels that know each other (hello messages, every 2 s)
    // and the replicas (the master's INFO).
    for (const s of sentinels) {
      await until(
        s.port,
        async (c) => {
          const others = (await c.call('SENTINEL', 'SENTINELS', masterName)) as unknown[];
          const replicas = (await c.call('SENTINEL', 'REPLICAS', masterName)) as unknown[];
          return others.length >= 2 && replicas.length >= 2;
        },
        `sentinel ${s.port} to know the other sentinels and both replicas`,
      );
    }
    const asker = sentinels[0];
    if (!asker) throw new Error('no sentinel');
    return {
      masterName,
      data: [...started],
      masterProxy: proxy,
      sentinelPorts: sentinels.map((s) => s.port),
      sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      sentinelProxies,
      proxiedSentinels: sentinelProxies.map((p) => p.addr).join(','),
      masterPort: () => sentinelMasterPort(asker.port, masterName),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A sentinel's own link to another sentinel (it names its links `sentinel-<run id>-cmd`), for cutExcept. */
export function isSentinelLink(clientName: string): boolean {
  return clientName.startsWith('sentinel-');
}

/** One command to a sentinel (or any Redis) on loopback, on a connection of its own; throws the error it answers. */
export async function sentinelCall(port: number, ...args: string[]): Promise<unknown> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  c.on('error', () => {});
  try {
    await c.connect();
    const [cmd, ...rest] = args;
    if (cmd === undefined) throw new Error('no command');
    return await c.call(cmd, ...rest);
  } finally {
    c.disconnect();
  }
}

/** Port of the master a sentinel names now. */
export async function sentinelMasterPort(sentinelPort: number, masterName: string): Promise<number> {
  const addr = (await sentinelCall(sentinelPort, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string] | null;
  if (!addr) throw new Error(`sentinel ${sentinelPort} knows no master ${masterName}`);
  return Number(addr[1]);
}

/** `slaveN:...state=online` lines of INFO replication. */
export function onlineReplicas(info: string): number {
  return info.split('\n').filter((l) => /^slave\d+:.*state=online/.test(l)).length;
}

async function until(port: number, check: (c: Redis) => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  try {
    await c.connect();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check(c).catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    c.disconnect();
  }
}
