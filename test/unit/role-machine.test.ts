import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/server/clock';
import type { Role } from '../../src/server/config';
import { NodeController } from '../../src/server/cluster/node-controller';
import { MAX_PEER_EPOCH_JUMP, type PeerView, RoleMachine, type RoleMachineOptions, type Transition } from '../../src/server/cluster/role-machine';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { createSilentLogger } from '../../src/server/log';
import { StateFile } from '../../src/server/state-file';
import { EPOCH_LIMIT } from '../../src/server/store/fence';
import type { LeaseStore } from '../../src/server/store/lease-store';

const TTL = 5_000;
const MARGIN = 1_000;
const HANDBACK = 10_000;
const GRACE = 10_000;

function setup(role: Role, extra: Partial<RoleMachineOptions> = {}) {
  const clock = new ManualClock();
  const transitions: Transition[] = [];
  const m = new RoleMachine(
    {
      role,
      nodeId: role === 'primary' ? 'a' : 'b',
      leaseTtlMs: TTL,
      leaseSafetyMarginMs: MARGIN,
      handbackAfterMs: HANDBACK,
      redundantStartupGraceMs: GRACE,
      ...extra,
    },
    clock,
    (t) => transitions.push(t),
  );
  return { clock, m, transitions };
}

function peer(role: Role, over: Partial<PeerView> = {}): PeerView {
  return {
    nodeId: role === 'primary' ? 'a' : 'b',
    role,
    state: 'STANDBY',
    epoch: 0,
    leaseHolder: '',
    steppingDown: false,
    wantsLease: false,
    storeOk: true,
    advertiseAddr: role === 'primary' ? 'a:1' : 'b:1',
    highestEpoch: 0,
    licenseSerial: 1,
    ...over,
  };
}

