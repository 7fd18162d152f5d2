import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { decideCheckout, type Holding, POLICY_DENIED, usageFromHoldings } from '../../src/server/policy/policy-decision';
import { featurePolicyArg, parsePolicyRefusal } from '../../src/server/policy/policy-script';
import { parseSeatPolicy, type SeatPolicy } from '../../src/server/policy/seat-policy';
import { type ClusterKeys, clusterKeys } from '../../src/server/store/keys';
import type { Fence } from '../../src/server/store/fence';
import { LeaseStore } from '../../src/server/store/lease-store';
import { type Grant, type Queued, SeatStore } from '../../src/server/store/seat-store';
import { parseUsageEntry } from '../../src/server/usage/usage-event';
import { forEachTopology, uniqueClusterId, useScriptFixture } from '../helpers/redis';

const TTL = 600_000;
const T0 = 1_800_000_000_000;

/**
 * The seat policy inside the checkout and serveQueue scripts (includes/policy.lua) against its
 * specification, decideCheckout() in src/server/policy/policy-decision.ts: the same answer, the
 * same message word for word, over random policies' checkouts and releases on a real
 * redis-server; and the holder counts the rules read kept exact by every free path.
 */
const POLICIES: readonly SeatPolicy[] = [
  parseSeatPolicy(
    // "u1.x" and "xu2" are nobody's names: a member test by substring would take u1 and u2 for them.
    `groups:
  team: [u0, u1]
  decoys: [u1.x, xu2, "u 3"]
features:
  f:
    reserve: [ { seats: 2, group: team }, { seats: 1, user: u2 }, { seats: 1, group: decoys } ]
    max: [ { seats: 2, per: user }, { seats: 3, per: host }, { seats: 3, per: group } ]
    deny: [ { user: u5 } ]
`,
    'a.yaml',
  ),
  parseSeatPolicy(
    `groups:
  night: [u1, u3, u4]
  lab: [u2, u4]
features:
  f:
    reserve: [ { seats: 1, host: h2 }, { seats: 2, group: lab } ]
    max: [ { seats: 2, group: night }, { seats: 1, user: u3 }, { seats: 2, host: h0 } ]
    deny: [ { host: h9 }, { user: u6 } ]
  other:
    deny: [ { user: u0 } ]
`,
    'b.yaml',
  ),
  parseSeatPolicy(
    `features:
  f:
    reserve: [ { seats: 3, user: u0 } ]
`,
    'c.yaml',
  ),
];
const USERS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', ''];
const HOSTS = ['h0', 'h1', 'h2', 'h9'];

async function setup(fx: ReturnType<typeof useScriptFixture>): Promise<{ keys: ClusterKeys; seats: SeatStore; fence: Fence }> {
  const keys = clusterKeys(uniqueClusterId('pol'));
  const lease = new LeaseStore(fx.scripts, keys, 60_000, 1);
  const r = await lease.acquire({ nodeId: 'a', knownEpoch: 0, addr: 'a:1', role: 'primary', nowMs: T0 });
  assert.ok(r.acquired);
  return {
    keys,
    seats: new SeatStore(fx.scripts, keys, TTL, { maxSessionsPerClient: 1_000, maxSeatsPerSession: 1_000 }),
    fence: { nodeId: 'a', epoch: r.epoch },
  };
}

/** What a checkout came to: granted, queued, or the refusal's code and script text. */
async function outcome(
  p: Promise<Grant | Queued>,
): Promise<{ kind: 'granted'; grant: Grant } | { kind: 'queued'; q: Queued } | { kind: 'refused'; code: string; text: string }> {
  try {
    const r = await p;
    return 'waiterId' in r ? { kind: 'queued', q: r } : { kind: 'granted', grant: r };
  } catch (err) {
    assert.ok(err instanceof LicenseError, `not a LicenseError: ${String(err)}`);
    return { kind: 'refused', code: err.code, text: err.message };
  }
}

