import { randomBytes } from 'node:crypto';
import { after, before, describe } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { startRedisCluster } from '../../src/tools/local/redis-cluster';
import { type RedisProcess, startRedis } from '../../src/tools/local/redis-process';
import { startSentinelSetup } from '../../src/tools/local/redis-sentinel';
import { ScriptRunner } from '../../src/server/store/scripts';

export { startRedis };
export type { RedisProcess };

/** A plain client for a test Redis; close it in `after`, or the runner hangs. */
export function connect(server: RedisProcess): Redis {
  return new Redis(server.url, { maxRetriesPerRequest: 1 });
}

/** Each test gets its own cluster id, so tests never see each other's keys. */
export function uniqueClusterId(prefix = 't'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Redis topologies the script suites run on (TEST_TOPOLOGIES=standalone,sentinel,cluster). */
export type Topology = 'standalone' | 'sentinel' | 'cluster';
export const TOPOLOGIES: readonly Topology[] = (process.env['TEST_TOPOLOGIES'] ?? 'standalone,sentinel,cluster')
  .split(',')
  .map((t) => t.trim())
  .filter((t): t is Topology => t === 'standalone' || t === 'sentinel' || t === 'cluster');

/** Defines one suite per topology: `forEachTopology('lease scripts', (t) => { const fx = useScriptFixture(t); ... })`. */
export function forEachTopology(name: string, body: (topology: Topology) => void): void {
  for (const topology of TOPOLOGIES) describe(`${name} [${topology}]`, () => body(topology));
}

export interface ScriptFixture {
  readonly redis: Redis | Cluster;
  readonly scripts: ScriptRunner;
  /** KEYS on every master (a Cluster client would ask only one). */
  keys(pattern: string): Promise<string[]>;
}

/**
 * Registers before/after hooks in the current suite: a real Redis of the given topology,
 * a client and the product's scripts on it. Read the fields inside tests (they exist after `before`).
 */
export function useScriptFixture(topology: Topology = 'standalone'): ScriptFixture {
  let stop: () => Promise<void> = async () => {};
  const f = {
    async keys(pattern: string): Promise<string[]> {
      if (f.redis instanceof Cluster) {
        const all = await Promise.all(f.redis.nodes('master').map((n) => n.keys(pattern)));
        return all.flat();
      }
      return f.redis.keys(pattern);
    },
  } as ScriptFixture & { redis: Redis | Cluster; scripts: ScriptRunner };
  before(async () => {
    if (topology === 'cluster') {
      const rc = await startRedisCluster(3);
      f.redis = new Cluster(rc.masters.map((m) => ({ host: '127.0.0.1', port: m.port })));
      stop = () => rc.stop();
    } else if (topology === 'sentinel') {
      const s = await startSentinelSetup();
      f.redis = new Redis({ sentinels: s.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })), name: s.masterName });
      stop = () => s.stop();
    } else {
      const server = await startRedis();
      f.redis = connect(server);
      stop = () => server.stop();
    }
    f.scripts = new ScriptRunner(f.redis);
  });
  after(async () => {
    f.redis.disconnect();
    await stop();
  });
  return f;
}
