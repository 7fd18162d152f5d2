import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { EPOCH_LIMIT } from '../../src/server/store/fence';
import { clusterKeys } from '../../src/server/store/keys';
import { LeaseStore } from '../../src/server/store/lease-store';
import { eventually, uniqueClusterId, forEachTopology, useScriptFixture } from '../helpers/redis';

forEachTopology('leader lease scripts against a real redis-server', (topology) => {
  const fx = useScriptFixture(topology);

  const setup = (ttlMs = 5_000) => {
    const keys = clusterKeys(uniqueClusterId());
    return { keys, lease: new LeaseStore(fx.scripts, keys, ttlMs, 1) };
  };
  const acquireArgs = (nodeId: string, knownEpoch = 0) => ({ nodeId, knownEpoch, addr: `${nodeId}:7400`, role: 'primary' as const, nowMs: 1_000 });

  it('acquire on a free key: SET NX PX plus a new epoch, and the holder info', async () => {
    const { keys, lease } = setup();
    assert.deepEqual(await lease.acquire(acquireArgs('a')), { acquired: true, epoch: 1, takenOver: false });
    assert.equal(await fx.redis.get(keys.leader), 'a:1');
    assert.equal(await fx.redis.get(keys.epoch), '1');
    const pttl = await fx.redis.pttl(keys.leader);
    assert.ok(pttl > 4_000 && pttl <= 5_000, `pttl ${pttl}`);
    assert.equal(await fx.redis.hget(keys.leaderInfo, 'addr'), 'a:7400');
  });

  it('early takeover: replaces a held lease only while it is exactly as observed and not renewed since', async () => {
    const { keys, lease } = setup();
    await lease.acquire(acquireArgs('a'));
    const seen = await lease.observe();
    assert.ok(seen);
    assert.equal(seen.owner, 'a:1');
    assert.equal(seen.nodeId, 'a');
    assert.equal(seen.renewals, '0');
    assert.ok(seen.pttlMs > 0 && seen.pttlMs <= 5_000);
    // A renewal in between: the holder lives, nothing is taken.
    assert.deepEqual(await lease.renew('a', 1), { renewed: true });
    const refused = await lease.acquire({ ...acquireArgs('b'), takeover: seen });
    assert.equal(refused.acquired, false);
    assert.equal(await fx.redis.get(keys.leader), 'a:1');
    assert.equal(await fx.redis.get(keys.epoch), '1', 'a refused takeover burns no epoch');
    // Observed again and not renewed since: taken over with the next epoch, and the old holder is fenced out.
    const again = await lease.observe();
    assert.equal(again?.renewals, '1');
    assert.deepEqual(await lease.acquire({ ...acquireArgs('b'), takeover: again }), { acquired: true, epoch: 2, takenOver: true });
    assert.equal(await fx.redis.get(keys.leader), 'b:2');
    assert.equal(await fx.redis.hget(keys.leaderInfo, 'renewals'), '0');
    assert.deepEqual(await lease.renew('a', 1), { renewed: false, holder: { nodeId: 'b', epoch: 2, addr: '' } });
    // An observation of a lease that was since released and taken again names another owner: refused.
    assert.equal(await lease.release('b', 2), true);
    await lease.acquire(acquireArgs('a'));
    const stale = await lease.acquire({ ...acquireArgs('b'), takeover: { owner: 'b:2', renewals: '0' } });
    assert.equal(stale.acquired, false);
    assert.equal(await fx.redis.get(keys.leader), 'a:3');
  });

  it('acquire while held is refused with the holder, its address and remaining TTL', async () => {
    const { keys, lease } = setup();
    await lease.acquire(acquireArgs('a'));
    const r = await lease.acquire(acquireArgs('b'));
    assert.equal(r.acquired, false);
    if (r.acquired) return;
    assert.deepEqual(r.holder, { nodeId: 'a', epoch: 1, addr: 'a:7400' });
    assert.ok(r.pttlMs > 0 && r.pttlMs <= 5_000);
    assert.equal(await fx.redis.get(keys.leader), 'a:1');
    assert.equal(await fx.redis.get(keys.epoch), '1', 'a refused acquire burns no epoch');
  });

  it('license serials: every acquire records its serial (an atomic max); a lower serial never takes the lease and writes nothing else', async () => {
    const keys = clusterKeys(uniqueClusterId());
    const older = new LeaseStore(fx.scripts, keys, 5_000, 2);
    const newer = new LeaseStore(fx.scripts, keys, 5_000, 3);
    assert.equal(await older.recordLicenseSerial(), 2);
    assert.equal(await fx.redis.get(keys.licenseSerial), '2');
    // The newer node records its serial even while it cannot take the lease.
    assert.deepEqual(await older.acquire(acquireArgs('a')), { acquired: true, epoch: 1, takenOver: false });
    const held = await newer.acquire(acquireArgs('b'));
    assert.equal(held.acquired, false);
    assert.equal(await fx.redis.get(keys.licenseSerial), '3');
    assert.equal(await older.recordLicenseSerial(), 3, 'the older node learns of the newer serial; it never goes down');
    assert.equal(await fx.redis.get(keys.licenseSerial), '3');
    await older.release('a', 1);
    const before = await fx.redis.mget(keys.leader, keys.epoch);
    assert.deepEqual(await older.acquire(acquireArgs('a', 1)), {
      acquired: false,
      holder: { nodeId: '', epoch: 0, addr: '' },
      pttlMs: -1,
      newerLicenseSerial: 3,
    });
    assert.deepEqual(await fx.redis.mget(keys.leader, keys.epoch), before, 'no lease taken, no epoch burnt');
    assert.deepEqual(await newer.acquire(acquireArgs('b', 1)), { acquired: true, epoch: 2, takenOver: false });
    // Large serials stay exact (%d in Lua, not %.14g).
    const big = new LeaseStore(fx.scripts, keys, 5_000, 2 ** 53 - 1);
    assert.equal(await big.recordLicenseSerial(), 2 ** 53 - 1);
    assert.equal(await fx.redis.get(keys.licenseSerial), String(2 ** 53 - 1));
  });

  it('license serials: a value that is no serial is refused (nothing written); a garbage key counts as unset', async () => {
    const keys = clusterKeys(uniqueClusterId());
    for (const bad of [0, -1, 1.5, 2 ** 53]) {
      await assert.rejects(
        new LeaseStore(fx.scripts, keys, 5_000, bad).recordLicenseSerial(),
        (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.LICENSE_INVALID,
      );
      await assert.rejects(
        new LeaseStore(fx.scripts, keys, 5_000, bad).acquire(acquireArgs('a')),
        (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.LICENSE_INVALID,
      );
    }
    assert.equal(await fx.redis.exists(keys.licenseSerial, keys.leader, keys.epoch), 0);
    await fx.redis.set(keys.licenseSerial, 'garbage');
    assert.equal(await new LeaseStore(fx.scripts, keys, 5_000, 4).recordLicenseSerial(), 4);
  });

  it('renew extends the TTL only for the holder', async () => {
    const { keys, lease } = setup(2_000);
    await lease.acquire(acquireArgs('a'));
    await fx.redis.pexpire(keys.leader, 500);
    assert.deepEqual(await lease.renew('a', 1), { renewed: true });
    assert.ok((await fx.redis.pttl(keys.leader)) > 1_500);
    const other = await lease.renew('b', 1);
    assert.equal(other.renewed, false);
    const stale = await lease.renew('a', 0);
    assert.equal(stale.renewed, false);
    if (!stale.renewed) assert.deepEqual(stale.holder, { nodeId: 'a', epoch: 1, addr: '' });
  });

  it('expiry: the key lapses after the TTL and the next node takes over with epoch + 1', async () => {
    const { keys, lease } = setup(150);
    assert.deepEqual(await lease.acquire(acquireArgs('a')), { acquired: true, epoch: 1, takenOver: false });
    await eventually(async () => (await fx.redis.exists(keys.leader)) === 0 || undefined, 5_000, 'lease expiry');
    const renew = await lease.renew('a', 1);
    assert.deepEqual(renew, { renewed: false, holder: undefined });
    assert.deepEqual(await lease.acquire(acquireArgs('b')), { acquired: true, epoch: 2, takenOver: false });
  });

  it('a write with a stale epoch is refused and changes nothing (the paused ex-leader)', async () => {
    const { keys, lease } = setup(150);
    await lease.acquire(acquireArgs('a'));
    await eventually(async () => (await fx.redis.exists(keys.leader)) === 0 || undefined, 5_000, 'lease expiry');
    await lease.acquire(acquireArgs('b'));
    const pttlBefore = await fx.redis.pttl(keys.leader);
    const r = await lease.renew('a', 1);
    assert.equal(r.renewed, false);
    if (!r.renewed) assert.equal(r.holder?.nodeId, 'b');
    assert.equal(await lease.release('a', 1), false);
    assert.equal(await fx.redis.get(keys.leader), 'b:2');
    assert.ok((await fx.redis.pttl(keys.leader)) <= pttlBefore);
  });

  it('release is compare-and-delete', async () => {
    const { keys, lease } = setup();
    await lease.acquire(acquireArgs('a'));
    assert.equal(await lease.release('b', 1), false);
    assert.equal(await lease.release('a', 2), false);
    assert.equal(await fx.redis.get(keys.leader), 'a:1');
    assert.equal(await lease.release('a', 1), true);
    assert.equal(await fx.redis.exists(keys.leader), 0);
    assert.equal(await lease.release('a', 1), false);
  });

  it('epochs never repeat: a Redis that lost its counter still gets epoch above the node-known one', async () => {
    const { keys, lease } = setup();
    assert.deepEqual(await lease.acquire(acquireArgs('a')), { acquired: true, epoch: 1, takenOver: false });
    await lease.release('a', 1);
    await fx.redis.del(keys.epoch, keys.leaderInfo); // as after a restart without data
    assert.deepEqual(await lease.acquire(acquireArgs('b', 41)), { acquired: true, epoch: 42, takenOver: false });
    await lease.release('b', 42);
    assert.deepEqual(await lease.acquire(acquireArgs('a', 3)), { acquired: true, epoch: 43, takenOver: false });
  });

  it('large epochs are rendered as whole decimal numbers (not %.14g exponent notation) and stay usable for fencing', async () => {
    const { keys, lease } = setup();
    const known = 2 ** 47; // 15 digits: Lua's default number format would write 1.4073748835533e+14
    assert.deepEqual(await lease.acquire(acquireArgs('a', known)), { acquired: true, epoch: known + 1, takenOver: false });
    assert.equal(await fx.redis.get(keys.leader), `a:${known + 1}`);
    assert.equal(await fx.redis.get(keys.epoch), String(known + 1));
    assert.equal(await fx.redis.hget(keys.leaderInfo, 'epoch'), String(known + 1));
    assert.equal(await fx.redis.hget(keys.leaderInfo, 'owner'), `a:${known + 1}`);
    assert.deepEqual(await lease.renew('a', known + 1), { renewed: true });
    const other = await lease.acquire(acquireArgs('b'));
    assert.ok(!other.acquired && other.holder.epoch === known + 1 && other.holder.nodeId === 'a');
    assert.equal(await lease.release('a', known + 1), true);
    // The counter as the script wrote it is read back exactly: the next epoch is one more.
    assert.deepEqual(await lease.acquire(acquireArgs('b')), { acquired: true, epoch: known + 2, takenOver: false });
  });

  it('refuses with EPOCH_OUT_OF_RANGE rather than mint an epoch of 2^48 or more, and writes nothing', async () => {
    const outOfRange = (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.EPOCH_OUT_OF_RANGE;
    const { keys, lease } = setup();
    // The last epoch below the limit can still be minted.
    assert.deepEqual(await lease.acquire(acquireArgs('a', EPOCH_LIMIT - 2)), { acquired: true, epoch: EPOCH_LIMIT - 1, takenOver: false });
    assert.equal(await fx.redis.get(keys.epoch), String(EPOCH_LIMIT - 1));
    await lease.release('a', EPOCH_LIMIT - 1);
    const before = { epoch: await fx.redis.get(keys.epoch), info: await fx.redis.hgetall(keys.leaderInfo) };
    await assert.rejects(lease.acquire(acquireArgs('a')), outOfRange, 'the counter is at the limit');
    assert.equal(await fx.redis.exists(keys.leader), 0);
    assert.deepEqual({ epoch: await fx.redis.get(keys.epoch), info: await fx.redis.hgetall(keys.leaderInfo) }, before);

    // A known epoch at or past the limit, or not a whole number, sent to the script directly (the store refuses it before).
    const fresh = setup();
    const run = (known: string | number) =>
      fx.scripts.run(
        'acquireLease',
        [fresh.keys.leader, fresh.keys.epoch, fresh.keys.leaderInfo, fresh.keys.licenseSerial],
        ['a', 5_000, known, 'a:7400', 'primary', 1_000, 1],
      );
    for (const known of [EPOCH_LIMIT - 1, EPOCH_LIMIT, 1e15, '1e+15', -1, 1.5, 'nan', 'inf']) {
      await assert.rejects(run(known), outOfRange, `known ${known}`);
    }
    await assert.rejects(fresh.lease.acquire(acquireArgs('a', 1e15)), outOfRange, 'the store checks the known epoch too');
    assert.equal(await fx.redis.exists(fresh.keys.leader, fresh.keys.epoch, fresh.keys.leaderInfo), 0);

    // A counter left in exponent notation by an older version is refused with a message naming the key, not reused.
    const poisoned = setup();
    await fx.redis.set(poisoned.keys.epoch, '1e+15');
    await assert.rejects(
      poisoned.lease.acquire(acquireArgs('a')),
      (err: unknown) => outOfRange(err) && err instanceof Error && err.message.includes(poisoned.keys.epoch),
    );
    assert.equal(await fx.redis.exists(poisoned.keys.leader), 0);
  });

  it('readEpoch: the highest epoch Redis knows (counter or leader key), ignoring values that are not epochs', async () => {
    const { keys, lease } = setup();
    assert.equal(await lease.readEpoch(), 0);
    await lease.acquire(acquireArgs('a', 40));
    assert.equal(await lease.readEpoch(), 41);
    await fx.redis.del(keys.epoch); // as after losing the counter; the leader key still names 41
    assert.equal(await lease.readEpoch(), 41);
    await fx.redis.set(keys.epoch, '1e+15');
    assert.equal(await lease.readEpoch(), 41);
    await fx.redis.set(keys.leader, 'a:1e+15');
    assert.equal(await lease.readEpoch(), 0);
  });

  it('every key of one cluster shares the {lic:<cluster>} hash tag (one slot)', async () => {
    const { keys } = setup();
    const slots = await Promise.all(
      [keys.leader, keys.epoch, keys.leaderInfo].map((k) => fx.redis.call('CLUSTER', 'KEYSLOT', k).catch(() => k.match(/^\{[^}]+\}/)?.[0])),
    );
    assert.equal(new Set(slots).size, 1);
  });
});