describe('seat policy in the checkout script: the same decisions as decideCheckout()', () => {
  const fx = useScriptFixture('standalone');
  const step = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('checkout' as const),
        user: fc.constantFrom(...USERS),
        host: fc.constantFrom(...HOSTS),
        count: fc.integer({ min: 1, max: 3 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('release' as const), index: fc.nat() }) },
  );

  it('answers every checkout as the specification does, message and rule included, and keeps the holder counts exact', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1, 2),
        fc.integer({ min: 2, max: 8 }),
        fc.array(step, { minLength: 1, maxLength: 40 }),
        async (which, seatsLicensed, steps) => {
          const policy = POLICIES[which] ?? assert.fail();
          const arg = featurePolicyArg(policy, 'f');
          const { keys, seats, fence } = await setup(fx);
          const sessions = new Map<string, string>();
          const held: (Holding & { sid: string; leaseId: string })[] = [];
          let n = 0;
          for (const s of steps) {
            const now = T0 + ++n;
            if (s.op === 'release') {
              if (held.length === 0) continue;
              const [h] = held.splice(s.index % held.length, 1);
              assert.ok(h);
              assert.equal(await seats.release(fence, h.sid, h.leaseId, now), true);
            } else {
              const key = `${s.user}@${s.host}`;
              let sid = sessions.get(key);
              if (sid === undefined) {
                sid = `s${sessions.size}`;
                sessions.set(key, sid);
                await seats.openSession(fence, sid, { clientId: 'c', user: s.user, hostname: s.host, pid: 1 }, now);
              }
              const state = usageFromHoldings(policy, 'f', seatsLicensed, held);
              const want = decideCheckout(policy, 'f', { user: s.user, host: s.host }, s.count, state);
              const got = await outcome(
                seats.checkoutOrQueue(
                  fence,
                  { sessionId: sid, feature: 'f', count: s.count, seatsLicensed, requestId: '', newLeaseId: `l${n}`, nowMs: now, policy: arg },
                  0,
                ),
              );
              const context = `${key} asks ${s.count} of ${seatsLicensed}, holdings ${JSON.stringify(held.map((h) => [h.user, h.host, h.count]))}`;
              if (!want.ok) {
                assert.equal(got.kind, 'refused', context);
                assert.equal(got.kind === 'refused' && got.code, ErrorCode.POLICY_LIMIT, context);
                const r = got.kind === 'refused' ? parsePolicyRefusal(got.text) : undefined;
                assert.ok(r, `${context}: ${JSON.stringify(got)}`);
                assert.equal(r.message, want.message, context);
                assert.equal(r.rule, want.rule, context);
                assert.equal(r.kind === 'deny', want.code === POLICY_DENIED, context);
              } else if (state.inUse + s.count > seatsLicensed) {
                assert.equal(got.kind === 'refused' && got.code, ErrorCode.SEATS_EXHAUSTED, context);
              } else {
                assert.equal(got.kind, 'granted', `${context}: ${JSON.stringify(got)}`);
                if (got.kind === 'granted') held.push({ user: s.user, host: s.host, count: s.count, sid, leaseId: got.grant.leaseId });
              }
            }
            const want = usageFromHoldings(policy, 'f', seatsLicensed, held);
            const counts: Record<string, string> = {};
            for (const [u, c] of want.byUser) if (c > 0) counts[`u:${u}`] = String(c);
            for (const [h, c] of want.byHost) if (c > 0) counts[`h:${h}`] = String(c);
            assert.deepEqual(await fx.redis.hgetall(`${keys.prefix}:holders:f`), counts);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

forEachTopology('seat policy in the seat scripts against a real redis-server', (topology) => {
  const fx = useScriptFixture(topology);
  const INFO = (user: string, hostname = 'ws-1') => ({ clientId: 'app', user, hostname, pid: 7 });
  const co = (sessionId: string, newLeaseId: string, policy: string, nowMs = T0, requestId = '') => ({
    sessionId,
    feature: 'designer',
    count: 1,
    seatsLicensed: 4,
    requestId,
    newLeaseId,
    nowMs,
    policy,
  });
  const POLICY = parseSeatPolicy(
    `groups:
  cad-team: [alice, bob]
features:
  designer:
    reserve: [ { seats: 2, group: cad-team } ]
    max: [ { seats: 1, per: user } ]
    deny: [ { user: mallory } ]
`,
    'p.yaml',
  );
  const arg = featurePolicyArg(POLICY, 'designer');

  it('keeps the holder counts through release, revoke, session close and expiry, and records policy denials by reason', async () => {
    const { keys, seats, fence } = await setup(fx);
    const holders = `${keys.prefix}:holders:designer`;
    for (const [sid, user, host] of [
      ['s1', 'carol', 'h1'],
      ['s2', 'dave', 'h1'],
      ['s3', 'alice', 'h2'],
      ['s4', 'bob', 'h2'],
    ] as const) {
      await seats.openSession(fence, sid, INFO(user, host), T0);
    }
    const g1 = await seats.checkout(fence, co('s1', 'l1', arg));
    await seats.checkout(fence, co('s2', 'l2', arg));
    await seats.checkout(fence, co('s3', 'l3', arg));
    await seats.checkout(fence, co('s4', 'l4', arg, T0, 'r4'));
    assert.deepEqual(await fx.redis.hgetall(holders), { 'u:carol': '1', 'u:dave': '1', 'u:alice': '1', 'u:bob': '1', 'h:h1': '2', 'h:h2': '2' });
    assert.equal(await seats.release(fence, 's1', g1.leaseId, T0 + 1), true);
    assert.ok(await seats.revoke(fence, 'l2', T0 + 2));
    await seats.closeSession(fence, 's3', T0 + 3);
    assert.deepEqual(await fx.redis.hgetall(holders), { 'u:bob': '1', 'h:h2': '1' });
    // s4 expires; the sweep frees it.
    await seats.reclaimExpired(fence, T0 + TTL + 10);
    assert.deepEqual(await fx.redis.hgetall(holders), {});

    await seats.openSession(fence, 'm', INFO('mallory'), T0 + TTL + 20);
    await assert.rejects(
      seats.checkout(fence, co('m', 'lm', arg, T0 + TTL + 21)),
      (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.POLICY_LIMIT,
    );
    const raw = (await fx.redis.xrange(keys.usage, '-', '+')) as [string, string[]][];
    const denials = raw.map(([id, f]) => parseUsageEntry(id, f)).filter((e) => e?.kind === 'deny');
    assert.deepEqual(
      denials.map((e) => [e?.user, e?.reason]),
      [['mallory', 'POLICY_DENIED']],
    );
  });

  it('a lease granted before holder counts existed is freed without touching them', async () => {
    const { keys, seats, fence } = await setup(fx);
    await seats.openSession(fence, 's1', INFO('carol'), T0);
    const g = await seats.checkout(fence, co('s1', 'old', ''));
    // As an older version wrote it: no hu/hh fields, and not counted.
    await fx.redis.hdel(`${keys.prefix}:lease:${g.leaseId}`, 'hu', 'hh');
    await fx.redis.del(`${keys.prefix}:holders:designer`);
    await seats.openSession(fence, 's2', INFO('dave'), T0);
    await seats.checkout(fence, co('s2', 'new', ''));
    assert.equal(await seats.release(fence, 's1', g.leaseId, T0 + 1), true);
    assert.deepEqual(await fx.redis.hgetall(`${keys.prefix}:holders:designer`), { 'u:dave': '1', 'h:ws-1': '1' });
  });

  it('a checkout that may wait queues behind a reservation, an owner passes the queue for its reserved seats, and serveQueue keeps both rules', async () => {
    const { seats, fence } = await setup(fx);
    for (const [sid, user] of [
      ['c', 'carol'],
      ['d', 'dave'],
      ['e', 'erin'],
      ['f', 'fred'],
      ['a', 'alice'],
      ['b', 'bob'],
    ] as const) {
      await seats.openSession(fence, sid, INFO(user), T0);
    }
    // 4 seats, 2 kept for cad-team: carol and dave take the 2 others.
    const gc = await seats.checkout(fence, co('c', 'lc', arg));
    await seats.checkout(fence, co('d', 'ld', arg));
    // erin does not wait: refused by the reservation. fred waits: queued, first.
    const refused = await outcome(seats.checkoutOrQueue(fence, co('e', 'le', arg), 0));
    assert.equal(refused.kind === 'refused' && refused.code, ErrorCode.POLICY_LIMIT);
    assert.match(
      refused.kind === 'refused' ? refused.text : '',
      /^reserve\|features\.designer\.reserve\[0\]\|feature designer: 2 free seats, 2 reserved for others/,
    );
    const qf = await outcome(seats.checkoutOrQueue(fence, co('f', 'lf', arg, T0, 'rf'), T0 + 60_000));
    assert.equal(qf.kind === 'queued' && qf.q.position, 1);
    // alice owns the reservation: granted past fred, who cannot take those seats anyway.
    assert.equal((await outcome(seats.checkoutOrQueue(fence, co('a', 'la', arg), T0 + 60_000))).kind, 'granted');
    // Serving grants fred nothing: the free seat is bob's reservation's.
    assert.deepEqual((await seats.serveQueue(fence, 'designer', 4, T0 + 5, arg)).exits, []);
    // bob queues behind fred; the serve grants bob past fred (his reserved seat), not fred.
    const qb = await outcome(seats.checkoutOrQueue(fence, co('b', 'lb', arg, T0 + 6, 'rb'), T0 + 60_000));
    assert.equal(qb.kind, 'granted', 'bob passes the queue at once: the unused reserved seat is his group’s');
    // carol releases: an unreserved seat frees and fred, first in the queue, gets it.
    assert.equal(await seats.release(fence, 'c', gc.leaseId, T0 + 7), true);
    const served = await seats.serveQueue(fence, 'designer', 4, T0 + 8, arg);
    assert.deepEqual(
      served.exits.map((e) => [e.waiterId, e.reason]),
      [['f:rf', '']],
    );
  });

  it('a waiter a rule refuses by the time seats free (the policy changed) leaves the queue with the rule’s refusal', async () => {
    const { seats, fence } = await setup(fx);
    await seats.openSession(fence, 'x', INFO('xavier'), T0);
    await seats.openSession(fence, 'y', INFO('yolanda'), T0);
    const full = { ...co('x', 'lx', ''), count: 4 };
    const gx = await seats.checkout(fence, full);
    const q = await outcome(seats.checkoutOrQueue(fence, co('y', 'ly', '', T0, 'ry'), T0 + 60_000));
    assert.equal(q.kind, 'queued');
    assert.equal(await seats.release(fence, 'x', gx.leaseId, T0 + 1), true);
    const denyYolanda = featurePolicyArg(parseSeatPolicy('features:\n  designer:\n    deny: [ { user: yolanda } ]\n', 'n.yaml'), 'designer');
    const served = await seats.serveQueue(fence, 'designer', 4, T0 + 2, denyYolanda);
    assert.equal(served.exits.length, 1);
    const e = served.exits[0] ?? assert.fail();
    assert.equal(e.reason, 'POLICY_LIMIT');
    assert.deepEqual(parsePolicyRefusal(e.refusal ?? ''), {
      kind: 'deny',
      rule: 'features.designer.deny[0]',
      message: 'feature designer: denied to yolanda (policy rule features.designer.deny[0])',
    });
    assert.deepEqual(Object.fromEntries(await seats.queueLengths()), {});
  });
});
