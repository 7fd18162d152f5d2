import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Redis } from 'ioredis';
import type { ClusterServiceClient } from '../../src/contract/generated/license/v1/ClusterService';
import type { PeerHeartbeatRequest } from '../../src/contract/generated/license/v1/PeerHeartbeatRequest';
import { loadLicenseProto } from '../../src/contract/proto';
import { LICENSE_ERROR_KEY } from '../../src/contract/metadata';
import { clusterKeys } from '../../src/server/store/keys';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { connect, eventually, type RedisProcess, startRedis } from '../helpers/redis';
import { createSeatProbe } from '../helpers/seat-probe';

/**
 * The security finding "one unauthenticated ClusterService.Heartbeat with highest_epoch =
 * 10^15 bricks the cluster": a real node, a raw ClusterService client acting as a hostile
 * peer, and proof afterwards that nothing the node keeps (role machine, state file, Redis)
 * moved and that it still renews its lease and grants seats.
 */
describe('hostile peer heartbeats (in-process node, real Redis)', () => {
  let redis: RedisProcess;
  let db: Redis;
  const nodes: StartedNode[] = [];
  const closers: (() => Promise<void> | void)[] = [];

  before(async () => {
    redis = await startRedis();
    db = connect(redis);
  });
  after(async () => {
    for (const c of closers) await c();
    for (const n of nodes) await n.node.stop();
    db.disconnect();
    await redis.stop();
  });

  /**
   * The node accepts unauthenticated heartbeats (LICENSE_INSECURE_PEERS=true), so the
   * hostile ones reach the epoch checks: what an insider holding the cluster secret, or
   * anyone on an insecure deployment, could send.
   */
  async function start(over: Record<string, string> = {}): Promise<StartedNode> {
    const n = await startTestNode(testConfig(redis.url, { LICENSE_INSECURE_PEERS: 'true', ...over }));
    nodes.push(n);
    return n;
  }

  function clusterClient(addr: string): ClusterServiceClient {
    const c = new (loadLicenseProto().ClusterService)(addr, grpc.credentials.createInsecure());
    closers.push(() => c.close());
    return c;
  }

  type Outcome = { ok: true } | { ok: false; code: grpc.status; details: string; licenseError: string };

  function heartbeat(c: ClusterServiceClient, msg: PeerHeartbeatRequest): Promise<Outcome> {
    return new Promise((resolve) =>
      c.Heartbeat(msg, { deadline: Date.now() + 3_000 }, (err) =>
        resolve(err ? { ok: false, code: err.code, details: err.details, licenseError: String(err.metadata.get(LICENSE_ERROR_KEY)[0] ?? '') } : { ok: true }),
      ),
    );
  }

  /** A heartbeat as a redundant peer "node-x" of `clusterId` would send it. */
  const peerHeartbeat = (clusterId: string, over: PeerHeartbeatRequest = {}): PeerHeartbeatRequest => ({
    cluster_id: clusterId,
    node_id: 'node-x',
    role: 'ROLE_REDUNDANT',
    state: 'NODE_STATE_STANDBY',
    epoch: 0,
    lease_holder: 'node-a',
    sent_at_ms: Date.now(),
    license_digest: '',
    advertise_addr: '127.0.0.1:1',
    store_ok: true,
    highest_epoch: 0,
    ...over,
  });

  const stateFileEpoch = (n: StartedNode): unknown =>
    (JSON.parse(readFileSync(path.join(n.config.stateDir, `${n.config.nodeId}.state.json`), 'utf8')) as { highestEpoch?: unknown }).highestEpoch;

  it('out-of-range or far-ahead epochs and a foreign cluster id are refused and change nothing; the node keeps its lease', async () => {
    const a = await start();
    const clusterId = a.config.clusterId;
    const keys = clusterKeys(clusterId);
    await eventually(() => a.node.controller.machine.isServing() || undefined, 10_000, 'node-a active');
    const epoch = a.node.controller.machine.epoch;
    assert.ok(epoch >= 1);
    await eventually(() => stateFileEpoch(a) === epoch || undefined, 5_000, 'the epoch in the state file');
    const client = clusterClient(a.addr);

    const hostile: [string, PeerHeartbeatRequest][] = [
      ['highest_epoch 10^15', { highest_epoch: 1e15 }],
      ['epoch 10^15', { epoch: 1e15, highest_epoch: 1e15, state: 'NODE_STATE_FAILOVER_ACTIVE', lease_holder: 'node-x' }],
      ['highest_epoch 2^48', { highest_epoch: 2 ** 48 }],
      ['negative highest_epoch', { highest_epoch: -1 }],
      ['negative epoch', { epoch: -5 }],
      ['highest_epoch 2^63 - 1', { highest_epoch: '9223372036854775807' }],
      ['highest_epoch -2^63', { highest_epoch: '-9223372036854775808' }],
      ['highest_epoch one past the jump bound', { highest_epoch: epoch + 1_001 }],
    ];
    for (const [what, over] of hostile) {
      const r = await heartbeat(client, peerHeartbeat(clusterId, over));
      assert.equal(r.ok, false, `${what}: accepted`);
      if (r.ok) continue;
      assert.equal(r.code, grpc.status.FAILED_PRECONDITION, `${what}: ${r.details}`);
      assert.equal(r.licenseError, 'PEER_REFUSED', what);
    }

    const foreign = await heartbeat(client, peerHeartbeat('not-this-cluster', { highest_epoch: 1e15 }));
    assert.equal(foreign.ok, false);
    if (!foreign.ok) {
      assert.equal(foreign.licenseError, 'PEER_REFUSED');
      assert.ok(!foreign.details.includes(clusterId), `the refusal reveals the cluster id: ${foreign.details}`);
    }

    // Longer than one lease TTL (1.5 s): the node must have renewed, with the same epoch.
    await new Promise((r) => setTimeout(r, 2_000));
    const m = a.node.controller.machine;
    assert.equal(m.state, 'ACTIVE');
    assert.equal(m.epoch, epoch);
    assert.equal(m.highestEpoch, epoch, 'the role machine adopted a hostile epoch');
    assert.equal(await db.get(keys.leader), `node-a:${epoch}`);
    assert.ok((await db.pttl(keys.leader)) > 0);
    assert.equal(await db.get(keys.epoch), String(epoch), 'the epoch counter in Redis moved');
    assert.equal(await db.hget(keys.leaderInfo, 'epoch'), String(epoch));
    assert.equal(stateFileEpoch(a), epoch, 'the state file adopted a hostile epoch');

    const probe = await createSeatProbe(a.addr);
    closers.push(() => probe.close());
    assert.ok((await probe.checkout('cad-pro', 1)).length > 0, 'checkout after the hostile heartbeats');
  });

  it('a legitimate peer within the bound is heard; a node with a new state dir learns the epoch from Redis and hears a peer far ahead', async () => {
    // A cluster that has seen 5,000 epochs: the primary holds the lease at 5000.
    const clusterId = `far-${Date.now().toString(36)}`;
    const keys = clusterKeys(clusterId);
    await db.set(keys.epoch, '5000');
    await db.set(keys.leader, 'node-a:5000', 'PX', 60_000);
    // A redundant with a new state dir (testConfig makes a fresh one), waiting in its startup grace (no acquire).
    const b = await start({ LICENSE_CLUSTER_ID: clusterId, LICENSE_NODE_ID: 'node-b', LICENSE_ROLE: 'redundant', LICENSE_REDUNDANT_STARTUP_GRACE_MS: '60000' });
    const client = clusterClient(b.addr);
    const primary = (over: PeerHeartbeatRequest = {}) =>
      peerHeartbeat(clusterId, {
        node_id: 'node-a',
        role: 'ROLE_PRIMARY',
        state: 'NODE_STATE_ACTIVE',
        epoch: 5000,
        highest_epoch: 5000,
        sent_at_ms: Date.now(),
        ...over,
      });
    // Not deaf: it reads the epoch from Redis at its first lease step, before any peer speaks.
    await eventually(() => b.node.controller.machine.highestEpoch === 5000 || undefined, 3_000, 'the epoch read from Redis');
    assert.deepEqual(await heartbeat(client, primary()), { ok: true });
    assert.equal(b.node.controller.machine.peer?.nodeId, 'node-a');

    // Epochs minted in Redis since (counter at 9000): refused at first, heard once the node re-read Redis.
    await db.set(keys.epoch, '9000');
    const first = await heartbeat(client, primary({ highest_epoch: 9000 }));
    assert.equal(first.ok, false);
    await eventually(async () => (await heartbeat(client, primary({ highest_epoch: 9000 }))).ok || undefined, 3_000, 'heard after re-reading Redis');
    assert.equal(b.node.controller.machine.highestEpoch, 9000);

    // Within the bound of what it has seen: heard and adopted (epochs stay monotonic).
    assert.deepEqual(await heartbeat(client, primary({ highest_epoch: 10_000 })), { ok: true });
    assert.equal(b.node.controller.machine.highestEpoch, 10_000);
    assert.equal(await db.get(keys.epoch), '9000', 'a heard peer epoch is not written to Redis by itself');
  });
});
