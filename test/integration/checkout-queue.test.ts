import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type AdminClient, createAdminClient } from '../../src/server/admin/admin-client';
import { LICENSE_ERROR_KEY } from '../../src/contract/metadata';
import { type StartedNode, startTestPair, TEST_TOKEN } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';
import { type RawSeatClient, rawSeatClient } from '../helpers/seat-client';

const SEATS = 3;
const LICENSE = { features: [{ name: 'q', seats: SEATS }] };

/** Asserts a gRPC error with its status and license-error code. */
function grpcError(err: unknown, code: grpc.status, licenseError: string): grpc.ServiceError {
  const e = err as grpc.ServiceError;
  assert.equal(e.code, code, e.message);
  assert.equal(e.metadata?.get(LICENSE_ERROR_KEY)[0], licenseError);
  return e;
}

/** Checkout queueing (CheckoutRequest.wait_ms) on a real node pair over real gRPC. */
describe('checkout queue on a node pair', () => {
  let redis: RedisProcess;
  let primary: StartedNode;
  let redundant: StartedNode;
  let seats: RawSeatClient;

  before(async () => {
    redis = await startRedis();
    ({ primary, redundant } = await startTestPair(redis.url, { license: LICENSE }));
    seats = rawSeatClient(primary.addr, 120_000);
    const admin = createAdminClient(primary.addr, TEST_TOKEN);
    await eventually(async () => ((await admin.getStatus()).state === 'NODE_STATE_ACTIVE' ? true : undefined));
    admin.close();
  });
  after(async () => {
    seats.close();
    await primary.node.stop();
    await redundant.node.stop();
    await redis.stop();
  });

  const feature = async () => (await seats.features({})).features.find((f) => f.name === 'q') ?? assert.fail('feature q');
  const open = async (i: number | string) => (await seats.open({ client_id: `client-${i}`, user: `u${i}`, hostname: 'h', pid: 1 })).session_id;

  it('200 queued clients are granted in FIFO order as seats are released one by one: each exactly once, never more than the seats', async () => {
    const N = 200;
    const held: { sid: string; lid: string; who: number }[] = [];
    for (let i = 0; i < SEATS; i++) {
      const sid = await open(`holder-${i}`);
      held.push({ sid, lid: (await seats.checkout({ session_id: sid, feature: 'q', count: 1, request_id: `h${i}` })).lease_id, who: -1 });
    }
    const sessions: string[] = [];
    const grants: { who: number; lid: string }[] = [];
    const results: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      const sid = await open(i);
      sessions.push(sid);
      const c = seats.checkoutWaiting({ session_id: sid, feature: 'q', count: 1, request_id: `r${i}`, wait_ms: 100_000 });
      results.push(c.result.then((g) => grants.push({ who: i, lid: g.lease_id })));
      // Each one is queued (position known) before the next starts: the enqueue order is the index order.
      assert.equal(await c.position, i + 1);
    }
    assert.equal((await feature()).queue_length, N);
    assert.equal(grants.length, 0);

    for (let k = 0; k < N; k++) {
      const oldest = held.shift() ?? assert.fail('nothing held');
      assert.equal((await seats.release({ session_id: oldest.sid, lease_id: oldest.lid })).released, true);
      await eventually(() => (grants.length === k + 1 ? true : undefined), 10_000, `grant ${k}`);
      const g = grants[k] ?? assert.fail();
      assert.equal(g.who, k, `grant ${k} went to client ${g.who}`);
      held.push({ sid: sessions[g.who] ?? '', lid: g.lid, who: g.who });
      if (k % 50 === 0) {
        const f = await feature();
        assert.ok(f.seats_in_use <= SEATS, `seats in use ${f.seats_in_use}`);
        assert.equal(f.queue_length, N - k - 1);
      }
    }
    await Promise.all(results);
    assert.deepEqual(
      grants.map((g) => g.who),
      Array.from({ length: N }, (_, i) => i),
    );
    assert.equal(new Set(grants.map((g) => g.lid)).size, N, 'every client a lease of its own');
    const f = await feature();
    assert.deepEqual([f.seats_in_use, f.queue_length], [SEATS, 0]);
    // Each granted client holds exactly its one lease.
    for (const g of grants.slice(-SEATS)) {
      assert.deepEqual((await seats.heartbeat({ session_id: sessions[g.who] })).lease_ids, [g.lid]);
    }
  });

  it('a waiter whose wait runs out gets DEADLINE_EXCEEDED (QUEUE_TIMEOUT) and leaves the queue', async () => {
    assert.equal((await feature()).seats_in_use, SEATS, 'still full from the test before');
    const sid = await open('late');
    const c = seats.checkoutWaiting({ session_id: sid, feature: 'q', count: 1, request_id: 'late-1', wait_ms: 400 });
    assert.equal(await c.position, 1);
    assert.equal((await feature()).queue_length, 1);
    const e = grpcError(await c.result.then(() => assert.fail('granted')).catch((err: unknown) => err), grpc.status.DEADLINE_EXCEEDED, 'QUEUE_TIMEOUT');
    assert.match(e.details, /waited its whole wait_ms in the queue/);
    assert.equal((await feature()).queue_length, 0);
  });

  it('a cancelled call leaves the queue; a checkout that does not wait is refused while a queue waits', async () => {
    const a = await open('cancel-a');
    const b = await open('cancel-b');
    const c = seats.checkoutWaiting({ session_id: a, feature: 'q', count: 1, request_id: 'c-1', wait_ms: 60_000 });
    assert.equal(await c.position, 1);
    const refused = await seats.checkout({ session_id: b, feature: 'q', count: 1, request_id: 'c-2' }).catch((err: unknown) => err);
    const e = grpcError(refused, grpc.status.RESOURCE_EXHAUSTED, 'SEATS_EXHAUSTED');
    assert.match(e.details, /1 checkout\(s\) queued ahead/);
    assert.equal((await feature()).queue_length, 1);
    c.cancel();
    await assert.rejects(c.result, (err: grpc.ServiceError) => err.code === grpc.status.CANCELLED);
    await eventually(async () => ((await feature()).queue_length === 0 ? true : undefined), 5_000, 'the cancelled waiter to leave');
    // Its session is untouched and holds nothing.
    assert.deepEqual((await seats.heartbeat({ session_id: a })).lease_ids, []);
  });

  it('closing the session of a waiter answers its call and empties its place', async () => {
    const sid = await open('closer');
    const c = seats.checkoutWaiting({ session_id: sid, feature: 'q', count: 1, request_id: 'x-1', wait_ms: 60_000 });
    const answer = c.result.then(() => assert.fail('granted')).catch((err: unknown) => err);
    assert.equal(await c.position, 1);
    await seats.closeSession({ session_id: sid });
    grpcError(await answer, grpc.status.NOT_FOUND, 'SESSION_NOT_FOUND');
    assert.equal((await feature()).queue_length, 0);
  });
});