describe('RoleMachine: primary', () => {
  it('STARTING -> ACTIVE when it acquires the lease, with the epoch as fencing token', () => {
    const { m, clock, transitions } = setup('primary');
    assert.equal(m.state, 'STARTING');
    assert.deepEqual(m.nextAction(), { kind: 'acquire' });
    m.acquired(7, clock.monotonic());
    assert.equal(m.state, 'ACTIVE');
    assert.equal(m.epoch, 7);
    assert.equal(m.highestEpoch, 7);
    assert.ok(m.isServing());
    assert.deepEqual(
      transitions.map((t) => [t.from, t.to, t.epoch]),
      [['STARTING', 'ACTIVE', 7]],
    );
    assert.deepEqual(m.nextAction(), { kind: 'renew', epoch: 7 });
  });

  it('STARTING -> STANDBY when the lease is held by the redundant', () => {
    const { m, clock } = setup('primary');
    m.acquireRefused({ nodeId: 'b', epoch: 3 }, clock.monotonic());
    assert.equal(m.state, 'STANDBY');
    assert.equal(m.epoch, 0);
    assert.deepEqual(m.leaseHolder, { nodeId: 'b', epoch: 3 });
    assert.equal(m.highestEpoch, 3);
    assert.equal(m.isServing(), false);
  });

  it('stops acting at lastRenewOk + ttl - margin on the monotonic clock, before the key can expire', () => {
    const { m, clock } = setup('primary');
    m.acquired(1, clock.monotonic());
    clock.advance(TTL - MARGIN - 1);
    assert.equal(m.state, 'ACTIVE');
    assert.equal(m.leaseValidForMs(), 1);
    clock.advance(1);
    assert.equal(m.state, 'STANDBY');
    assert.equal(m.epoch, 0);
    assert.equal(m.isServing(), false);
  });

  it('a renewal extends the deadline from the time it was sent, not when it was answered', () => {
    const { m, clock } = setup('primary');
    m.acquired(1, clock.monotonic());
    clock.advance(1_000);
    const sent = clock.monotonic();
    clock.advance(2_000); // slow answer
    m.renewed(sent);
    clock.advance(TTL - MARGIN - 2_000 - 1);
    assert.equal(m.state, 'ACTIVE');
    clock.advance(1);
    assert.equal(m.state, 'STANDBY');
  });

  it('a late answer after a pause (SIGSTOP) cannot revive an expired lease', () => {
    const { m, clock } = setup('primary');
    m.acquired(4, clock.monotonic());
    const sent = clock.monotonic();
    clock.advance(TTL * 3); // process paused past the TTL
    m.renewed(sent);
    assert.equal(m.state, 'STANDBY');
    assert.equal(m.epoch, 0);
  });

  it('an acquire answered after its own deadline never makes the node active', () => {
    const { m, clock, transitions } = setup('primary');
    const sent = clock.monotonic();
    clock.advance(TTL);
    m.acquired(9, sent);
    assert.equal(m.state, 'STANDBY');
    assert.ok(!transitions.some((t) => t.to === 'ACTIVE' && m.epoch === 9));
  });

  it('ACTIVE -> STANDBY at once when the renew script finds the key taken', () => {
    const { m, clock } = setup('primary');
    m.acquired(1, clock.monotonic());
    m.leaseLost({ nodeId: 'b', epoch: 2 }, clock.monotonic());
    assert.equal(m.state, 'STANDBY');
    assert.deepEqual(m.leaseHolder, { nodeId: 'b', epoch: 2 });
  });

  it('asks for handback only after handbackAfterMs of healthy heartbeats, counted from the first', () => {
    const { m, clock } = setup('primary');
    m.acquireRefused({ nodeId: 'b', epoch: 2 }, clock.monotonic());
    m.peerHeard(peer('redundant', { state: 'FAILOVER_ACTIVE', epoch: 2 }));
    assert.equal(m.wantsLease(), false);
    for (let t = 0; t < HANDBACK - 1_000; t += 1_000) {
      clock.advance(1_000);
      m.acquireRefused({ nodeId: 'b', epoch: 2 }, clock.monotonic());
      m.peerHeard(peer('redundant', { state: 'FAILOVER_ACTIVE', epoch: 2 }));
      assert.equal(m.wantsLease(), false, `at +${t + 1_000} ms`);
    }
    clock.advance(1_000);
    m.peerHeard(peer('redundant', { state: 'FAILOVER_ACTIVE', epoch: 2 }));
    assert.equal(m.wantsLease(), true);
  });

  it('a gap in heartbeats restarts the handback count (anti-flap)', () => {
    const { m, clock } = setup('primary');
    m.acquireRefused({ nodeId: 'b', epoch: 2 }, clock.monotonic());
    m.peerHeard(peer('redundant', { state: 'FAILOVER_ACTIVE', epoch: 2 }));
    clock.advance(HANDBACK - 1_000);
    m.peerHeard(peer('redundant', { state: 'FAILOVER_ACTIVE', epoch: 2 }));
    clock.advance(TTL + 1); // peer silent longer than a TTL
    m.peerMissed();
    m.acquireRefused({ nodeId: 'b', epoch: 2 }, clock.monotonic());
    m.peerHeard(peer('redundant', { state: 'FAILOVER_ACTIVE', epoch: 2 }));
    assert.equal(m.wantsLease(), false);
    for (let t = 0; t < HANDBACK; t += 1_000) {
      clock.advance(1_000);
      m.acquireRefused({ nodeId: 'b', epoch: 2 }, clock.monotonic());
      m.peerHeard(peer('redundant', { state: 'FAILOVER_ACTIVE', epoch: 2 }));
    }
    assert.equal(m.wantsLease(), true);
  });

  it('does not ask for the lease while Redis is unreachable', () => {
    const { m, clock } = setup('primary');
    m.acquireRefused(undefined, clock.monotonic());
    assert.equal(m.wantsLease(), true);
    clock.advance(TTL + 1);
    m.storeFailed();
    assert.equal(m.wantsLease(), false);
  });

  it('acquires at once when the redundant says it is stepping down', () => {
    const { m, clock } = setup('primary');
    m.acquireRefused({ nodeId: 'b', epoch: 2 }, clock.monotonic());
    m.peerHeard(peer('redundant', { state: 'STANDBY', steppingDown: true }));
    assert.equal(m.leaseHolder, undefined);
    assert.deepEqual(m.nextAction(), { kind: 'acquire' });
    m.acquired(3, clock.monotonic());
    assert.equal(m.state, 'ACTIVE');
  });

  it('step-down: STANDBY and no acquire for two TTLs', () => {
    const { m, clock } = setup('primary');
    m.acquired(1, clock.monotonic());
    assert.equal(m.giveUp('step-down'), 1);
    assert.equal(m.state, 'STANDBY');
    assert.equal(m.nextAction().kind, 'wait');
    assert.equal(m.wantsLease(), false);
    clock.advance(2 * TTL);
    assert.deepEqual(m.nextAction(), { kind: 'acquire' });
  });

  it('stop: STOPPING is terminal; a late acquire answer changes nothing', () => {
    const { m, clock } = setup('primary');
    m.acquired(1, clock.monotonic());
    assert.equal(m.giveUp('stop'), 1);
    assert.equal(m.state, 'STOPPING');
    assert.equal(m.isServing(), false);
    assert.equal(m.nextAction().kind, 'wait');
    m.acquired(2, clock.monotonic());
    assert.equal(m.state, 'STOPPING');
    assert.equal(m.epoch, 0);
    assert.equal(m.giveUp('stop'), 0);
  });
});

