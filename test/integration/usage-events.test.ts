import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { type ClusterKeys, clusterKeys } from '../../src/server/store/keys';
import type { Fence } from '../../src/server/store/fence';
import { LeaseStore } from '../../src/server/store/lease-store';
import { SeatStore } from '../../src/server/store/seat-store';
import { parseUsageEntry, type UsageEvent } from '../../src/server/usage/usage-event';
import { forEachTopology, uniqueClusterId, useScriptFixture } from '../helpers/redis';

const TTL = 60_000;
const T0 = 1_800_000_000_000;
const ALICE = { clientId: 'app-1', user: 'alice', hostname: 'ws-1', pid: 42 };
const BOB = { clientId: 'app-2', user: 'bob', hostname: 'ws-2', pid: 43 };

/** The seat scripts record every grant, release, revoke, expiry and denial in the usage stream, in the same step. */
forEachTopology('usage events in the seat scripts', (topology) => {
  const fx = useScriptFixture(topology);

  async function setup(): Promise<{ keys: ClusterKeys; seats: SeatStore; fence: Fence }> {
    const keys = clusterKeys(uniqueClusterId());
    const lease = new LeaseStore(fx.scripts, keys, 60_000, 1);
    const r = await lease.acquire({ nodeId: 'a', knownEpoch: 0, addr: 'a:1', role: 'primary', nowMs: T0 });
    assert.ok(r.acquired);
    return { keys, seats: new SeatStore(fx.scripts, keys, TTL, { maxSessionsPerClient: 8, maxSeatsPerSession: 3 }), fence: { nodeId: 'a', epoch: r.epoch } };
  }

  const events = async (keys: ClusterKeys): Promise<UsageEvent[]> => {
    const raw = (await fx.redis.xrange(keys.usage, '-', '+')) as [string, string[]][];
    return raw.map(([id, fields]) => parseUsageEntry(id, fields)).filter((e): e is UsageEvent => e !== undefined);
  };
  const brief = (e: UsageEvent) => [e.kind, e.feature, e.count, e.user, e.host, e.leaseId === '' ? '' : 'lease', e.reason, e.atMs];
  const co = (sessionId: string, count: number, newLeaseId: string, nowMs = T0) => ({
    sessionId,
    feature: 'cad',
    count,
    seatsLicensed: 4,
    requestId: '',
    newLeaseId,
    nowMs,
  });

  it('grant, denials (seats, per-session limit), release, revoke, close, expiry: one event each, with who and when', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 'sa', ALICE, T0);
    await seats.openSession(fence, 'sb', BOB, T0);
    await seats.checkout(fence, co('sa', 2, 'l1', T0 + 1));
    await seats.checkout(fence, co('sb', 2, 'l2', T0 + 2));
    await assert.rejects(seats.checkout(fence, co('sa', 1, 'l3', T0 + 3)), (e: unknown) => e instanceof LicenseError && e.code === ErrorCode.SEATS_EXHAUSTED);
    await seats.release(fence, 'sa', 'l1', T0 + 4);
    await assert.rejects(seats.checkout(fence, co('sb', 2, 'l4', T0 + 5)), (e: unknown) => e instanceof LicenseError && e.code === ErrorCode.LIMIT_EXCEEDED);
    await seats.checkout(fence, co('sa', 1, 'l5', T0 + 6));
    assert.equal((await seats.revoke(fence, 'l5', T0 + 7))?.leaseId, 'l5');
    await seats.checkout(fence, co('sa', 1, 'l6', T0 + 8));
    assert.equal(await seats.closeSession(fence, 'sa', T0 + 9), 1);
    // Bob's session expires: the sweep frees his seats.
    await seats.reclaimExpired(fence, T0 + TTL + 10);

    const got = await events(keys);
    assert.deepEqual(got.map(brief), [
      ['grant', 'cad', 2, 'alice', 'ws-1', 'lease', '', T0 + 1],
      ['grant', 'cad', 2, 'bob', 'ws-2', 'lease', '', T0 + 2],
      ['deny', 'cad', 1, 'alice', 'ws-1', '', 'SEATS_EXHAUSTED', T0 + 3],
      ['release', 'cad', 2, 'alice', 'ws-1', 'lease', '', T0 + 4],
      ['deny', 'cad', 2, 'bob', 'ws-2', '', 'LIMIT_EXCEEDED', T0 + 5],
      ['grant', 'cad', 1, 'alice', 'ws-1', 'lease', '', T0 + 6],
      ['revoke', 'cad', 1, 'alice', 'ws-1', 'lease', '', T0 + 7],
      ['grant', 'cad', 1, 'alice', 'ws-1', 'lease', '', T0 + 8],
      ['release', 'cad', 1, 'alice', 'ws-1', 'lease', '', T0 + 9],
      ['expire', 'cad', 2, 'bob', 'ws-2', 'lease', '', T0 + TTL + 10],
    ]);
    // Every grant's lease is freed exactly once, by lease id.
    const granted = got.filter((e) => e.kind === 'grant').map((e) => e.leaseId);
    const freed = got.filter((e) => ['release', 'revoke', 'expire'].includes(e.kind)).map((e) => e.leaseId);
    assert.deepEqual([...granted].sort(), [...freed].sort());
    assert.ok(got.every((e) => e.sessionId === 'sa' || e.sessionId === 'sb'));
    assert.ok(got.find((e) => e.user === 'alice')?.clientId === 'app-1');
  });

  it('a stale node records nothing; an idempotent repeat records no second grant', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 'sa', ALICE, T0);
    await seats.checkout(fence, { ...co('sa', 1, 'l1'), requestId: 'r1' });
    await seats.checkout(fence, { ...co('sa', 1, 'l2'), requestId: 'r1' });
    await assert.rejects(seats.checkout({ nodeId: 'b', epoch: fence.epoch }, co('sa', 1, 'l3')));
    await assert.rejects(seats.release({ nodeId: 'a', epoch: fence.epoch - 1 }, 'sa', 'l1', T0));
    assert.deepEqual(
      (await events(keys)).map((e) => e.kind),
      ['grant'],
    );
  });

  it('trimUsage drops the events older than the retention, fenced', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 'sa', ALICE, T0);
    await seats.checkout(fence, co('sa', 1, 'l1'));
    await seats.release(fence, 'sa', 'l1', T0);
    assert.equal((await events(keys)).length, 2);
    await assert.rejects(seats.trimUsage({ nodeId: 'b', epoch: fence.epoch }, Date.now() + 60_000));
    // Entry ids carry Redis's own time: everything appended before now + 1 min is older than that.
    assert.equal(await seats.trimUsage(fence, Date.now() - 3_600_000), 0);
    assert.equal(await seats.trimUsage(fence, Date.now() + 60_000), 2);
    assert.deepEqual(await events(keys), []);
  });
});
