import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { signActivation } from '../../src/server/budget/activation-keys';
import { type BudgetSettings, type BudgetVerdict, BudgetKeeper } from '../../src/server/budget/budget-keeper';
import { ManualClock } from '../../src/server/clock';
import type { Role } from '../../src/server/config';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { generateVendorKeys } from '../../src/server/license/vendor-keys';
import { createSilentLogger } from '../../src/server/log';
import { StateFile } from '../../src/server/state-file';
import { type BudgetState, BudgetStore } from '../../src/server/store/budget-store';
import type { Fence } from '../../src/server/store/fence';
import { type ClusterKeys, clusterKeys } from '../../src/server/store/keys';
import { LeaseStore } from '../../src/server/store/lease-store';
import { uniqueClusterId, forEachTopology, useScriptFixture } from '../helpers/redis';

const HOUR = 3_600_000;
const BUDGET = 72 * HOUR;
const RESET = HOUR;
// A long lease TTL keeps the charge cap out of the way, so 72 hours take a few hundred ticks.
const TTL = 10 * 60_000;
const STEP = TTL;
const vendor = generateVendorKeys();
const vendorPriv = createPrivateKey(vendor.privateKeyPem);

/**
 * The failover budget against a real Redis, with a ManualClock: 72 hours run in
 * milliseconds. Fencing is real (a lease is acquired for each node).
 */
