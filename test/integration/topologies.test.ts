import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { createAdminClient } from '../../src/server/admin/admin-client';
import { signActivation } from '../../src/server/budget/activation-keys';
import { startRedisCluster } from '../../src/tools/local/redis-cluster';
import { startRedis } from '../../src/tools/local/redis-process';
import { startSentinelSetup } from '../../src/tools/local/redis-sentinel';
import { LicenseClient, SeatsExhaustedError } from '../../src/sdk/index';
import { clusterKeys } from '../../src/server/store/keys';
import { LeaseStore } from '../../src/server/store/lease-store';
import { ScriptRunner } from '../../src/server/store/scripts';
import { startTestPair, TEST_TOKEN, type TestPair } from '../helpers/node';
import { eventually } from '../helpers/redis';

interface Store {
  /** LICENSE_* keys that point a node at this store. */
  readonly env: Record<string, string>;
  readonly client: Redis | Cluster;
  stop(): Promise<void>;
}

/** The same behaviour, on each Redis topology the product supports. */
const TOPOLOGIES: { name: string; start: () => Promise<Store> }[] = [
  {
    name: 'standalone Redis',
    async start() {
      const r = await startRedis();
      const client = new Redis(r.url);
      return { env: { LICENSE_REDIS_URL: r.url }, client, stop: async () => (client.disconnect(), r.stop()) };
    },
  },
  {
    name: 'Redis Sentinel (master + replica + 3 sentinels)',
    async start() {
      const s = await startSentinelSetup();
      const client = new Redis({ sentinels: s.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })), name: s.masterName });
      return {
        env: { LICENSE_REDIS_SENTINELS: s.sentinels, LICENSE_REDIS_MASTER_NAME: s.masterName },
        client,
        stop: async () => (client.disconnect(), s.stop()),
      };
    },
  },
  {
    name: 'Redis Cluster (3 masters)',
    async start() {
      const rc = await startRedisCluster(3);
      const client = new Cluster(rc.masters.map((m) => ({ host: '127.0.0.1', port: m.port })));
      return { env: { LICENSE_REDIS_CLUSTER_NODES: rc.seeds }, client, stop: async () => (client.disconnect(), rc.stop()) };
    },
  },
];

for (const topo of TOPOLOGIES) {
  describe(`core behaviour on ${topo.name}`, () => {
    let store: Store;
    let pair: TestPair;
    const clients: LicenseClient[] = [];

    before(async () => {
      store = await topo.start();
      pair = await startTestPair('redis://unused:1', {
        env: { ...store.env, LICENSE_HANDBACK_AFTER_MS: '600000' },
        // A short budget, signed into the license (the failover terms are license terms).
        license: { features: [{ name: 'cad-pro', seats: 10 }], failover: { budget_ms: 2_500, max_extension_ms: 60_000 } },
      });
      await eventually(() => pair.primary.node.controller.machine.isServing() || undefined, 30_000, 'primary active');
      await eventually(() => (pair.redundant.node.controller.snapshot().peer?.reachable ? true : undefined), 30_000, 'peers');
    });
    after(async () => {
      for (const c of clients) await c.close().catch(() => undefined);
      await pair.redundant.node.stop();
      await pair.primary.node.stop();
      await store.stop();
    });

    const client = (id: string): LicenseClient => {
      const c = new LicenseClient({ endpoints: [pair.primary.addr, pair.redundant.addr], clientId: id, callTimeoutMs: 1_000, retryTimeoutMs: 20_000 });
      clients.push(c);
      return c;
    };

    it('the lease: primary active under the {lic:<cluster>} key', async () => {
      const keys = clusterKeys(pair.primary.config.clusterId);
      assert.equal(await store.client.get(keys.leader), `node-a:${pair.primary.node.controller.machine.epoch}`);
      await eventually(() => (pair.redundant.node.controller.machine.state === 'STANDBY' ? true : undefined), 10_000, 'redundant standby');
    });

    it('60 concurrent checkouts from 6 clients against 10 seats: exactly 10 granted', async () => {
      const cs = Array.from({ length: 6 }, (_, i) => client(`racer-${i}`));
      const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => (cs[i % 6] as LicenseClient).checkout('cad-pro')));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 10);
      assert.ok(results.filter((r) => r.status === 'rejected').every((r) => r.reason instanceof SeatsExhaustedError));
      for (const c of cs) await c.close();
      assert.equal(await store.client.hget(clusterKeys(pair.primary.config.clusterId).used, 'cad-pro'), null);
    });

    it('failover: seats survive, the old epoch is fenced, the budget drains, blocks, and an activation key unblocks', async () => {
      const holder = client('holder');
      const seat = await holder.checkout('cad-pro', { count: 2 });
      const oldEpoch = pair.primary.node.controller.machine.epoch;
      await createAdminClient(pair.primary.addr, TEST_TOKEN).stepDown();
      await eventually(() => (pair.redundant.node.controller.machine.state === 'FAILOVER_ACTIVE' ? true : undefined), 20_000, 'failover');
      // The old leader's epoch can write nothing any more.
      const lease = new LeaseStore(new ScriptRunner(store.client), clusterKeys(pair.primary.config.clusterId), 5_000, pair.primary.node.license.serial);
      assert.deepEqual((await lease.renew('node-a', oldEpoch)).renewed, false);
      // The held seat lives on without a new checkout.
      const hb = holder.lastHeartbeatAtMs ?? 0;
      await eventually(() => ((holder.lastHeartbeatAtMs ?? 0) > hb ? true : undefined), 30_000, 'heartbeat on the redundant');
      assert.ok(seat.held);
      // The budget drains to the block.
      await eventually(() => (pair.redundant.node.controller.machine.state === 'FAILOVER_BLOCKED' ? true : undefined), 20_000, 'blocked');
      const admin = createAdminClient(pair.redundant.addr, TEST_TOKEN);
      const st = await admin.getStatus();
      assert.equal(st.budget?.blocked, true);
      assert.equal(st.budget?.consumed_ms, 2500);
      const { request_key } = await admin.requestActivationKey();
      const { key } = signActivation(
        request_key,
        createPrivateKey(readFileSync(pair.primary.config.licenseFile.replace(/license\.json$/, 'vendor-private.pem'), 'utf8')),
      );
      const applied = await admin.activate(key);
      assert.equal(applied.budget?.blocked, false);
      assert.equal(pair.redundant.node.controller.machine.state, 'FAILOVER_ACTIVE');
      admin.close();
    });
  });
}