describe('RoleMachine: a superseded license (refuseLease)', () => {
  const REASON = 'license superseded: serial 1, serial 2 in use';

  it('a starting node goes to STANDBY at once, never acquires, never asks for the lease; sticky', () => {
    const { m, clock, transitions } = setup('primary');
    m.refuseLease(REASON);
    assert.equal(m.state, 'STANDBY');
    assert.equal(transitions.at(-1)?.reason, REASON);
    assert.equal(m.leaseRefusal, REASON);
    assert.deepEqual(m.nextAction(), { kind: 'wait', reason: REASON });
    assert.equal(m.wantsLease(), false);
    clock.advance(10 * TTL);
    m.peerHeard(peer('redundant', { steppingDown: true }));
    assert.deepEqual(m.nextAction(), { kind: 'wait', reason: REASON });
    m.refuseLease('another reason');
    assert.equal(m.leaseRefusal, REASON, 'the first reason stays');
  });

  it('an acquire that lands after the refusal is never acted on', () => {
    const { m, clock } = setup('redundant');
    m.peerHeard(peer('primary'));
    m.refuseLease(REASON);
    m.acquired(5, clock.monotonic());
    assert.equal(m.state, 'STANDBY');
    assert.equal(m.epoch, 0);
    assert.equal(m.isServing(), false);
    assert.equal(m.highestEpoch, 5, 'the epoch was handed out all the same');
  });

  it('a node holding the lease keeps it until its owner gives it up, which names the reason; then waits for good', () => {
    const { m, clock, transitions } = setup('primary');
    m.acquired(3, clock.monotonic());
    m.refuseLease(REASON);
    assert.deepEqual(m.nextAction(), { kind: 'renew', epoch: 3 }, 'the release must still be fenced with its epoch');
    assert.equal(m.giveUp('step-down'), 3);
    assert.equal(m.state, 'STANDBY');
    assert.equal(transitions.at(-1)?.reason, REASON);
    clock.advance(10 * TTL);
    assert.deepEqual(m.nextAction(), { kind: 'wait', reason: REASON });
  });

  it('onPeerHeard listeners see every valid peer view, with its license serial', () => {
    const { m } = setup('primary');
    const seen: number[] = [];
    m.onPeerHeard((v) => seen.push(v.licenseSerial));
    m.peerHeard(peer('redundant', { licenseSerial: 4 }));
    m.peerHeard(peer('redundant', { licenseSerial: 0 }));
    assert.deepEqual(seen, [4, 0]);
  });
});

