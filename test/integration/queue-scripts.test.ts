import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { type ClusterKeys, clusterKeys } from '../../src/server/store/keys';
import type { Fence } from '../../src/server/store/fence';
import { LeaseStore } from '../../src/server/store/lease-store';
import { type Grant, type Queued, SeatStore } from '../../src/server/store/seat-store';
import { parseUsageEntry, type UsageEvent } from '../../src/server/usage/usage-event';
import { forEachTopology, uniqueClusterId, useScriptFixture } from '../helpers/redis';

const TTL = 60_000;
const T0 = 1_800_000_000_000;
const INFO = { clientId: 'app-1', user: 'alice', hostname: 'ws-1', pid: 42 };

/** The checkout queue in the seat scripts: checkout-3.lua (queueing), serveQueue-3.lua, leaveQueue-2.lua, and its cleanup in dropSession. */
forEachTopology('checkout queue scripts against a real redis-server', (topology) => {
  const fx = useScriptFixture(topology);

  async function setup(limits = { maxSessionsPerClient: 1_000, maxSeatsPerSession: 1_024 }): Promise<{ keys: ClusterKeys; seats: SeatStore; fence: Fence }> {
    const keys = clusterKeys(uniqueClusterId());
    const lease = new LeaseStore(fx.scripts, keys, 60_000, 1);
    const r = await lease.acquire({ nodeId: 'a', knownEpoch: 0, addr: 'a:1', role: 'primary', nowMs: T0 });
    assert.ok(r.acquired);
    return { keys, seats: new SeatStore(fx.scripts, keys, TTL, limits), fence: { nodeId: 'a', epoch: r.epoch } };
  }

  const co = (sessionId: string, count: number, seats: number, requestId: string, newLeaseId: string, nowMs = T0) => ({
    sessionId,
    feature: 'f',
    count,
    seatsLicensed: seats,
    requestId,
    newLeaseId,
    nowMs,
  });

  const queued = (r: Grant | Queued): Queued => {
    assert.ok('waiterId' in r, `granted, not queued: ${JSON.stringify(r)}`);
    return r;
  };
  const granted = (r: Grant | Queued): Grant => {
    assert.ok(!('waiterId' in r), `queued, not granted: ${JSON.stringify(r)}`);
    return r;
  };

  async function rejects(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof LicenseError, `not a LicenseError: ${String(err)}`);
      assert.equal(err.code, code);
      if (message) assert.match(err.message, message);
      return true;
    });
  }

  const events = async (keys: ClusterKeys): Promise<UsageEvent[]> => {
    const raw = (await fx.redis.xrange(keys.usage, '-', '+')) as [string, string[]][];
    return raw.map(([id, fields]) => parseUsageEntry(id, fields)).filter((e): e is UsageEvent => e !== undefined);
  };

  it('a release says whether checkouts queue for the freed feature, so the node serves a queue only when one waits', async () => {
    const { seats, fence } = await setup();
    await seats.openSession(fence, 'holder', INFO, T0);
    await seats.openSession(fence, 'waiter', INFO, T0);
    const a = granted(await seats.checkoutOrQueue(fence, co('holder', 1, 1, 'a', 'la'), 0));
    assert.deepEqual(await seats.releaseLease(fence, 'holder', a.leaseId, T0 + 1), { released: true, feature: 'f', queued: false });
    const b = granted(await seats.checkoutOrQueue(fence, co('holder', 1, 1, 'b', 'lb', T0 + 2), 0));
    queued(await seats.checkoutOrQueue(fence, co('waiter', 1, 1, 'w', 'lw', T0 + 3), T0 + 60_000));
    assert.deepEqual(await seats.releaseLease(fence, 'holder', b.leaseId, T0 + 4), { released: true, feature: 'f', queued: true });
    assert.deepEqual(await seats.releaseLease(fence, 'holder', b.leaseId, T0 + 5), { released: false, feature: '', queued: false });
  });

  it('queues in arrival order and grants strictly FIFO as seats free, never more than the seats', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 'holder', INFO, T0);
    const held = [
      granted(await seats.checkoutOrQueue(fence, co('holder', 1, 2, '', 'h0'), 0)),
      granted(await seats.checkout(fence, co('holder', 1, 2, '', 'h1'))),
    ];
    for (let i = 0; i < 6; i++) {
      await seats.openSession(fence, `w${i}`, INFO, T0);
      const q = queued(await seats.checkoutOrQueue(fence, co(`w${i}`, 1, 2, `r${i}`, `l${i}`, T0 + i), T0 + 50_000));
      assert.deepEqual([q.waiterId, q.leaseId, q.position], [`w${i}:r${i}`, `l${i}`, i + 1]);
    }
    assert.equal(await fx.redis.zcard(`${keys.prefix}:queue:f`), 6);
    assert.deepEqual(Object.fromEntries(await seats.queueLengths()), { f: 6 });
    // Nothing free: serving grants nothing.
    assert.deepEqual(await seats.serveQueue(fence, 'f', 2, T0 + 10), { exits: [], more: false });
    const order: string[] = [];
    const free: (readonly [string, string])[] = held.map((g) => ['holder', g.leaseId] as const);
    for (let round = 0; round < 6; round++) {
      const [sid, lid] = free.shift() ?? assert.fail('nothing to release');
      assert.equal(await seats.release(fence, sid, lid, T0 + 100 + round), true);
      const r = await seats.serveQueue(fence, 'f', 2, T0 + 100 + round);
      assert.equal(r.exits.length, 1, 'one seat freed, one waiter granted');
      const e = r.exits[0] ?? assert.fail();
      assert.equal(e.reason, '');
      order.push(e.waiterId);
      free.push([e.waiterId.split(':')[0] ?? '', e.leaseId]);
      assert.equal(await fx.redis.hget(keys.used, 'f'), '2');
    }
    assert.deepEqual(order, ['w0:r0', 'w1:r1', 'w2:r2', 'w3:r3', 'w4:r4', 'w5:r5']);
    assert.deepEqual(Object.fromEntries(await seats.queueLengths()), {});
    assert.deepEqual(await fx.keys(`${keys.prefix}:waiter:*`), []);
    // The grant is a lease like any other: request id mapping, session seats, lease index.
    assert.equal(await fx.redis.hget(`${keys.prefix}:session:w5:reqs`, 'r5'), 'l5');
    assert.equal(await fx.redis.hget(`${keys.prefix}:session:w5`, 'seats'), '1');
    assert.equal(await fx.redis.hget(`${keys.prefix}:session:w5`, 'waiting'), '0');
    assert.notEqual(await fx.redis.zscore(`${keys.prefix}:lease_index`, 'f:l5'), null);
  });

  it('a head that does not fit blocks smaller checkouts behind it, and a checkout that does not wait is refused while a queue waits', async () => {
    const { keys, seats, fence } = await setup();
    for (const s of ['h', 'a', 'b', 'c']) await seats.openSession(fence, s, INFO, T0);
    await seats.checkout(fence, co('h', 2, 3, '', 'big'));
    await seats.checkout(fence, co('h', 1, 3, '', 'small'));
    assert.equal(queued(await seats.checkoutOrQueue(fence, co('a', 2, 3, 'ra', 'la'), T0 + 60_000)).position, 1);
    assert.equal(queued(await seats.checkoutOrQueue(fence, co('b', 1, 3, 'rb', 'lb'), T0 + 60_000)).position, 2);
    await seats.release(fence, 'h', 'small', T0 + 1);
    // One seat free: the head wants two, so nobody is granted (b does not jump ahead).
    assert.deepEqual((await seats.serveQueue(fence, 'f', 3, T0 + 2)).exits, []);
    // A new checkout that fits the free seat does not take it either: the queue goes first.
    await rejects(seats.checkout(fence, co('c', 1, 3, '', 'lc')), ErrorCode.SEATS_EXHAUSTED, /^2 2$/);
    // ... and one that waits queues behind.
    assert.equal(queued(await seats.checkoutOrQueue(fence, co('c', 1, 3, 'rc', 'lc'), T0 + 60_000)).position, 3);
    await seats.release(fence, 'h', 'big', T0 + 3);
    const r = await seats.serveQueue(fence, 'f', 3, T0 + 4);
    assert.deepEqual(
      r.exits.map((e) => [e.waiterId, e.leaseId, e.count]),
      [
        ['a:ra', 'la', 2],
        ['b:rb', 'lb', 1],
      ],
    );
    assert.equal(await fx.redis.hget(keys.used, 'f'), '3');
    assert.deepEqual(Object.fromEntries(await seats.queueLengths()), { f: 1 });
  });

  it('a head whose deadline passed, or whose session expired, is dropped; leaveQueue then finds it gone', async () => {
    const { keys, seats, fence } = await setup();
    for (const s of ['h', 'a', 'b']) await seats.openSession(fence, s, INFO, T0);
    await seats.openSession(fence, 'short', INFO, T0 - TTL + 400);
    const early = T0 - TTL + 400; // the short session's calls: it expires at T0 + 400
    await seats.checkout(fence, co('h', 1, 1, '', 'held'));
    queued(await seats.checkoutOrQueue(fence, co('a', 1, 1, 'ra', 'la'), T0 + 100));
    queued(await seats.checkoutOrQueue(fence, co('short', 1, 1, 'rs', 'ls', early), T0 + 60_000));
    const qb = queued(await seats.checkoutOrQueue(fence, co('b', 1, 1, 'rb', 'lb'), T0 + 60_000));
    assert.equal(qb.position, 3);
    await seats.release(fence, 'h', 'held', T0 + 1_000);
    const r = await seats.serveQueue(fence, 'f', 1, T0 + 1_000);
    assert.deepEqual(
      r.exits.map((e) => [e.waiterId, e.reason]),
      [
        ['a:ra', 'QUEUE_TIMEOUT'],
        ['short:rs', 'SESSION_GONE'],
        ['b:rb', ''],
      ],
    );
    assert.deepEqual(await seats.leaveQueue(fence, { waiterId: 'a:ra', sessionId: 'a', requestId: 'ra', leaseId: 'la' }, T0 + 1_001, 'QUEUE_TIMEOUT'), {
      kind: 'gone',
      sessionGone: false,
    });
    assert.deepEqual(await seats.leaveQueue(fence, { waiterId: 'short:rs', sessionId: 'short', requestId: 'rs', leaseId: 'ls' }, T0 + 1_001, 'QUEUE_TIMEOUT'), {
      kind: 'gone',
      sessionGone: true,
    });
    const q = (await events(keys)).filter((e) => e.kind === 'queue');
    assert.deepEqual(
      q.map((e) => [e.sessionId, e.reason, e.leaseId, e.waitMs]),
      [
        ['a', 'QUEUE_TIMEOUT', '', 1_000],
        ['short', 'SESSION_GONE', '', 1_000 - early + T0],
        ['b', '', 'lb', 1_000],
      ],
    );
  });

  it("a session's end (expiry or close) takes its waiters out of every queue", async () => {
    const { keys, seats, fence } = await setup();
    for (const s of ['h', 'x']) await seats.openSession(fence, s, INFO, T0);
    await seats.checkout(fence, co('h', 1, 1, '', 'held'));
    await seats.checkout(fence, { ...co('h', 1, 1, '', 'held-g'), feature: 'g' });
    queued(await seats.checkoutOrQueue(fence, co('x', 1, 1, 'r1', 'l1'), T0 + 600_000));
    queued(await seats.checkoutOrQueue(fence, { ...co('x', 1, 1, 'r2', 'l2'), feature: 'g' }, T0 + 600_000));
    assert.equal(await fx.redis.hget(`${keys.prefix}:session:x`, 'waiting'), '2');
    assert.deepEqual(Object.fromEntries(await seats.queueLengths()), { f: 1, g: 1 });
    assert.deepEqual(await seats.reclaimExpired(fence, T0 + TTL + 1), { sessions: 2, leases: 2 });
    assert.deepEqual(Object.fromEntries(await seats.queueLengths()), {});
    assert.equal(await fx.redis.exists(`${keys.prefix}:queue:f`, `${keys.prefix}:queue:g`, `${keys.prefix}:waiter:x:r1`, `${keys.prefix}:session:x:waits`), 0);
    assert.deepEqual(
      (await events(keys))
        .filter((e) => e.kind === 'queue')
        .map((e) => [e.feature, e.reason])
        .sort(),
      [
        ['f', 'SESSION_EXPIRED'],
        ['g', 'SESSION_EXPIRED'],
      ],
    );
    // Close: the same.
    await seats.openSession(fence, 'h2', INFO, T0 + TTL);
    await seats.openSession(fence, 'y', INFO, T0 + TTL);
    await seats.checkout(fence, co('h2', 1, 1, '', 'held2', T0 + TTL));
    queued(await seats.checkoutOrQueue(fence, co('y', 1, 1, '', 'ly', T0 + TTL), T0 + 600_000));
    assert.equal(await seats.closeSession(fence, 'y', T0 + TTL + 1), 0);
    assert.deepEqual(Object.fromEntries(await seats.queueLengths()), {});
    assert.equal((await events(keys)).at(-1)?.reason, 'SESSION_CLOSED');
  });

  it('a retry with the same request id keeps its place, moves its deadline, and is never granted twice', async () => {
    const { keys, seats, fence } = await setup();
    for (const s of ['h', 'a', 'b']) await seats.openSession(fence, s, INFO, T0);
    await seats.checkout(fence, co('h', 1, 1, '', 'held'));
    queued(await seats.checkoutOrQueue(fence, co('a', 1, 1, 'ra', 'la'), T0 + 1_000));
    queued(await seats.checkoutOrQueue(fence, co('b', 1, 1, 'rb', 'lb'), T0 + 60_000));
    // The retry (say at the other node after a failover) brings a new lease id and a new deadline.
    const again = queued(await seats.checkoutOrQueue(fence, co('a', 1, 1, 'ra', 'other', T0 + 500), T0 + 60_000));
    assert.deepEqual([again.position, again.leaseId], [1, 'la']);
    assert.equal(await fx.redis.zcard(`${keys.prefix}:queue:f`), 2);
    await rejects(seats.checkoutOrQueue(fence, co('a', 2, 1, 'ra', 'x'), T0 + 60_000), ErrorCode.INVALID_ARGUMENT, /is queued for 1 seat/);
    // Without waiting, the retry is told there is a queue.
    await rejects(seats.checkout(fence, co('a', 1, 1, 'ra', 'x')), ErrorCode.SEATS_EXHAUSTED, /^1 2$/);
    await seats.release(fence, 'h', 'held', T0 + 2_000);
    // Past the first deadline, but the retry moved it: a is still the head and is granted.
    const r = await seats.serveQueue(fence, 'f', 1, T0 + 2_000);
    assert.deepEqual(
      r.exits.map((e) => [e.waiterId, e.leaseId]),
      [['a:ra', 'la']],
    );
    // Later retries answer the same lease; the count stays exact.
    const g = granted(await seats.checkoutOrQueue(fence, co('a', 1, 1, 'ra', 'yet-another', T0 + 2_001), T0 + 60_000));
    assert.deepEqual([g.leaseId, g.reused], ['la', true]);
    assert.equal(await fx.redis.hget(keys.used, 'f'), '1');
    assert.equal((await events(keys)).filter((e) => e.kind === 'grant' && e.sessionId === 'a').length, 1);
    // Leaving after the grant answers the lease (the call that gives up can still hand it out).
    assert.deepEqual(await seats.leaveQueue(fence, { waiterId: 'a:ra', sessionId: 'a', requestId: 'ra', leaseId: 'la' }, T0 + 2_002, 'CANCELLED'), {
      kind: 'granted',
      leaseId: 'la',
      count: 1,
      expiresAtMs: T0 + 2_001 + TTL,
    });
    // b leaves while queued: gone from the queue, one 'queue' event with the reason.
    assert.deepEqual(await seats.leaveQueue(fence, { waiterId: 'b:rb', sessionId: 'b', requestId: 'rb', leaseId: 'lb' }, T0 + 3_000, 'CANCELLED'), {
      kind: 'left',
    });
    assert.deepEqual(Object.fromEntries(await seats.queueLengths()), {});
    assert.equal(await fx.redis.hget(`${keys.prefix}:session:b`, 'waiting'), '0');
    const last = (await events(keys)).at(-1);
    assert.deepEqual([last?.kind, last?.sessionId, last?.reason, last?.waitMs], ['queue', 'b', 'CANCELLED', 3_000]);
  });

  it('grants record a grant and a queue event with the wait; seats waited for count against the per-session limit', async () => {
    const { keys, seats, fence } = await setup({ maxSessionsPerClient: 10, maxSeatsPerSession: 2 });
    for (const s of ['h', 'a']) await seats.openSession(fence, s, INFO, T0);
    await seats.checkout(fence, co('h', 2, 2, '', 'held'));
    queued(await seats.checkoutOrQueue(fence, co('a', 2, 2, '', 'la', T0 + 10), T0 + 60_000));
    await rejects(
      seats.checkoutOrQueue(fence, co('a', 1, 2, '', 'lx', T0 + 11), T0 + 60_000),
      ErrorCode.LIMIT_EXCEEDED,
      /holds 0 seat\(s\) and waits for 2 more/,
    );
    await seats.release(fence, 'h', 'held', T0 + 500);
    await seats.serveQueue(fence, 'f', 2, T0 + 510);
    const tail = (await events(keys)).slice(-2);
    assert.deepEqual(
      tail.map((e) => [e.kind, e.sessionId, e.count, e.leaseId, e.waitMs, e.atMs, e.user]),
      [
        ['grant', 'a', 2, 'la', 0, T0 + 510, 'alice'],
        ['queue', 'a', 2, 'la', 500, T0 + 510, 'alice'],
      ],
    );
  });

  it('serveQueue is fenced and bounded per call', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 'h', INFO, T0);
    await seats.checkout(fence, co('h', 1, 200, '', 'held'));
    await rejects(seats.serveQueue({ ...fence, epoch: fence.epoch + 1 }, 'f', 1, T0), ErrorCode.STALE_EPOCH);
    // 100 dead waiters (deadline passed): one call drops at most QUEUE_SERVE_BATCH and says there is more.
    for (let i = 0; i < 100; i++) {
      await seats.openSession(fence, `s${i}`, INFO, T0);
      queued(await seats.checkoutOrQueue(fence, co(`s${i}`, 1, 1, '', `l${i}`), T0 + 1));
    }
    const first = await seats.serveQueue(fence, 'f', 1, T0 + 10);
    assert.equal(first.more, true);
    assert.equal(first.exits.length, 64);
    const second = await seats.serveQueue(fence, 'f', 1, T0 + 10);
    assert.deepEqual([second.more, second.exits.length], [false, 36]);
    assert.equal(await fx.redis.zcard(`${keys.prefix}:queue:f`), 0);
  });
});
