import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { type RedisClusterProcess, startRedisCluster } from '../../src/tools/local/redis-cluster';
import { LicenseClient } from '../../src/sdk/index';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { eventually } from '../helpers/redis';

/**
 * Redis Cluster (3 masters, real processes): the {lic:<cluster>} hash tag keeps every
 * key of one license cluster in one slot, so every script runs on one shard, and
 * several license clusters spread over the shards without seeing each other.
 */
describe('Redis Cluster topology', () => {
  let rc: RedisClusterProcess;
  let admin: Cluster;
  const nodes: StartedNode[] = [];
  const clients: LicenseClient[] = [];

  before(async () => {
    rc = await startRedisCluster(3);
    admin = new Cluster(rc.masters.map((m) => ({ host: '127.0.0.1', port: m.port })));
  });
  after(async () => {
    for (const c of clients) await c.close();
    for (const n of nodes) await n.node.stop();
    admin.disconnect();
    await rc.stop();
  });

  /** Cluster ids whose hash tags land on different masters. */
  async function idsOnDifferentShards(): Promise<[string, string]> {
    const slotOwner = async (id: string): Promise<number> => {
      const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', `{lic:${id}}:leader`));
      const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      return ranges.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2][1] ?? -1;
    };
    const first = 'tenant-a';
    const firstOwner = await slotOwner(first);
    for (let i = 0; i < 100; i++) {
      const id = `tenant-b${i}`;
      if ((await slotOwner(id)) !== firstOwner) return [first, id];
    }
    throw new Error('no two ids on different shards');
  }

  it('two license clusters on one Redis Cluster serve seats on different shards and stay isolated', async () => {
    const [a, b] = await idsOnDifferentShards();
    for (const id of [a, b]) {
      const n = await startTestNode(
        testConfig('redis://unused:1', { LICENSE_CLUSTER_ID: id, LICENSE_REDIS_CLUSTER_NODES: rc.seeds }, { features: [{ name: 'cad-pro', seats: 2 }] }),
      );
      nodes.push(n);
    }
    for (const n of nodes) await eventually(() => n.node.controller.machine.isServing() || undefined, 20_000, `${n.config.clusterId} active`);
    const [na, nb] = nodes as [StartedNode, StartedNode];
    const ca = new LicenseClient({ endpoints: [na.addr], clientId: 'a-app', retryTimeoutMs: 10_000 });
    const cb = new LicenseClient({ endpoints: [nb.addr], clientId: 'b-app', retryTimeoutMs: 10_000 });
    clients.push(ca, cb);
    // Each tenant can use all of its own seats: the other's leases do not count.
    await ca.checkout('cad-pro', { count: 2 });
    await cb.checkout('cad-pro', { count: 2 });
    await assert.rejects(ca.checkout('cad-pro'), /not enough free seats/);
    assert.equal(await admin.hget(`{lic:${a}}:used`, 'cad-pro'), '2');
    assert.equal(await admin.hget(`{lic:${b}}:used`, 'cad-pro'), '2');
    // All keys of one tenant share one slot.
    for (const id of [a, b]) {
      const slots = new Set(
        await Promise.all(
          ['leader', 'epoch', 'sessions', 'used', 'budget'].map(async (k) => Number(await admin.call('CLUSTER', 'KEYSLOT', `{lic:${id}}:${k}`))),
        ),
      );
      assert.equal(slots.size, 1);
    }
    const sa = Number(await admin.call('CLUSTER', 'KEYSLOT', `{lic:${a}}:leader`));
    const sb = Number(await admin.call('CLUSTER', 'KEYSLOT', `{lic:${b}}:leader`));
    assert.notEqual(sa, sb);
  });
});
