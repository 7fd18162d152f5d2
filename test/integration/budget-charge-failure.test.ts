import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { clusterKeys } from '../../src/server/store/keys';
import { type StartedNode, startTestPair } from '../helpers/node';
import { connect, eventually, type RedisProcess, startRedis } from '../helpers/redis';

/** Samples `fn` every 20 ms for `ms`; returns how many samples were true. */
async function countTrue(fn: () => boolean, ms: number): Promise<number> {
  let n = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) n++;
    await new Promise((r) => setTimeout(r, 20));
  }
  return n;
}

describe('a failover budget charge that fails is a failed renewal (in-process pair, real Redis)', () => {
  let redis: RedisProcess;
  let db: Redis;
  const nodes: StartedNode[] = [];

  before(async () => {
    redis = await startRedis();
    db = connect(redis);
  });
  after(async () => {
    for (const n of nodes) await n.node.stop();
    db.disconnect();
    await redis.stop();
  });

  it('the redundant stops granting at its lease deadline while the budget key cannot be charged, and never serves uncharged; repaired, it serves again with nothing refunded', async () => {
    const { primary, redundant } = await startTestPair(redis.url);
    nodes.push(primary, redundant);
    const keys = clusterKeys(primary.config.clusterId);
    await eventually(() => primary.node.controller.machine.isServing() || undefined, 20_000, 'primary active');
    await primary.node.stop(); // planned handover: the redundant takes over at once
    await eventually(() => (redundant.node.controller.machine.state === 'FAILOVER_ACTIVE' ? true : undefined), 20_000, 'failover');
    await eventually(async () => Number(await db.hget(keys.budget, 'consumed_ms')) > 0 || undefined, 10_000, 'a first charge');
    const consumedBefore = Number(await db.hget(keys.budget, 'consumed_ms'));

    // The hostile edit: the budget key becomes a string, so every charge fails with WRONGTYPE.
    const saved = await db.hgetall(keys.budget);
    await db.del(keys.budget);
    await db.set(keys.budget, 'not a budget');

    const ttl = redundant.config.leaseTtlMs;
    await eventually(() => (!redundant.node.controller.machine.isServing() ? true : undefined), ttl * 3, 'the redundant stops granting');
    // Over several lease TTLs (it keeps re-acquiring the free lease and handing it back): never serving.
    assert.equal(await countTrue(() => redundant.node.controller.machine.isServing(), ttl * 4), 0, 'served while its charges failed');

    // Repaired (the key put back as it was): charging, and serving, resume; nothing was refunded.
    await db.del(keys.budget);
    await db.hset(keys.budget, saved);
    await eventually(() => redundant.node.controller.machine.isServing() || undefined, ttl * 6, 'serving again');
    await eventually(async () => Number(await db.hget(keys.budget, 'consumed_ms')) > consumedBefore || undefined, 10_000, 'charged again');
    assert.equal(await db.hget(keys.budget, 'episode_id'), saved['episode_id']);
  });
});
