import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type RedisProcess, startRedis } from '../../src/local/redis-process';

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
