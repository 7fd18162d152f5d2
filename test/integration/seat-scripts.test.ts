import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { type ClusterKeys, clusterKeys } from '../../src/server/store/keys';
import type { Fence } from '../../src/server/store/fence';
import { LeaseStore } from '../../src/server/store/lease-store';
import { CHECKOUT_RECLAIM_BATCH, RELEASED_REQUEST_IDS_KEPT, SeatStore } from '../../src/server/store/seat-store';
import { uniqueClusterId, forEachTopology, useScriptFixture } from '../helpers/redis';

const TTL = 60_000;
const T0 = 1_800_000_000_000;
const INFO = { clientId: 'app-1', user: 'alice', hostname: 'ws-1', pid: 42 };

forEachTopology('seat scripts against a real redis-server', (topology) => {
  const fx = useScriptFixture(topology);

  /** A fresh cluster whose lease is held by node "a"; returns its fence and store. */
  async function setup(): Promise<{ keys: ClusterKeys; seats: SeatStore; fence: Fence; lease: LeaseStore }> {
    const keys = clusterKeys(uniqueClusterId());
    const lease = new LeaseStore(fx.scripts, keys, 60_000, 1);
    const r = await lease.acquire({ nodeId: 'a', knownEpoch: 0, addr: 'a:1', role: 'primary', nowMs: T0 });
    assert.ok(r.acquired);
    return { keys, lease, seats: new SeatStore(fx.scripts, keys, TTL), fence: { nodeId: 'a', epoch: r.epoch } };
  }

  async function rejects(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof LicenseError, `not a LicenseError: ${String(err)}`);
      assert.equal(err.code, code);
      if (message) assert.match(err.message, message);
      return true;
    });
  }

  const co = (
    sessionId: string,
    feature: string,
    count: number,
    seats: number,
    requestId = '',
    newLeaseId = `l-${Math.random().toString(36).slice(2)}`,
    nowMs = T0,
  ) => ({
    sessionId,
    feature,
    count,
    seatsLicensed: seats,
    requestId,
    newLeaseId,
    nowMs,
  });

  it('openSession creates a session expiring one TTL later; fenced', async () => {
    const { keys, seats, fence } = await setup();
    assert.equal(await seats.openSession(fence, 's1', INFO, T0), T0 + TTL);
    assert.equal(Number(await fx.redis.zscore(keys.sessions, 's1')), T0 + TTL);
    assert.equal(await fx.redis.hget(`${keys.prefix}:session:s1`, 'user'), 'alice');
    await rejects(seats.openSession({ nodeId: 'a', epoch: fence.epoch - 1 }, 's2', INFO, T0), ErrorCode.STALE_EPOCH);
    await rejects(seats.openSession({ nodeId: 'b', epoch: fence.epoch }, 's2', INFO, T0), ErrorCode.STALE_EPOCH);
    assert.equal(await fx.redis.zscore(keys.sessions, 's2'), null);
  });

  it('heartbeatSession renews; unknown or expired sessions are NOT_FOUND and an expired one frees its seats', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 's1', INFO, T0);
    assert.deepEqual(await seats.heartbeat(fence, 's1', T0 + 1_000), { expiresAtMs: T0 + 1_000 + TTL, leaseIds: [] });
    await rejects(seats.heartbeat(fence, 'nope', T0), ErrorCode.SESSION_NOT_FOUND, /unknown or expired/);
    const g = await seats.checkout(fence, co('s1', 'f', 2, 5));
    // The heartbeat answers what the session holds, so the client can compare with what it believes.
    assert.deepEqual((await seats.heartbeat(fence, 's1', T0 + 2_000)).leaseIds, [g.leaseId]);
    await rejects(seats.heartbeat(fence, 's1', T0 + 2_000 + TTL), ErrorCode.SESSION_NOT_FOUND, /expired/);
    assert.equal(await fx.redis.hget(keys.used, 'f'), null);
    assert.equal(await fx.redis.exists(`${keys.prefix}:session:s1`), 0);
  });

  it('checkout grants until the seats are used, then SEATS_EXHAUSTED; it renews the session', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 's1', INFO, T0);
    const g = await seats.checkout(fence, co('s1', 'f', 3, 5, '', 'l1', T0 + 10));
    assert.deepEqual(g, { leaseId: 'l1', count: 3, expiresAtMs: T0 + 10 + TTL, reused: false, seatsInUse: 3 });
    assert.equal(Number(await fx.redis.zscore(keys.sessions, 's1')), T0 + 10 + TTL);
    await seats.checkout(fence, co('s1', 'f', 2, 5));
    await rejects(seats.checkout(fence, co('s1', 'f', 1, 5)), ErrorCode.SEATS_EXHAUSTED, /^5$/);
    assert.equal(await fx.redis.hget(keys.used, 'f'), '5');
  });

  it('checkout is idempotent by request id within the session', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 's1', INFO, T0);
    await seats.openSession(fence, 's2', INFO, T0);
    const a = await seats.checkout(fence, co('s1', 'f', 2, 5, 'req-1', 'l1'));
    const b = await seats.checkout(fence, co('s1', 'f', 2, 5, 'req-1', 'l2'));
    assert.equal(b.leaseId, 'l1');
    assert.equal(b.reused, true);
    assert.equal(a.leaseId, b.leaseId);
    assert.equal(await fx.redis.hget(keys.used, 'f'), '2', 'one lease, not two');
    // The same request id in another session is another request.
    const c = await seats.checkout(fence, co('s2', 'f', 2, 5, 'req-1', 'l3'));
    assert.equal(c.leaseId, 'l3');
    await rejects(seats.checkout(fence, co('s1', 'g', 2, 5, 'req-1')), ErrorCode.INVALID_ARGUMENT, /already used for 2 seat\(s\) of f/);
    assert.equal(await seats.release(fence, 's1', 'l1', T0), true);
    await rejects(seats.checkout(fence, co('s1', 'f', 2, 5, 'req-1')), ErrorCode.FAILED_PRECONDITION, /has been released/);
  });

  it('checkout with a stale epoch is refused and changes nothing', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 's1', INFO, T0);
    await rejects(seats.checkout({ ...fence, epoch: fence.epoch + 1 }, co('s1', 'f', 1, 5)), ErrorCode.STALE_EPOCH);
    assert.equal(await fx.redis.hget(keys.used, 'f'), null);
    assert.equal(await fx.redis.scard(`${keys.prefix}:session:s1:leases`), 0);
  });

  it('checkout reclaims expired sessions first, so their seats are free again', async () => {
    const { seats, fence } = await setup();
    await seats.openSession(fence, 'old', INFO, T0);
    await seats.checkout(fence, co('old', 'f', 5, 5));
    await seats.openSession(fence, 'new', INFO, T0 + TTL);
    const g = await seats.checkout(fence, co('new', 'f', 5, 5, '', 'l-new', T0 + TTL));
    assert.equal(g.seatsInUse, 5);
    await rejects(seats.heartbeat(fence, 'old', T0 + TTL), ErrorCode.SESSION_NOT_FOUND);
  });

  it('checkout on an unknown session is NOT_FOUND', async () => {
    const { seats, fence } = await setup();
    await rejects(seats.checkout(fence, co('ghost', 'f', 1, 5)), ErrorCode.SESSION_NOT_FOUND);
  });

  it('releaseSeat frees a lease once; other sessions cannot release it', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 's1', INFO, T0);
    await seats.openSession(fence, 's2', INFO, T0);
    await seats.checkout(fence, co('s1', 'f', 2, 5, '', 'l1'));
    assert.equal(await seats.release(fence, 's2', 'l1', T0), false);
    assert.equal(await fx.redis.hget(keys.used, 'f'), '2');
    assert.equal(await seats.release(fence, 's1', 'l1', T0), true);
    assert.equal(await fx.redis.hget(keys.used, 'f'), null);
    assert.equal(await seats.release(fence, 's1', 'l1', T0), false);
    await rejects(seats.release(fence, 'ghost', 'l1', T0), ErrorCode.SESSION_NOT_FOUND);
    await rejects(seats.release({ ...fence, epoch: 999 }, 's1', 'l1', T0), ErrorCode.STALE_EPOCH);
  });

  it('closeSession frees every seat of the session; closing twice is harmless', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 's1', INFO, T0);
    await seats.checkout(fence, co('s1', 'f', 2, 5));
    await seats.checkout(fence, co('s1', 'g', 1, 5));
    assert.equal(await seats.closeSession(fence, 's1', T0), 2);
    assert.equal(await fx.redis.hlen(keys.used), 0);
    assert.equal(await seats.closeSession(fence, 's1', T0), 0);
    assert.deepEqual(await fx.keys(`${keys.prefix}:session:*`), []);
    assert.deepEqual(await fx.keys(`${keys.prefix}:lease:*`), []);
  });

  it('reclaimExpired frees only expired sessions, in bounded batches', async () => {
    const { keys, seats, fence } = await setup();
    for (let i = 0; i < 7; i++) {
      await seats.openSession(fence, `s${i}`, INFO, T0 + i);
      await seats.checkout(fence, co(`s${i}`, 'f', 1, 100, '', `l${i}`, T0 + i));
    }
    // Sessions s0..s4 expire at T0+TTL+4 at the latest; s5, s6 are still alive.
    const now = T0 + TTL + 4;
    assert.deepEqual(await seats.reclaimExpired(fence, now, 3), { sessions: 3, leases: 3 });
    assert.deepEqual(await seats.reclaimExpired(fence, now, 3), { sessions: 2, leases: 2 });
    assert.deepEqual(await seats.reclaimExpired(fence, now, 3), { sessions: 0, leases: 0 });
    assert.equal(await fx.redis.hget(keys.used, 'f'), '2');
    assert.equal(await fx.redis.zcard(keys.sessions), 2);
  });

  it('usage() reads the counters (positiveCounts): an expired session counts until it is reaped, then not', async () => {
    const { seats, fence } = await setup();
    await seats.openSession(fence, 'old', INFO, T0);
    await seats.checkout(fence, co('old', 'f', 3, 10));
    await seats.openSession(fence, 'live', INFO, T0 + 1_000);
    await seats.checkout(fence, co('live', 'f', 2, 10, '', 'x', T0 + 1_000));
    await seats.checkout(fence, co('live', 'g', 1, 10, '', 'y', T0 + 1_000));
    assert.deepEqual(Object.fromEntries(await seats.usage()), { f: 5, g: 1 });
    assert.deepEqual(await seats.reclaimExpired(fence, T0 + TTL), { sessions: 1, leases: 1 });
    assert.deepEqual(Object.fromEntries(await seats.usage()), { f: 2, g: 1 });
  });

  it('checkout reclaims only when the feature is short of seats, and then a small batch', async () => {
    const { keys, seats, fence } = await setup();
    for (let i = 0; i < 40; i++) {
      await seats.openSession(fence, `old${i}`, INFO, T0);
      await seats.checkout(fence, co(`old${i}`, i < 2 ? 'f' : 'other', 1, 100, '', `lo${i}`));
    }
    await seats.openSession(fence, 'new', INFO, T0 + TTL);
    // f has free seats: nothing is reaped, though 40 sessions have expired.
    await seats.checkout(fence, co('new', 'f', 1, 3, '', 'n1', T0 + TTL));
    assert.equal(await fx.redis.zcard(keys.sessions), 41);
    // f is full (two of its seats held by expired sessions): one small batch, oldest first, frees them.
    const g = await seats.checkout(fence, co('new', 'f', 2, 3, '', 'n2', T0 + TTL));
    assert.equal(g.seatsInUse, 3);
    assert.equal(await fx.redis.zcard(keys.sessions), 41 - CHECKOUT_RECLAIM_BATCH);
  });

  it('a released request id stops mapping to its lease and is remembered in a capped record', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 's1', INFO, T0);
    const reqs = `${keys.prefix}:session:s1:reqs`;
    const released = `${keys.prefix}:session:s1:released`;
    await seats.checkout(fence, co('s1', 'f', 1, 5, 'r1', 'l1'));
    assert.equal(await fx.redis.hget(reqs, 'r1'), 'l1');
    assert.equal(await fx.redis.hget(`${keys.prefix}:lease:l1`, 'request_id'), 'r1');
    assert.equal(await seats.release(fence, 's1', 'l1', T0), true);
    assert.equal(await fx.redis.hlen(reqs), 0);
    assert.deepEqual(await fx.redis.zrange(released, '0', '-1'), ['r1']);
    await rejects(
      seats.checkout(fence, co('s1', 'f', 1, 5, 'r1')),
      ErrorCode.FAILED_PRECONDITION,
      /r1 was used for a lease of this session that has been released/,
    );
    // Without a request id nothing is recorded.
    const g = await seats.checkout(fence, co('s1', 'f', 1, 5, '', 'l2'));
    await seats.release(fence, 's1', g.leaseId, T0);
    assert.equal(await fx.redis.zcard(released), 1);
    // The record keeps the last RELEASED_REQUEST_IDS_KEPT, oldest out first.
    for (let i = 0; i < RELEASED_REQUEST_IDS_KEPT; i++) {
      await seats.checkout(fence, co('s1', 'f', 1, 5, `q${i}`, `m${i}`));
      await seats.release(fence, 's1', `m${i}`, T0);
    }
    assert.equal(await fx.redis.zcard(released), RELEASED_REQUEST_IDS_KEPT);
    assert.equal(await fx.redis.zscore(released, 'r1'), null);
    assert.notEqual(await fx.redis.zscore(released, 'q0'), null);
  });

  it("openSession at the per-client limit reaps that client's expired sessions only", async () => {
    const { keys, fence } = await setup();
    const seats = new SeatStore(fx.scripts, keys, TTL, { maxSessionsPerClient: 2, maxSeatsPerSession: 1_024 });
    await seats.openSession(fence, 'a1', { ...INFO, clientId: 'a' }, T0);
    await seats.openSession(fence, 'a2', { ...INFO, clientId: 'a' }, T0);
    await seats.checkout(fence, co('a2', 'f', 1, 5, '', 'la2'));
    await seats.openSession(fence, 'b1', { ...INFO, clientId: 'b' }, T0);
    await rejects(seats.openSession(fence, 'a3', { ...INFO, clientId: 'a' }, T0 + 1), ErrorCode.LIMIT_EXCEEDED, /already has 2 open sessions/);
    // Below the limit nothing is reaped, though three sessions have expired.
    await seats.openSession(fence, 'c1', { ...INFO, clientId: 'c' }, T0 + TTL);
    assert.equal(await fx.redis.zcard(keys.sessions), 4);
    // At the limit: a's expired sessions go (seats and all), b's stay for the sweep.
    await seats.openSession(fence, 'a3', { ...INFO, clientId: 'a' }, T0 + TTL);
    assert.deepEqual((await fx.redis.zrange(keys.sessions, '0', '-1')).sort(), ['a3', 'b1', 'c1']);
    assert.equal(await fx.redis.hget(keys.used, 'f'), null);
    assert.deepEqual(await fx.redis.smembers(`${keys.prefix}:client:a`), ['a3']);
  });

  it('listLeases pages by lease index, skips expired sessions and filters by feature', async () => {
    const { seats, fence } = await setup();
    await seats.openSession(fence, 's1', INFO, T0);
    await seats.checkout(fence, co('s1', 'f', 2, 10, '', 'l1', T0 + 5));
    await seats.checkout(fence, co('s1', 'g', 1, 10, '', 'l2', T0 + 5));
    const all = await seats.listLeases(T0 + 10, { pageSize: 10 });
    assert.deepEqual(
      all.rows.map((r) => r.leaseId),
      ['l1', 'l2'],
    );
    assert.equal(all.next, undefined);
    const first = await seats.listLeases(T0 + 10, { pageSize: 1 });
    assert.deepEqual([first.rows.map((r) => r.leaseId), first.next], [['l1'], 'f:l1']);
    const second = await seats.listLeases(T0 + 10, { pageSize: 1, after: 'f:l1' });
    assert.deepEqual([second.rows.map((r) => r.leaseId), second.next], [['l2'], undefined]);
    const f = await seats.listLeases(T0 + 10, { feature: 'f', pageSize: 10 });
    assert.equal(f.next, undefined);
    assert.deepEqual(f.rows, [
      {
        leaseId: 'l1',
        sessionId: 's1',
        feature: 'f',
        count: 2,
        clientId: 'app-1',
        user: 'alice',
        hostname: 'ws-1',
        pid: 42,
        grantedAtMs: T0 + 5,
        expiresAtMs: T0 + 5 + TTL,
      },
    ]);
    assert.deepEqual((await seats.listLeases(T0 + 10, { feature: 'e', pageSize: 10 })).rows, []);
    assert.deepEqual(await seats.listLeases(T0 + 5 + TTL, { pageSize: 10 }), { rows: [], next: undefined });
  });

  it('200 concurrent checkouts from 20 sessions against 50 seats: exactly 50 granted', async () => {
    const { keys, seats, fence } = await setup();
    for (let s = 0; s < 20; s++) await seats.openSession(fence, `s${s}`, INFO, T0);
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => seats.checkout(fence, co(`s${i % 20}`, 'f', 1, 50, `r${i}`, `l${i}`))));
    const granted = results.filter((r) => r.status === 'fulfilled').length;
    const exhausted = results.filter((r) => r.status === 'rejected' && (r.reason as LicenseError).code === ErrorCode.SEATS_EXHAUSTED).length;
    assert.equal(granted, 50);
    assert.equal(exhausted, 150);
    assert.equal(await fx.redis.hget(keys.used, 'f'), '50');
  });
});