describe('checkout queue across a failover', () => {
  let redis: RedisProcess;
  let primary: StartedNode;
  let redundant: StartedNode;
  let admin: AdminClient;

  before(async () => {
    redis = await startRedis();
    ({ primary, redundant } = await startTestPair(redis.url, { license: { features: [{ name: 'q', seats: 2 }] } }));
    admin = createAdminClient(primary.addr, TEST_TOKEN);
    await eventually(async () => ((await admin.getStatus()).state === 'NODE_STATE_ACTIVE' ? true : undefined));
  });
  after(async () => {
    admin.close();
    await primary.node.stop();
    await redundant.node.stop();
    await redis.stop();
  });

  it('waiters queued on the primary keep their order when they retry (same request ids) on the redundant', async () => {
    const N = 8;
    const onPrimary = rawSeatClient(primary.addr, 60_000);
    const onRedundant = rawSeatClient(redundant.addr, 60_000);
    try {
      const open = async (i: number | string) => (await onPrimary.open({ client_id: `c-${i}`, user: 'u', hostname: 'h', pid: 1 })).session_id;
      const holders: { sid: string; lid: string }[] = [];
      for (let i = 0; i < 2; i++) {
        const sid = await open(`holder-${i}`);
        holders.push({ sid, lid: (await onPrimary.checkout({ session_id: sid, feature: 'q', count: 1, request_id: 'h' })).lease_id });
      }
      const sessions: string[] = [];
      const first: Promise<unknown>[] = [];
      for (let i = 0; i < N; i++) {
        const sid = await open(i);
        sessions.push(sid);
        const c = onPrimary.checkoutWaiting({ session_id: sid, feature: 'q', count: 1, request_id: `r${i}`, wait_ms: 50_000 });
        first.push(c.result.catch((err: unknown) => err));
        assert.equal(await c.position, i + 1);
      }

      await primary.node.stop();
      // The calls waiting on the primary are answered (UNAVAILABLE): their callers retry elsewhere.
      for (const r of await Promise.all(first)) assert.equal((r as grpc.ServiceError).code, grpc.status.UNAVAILABLE, String(r));
      await eventually(
        async () => (((await onRedundant.features({})).features.find((f) => f.name === 'q')?.queue_length ?? 0) === N ? true : undefined),
        30_000,
        'the redundant to serve, with the queue intact',
      );

      // Retry in reverse order: each finds its original place.
      const grants: number[] = [];
      const retried: Promise<unknown>[] = [];
      for (let i = N - 1; i >= 0; i--) {
        const c = onRedundant.checkoutWaiting({ session_id: sessions[i] ?? '', feature: 'q', count: 1, request_id: `r${i}`, wait_ms: 50_000 });
        retried.push(c.result.then(() => grants.push(i)));
        assert.equal(await c.position, i + 1, `client ${i} kept its place`);
      }
      assert.equal((await onRedundant.features({})).features.find((f) => f.name === 'q')?.queue_length, N);

      // Seats free one at a time on the redundant: grants follow the original order.
      const held = [...holders];
      for (let k = 0; k < N; k++) {
        const h = held.shift() ?? assert.fail();
        assert.equal((await onRedundant.release({ session_id: h.sid, lease_id: h.lid })).released, true);
        await eventually(() => (grants.length === k + 1 ? true : undefined), 10_000, `grant ${k}`);
        const who = grants[k] ?? assert.fail();
        assert.equal(who, k);
        const lid = (await onRedundant.heartbeat({ session_id: sessions[who] ?? '' })).lease_ids[0] ?? assert.fail('no lease');
        held.push({ sid: sessions[who] ?? '', lid });
      }
      await Promise.all(retried);
      const f = (await onRedundant.features({})).features.find((x) => x.name === 'q');
      assert.deepEqual([f?.seats_in_use, f?.queue_length], [2, 0]);
    } finally {
      onPrimary.close();
      onRedundant.close();
    }
  });
});
