import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAdminClient } from '../../src/server/admin/admin-client';
import { type CheckoutQueuedEvent, LicenseClient, type LicenseClientOptions } from '../../src/sdk/index';
import { type StartedNode, startTestPair, TEST_TOKEN } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';

/** The SDK's checkout(feature, { wait }) on a real node pair and a real Redis. */

const LICENSE = { features: [{ name: 'q', seats: 1 }] };

/**
 * A Redis and a node pair (the primary ACTIVE) for the describe() it is called in, and SDK
 * clients of both nodes that are closed with them.
 */
function usePair(retryTimeoutMs: number) {
  let redis: RedisProcess | undefined;
  const pair: { primary?: StartedNode; redundant?: StartedNode } = {};
  const clients: LicenseClient[] = [];
  before(async () => {
    redis = await startRedis();
    Object.assign(pair, await startTestPair(redis.url, { license: LICENSE }));
    const admin = createAdminClient(node('primary').addr, TEST_TOKEN);
    try {
      await eventually(async () => ((await admin.getStatus()).state === 'NODE_STATE_ACTIVE' ? true : undefined));
    } finally {
      admin.close();
    }
  });
  after(async () => {
    for (const c of clients) await c.close();
    await pair.primary?.node.stop();
    await pair.redundant?.node.stop();
    await redis?.stop();
  });
  const node = (role: 'primary' | 'redundant'): StartedNode => pair[role] ?? assert.fail(`no ${role} node`);
  const client = (clientId: string, over: Partial<LicenseClientOptions> = {}): LicenseClient => {
    const c = new LicenseClient({ endpoints: [node('primary').addr, node('redundant').addr], clientId, callTimeoutMs: 1_000, retryTimeoutMs, ...over });
    clients.push(c);
    return c;
  };
  return { node, client };
}

describe('SDK checkout with wait on a node pair', () => {
  const { node, client } = usePair(20_000);

  it('a client that waits is queued (position 1) behind the only seat and granted when the holder releases it', async () => {
    const holder = client('holder');
    const waiter = client('waiter');
    const seat = await holder.checkout('q');
    const events: CheckoutQueuedEvent[] = [];
    waiter.on('queued', (e) => events.push(e));
    const places: number[] = [];

    const waiting = waiter.checkout('q', { wait: 20_000, requestId: 'wait-1', onQueued: (p) => places.push(p) });
    let settled = false;
    void waiting.then(
      () => (settled = true),
      () => (settled = true),
    );
    await eventually(() => (events.length === 1 ? true : undefined), 10_000, 'the queued event');
    assert.deepEqual(events, [{ feature: 'q', position: 1, requestId: 'wait-1', endpoint: node('primary').addr }]);
    assert.deepEqual(places, [1]);
    const [status] = await waiter.features();
    assert.equal(status?.seatsInUse, 1);
    // Still waiting: nothing frees the seat but the holder.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled, false);

    await seat.release();
    const granted = await waiting;
    assert.ok(granted.held);
    assert.equal(granted.feature, 'q');
    assert.deepEqual(
      waiter.heldSeats.map((s) => s.leaseId),
      [granted.leaseId],
    );
    assert.equal(events.length, 1);
    await granted.release();
  });
});

describe('SDK checkout with wait across a failover', () => {
  const { node, client } = usePair(30_000);

  it('keeps its place when the primary dies: queued again on the redundant with the wait left, granted there once', async () => {
    const primary = node('primary');
    const redundant = node('redundant');
    const holder = client('holder');
    const waiter = client('waiter');
    const seat = await holder.checkout('q');
    const events: CheckoutQueuedEvent[] = [];
    waiter.on('queued', (e) => events.push(e));

    const waiting = waiter.checkout('q', { wait: 40_000, requestId: 'across' });
    await eventually(() => (events.length === 1 ? true : undefined), 10_000, 'queued on the primary');
    await primary.node.stop();
    await eventually(() => (events.length === 2 ? true : undefined), 30_000, 'queued again on the redundant');
    assert.deepEqual(
      events.map((e) => [e.endpoint, e.position, e.requestId]),
      [
        [primary.addr, 1, 'across'],
        [redundant.addr, 1, 'across'],
      ],
    );

    await seat.release();
    const granted = await waiting;
    assert.ok(granted.held);
    assert.equal(waiter.activeEndpoint, redundant.addr);
    const [status] = await waiter.features();
    assert.equal(status?.seatsInUse, 1, 'granted once');
    await granted.release();
  });
});
