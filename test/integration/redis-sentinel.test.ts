import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type SentinelSetup, startSentinelSetup } from '../../src/tools/local/redis-sentinel';
import { LicenseClient, SeatsExhaustedError } from '../../src/sdk/index';
import { createAdminClient } from '../../src/server/admin/admin-client';
import * as helpers from '../helpers/node';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { eventually } from '../helpers/redis';

const SEATS = 3;

/**
 * Sentinel (master + replica + 3 sentinels, real processes): a master failover while a
 * client checks seats in and out. Grants may pause; a seat is never granted twice, and
 * the service comes back by itself.
 */
describe('Redis Sentinel topology', () => {
  let s: SentinelSetup;
  let node: StartedNode;
  let sampler: Redis;
  const clients: LicenseClient[] = [];

  before(async () => {
    s = await startSentinelSetup({ downAfterMs: 1_000, failoverTimeoutMs: 5_000 });
    node = await startTestNode(
      testConfig(
        'redis://unused:1',
        { LICENSE_REDIS_SENTINELS: s.sentinels, LICENSE_REDIS_MASTER_NAME: s.masterName },
        {
          features: [
            { name: 'cad-pro', seats: SEATS },
            { name: 'probe', seats: 1 },
          ],
        },
      ),
    );
    sampler = new Redis({ sentinels: s.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })), name: s.masterName, maxRetriesPerRequest: 1 });
    sampler.on('error', () => {});
    await eventually(() => node.node.controller.machine.isServing() || undefined, 20_000, 'serving through sentinel');
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    sampler.disconnect();
    await node.node.stop();
    await s.stop();
  });

  const masterPort = (): number => {
    const out = execFileSync('redis-cli', ['-p', String(s.sentinelPorts[0]), 'SENTINEL', 'get-master-addr-by-name', s.masterName], { encoding: 'utf8' });
    return Number(out.trim().split('\n')[1]);
  };

  const failoverUnderLoad = (how: 'SENTINEL FAILOVER' | 'kill -9 of the master') =>
    it(`${how} under load: service back by itself, no seat granted twice`, async () => {
      const holder = new LicenseClient({ endpoints: [node.addr], clientId: `holder-${how}`, callTimeoutMs: 1_000, retryTimeoutMs: 60_000 });
      const greedy = new LicenseClient({ endpoints: [node.addr], clientId: `greedy-${how}`, callTimeoutMs: 1_000, retryTimeoutMs: 60_000 });
      clients.push(holder, greedy);
      const held = await holder.checkout('cad-pro');
      let running = true;
      let maxUsed = 0;
      let lastOk = 0;
      const sample = (async () => {
        while (running) {
          maxUsed = Math.max(maxUsed, Number((await sampler.hget(`{lic:${node.config.clusterId}}:used`, 'cad-pro').catch(() => '0')) ?? 0));
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const greedyLoop = (async () => {
        while (running) {
          try {
            await greedy.checkout('cad-pro');
          } catch (err) {
            if (!(err instanceof SeatsExhaustedError)) await new Promise((r) => setTimeout(r, 100));
          }
          try {
            const p = await greedy.checkout('probe');
            await p.release();
            lastOk = Date.now();
          } catch {
            // during the Redis failover
          }
          await new Promise((r) => setTimeout(r, 30));
        }
      })();
      await eventually(() => (lastOk > 0 ? true : undefined), 20_000, 'probe working');
      const before = masterPort();
      const t0 = Date.now();
      if (how === 'SENTINEL FAILOVER') {
        execFileSync('redis-cli', ['-p', String(s.sentinelPorts[0]), 'SENTINEL', 'FAILOVER', s.masterName]);
      } else {
        const master = s.data.find((d) => d.port === before);
        assert.ok(master, 'master process known');
        await master.kill();
      }
      await eventually(() => (masterPort() !== before ? true : undefined), 60_000, 'sentinel switched the master');
      await eventually(() => (lastOk > t0 ? true : undefined), 60_000, 'a checkout after the Redis failover');
      const backAfterMs = lastOk - t0;
      running = false;
      await Promise.all([sample, greedyLoop]);
      console.log(`# ${how}: next successful checkout ${backAfterMs} ms after the master loss (down-after 1000 ms)`);
      assert.ok(maxUsed <= SEATS, `seats in use peaked at ${maxUsed} of ${SEATS}`);
      assert.ok(held.held || held.lost, 'the held seat is either held or reported lost, never silently gone');
      await holder.close();
      await greedy.close();
    });

  void failoverUnderLoad('SENTINEL FAILOVER');

  it('budget charged correctly across a Redis master failover: never refunded, lag within one lease TTL', async () => {
    const { startTestPair, TEST_TOKEN } = helpers;
    const pair = await startTestPair('redis://unused:1', {
      env: {
        LICENSE_REDIS_SENTINELS: s.sentinels,
        LICENSE_REDIS_MASTER_NAME: s.masterName,
        LICENSE_HANDBACK_AFTER_MS: '600000',
        // Writes are not confirmed for ~5-8 s of a Sentinel failover (until a replica of the new
        // master acknowledges them): a lease this long outlives that, so the redundant keeps serving.
        LICENSE_LEASE_TTL_MS: '15000',
        LICENSE_HEARTBEAT_INTERVAL_MS: '1000',
      },
    });
    try {
      await eventually(() => pair.primary.node.controller.machine.isServing() || undefined, 20_000, 'primary active');
      await eventually(() => (pair.redundant.node.controller.snapshot().peer?.reachable ? true : undefined), 20_000, 'peers');
      const admin = createAdminClient(pair.redundant.addr, TEST_TOKEN);
      await createAdminClient(pair.primary.addr, TEST_TOKEN).stepDown();
      await eventually(() => (pair.redundant.node.controller.machine.state === 'FAILOVER_ACTIVE' ? true : undefined), 20_000, 'failover');
      const servingSince = Date.now();
      const consumed: number[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const b = await admin.getStatus().then(
            (st) => st.budget?.consumed_ms ?? 0,
            () => undefined,
          );
          if (b !== undefined) consumed.push(b);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await new Promise((r) => setTimeout(r, 1_500));
      const before = masterPort();
      execFileSync('redis-cli', ['-p', String(s.sentinelPorts[0]), 'SENTINEL', 'FAILOVER', s.masterName]);
      await eventually(() => (masterPort() !== before ? true : undefined), 60_000, 'sentinel switched the master');
      await new Promise((r) => setTimeout(r, 2_000));
      sampling = false;
      await sampler;
      const served = Date.now() - servingSince;
      const last = consumed[consumed.length - 1] ?? 0;
      for (let i = 1; i < consumed.length; i++) assert.ok((consumed[i] ?? 0) >= (consumed[i - 1] ?? 0), `budget went back: ${consumed.join(',')}`);
      const cfg = pair.redundant.config;
      assert.ok(pair.redundant.node.controller.machine.state === 'FAILOVER_ACTIVE', 'still serving after the Redis failover');
      assert.ok(last <= served + cfg.heartbeatIntervalMs, `charged ${last} ms for ${served} ms served`);
      assert.ok(last >= served - cfg.leaseTtlMs - cfg.heartbeatIntervalMs, `charged ${last} ms for ${served} ms served`);
      console.log(`# budget across a Redis failover: charged ${last} ms for ${served} ms served`);
      admin.close();
    } finally {
      await pair.redundant.node.stop();
      await pair.primary.node.stop();
    }
  });

  // kill -9 of the master, and what happens to every seat granted during a switch: acknowledged-seats.test.ts.
});
