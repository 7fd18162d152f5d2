import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { signActivation } from '../../src/server/budget/activation-keys';
import { type BudgetSettings, type BudgetVerdict, BudgetKeeper } from '../../src/server/budget/budget-keeper';
import { ManualClock } from '../../src/server/clock';
import type { Role } from '../../src/server/config';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { generateVendorKeys } from '../../src/server/license/vendor-keys';
import { createLogger, createSilentLogger, type Logger } from '../../src/server/log';
import { nodeStateFileIo, StateFile, type StateFileIo } from '../../src/server/state-file';
import { type BudgetState, BudgetStore } from '../../src/server/store/budget-store';
import type { Fence } from '../../src/server/store/fence';
import { type ClusterKeys, clusterKeys } from '../../src/server/store/keys';
import { LeaseStore } from '../../src/server/store/lease-store';
import { eventually, uniqueClusterId, forEachTopology, useScriptFixture } from '../helpers/redis';

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
      redundantNodeId: 'node-b',
    };
  }

  /**
   * A node's budget keeper, as the node wires it, plus a way to hold the lease. The
   * lease loop hands each hook's verdict to the controller; here `blocked` records the
   * verdicts' `blocked`, in order, as the role machine would see them.
   */
  function node(w: World, role: Role, logger: Logger = createSilentLogger(), io?: StateFileIo) {
    const cfg = settings(w, role);
    const blocked: boolean[] = [];
    const stateFile = new StateFile(w.dirs[role], cfg.nodeId, io);
    const keeper = new BudgetKeeper({
      settings: cfg,
      clock: w.clock,
      logger,
      store: new BudgetStore(fx.scripts, w.keys, BUDGET),
      stateFile,
      vendorPublicKey: createPublicKey(vendor.publicKeyPem),
    });
    const apply = (verdict: BudgetVerdict | undefined): void => {
      if (verdict) blocked.push(verdict.blocked);
    };
    const lease = new LeaseStore(fx.scripts, w.keys, 10 * 60_000, 1);
    let fence: Fence | undefined;
    return {
      keeper,
      stateFile,
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
      /**
       * Serve for `ms`, renewing every STEP as the lease loop does (every heartbeat). The
       * `watchers` (standby nodes) refresh at every step, as their lease loops do while waiting.
       */
      async serve(ms: number, watchers: { keeper: BudgetKeeper }[] = []): Promise<void> {
        for (const o of watchers) await o.keeper.refresh();
        for (let t = 0; t < ms; t += STEP) {
          w.clock.advance(Math.min(STEP, ms - t));
          apply(await keeper.afterRenew(this.fence));
          for (const o of watchers) await o.keeper.refresh();
        }
      },
      /** A planned release; the node may stop after it, and a stopping node flushes its mirror (NodeController.stop). */
      async release(): Promise<void> {
        apply(await keeper.beforeRelease(this.fence));
        await lease.release(cfg.nodeId, this.fence.epoch);
        fence = undefined;
        await stateFile.flush();
      },
      /** AdminService.Activate: the key's result, its verdict handed on as the admin service does. */
      async activate(key: string): Promise<BudgetState> {
        const { budget, verdict } = await keeper.activate(this.fence, key);
        apply(verdict);
        return budget;
      },
      /**
       * The process dies, its last mirror write on disk (the mirror is written in the
       * background; 'a crash that loses the mirror write in flight' covers the other case).
       */
      async crash(): Promise<void> {
        await stateFile.flush();
        await fx.redis.del(w.keys.leader);
        fence = undefined;
      },
      /** The process dies with its mirror write still in flight: the disk keeps the write before. */
      async crashMidWrite(): Promise<void> {
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
    await p.serve(RESET - 1_000, [r]);
    assert.equal((await budgetHash(w))['consumed_ms'], String(2 * HOUR));
    await p.crash();
    p.keeper.onLeaseLost();
    await r.acquire();
    await r.serve(60_000);
    await r.release();
    assert.equal(r.keeper.state.consumedMs, 2 * HOUR + 60_000, 'flapping refunded nothing');
    // Now the primary holds continuously for the whole period.
    await p.acquire();
    await p.serve(RESET - 1_000, [r]);
    assert.notEqual((await budgetHash(w))['episode_id'], '');
    await p.serve(1_000, [r]);
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

  describe('the disk mirror is written in the background', () => {
    /** The real file operations behind a gate that the test opens and shuts: a slow or stalled disk. */
    function gatedIo() {
      let release: () => void = () => {};
      let gate = new Promise<void>((r) => (release = r));
      let inFlight = 0;
      const written: string[] = [];
      const io: StateFileIo = {
        async writeDurably(file, data) {
          inFlight++;
          try {
            await gate;
            await nodeStateFileIo.writeDurably(file, data);
            written.push(data);
          } finally {
            inFlight--;
          }
        },
        syncDir: (d) => nodeStateFileIo.syncDir(d),
      };
      return {
        io,
        written,
        get inFlight() {
          return inFlight;
        },
        open: () => release(),
        shut: () => {
          gate = new Promise<void>((r) => (release = r));
        },
      };
    }
    const mirrorOnDisk = (w: World) =>
      (JSON.parse(readFileSync(path.join(w.dirs.redundant, 'node-b.state.json'), 'utf8')) as { budget?: { episodeId: string; consumedMs: number } }).budget;

    it('charges never wait for the disk: the lease loop goes on while the mirror write is stalled, and the writes are coalesced', async () => {
      const w = world();
      const g = gatedIo();
      const r = node(w, 'redundant', createSilentLogger(), g.io);
      await r.acquire(); // the charge that opens the episode
      await r.serve(3 * STEP);
      assert.equal(g.inFlight, 1, 'the first mirror write is still held at the disk');
      assert.equal(r.keeper.state.consumedMs, 3 * STEP, 'yet every charge landed');
      assert.equal(r.keeper.mirror.consumedMs, 3 * STEP, 'and the mirror the keeper reads is current');
      g.open();
      await r.stateFile.flush();
      assert.ok(g.written.length <= 2, `four charges, ${g.written.length} writes`);
      assert.deepEqual(mirrorOnDisk(w), { ...r.keeper.mirror });
    });

    it('a crash that loses the mirror write in flight refunds nothing: Redis holds the charge, the disk the one before', async () => {
      const w = world();
      const g = gatedIo();
      g.open();
      const r = node(w, 'redundant', createSilentLogger(), g.io);
      await r.acquire();
      await r.serve(2 * HOUR);
      await r.stateFile.flush();
      const episode = r.keeper.state.episodeId;
      g.shut();
      await r.serve(HOUR);
      await r.crashMidWrite();
      assert.equal(mirrorOnDisk(w)?.consumedMs, 2 * HOUR, 'the disk is one write behind');
      const r2 = node(w, 'redundant');
      await r2.acquire();
      assert.deepEqual(
        { episode: r2.keeper.state.episodeId, consumedMs: r2.keeper.state.consumedMs },
        { episode, consumedMs: 3 * HOUR },
        'the larger consumption (Redis) wins',
      );
    });

    it('Activate answers only once the applied key is in the mirror on disk', async () => {
      const w = world();
      const g = gatedIo();
      g.open();
      const r = node(w, 'redundant', createSilentLogger(), g.io);
      await r.acquire();
      await r.serve(BUDGET);
      const { key } = signActivation(await r.keeper.requestKey(r.fence), vendorPriv, { nowMs: w.clock.now(), extensionMs: HOUR });
      await r.stateFile.flush();
      g.shut();
      let answered = false;
      const activation = r.activate(key).then(() => (answered = true));
      await eventually(() => g.inFlight === 1 || undefined, 10_000, 'the mirror write');
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(answered, false, 'no answer while the key is not on disk');
      g.open();
      await activation;
      const onDisk = JSON.parse(readFileSync(path.join(w.dirs.redundant, 'node-b.state.json'), 'utf8')) as { budget: { keys: string[] } };
      assert.deepEqual(onDisk.budget.keys, [key]);
    });
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

  describe('tampering never leaves more budget', () => {
    /** The redundant's state file, as an operator with root on its server sees it. */
    const stateFilePath = (w: World) => path.join(w.dirs.redundant, 'node-b.state.json');
    function editStateFile(w: World, edit: (budget: Record<string, unknown>) => void): void {
      const file = JSON.parse(readFileSync(stateFilePath(w), 'utf8')) as { budget: Record<string, unknown> };
      edit(file.budget);
      writeFileSync(stateFilePath(w), JSON.stringify(file));
    }

    /** DUMP of every budget-related key: what restoring an old RDB/AOF snapshot puts back. */
    async function snapshot(w: World): Promise<Map<string, Buffer | null>> {
      const snap = new Map<string, Buffer | null>();
      for (const k of [w.keys.budget, w.keys.activationPending, w.keys.activationUsed, w.keys.activationApplied]) snap.set(k, await fx.redis.dumpBuffer(k));
      return snap;
    }
    async function restoreSnapshot(snap: Map<string, Buffer | null>): Promise<void> {
      for (const [k, v] of snap) {
        await fx.redis.del(k);
        if (v) await fx.redis.restore(k, 0, v, 'REPLACE');
      }
    }

    /** A redundant that served its whole budget: blocked, holding the lease. */
    async function spentRedundant() {
      const w = world();
      const r = node(w, 'redundant');
      await r.acquire();
      await r.serve(BUDGET);
      assert.equal(r.keeper.state.blocked, true);
      return { w, r, episode: r.keeper.state.episodeId };
    }

    /** Still spent: after a charge, in status, in Redis, and across a restart (which comes back blocked). */
    async function assertStillSpent(w: World, r: ReturnType<typeof node>, episode: string, grantedMs = BUDGET): Promise<ReturnType<typeof node>> {
      await r.keeper.refresh();
      assert.equal(r.keeper.state.blocked, true, 'status (refresh) shows it blocked');
      assert.equal(r.keeper.state.episodeId, episode, 'status shows the same episode');
      await r.serve(STEP);
      const { episodeId, consumedMs, blocked } = r.keeper.state;
      assert.deepEqual(
        { episodeId, grantedMs: r.keeper.state.grantedMs, consumedMs, blocked },
        { episodeId: episode, grantedMs, consumedMs: grantedMs, blocked: true },
      );
      assert.equal(r.blocked.lastIndexOf(false) < r.blocked.indexOf(true), true, 'never unblocked once spent');
      const h = await budgetHash(w);
      assert.equal(h['episode_id'], episode, 'the charge wrote the episode back to Redis');
      assert.equal(h['consumed_ms'], String(grantedMs));
      assert.equal(h['granted_ms'], String(grantedMs));
      await r.crash();
      const r2 = node(w, 'redundant');
      assert.equal(r2.keeper.startsBlocked(), true, 'a restart comes back blocked');
      await r2.acquire();
      assert.deepEqual(r2.blocked, [true, true], 'blocked before the acquire and after it');
      assert.equal(r2.keeper.state.episodeId, episode);
      return r2;
    }

    it('(a) a snapshot of the budget keys taken early, restored after more was consumed, refunds nothing', async () => {
      const w = world();
      const r = node(w, 'redundant');
      await r.acquire();
      await r.serve(HOUR);
      const snap = await snapshot(w);
      await r.serve(BUDGET - HOUR);
      const episode = r.keeper.state.episodeId;
      await restoreSnapshot(snap);
      await assertStillSpent(w, r, episode);
    });

    it('(a, review) a snapshot from an older episode, restored after the next one is spent, does not reopen the older one', async () => {
      const w = world();
      const r = node(w, 'redundant');
      const p = node(w, 'primary');
      await r.acquire();
      await r.serve(HOUR);
      const old = r.keeper.state.episodeId;
      const snap = await snapshot(w); // the older episode open, one hour consumed
      await r.release();
      await p.acquire();
      await p.serve(RESET, [r]); // the redundant watches the primary end it
      assert.equal((await budgetHash(w))['episode_id'], '');
      await p.crash();
      p.keeper.onLeaseLost();
      await r.acquire();
      const episode = r.keeper.state.episodeId;
      assert.notEqual(episode, old, 'a new episode after the watched end');
      await r.serve(BUDGET);
      assert.equal(r.keeper.state.blocked, true);
      await restoreSnapshot(snap);
      assert.equal((await budgetHash(w))['episode_id'], old);
      await assertStillSpent(w, r, episode);
    });

    it('(a) a snapshot taken before any failover (no budget keys at all), restored, refunds nothing', async () => {
      const w = world();
      const snap = await snapshot(w);
      const r = node(w, 'redundant');
      await r.acquire();
      await r.serve(BUDGET);
      const episode = r.keeper.state.episodeId;
      await restoreSnapshot(snap);
      await assertStillSpent(w, r, episode);
    });

    it('(b, review) HSET granted_ms to a huge number does not raise the grant', async () => {
      const { w, r, episode } = await spentRedundant();
      await fx.redis.hset(w.keys.budget, 'granted_ms', String(1_000 * BUDGET), 'blocked', '0');
      await assertStillSpent(w, r, episode);
    });

    it('(c, review) HSET episode_id to a new id does not open a new episode', async () => {
      const { w, r, episode } = await spentRedundant();
      await fx.redis.hset(w.keys.budget, 'episode_id', 'feedfeedfeed', 'consumed_ms', '0', 'blocked', '0', 'activations', '0');
      await assertStillSpent(w, r, episode);
    });

    it('(c) a forged episode end (episode_id "", last_ended_episode = the open one) does not refill the budget', async () => {
      const { w, r, episode } = await spentRedundant();
      await fx.redis.hset(w.keys.budget, 'episode_id', '', 'last_ended_episode', episode, 'consumed_ms', '0', 'blocked', '0');
      await assertStillSpent(w, r, episode);
    });

    it('an episode end the redundant did not watch (it was down) refills nothing; watching the primary hold for the reset period does', async () => {
      const { w, r, episode } = await spentRedundant();
      await r.release();
      const p = node(w, 'primary');
      await p.acquire();
      await p.serve(RESET); // nobody watching: the redundant is down
      assert.equal((await budgetHash(w))['episode_id'], '', 'the primary ended it');
      const r2 = node(w, 'redundant'); // restarted: its watch starts now
      assert.equal(r2.keeper.startsBlocked(), true);
      await r2.keeper.refresh();
      assert.equal(r2.keeper.state.episodeId, episode, 'the mirror keeps its episode');
      assert.equal(r2.keeper.state.blocked, true);
      await p.serve(RESET - 1_000, [r2]);
      assert.equal(r2.keeper.state.blocked, true, 'not before a whole reset period watched');
      await p.serve(1_000, [r2]);
      assert.deepEqual(r2.keeper.state, { episodeId: '', grantedMs: BUDGET, consumedMs: 0, activations: 0, blocked: false });
      assert.equal(r2.keeper.mirror.endedEpisodeId, episode, 'the mirror records the end it saw');
    });

    it('a watch interrupted by another holder (or a new epoch) starts again', async () => {
      const { w, r, episode } = await spentRedundant();
      await r.release();
      const p = node(w, 'primary');
      await p.acquire();
      await p.serve(RESET - 1_000, [r]);
      // The leader key now names another epoch (a re-acquire, or someone writing it): the watch restarts.
      await p.crash();
      p.keeper.onLeaseLost();
      await p.acquire();
      await p.serve(RESET - 1_000, [r]);
      await r.keeper.refresh();
      assert.equal(r.keeper.state.episodeId, episode);
      assert.equal(r.keeper.state.blocked, true);
      await p.serve(1_000, [r]);
      assert.equal(r.keeper.state.episodeId, '');
    });

    it('(d) DEL of the budget key, or HDEL of its fields: the mirror restores', async () => {
      for (const wipe of [
        (w: World) => fx.redis.del(w.keys.budget, w.keys.activationApplied),
        (w: World) => fx.redis.hdel(w.keys.budget, 'consumed_ms', 'granted_ms'),
        (w: World) => fx.redis.hdel(w.keys.budget, 'episode_id'),
      ]) {
        const { w, r, episode } = await spentRedundant();
        await wipe(w);
        await assertStillSpent(w, r, episode);
      }
    });

    it('(e, review) raising grantedMs (and clearing blocked) in the state file does not raise the grant', async () => {
      const { w, r, episode } = await spentRedundant();
      await r.crash();
      editStateFile(w, (b) => {
        b['grantedMs'] = 1_000 * BUDGET;
        b['blocked'] = false;
      });
      await fx.redis.hset(w.keys.budget, 'granted_ms', String(1_000 * BUDGET), 'blocked', '0'); // and in Redis too
      const r2 = node(w, 'redundant');
      assert.equal(r2.keeper.startsBlocked(), true, 'the restart comes back blocked');
      await r2.acquire();
      await assertStillSpent(w, r2, episode);
    });

    it('(f) the state file wiped: Redis has the budget, the spent redundant stays blocked', async () => {
      const { w, r, episode } = await spentRedundant();
      await r.crash();
      rmSync(w.dirs.redundant, { recursive: true, force: true });
      const r2 = node(w, 'redundant');
      await r2.acquire();
      await assertStillSpent(w, r2, episode);
    });

    it('(g) a spent, blocked redundant stays blocked across (a), (b), (c) and restarts in a row', async () => {
      const w = world();
      let r = node(w, 'redundant');
      await r.acquire();
      await r.serve(HOUR);
      const snap = await snapshot(w);
      await r.serve(BUDGET);
      const episode = r.keeper.state.episodeId;
      for (const attack of [
        () => restoreSnapshot(snap),
        () => fx.redis.hset(w.keys.budget, 'granted_ms', String(10 * BUDGET)),
        () => fx.redis.hset(w.keys.budget, 'episode_id', 'abcabcabcabc', 'consumed_ms', '0'),
        () => restoreSnapshot(snap),
      ]) {
        await attack();
        r = await assertStillSpent(w, r, episode);
      }
    });

    describe('(h) applied activation keys', () => {
      /** A spent redundant with one activation key of one hour applied. */
      async function activated(logger?: Logger) {
        const w = world();
        const r = node(w, 'redundant', logger);
        await r.acquire();
        await r.serve(BUDGET);
        const { key } = signActivation(await r.keeper.requestKey(r.fence), vendorPriv, { nowMs: w.clock.now(), extensionMs: HOUR });
        await r.activate(key);
        assert.equal(r.keeper.state.grantedMs, BUDGET + HOUR);
        return { w, r, key, episode: r.keeper.state.episodeId };
      }

      /** Capture of a node's log lines (JSON), to count refusals. */
      function capture(): { logger: Logger; lines: () => Record<string, unknown>[] } {
        const out: string[] = [];
        const stream = new Writable({
          write(chunk: Buffer, _enc, cb) {
            out.push(chunk.toString());
            cb();
          },
        });
        const logger = createLogger({ level: 'info', context: { node: 'node-b', cluster: 'c' }, stream });
        return {
          logger,
          lines: () =>
            out
              .join('')
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l) as Record<string, unknown>),
        };
      }

      const tamper = (key: string, edit: (g: Record<string, unknown>) => void): string => {
        const [pre, data, sig] = key.split('.') as [string, string, string];
        const g = JSON.parse(Buffer.from(data, 'base64url').toString()) as Record<string, unknown>;
        edit(g);
        return [pre, Buffer.from(JSON.stringify(g)).toString('base64url'), sig].join('.');
      };

      it('the applied key is stored as itself, in Redis and in the mirror', async () => {
        const { w, r, key } = await activated();
        assert.deepEqual(Object.values(await fx.redis.hgetall(w.keys.activationApplied)), [key]);
        assert.deepEqual(r.keeper.mirror.keys, [key]);
      });

      it('still counts after a restart, and after Redis lost the budget keys (the mirror has it)', async () => {
        const { w, r, key, episode } = await activated();
        await r.crash();
        const r2 = node(w, 'redundant');
        assert.equal(r2.keeper.startsBlocked(), false);
        await r2.acquire();
        assert.deepEqual(r2.keeper.state, { episodeId: episode, grantedMs: BUDGET + HOUR, consumedMs: BUDGET, activations: 1, blocked: false });
        await fx.redis.del(w.keys.budget, w.keys.activationApplied);
        await r2.serve(HOUR - 1_000);
        assert.deepEqual(r2.keeper.state, { episodeId: episode, grantedMs: BUDGET + HOUR, consumedMs: BUDGET + HOUR - 1_000, activations: 1, blocked: false });
        assert.deepEqual(Object.values(await fx.redis.hgetall(w.keys.activationApplied)), [key], 'written back to Redis');
        await r2.serve(1_000);
        assert.equal(r2.keeper.state.blocked, true);
      });

      it('a tampered stored key counts for nothing, and is logged once as refused', async () => {
        const log = capture();
        const { w, r, key, episode } = await activated(log.logger);
        const forged = tamper(key, (g) => {
          g['granted_ms'] = BUDGET;
        });
        // Tampered in Redis only: the genuine key in the mirror still counts, the forged one adds nothing.
        const [nonce] = Object.keys(await fx.redis.hgetall(w.keys.activationApplied)) as [string];
        await fx.redis.hset(w.keys.activationApplied, nonce, forged, 'other-nonce-xxxxxxxx', forged);
        await r.serve(STEP);
        await r.serve(STEP);
        assert.equal(r.keeper.state.grantedMs, BUDGET + HOUR);
        // Tampered in both: it counts for nothing at all.
        await r.crash();
        editStateFile(w, (b) => {
          b['keys'] = [forged];
        });
        await fx.redis.del(w.keys.activationApplied);
        await fx.redis.hset(w.keys.activationApplied, nonce, forged);
        const r2 = node(w, 'redundant', log.logger);
        assert.equal(r2.keeper.startsBlocked(), true);
        await r2.acquire();
        await r2.serve(STEP);
        assert.equal(r2.keeper.state.grantedMs, BUDGET);
        assert.equal(r2.keeper.state.blocked, true);
        assert.equal(r2.keeper.state.episodeId, episode);
        await new Promise((resolve) => setImmediate(resolve));
        const refused = log.lines().filter((l) => /activation key refused/.test(String(l['message'])));
        // Once per node process (r and r2 are two), not once per charge.
        assert.equal(refused.length, 2, JSON.stringify(refused));
        assert.ok(refused.every((l) => l['level'] === 'error' && typeof l['reason'] === 'string'));
      });

      it('genuine vendor keys that were never applied here (another episode, a duplicate seq or nonce, over the cap) count for nothing', async () => {
        const { w, r, key } = await activated();
        const [nonce] = Object.keys(await fx.redis.hgetall(w.keys.activationApplied)) as [string];
        const req = (edit: (g: Record<string, unknown>) => void): string => {
          const g = JSON.parse(Buffer.from(key.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
          const reqFields = Object.fromEntries(Object.entries(g).filter(([k]) => k !== 'granted_ms' && k !== 'expires_at_ms'));
          edit(reqFields);
          return `LRQ1.${Buffer.from(JSON.stringify(reqFields)).toString('base64url')}`;
        };
        const sign = (request: string, ms: number) => signActivation(request, vendorPriv, { nowMs: w.clock.now(), extensionMs: ms }).key;
        const injected = [
          sign(
            req(() => undefined),
            2 * HOUR,
          ), // same request again: duplicate nonce and seq
          sign(
            req((g) => (g['nonce'] = 'n'.repeat(24))),
            2 * HOUR,
          ), // duplicate seq
          sign(
            req((g) => (g['episode_id'] = 'feedfeedfeed')),
            HOUR,
          ), // another episode
          sign(
            req((g) => (g['node_id'] = 'node-a')),
            HOUR,
          ), // another node
          sign(
            req((g) => ((g['seq'] = 2), (g['nonce'] = 'm'.repeat(24)), (g['extension_ms'] = 10 * BUDGET))),
            2 * BUDGET,
          ), // over the cap
        ];
        await fx.redis.hset(w.keys.activationApplied, ...injected.flatMap((k, i) => [`${nonce}-${i}`, k]));
        await r.serve(STEP);
        assert.equal(r.keeper.state.grantedMs, BUDGET + HOUR);
        assert.equal(r.keeper.state.activations, 1);
      });
    });
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
