import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { LicenseClient, type Seat } from '../../src/sdk/index';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { connect, eventually, type RedisProcess, startRedis } from '../helpers/redis';

/**
 * Redis loses its data (FLUSHALL) under a client holding seats: the node re-takes the
 * lease with a higher epoch (its state dir remembers the last one), and the SDK reopens
 * its session and checks its seats out again.
 */
describe('Redis data loss under load', () => {
  let redis: RedisProcess;
  let admin: Redis;
  let node: StartedNode;
  let client: LicenseClient;

  before(async () => {
    redis = await startRedis();
    admin = connect(redis);
    node = await startTestNode(testConfig(redis.url, { LICENSE_SESSION_TTL_MS: '3000' }));
    await eventually(() => node.node.controller.machine.isServing() || undefined);
    client = new LicenseClient({ endpoints: [node.addr], clientId: 'survivor', callTimeoutMs: 1_000, retryTimeoutMs: 15_000 });
  });
  after(async () => {
    await client.close();
    admin.disconnect();
    await node.node.stop();
    await redis.stop();
  });

  it('the SDK re-checks-out its seats after FLUSHALL; epochs keep rising', async () => {
    const recovered: string[] = [];
    const lost: string[] = [];
    client.on('seatRecovered', (e) => recovered.push(e.previousLeaseId));
    client.on('seatLost', (e) => lost.push(e.seat.leaseId));
    const seats: Seat[] = [await client.checkout('cad-pro', { count: 2 }), await client.checkout('solver')];
    const before = seats.map((s) => s.leaseId);
    const epochBefore = node.node.controller.machine.epoch;

    await admin.flushall();

    await eventually(() => (recovered.length === 2 ? true : undefined), 30_000, 'both seats recovered');
    assert.deepEqual([...recovered].sort(), [...before].sort());
    assert.deepEqual(lost, []);
    assert.ok(seats.every((s) => s.held));
    assert.ok(seats.every((s, i) => s.leaseId !== before[i]));
    const used = await admin.hgetall(`{lic:${node.config.clusterId}}:used`);
    assert.deepEqual(used, { 'cad-pro': '2', solver: '1' });
    await eventually(() => (node.node.controller.machine.epoch > epochBefore ? true : undefined), 15_000, 'new epoch');
  });
});
