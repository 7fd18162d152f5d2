import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisProcess, startRedis } from '../../src/local/redis-process';
import { ScriptRunner } from '../../src/store/scripts';

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
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface ScriptFixture {
  readonly server: RedisProcess;
  readonly redis: Redis;
  readonly scripts: ScriptRunner;
}

/**
 * Registers before/after hooks in the current suite: a real redis-server, a client and
 * the product's scripts on it. Read the fields inside tests (they exist after `before`).
 */
export function useScriptFixture(): ScriptFixture {
  const f = {} as { server: RedisProcess; redis: Redis; scripts: ScriptRunner };
  before(async () => {
    f.server = await startRedis();
    f.redis = connect(f.server);
    f.scripts = new ScriptRunner(f.redis);
  });
  after(async () => {
    f.redis.disconnect();
    await f.server.stop();
  });
  return f;
}