describe('RoleMachine: redundant', () => {
  it('cold start: waits the startup grace before taking a free lease', () => {
    const { m, clock } = setup('redundant');
    assert.equal(m.nextAction().kind, 'wait');
    clock.advance(GRACE - 1);
    assert.equal(m.nextAction().kind, 'wait');
    clock.advance(1);
    assert.deepEqual(m.nextAction(), { kind: 'acquire' });
  });

  it('after hearing the primary there is no startup grace', () => {
    const { m } = setup('redundant');
    m.peerHeard(peer('primary', { state: 'ACTIVE', epoch: 1 }));
    assert.deepEqual(m.nextAction(), { kind: 'acquire' });
  });

  it('STANDBY -> FAILOVER_ACTIVE when it takes the lease', () => {
    const { m, clock, transitions } = setup('redundant');
    m.peerHeard(peer('primary', { state: 'ACTIVE', epoch: 1 }));
    m.acquireRefused({ nodeId: 'a', epoch: 1 }, clock.monotonic());
    assert.equal(m.state, 'STANDBY');
    m.acquired(2, clock.monotonic());
    assert.equal(m.state, 'FAILOVER_ACTIVE');
    assert.ok(m.isServing());
    assert.deepEqual(transitions.at(-1), { from: 'STANDBY', to: 'FAILOVER_ACTIVE', reason: 'acquired the lease: failover', epoch: 2 });
  });

  it('hands the lease back when a healthy primary asks, then holds off one TTL', () => {
    const { m, clock } = setup('redundant');
    m.peerHeard(peer('primary'));
    m.acquired(2, clock.monotonic());
    m.peerHeard(peer('primary', { wantsLease: true }));
    assert.deepEqual(m.nextAction(), { kind: 'handback', epoch: 2 });
    assert.equal(m.giveUp('handback'), 2);
    assert.equal(m.state, 'STANDBY');
    assert.equal(m.isServing(), false);
    assert.equal(m.nextAction().kind, 'wait');
    clock.advance(TTL);
    m.peerHeard(peer('primary', { state: 'ACTIVE', epoch: 3 }));
    assert.deepEqual(m.nextAction(), { kind: 'acquire' });
  });

  it('does not hand back to a primary that cannot reach Redis', () => {
    const { m, clock } = setup('redundant');
    m.peerHeard(peer('primary'));
    m.acquired(2, clock.monotonic());
    m.peerHeard(peer('primary', { wantsLease: true, storeOk: false }));
    assert.deepEqual(m.nextAction(), { kind: 'renew', epoch: 2 });
  });

  it('yields a free lease to a primary that wants it for at most one TTL', () => {
    const { m, clock } = setup('redundant');
    m.peerHeard(peer('primary', { wantsLease: true }));
    assert.equal(m.nextAction().kind, 'wait');
    clock.advance(TTL - 1);
    m.peerHeard(peer('primary', { wantsLease: true }));
    assert.equal(m.nextAction().kind, 'wait');
    clock.advance(1);
    m.peerHeard(peer('primary', { wantsLease: true }));
    assert.deepEqual(m.nextAction(), { kind: 'acquire' });
  });

  it('a planned handover of the primary (stepping_down) lets it acquire at once', () => {
    const { m, clock } = setup('redundant');
    m.peerHeard(peer('primary', { state: 'ACTIVE', epoch: 5 }));
    m.acquireRefused({ nodeId: 'a', epoch: 5 }, clock.monotonic());
    m.peerHeard(peer('primary', { state: 'STOPPING', steppingDown: true }));
    assert.equal(m.leaseHolder, undefined);
    assert.deepEqual(m.nextAction(), { kind: 'acquire' });
  });

  it('FAILOVER_ACTIVE <-> FAILOVER_BLOCKED follows the budget; blocked holds the lease but does not serve', () => {
    const { m, clock } = setup('redundant');
    m.peerHeard(peer('primary'));
    m.acquired(2, clock.monotonic());
    m.setBudgetBlocked(true);
    assert.equal(m.state, 'FAILOVER_BLOCKED');
    assert.equal(m.isServing(), false);
    assert.equal(m.epoch, 2);
    assert.deepEqual(m.nextAction(), { kind: 'renew', epoch: 2 });
    m.setBudgetBlocked(false);
    assert.equal(m.state, 'FAILOVER_ACTIVE');
  });

  it('acquiring while the budget is spent goes straight to FAILOVER_BLOCKED', () => {
    const { m, clock, transitions } = setup('redundant');
    m.peerHeard(peer('primary'));
    m.setBudgetBlocked(true);
    m.acquired(2, clock.monotonic());
    assert.equal(m.state, 'FAILOVER_BLOCKED');
    assert.ok(!transitions.some((t) => t.to === 'FAILOVER_ACTIVE'));
  });

  it('remembers the highest epoch seen from its state dir and from peers', () => {
    const { m } = setup('redundant', { highestEpoch: 40 });
    assert.equal(m.highestEpoch, 40);
    m.peerHeard(peer('primary', { state: 'ACTIVE', epoch: 41, highestEpoch: 41 }));
    assert.equal(m.highestEpoch, 41);
    m.observeEpoch(12);
    assert.equal(m.highestEpoch, 41);
  });

  it('only whole epochs below 2^48 are ever remembered', () => {
    const { m } = setup('redundant', { highestEpoch: 40 });
    for (const bad of [1e15, EPOCH_LIMIT, -1, 41.5, NaN, Infinity, Number.MAX_VALUE]) m.observeEpoch(bad);
    assert.equal(m.highestEpoch, 40);
    assert.equal(m.epochAnchor, 40);
    m.observeEpoch(EPOCH_LIMIT - 1);
    assert.equal(m.highestEpoch, EPOCH_LIMIT - 1);
  });

  it('an epoch from the state dir that is not an epoch is not remembered', () => {
    const { m } = setup('redundant', { highestEpoch: 1e15 });
    assert.equal(m.highestEpoch, 0);
    assert.equal(m.epochAnchor, 0);
  });

  it('a peer raises the highest epoch by at most MAX_PEER_EPOCH_JUMP over the anchor, and never the anchor itself', () => {
    const { m, clock } = setup('redundant', { highestEpoch: 40 });
    m.peerHeard(peer('primary', { state: 'ACTIVE', epoch: 40, highestEpoch: 40 + MAX_PEER_EPOCH_JUMP }));
    assert.equal(m.highestEpoch, 40 + MAX_PEER_EPOCH_JUMP);
    assert.equal(m.epochAnchor, 40, 'a peer cannot ratchet the anchor up heartbeat by heartbeat');
    // Defence in depth: the peer link refuses such heartbeats, and the machine would not adopt them either.
    for (const bad of [40 + MAX_PEER_EPOCH_JUMP + 1, 1e15, EPOCH_LIMIT, -1, NaN]) {
      m.peerHeard(peer('primary', { state: 'ACTIVE', epoch: 40, highestEpoch: bad }));
      m.peerHeard(peer('primary', { state: 'ACTIVE', epoch: bad, highestEpoch: 40 }));
    }
    assert.equal(m.highestEpoch, 40 + MAX_PEER_EPOCH_JUMP);
    // What Redis says moves the anchor: the acquire it answers, the holder it names, a read of its counter.
    m.acquireRefused({ nodeId: 'a', epoch: 900 }, clock.monotonic());
    assert.equal(m.epochAnchor, 900);
    m.observeEpoch(5_000);
    assert.equal(m.epochAnchor, 5_000);
    assert.equal(m.highestEpoch, 5_000);
    m.acquired(5_001, clock.monotonic());
    assert.equal(m.epochAnchor, 5_001);
  });

  it('peer health lapses after one TTL of silence', () => {
    const { m, clock } = setup('redundant');
    m.peerHeard(peer('primary'));
    assert.ok(m.peerHealthy());
    clock.advance(TTL + 1);
    assert.equal(m.peerHealthy(), false);
  });
});

