import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/server/log';
import { createRedis, superviseConnection } from '../../src/server/store/redis';
import { startTestNode, testConfig } from '../helpers/node';
import { startProxiedSentinelSetup } from '../helpers/proxied-sentinel';
import { eventually, startRedis } from '../helpers/redis';
import { rawSeatClient } from '../helpers/seat-client';

/**
 * Found in CI: after `kill -9` of the Redis master the node stayed STANDBY for good, its
 * Redis connection failing every call with "Stream isn't writeable". ioredis's own
 * failover detector (the option `failoverDetector`) outlives the connection it was made
 * for; when `+switch-master` arrives while a reconnect is asking a sentinel for the master,
 * it aborts that reconnect, and ioredis then gives up on the connection for good (status
 * `end`). A reconnect spends most of its time asking sentinels when they are slow to
 * answer, so here every sentinel is behind 150 ms of latency each way (the sentinels
 * announce their proxies, so a client that discovers sentinels finds only slow ones).
 */
describe('the Redis connection finds the new master after a Sentinel switch, however slow the sentinels', () => {
  it('kill -9 of the master: the node serves again on the new master', async () => {
    const s = await startProxiedSentinelSetup({ downAfterMs: 1_000, failoverTimeoutMs: 5_000 });
    const node = await startTestNode(
      testConfig('redis://unused:1', {
        LICENSE_REDIS_SENTINELS: s.proxiedSentinels,
        LICENSE_REDIS_MASTER_NAME: s.masterName,
      }),
    );
    const seat = rawSeatClient(node.addr, 2_000);
    try {
      await eventually(() => node.node.controller.machine.isServing() || undefined, 30_000, 'serving through sentinel');
      for (const p of s.sentinelProxies) p.setLatency(150);
      const before = await s.masterPort();
      const oldMaster = s.data[0];
      assert.ok(oldMaster, 'master process known');
      await oldMaster.kill();
      await eventually(async () => ((await s.masterPort()) !== before ? true : undefined), 60_000, 'sentinel switched the master');
      // Long enough for the sentinels to finish the switch and the node to reconnect many times over.
      await eventually(() => node.node.controller.machine.isServing() || undefined, 60_000, 'serving again on the new master').catch(async (err: unknown) => {
        const status = await node.node.status().catch((e: unknown) => (e as Error).message);
        throw new Error(`${(err as Error).message}: node ${node.node.controller.machine.state}, status ${JSON.stringify(status)}`);
      });
      const session = await seat.open({ client_id: 'after-switch', user: 'u', hostname: 'h', pid: 1 });
      const granted = await seat.checkout({ session_id: session.session_id, feature: 'cad-pro', count: 1, request_id: 'r-after-switch' });
      assert.ok(granted.lease_id, 'a seat granted on the new master');
    } finally {
      seat.close();
      await node.node.stop();
      await s.stop();
    }
  });
});

describe('superviseConnection', () => {
  it('connects again a client ioredis gave up for good (status end), and leaves it alone once stopped', async () => {
    const r = await startRedis();
    const redis = createRedis({ url: r.url, minReplicas: 0 }, { commandTimeoutMs: 1_000 });
    redis.on('error', () => undefined);
    const stop = superviseConnection(redis, createLogger({ level: 'error', context: { node: 'test', cluster: 'test' } }));
    try {
      await redis.connect();
      redis.disconnect(); // what ioredis does to itself after an aborted connect: status `end`, no more reconnects
      await eventually(() => (redis.status === 'end' ? true : undefined), 10_000, 'given up');
      await eventually(() => (redis.status === 'ready' ? true : undefined), 10_000, 'connected again');
      assert.equal(await redis.ping(), 'PONG');
      stop();
      redis.disconnect();
      await new Promise((res) => setTimeout(res, 2_500));
      assert.equal(redis.status, 'end', 'a stopped supervisor does not reconnect a client closed on purpose');
    } finally {
      stop();
      redis.disconnect();
      await r.stop();
    }
  });
});