forEachTopology('failover budget (BudgetKeeper + fx.scripts, real Redis, manual clock)', (topology) => {
  const fx = useScriptFixture(topology);

  interface World {
    keys: ClusterKeys;
    clock: ManualClock;
    clusterId: string;
    dirs: Record<Role, string>;
  }

  function world(): World {
    const clusterId = uniqueClusterId();
    return {
      keys: clusterKeys(clusterId),
      clock: new ManualClock(Date.UTC(2026, 10, 27)),
      clusterId,
      dirs: { primary: mkdtempSync(path.join(tmpdir(), 'bk-p-')), redundant: mkdtempSync(path.join(tmpdir(), 'bk-r-')) },
    };
  }

  /** Only what the keeper reads: no admin token, license file or Redis URL to make up. */
  function settings(w: World, role: Role): BudgetSettings {
    return {
      role,
      clusterId: w.clusterId,
      nodeId: role === 'primary' ? 'node-a' : 'node-b',
      leaseTtlMs: TTL,
      budgetMs: BUDGET,
      resetAfterMs: RESET,
      maxExtensionMs: BUDGET, // a key may add another whole budget
    };
  }

  /**
   * A node's budget keeper, as the node wires it, plus a way to hold the lease. The
   * lease loop hands each hook's verdict to the controller; here `blocked` records the
   * verdicts' `blocked`, in order, as the role machine would see them.
   */
  function node(w: World, role: Role) {
    const cfg = settings(w, role);
    const blocked: boolean[] = [];
    const keeper = new BudgetKeeper({
      settings: cfg,
      clock: w.clock,
      logger: createSilentLogger(),
      store: new BudgetStore(fx.scripts, w.keys, BUDGET),
      stateFile: new StateFile(w.dirs[role], cfg.nodeId),
      vendorPublicKey: createPublicKey(vendor.publicKeyPem),
    });
    const apply = (verdict: BudgetVerdict | undefined): void => {
      if (verdict) blocked.push(verdict.blocked);
    };
    const lease = new LeaseStore(fx.scripts, w.keys, 10 * 60_000, 1);
    let fence: Fence | undefined;
    return {
      keeper,
      blocked,
      get fence(): Fence {
        assert.ok(fence, 'node holds no lease');
        return fence;
      },
      async acquire(): Promise<void> {
        apply(await keeper.beforeAcquire());
        const r = await lease.acquire({ nodeId: cfg.nodeId, knownEpoch: 0, addr: 'x:1', role, nowMs: w.clock.now() });
        assert.ok(r.acquired, 'lease acquired');
        fence = { nodeId: cfg.nodeId, epoch: r.epoch };
        apply(await keeper.afterAcquire(fence, w.clock.monotonic()));
      },
      /** Serve for `ms`, renewing every STEP as the lease loop does (every heartbeat). */
      async serve(ms: number): Promise<void> {
        for (let t = 0; t < ms; t += STEP) {
          w.clock.advance(Math.min(STEP, ms - t));
          apply(await keeper.afterRenew(this.fence));
        }
      },
      async release(): Promise<void> {
        apply(await keeper.beforeRelease(this.fence));
        await lease.release(cfg.nodeId, this.fence.epoch);
        fence = undefined;
      },
      /** AdminService.Activate: the key's result, its verdict handed on as the admin service does. */
      async activate(key: string): Promise<BudgetState> {
        const { budget, verdict } = await keeper.activate(this.fence, key);
        apply(verdict);
        return budget;
      },
      async crash(): Promise<void> {
        await fx.redis.del(w.keys.leader);
        fence = undefined;
      },
    };
  }

  const budgetHash = (w: World) => fx.redis.hgetall(w.keys.budget);
  const everything = async (w: World) => ({
    budget: await fx.redis.hgetall(w.keys.budget),
    pending: await fx.redis.hgetall(w.keys.activationPending),
    used: (await fx.redis.smembers(w.keys.activationUsed)).sort(),
  });

  it('before any failover the budget reads full, with no episode', async () => {
    const w = world();
    const r = node(w, 'redundant');
    await r.keeper.refresh();
    assert.deepEqual(r.keeper.state, { episodeId: '', grantedMs: BUDGET, consumedMs: 0, activations: 0, blocked: false });
  });

  it('drains only while the redundant holds the lease, and blocks at exhaustion', async () => {
    const w = world();
    const r = node(w, 'redundant');
    await r.acquire();
    const episode = r.keeper.state.episodeId;
    assert.match(episode, /^[0-9a-f]{12}$/);
    await r.serve(10 * 60_000);
    assert.equal(r.keeper.state.consumedMs, 10 * 60_000);
    await r.release();
    // Not serving for a day: nothing charged.
    w.clock.advance(24 * HOUR);
    await r.keeper.refresh();
    assert.equal(r.keeper.state.consumedMs, 10 * 60_000);
    // Serve again in the same episode, through to the end of the budget.
    await r.acquire();
    assert.equal(r.keeper.state.episodeId, episode);
    await r.serve(BUDGET - 10 * 60_000 - 1_000);
    assert.equal(r.keeper.state.blocked, false);
    await r.serve(1_000);
    assert.equal(r.keeper.state.blocked, true);
    assert.equal(r.keeper.state.consumedMs, BUDGET);
    assert.equal(r.blocked.at(-1), true);
    assert.equal((await budgetHash(w))['blocked'], '1');
    // Blocked time is not charged: a key applied later still buys its whole extension.
    await r.serve(HOUR);
    assert.equal(r.keeper.state.consumedMs, BUDGET);
  });

  it('a charge is capped at one lease TTL (a stalled process or a long outage is not charged in full)', async () => {
    const w = world();
    const r = node(w, 'redundant');
    await r.acquire();
    w.clock.advance(5 * TTL);
    await r.keeper.afterRenew(r.fence);
    assert.equal(r.keeper.state.consumedMs, TTL);
  });

  it('restarting the redundant (active or blocked) refunds nothing, and a blocked one starts blocked', async () => {
    const w = world();
    const r1 = node(w, 'redundant');
    await r1.acquire();
    await r1.serve(BUDGET);
    assert.equal(r1.keeper.state.blocked, true);
    await r1.crash();
    const r2 = node(w, 'redundant'); // same state dir, same Redis: a restart
    assert.equal(r2.keeper.startsBlocked(), true);
    await r2.acquire();
    assert.equal(r2.keeper.state.blocked, true);
    assert.equal(r2.keeper.state.consumedMs, BUDGET);
    assert.ok(!r2.blocked.includes(false), 'never unblocked on the way');
  });

  it('a primary back for less than the reset period refunds nothing; after the reset period the budget is full', async () => {
    const w = world();
    const r = node(w, 'redundant');
    const p = node(w, 'primary');
    await r.acquire();
    await r.serve(2 * HOUR);
    await r.release();
    // The primary holds for just under the reset period, then flaps.
    await p.acquire();
    await p.serve(RESET - 1_000);
    assert.equal((await budgetHash(w))['consumed_ms'], String(2 * HOUR));
    await p.crash();
    p.keeper.onLeaseLost();
    await r.acquire();
    await r.serve(60_000);
    await r.release();
    assert.equal(r.keeper.state.consumedMs, 2 * HOUR + 60_000, 'flapping refunded nothing');
    // Now the primary holds continuously for the whole period.
    await p.acquire();
    await p.serve(RESET - 1_000);
    assert.notEqual((await budgetHash(w))['episode_id'], '');
    await p.serve(1_000);
    const h = await budgetHash(w);
    assert.equal(h['episode_id'], '');
    assert.equal(h['consumed_ms'], '0');
    await r.keeper.refresh();
    assert.deepEqual(r.keeper.state, { episodeId: '', grantedMs: BUDGET, consumedMs: 0, activations: 0, blocked: false });
    assert.equal(r.keeper.mirror.episodeId, '', 'the redundant forgot the ended episode');
  });

  it('moving the wall clock an hour back or forward neither refunds nor burns budget', async () => {
    const w = world();
    const r = node(w, 'redundant');
    await r.acquire();
    await r.serve(30_000);
    w.clock.setWall(w.clock.now() - HOUR);
    await r.serve(30_000);
    w.clock.setWall(w.clock.now() + 2 * HOUR);
    await r.serve(30_000);
    assert.equal(r.keeper.state.consumedMs, 90_000);
  });

  it('FLUSHALL during an episode: the disk mirror restores the consumption', async () => {
    const w = world();
    const r = node(w, 'redundant');
    await r.acquire();
    await r.serve(5 * HOUR);
    const episode = r.keeper.state.episodeId;
    await fx.redis.del(w.keys.budget, w.keys.leader); // what FLUSHALL does to this cluster
    await r.keeper.refresh();
    assert.equal(r.keeper.state.consumedMs, 5 * HOUR, 'status shows the mirror while Redis is empty');
    await r.acquire();
    assert.equal(r.keeper.state.episodeId, episode);
    assert.equal(r.keeper.state.consumedMs, 5 * HOUR);
    assert.equal((await budgetHash(w))['consumed_ms'], String(5 * HOUR));
  });

  it('state dir wiped: Redis keeps the consumption', async () => {
    const w = world();
    const r1 = node(w, 'redundant');
    await r1.acquire();
    await r1.serve(3 * HOUR);
    await r1.crash();
    rmSync(w.dirs.redundant, { recursive: true, force: true });
    const r2 = node(w, 'redundant');
    assert.equal(r2.keeper.mirror.episodeId, '');
    await r2.acquire();
    assert.equal(r2.keeper.state.consumedMs, 3 * HOUR);
    assert.equal(r2.keeper.mirror.consumedMs, 3 * HOUR, 'mirror rebuilt');
  });

  it('for the same episode the larger consumption of Redis and disk wins', async () => {
    const w = world();
    const r = node(w, 'redundant');
    await r.acquire();
    await r.serve(4 * HOUR);
    await fx.redis.hset(w.keys.budget, 'consumed_ms', String(HOUR)); // Redis rolled back (restored an old snapshot)
    await r.serve(1_000);
    assert.equal(r.keeper.state.consumedMs, 4 * HOUR + 1_000);
  });

  describe('activation', () => {
    async function blockedRedundant() {
      const w = world();
      const r = node(w, 'redundant');
      await r.acquire();
      await r.serve(BUDGET);
      assert.equal(r.keeper.state.blocked, true);
      return { w, r };
    }

    async function refuses(w: World, call: () => Promise<unknown>, code: ErrorCode): Promise<void> {
      const before = await everything(w);
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof LicenseError, String(err));
        assert.equal(err.code, code, err.message);
        return true;
      });
      assert.deepEqual(await everything(w), before, 'budget changed by a refused activation');
    }

    it('a valid key adds the extension and unblocks; replaying it is ACTIVATION_USED', async () => {
      const { w, r } = await blockedRedundant();
      const request = await r.keeper.requestKey(r.fence);
      assert.match(request, /^LRQ1\.[A-Za-z0-9_-]+$/);
      const { key } = signActivation(request, vendorPriv, { nowMs: w.clock.now() });
      const after = await r.activate(key);
      assert.deepEqual(after, { episodeId: r.keeper.state.episodeId, grantedMs: 2 * BUDGET, consumedMs: BUDGET, activations: 1, blocked: false });
      assert.equal(r.blocked.at(-1), false);
      await refuses(w, () => r.keeper.activate(r.fence, key), ErrorCode.ACTIVATION_USED);
    });

    it('a key may be applied before the block', async () => {
      const w = world();
      const r = node(w, 'redundant');
      await r.acquire();
      await r.serve(HOUR);
      const { key } = signActivation(await r.keeper.requestKey(r.fence), vendorPriv, { nowMs: w.clock.now() });
      const s = await r.activate(key);
      assert.equal(s.grantedMs, 2 * BUDGET);
      assert.equal(s.blocked, false);
    });

    it('the vendor chooses the extension', async () => {
      const { w, r } = await blockedRedundant();
      const { key } = signActivation(await r.keeper.requestKey(r.fence), vendorPriv, { nowMs: w.clock.now(), extensionMs: HOUR });
      assert.equal((await r.activate(key)).grantedMs, BUDGET + HOUR);
    });

    it("a key that extends by more than the license's max_extension_ms is refused and changes nothing, however the request was edited", async () => {
      const { w, r } = await blockedRedundant();
      const request = await r.keeper.requestKey(r.fence);
      const decoded = JSON.parse(Buffer.from(request.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
      assert.equal(decoded['extension_ms'], BUDGET, "the request tells the vendor the license's cap");
      // The vendor tool refuses to sign more than the request says the license accepts...
      assert.throws(
        () => signActivation(request, vendorPriv, { nowMs: w.clock.now(), extensionMs: BUDGET + 1 }),
        (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.INVALID_ARGUMENT && /failover\.max_extension_ms/.test(err.message),
      );
      // ...but a request key carries no signature: edited to claim a bigger cap, the vendor signs
      // an oversized key. The node checks its own license, not the request.
      const edited = `LRQ1.${Buffer.from(JSON.stringify({ ...decoded, extension_ms: 1_000 * BUDGET })).toString('base64url')}`;
      const { key } = signActivation(edited, vendorPriv, { nowMs: w.clock.now(), extensionMs: 1_000 * BUDGET });
      await refuses(w, () => r.keeper.activate(r.fence, key), ErrorCode.ACTIVATION_WRONG_TARGET);
      await assert.rejects(r.keeper.activate(r.fence, key), /more than this cluster's license allows per key \(failover\.max_extension_ms = 259200000\)/);
      assert.equal(r.keeper.state.blocked, true);
      // The same request answered within the cap works: the refusal consumed nothing.
      const ok = signActivation(request, vendorPriv, { nowMs: w.clock.now(), extensionMs: BUDGET });
      assert.equal((await r.activate(ok.key)).grantedMs, 2 * BUDGET);
    });

    it('tampered, foreign, expired, garbage and out-of-sequence keys are refused and change nothing', async () => {
      const { w, r } = await blockedRedundant();
      const request = await r.keeper.requestKey(r.fence);
      const { key } = signActivation(request, vendorPriv, { nowMs: w.clock.now() });
      // One character changed, in the data and in the signature.
      const [pre, data, sig] = key.split('.') as [string, string, string];
      const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
      await refuses(w, () => r.keeper.activate(r.fence, [pre, data, flip(sig, 10)].join('.')), ErrorCode.ACTIVATION_BAD_SIGNATURE);
      await assert.rejects(
        () => r.keeper.activate(r.fence, [pre, flip(data, 20), sig].join('.')),
        (e: LicenseError) => [ErrorCode.ACTIVATION_BAD_SIGNATURE, ErrorCode.ACTIVATION_MALFORMED].includes(e.code as 'ACTIVATION_MALFORMED'),
      );
      // Signed by someone else.
      const other = signActivation(request, createPrivateKey(generateVendorKeys().privateKeyPem), { nowMs: w.clock.now() });
      await refuses(w, () => r.keeper.activate(r.fence, other.key), ErrorCode.ACTIVATION_BAD_SIGNATURE);
      // For another cluster / node: a genuine vendor signature over another request.
      const decoded = JSON.parse(Buffer.from(request.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
      const reencode = (o: Record<string, unknown>) => `LRQ1.${Buffer.from(JSON.stringify(o)).toString('base64url')}`;
      await refuses(
        w,
        () => r.keeper.activate(r.fence, signActivation(reencode({ ...decoded, cluster_id: 'other' }), vendorPriv).key),
        ErrorCode.ACTIVATION_WRONG_TARGET,
      );
      await refuses(
        w,
        () => r.keeper.activate(r.fence, signActivation(reencode({ ...decoded, node_id: 'node-a' }), vendorPriv).key),
        ErrorCode.ACTIVATION_WRONG_TARGET,
      );
      await refuses(
        w,
        () => r.keeper.activate(r.fence, signActivation(reencode({ ...decoded, episode_id: 'feedfeedfeed' }), vendorPriv).key),
        ErrorCode.ACTIVATION_WRONG_TARGET,
      );
      await refuses(w, () => r.keeper.activate(r.fence, signActivation(reencode({ ...decoded, seq: 2 }), vendorPriv).key), ErrorCode.ACTIVATION_WRONG_TARGET);
      await refuses(
        w,
        () => r.keeper.activate(r.fence, signActivation(reencode({ ...decoded, nonce: 'x'.repeat(24) }), vendorPriv).key),
        ErrorCode.ACTIVATION_WRONG_TARGET,
      );
      // Expired.
      const expired = signActivation(request, vendorPriv, { nowMs: w.clock.now() - 8 * 24 * HOUR });
      await refuses(w, () => r.keeper.activate(r.fence, expired.key), ErrorCode.ACTIVATION_EXPIRED);
      // Garbage.
      for (const g of ['', 'hello', 'LAK1.', 'LAK1.x.y', 'LRQ1.abc', `LAK1.${data}`]) {
        await refuses(w, () => r.keeper.activate(r.fence, g), ErrorCode.ACTIVATION_MALFORMED);
      }
      // And the genuine key still works afterwards.
      assert.equal((await r.activate(key)).blocked, false);
    });

    it('a request key is only for the redundant during an episode', async () => {
      const w = world();
      const p = node(w, 'primary');
      await p.acquire();
      await assert.rejects(p.keeper.requestKey(p.fence), (e: LicenseError) => e.code === ErrorCode.FAILED_PRECONDITION && /redundant/.test(e.message));
      await p.release();
      const r = node(w, 'redundant');
      // Holding the lease but before any charge opened an episode cannot happen via the
      // lease loop; with an episode ended by the primary there is nothing to activate.
      await r.acquire();
      assert.match(await r.keeper.requestKey(r.fence), /^LRQ1\./);
    });
  });
});