describe('NodeController: fences and budget verdicts (not started: no Redis, no peer)', () => {
  function controller(role: Role) {
    const clock = new ManualClock();
    const nodeId = role === 'primary' ? 'a' : 'b';
    const stateFile = new StateFile(mkdtempSync(path.join(tmpdir(), 'controller-')), nodeId);
    const c = new NodeController({
      settings: {
        role,
        nodeId,
        clusterId: 'c1',
        leaseTtlMs: TTL,
        leaseSafetyMarginMs: MARGIN,
        heartbeatIntervalMs: 1_000,
        handbackAfterMs: HANDBACK,
        redundantStartupGraceMs: GRACE,
      },
      clock,
      logger: createSilentLogger(),
      lease: {} as LeaseStore, // never called: the lease loop is not started
      stateFile,
      licenseDigest: 'd',
      advertiseAddr: () => `${nodeId}:1`,
    });
    return { c, clock, stateFile };
  }
  const refusedWith = (code: ErrorCode) => (err: unknown) => err instanceof LicenseError && err.code === code;

  it('without the lease both fences refuse with NOT_ACTIVE', () => {
    const { c } = controller('primary');
    assert.throws(() => c.fenceForNewGrant(), refusedWith(ErrorCode.NOT_ACTIVE));
    assert.throws(() => c.fenceForRunningWork(), refusedWith(ErrorCode.NOT_ACTIVE));
  });

  it('while granting both fences carry the node id and the epoch', () => {
    const { c, clock } = controller('primary');
    c.machine.acquired(3, clock.monotonic());
    assert.deepEqual(c.fenceForNewGrant(), { nodeId: 'a', epoch: 3 });
    assert.deepEqual(c.fenceForRunningWork(), { nodeId: 'a', epoch: 3 });
  });

  it('applyBudget drives FAILOVER_ACTIVE <-> FAILOVER_BLOCKED; blocked refuses new grants only; undefined changes nothing', () => {
    const { c, clock } = controller('redundant');
    c.machine.acquired(2, clock.monotonic());
    assert.equal(c.machine.state, 'FAILOVER_ACTIVE');
    c.applyBudget({ blocked: true });
    assert.equal(c.machine.state, 'FAILOVER_BLOCKED');
    assert.throws(() => c.fenceForNewGrant(), refusedWith(ErrorCode.REDUNDANT_BLOCKED));
    assert.deepEqual(c.fenceForRunningWork(), { nodeId: 'b', epoch: 2 });
    c.applyBudget(undefined);
    assert.equal(c.machine.state, 'FAILOVER_BLOCKED');
    c.applyBudget({ blocked: false });
    assert.equal(c.machine.state, 'FAILOVER_ACTIVE');
    assert.deepEqual(c.fenceForNewGrant(), { nodeId: 'b', epoch: 2 });
  });

  it('a hostile peer heartbeat is refused and moves neither the role machine nor the state file', () => {
    const { c, clock, stateFile } = controller('primary');
    c.machine.acquired(3, clock.monotonic());
    stateFile.update({ highestEpoch: 3 });
    const hostile = {
      cluster_id: 'c1',
      node_id: 'b',
      role: 'ROLE_REDUNDANT' as const,
      state: 'NODE_STATE_STANDBY' as const,
      epoch: 0,
      lease_holder: 'a',
      sent_at_ms: 0,
      stepping_down: false,
      wants_lease: false,
      license_digest: 'd',
      advertise_addr: 'b:1',
      store_ok: true,
      highest_epoch: 1e15,
      auth_tag: '',
      license_serial: 1,
      console_url: '',
      policy_digest: '',
    };
    for (const highest of [1e15, EPOCH_LIMIT, -1, 3 + MAX_PEER_EPOCH_JUMP + 1]) {
      assert.throws(() => c.onPeerHeartbeat({ ...hostile, highest_epoch: highest }), refusedWith(ErrorCode.PEER_REFUSED));
    }
    assert.equal(c.machine.highestEpoch, 3);
    assert.equal(c.machine.peer, undefined);
    assert.equal(stateFile.value.highestEpoch, 3);
    assert.equal(c.snapshot().highestEpoch, 3);
  });

  it('a verdict applied before the acquire decides the state it acquires into', () => {
    const { c, clock } = controller('redundant');
    c.applyBudget({ blocked: true });
    c.machine.acquired(4, clock.monotonic());
    assert.equal(c.machine.state, 'FAILOVER_BLOCKED');
  });
});
