import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { clusterKeys } from '../../src/server/store/keys';
import { type FaultProxy, startFaultProxy } from '../../src/tools/local/fault-proxy';
import { captureLog, newClusterSecret, type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';
import { rawSeatClient } from '../helpers/seat-client';

const FEATURE = 'cad-pro';
/** Long enough that "before the TTL" is plain to see, short enough for a test. */
const TIMING = { LICENSE_LEASE_TTL_MS: '4000', LICENSE_HEARTBEAT_INTERVAL_MS: '500' };

interface Setup {
  readonly redis: RedisProcess;
  /** The primary's only way to Redis: blackholing it stops its renewals while it lives on. */
  readonly primaryRedis: FaultProxy;
  /** The redundant's only way to the primary's gRPC port: closing it makes that port refuse connections. */
  readonly primaryPort: FaultProxy;
  readonly primary: StartedNode;
  readonly redundant: StartedNode;
  readonly redundantLog: () => Record<string, unknown>[];
}

async function setup(cleanups: (() => Promise<void>)[]): Promise<Setup> {
  const redis = await startRedis();
  const primaryRedis = await startFaultProxy('127.0.0.1', redis.port);
  const secret = newClusterSecret();
  const pc = testConfig(`redis://127.0.0.1:${primaryRedis.port}`, { LICENSE_CLUSTER_SECRET: secret, ...TIMING });
  const primary = await startTestNode(pc);
  const primaryPort = await startFaultProxy('127.0.0.1', Number(primary.addr.split(':')[1]));
  const log = captureLog();
  const redundant = await startTestNode(
    testConfig(redis.url, {
      LICENSE_CLUSTER_ID: pc.clusterId,
      LICENSE_NODE_ID: 'node-b',
      LICENSE_PEER_ADDR: primaryPort.addr,
      LICENSE_FILE: pc.licenseFile,
      LICENSE_VENDOR_PUBLIC_KEY: pc.vendorPublicKeyFile,
      LICENSE_CLUSTER_SECRET: secret,
      LICENSE_LOG_LEVEL: 'info',
      ...TIMING,
    }),
    { logStream: log.stream },
  );
  cleanups.push(async () => {
    await redundant.node.stop();
    await primary.node.stop();
    await primaryPort.close().catch(() => undefined);
    await primaryRedis.close();
    await redis.stop();
  });
  await eventually(() => (primary.node.controller.machine.state === 'ACTIVE' ? true : undefined), 20_000, 'primary active');
  await eventually(
    async () => {
      const s = await redundant.node.status();
      return s.state === 'NODE_STATE_STANDBY' && s.peer?.reachable ? true : undefined;
    },
    20_000,
    'redundant standby, hearing the primary',
  );
  return { redis, primaryRedis, primaryPort, primary, redundant, redundantLog: log.lines };
}

async function earlyTakeovers(node: StartedNode): Promise<number> {
  return (await node.node.metrics.earlyTakeovers.get()).values[0]?.value ?? 0;
}

/**
 * Issue 13: the standby takes the lease before its TTL when the holder's process is dead:
 * its gRPC port refuses connections on two probes and its lease has not been renewed in
 * between. In process, "dead" is staged: the port closes (a proxy in front of it) and the
 * renewals stop (a blackhole in front of its Redis), while the process itself lives on,
 * which is exactly the wrong guess that fencing must make harmless.
 */
describe('early takeover from a peer whose port refuses connections', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('port refused and renewals stopped: taken over before the TTL; the old holder, alive after all, is fenced and steps down; no seat lost or granted twice', async () => {
    const s = await setup(cleanups);
    const onPrimary = rawSeatClient(s.primary.addr, 2_000);
    const onRedundant = rawSeatClient(s.redundant.addr, 2_000);
    const grants: string[] = [];
    try {
      const session = (await onPrimary.open({ client_id: 'early', user: 'u', hostname: 'h', pid: 1 })).session_id;
      grants.push((await onPrimary.checkout({ session_id: session, feature: FEATURE, count: 1, request_id: 'before' })).lease_id);
      s.primaryRedis.cut('blackhole');
      await s.primaryPort.close();
      // Clients asking the redundant meanwhile are told when to come back, not sent to the dead node.
      const refusals: grpc.Metadata[] = [];
      let polling = true;
      const poll = (async () => {
        while (polling) {
          await onRedundant.features({}).then(
            () => undefined,
            (err: grpc.ServiceError) => refusals.push(err.metadata),
          );
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      await eventually(() => (s.redundant.node.controller.machine.state === 'FAILOVER_ACTIVE' ? true : undefined), 20_000, 'redundant took over');
      polling = false;
      await poll;
      const promised = refusals.filter((m) => m.get('license-retry-after-ms').length > 0);
      assert.ok(promised.length > 0, `some refusal during the takeover said when to retry (of ${refusals.length})`);
      for (const m of promised) {
        assert.ok(Number(m.get('license-retry-after-ms')[0]) >= 0);
        assert.deepEqual(m.get('license-leader'), [], 'the dead node is not named');
      }
      assert.equal(await earlyTakeovers(s.redundant), 1, 'taken over early (a held lease replaced), not after it expired');
      const warned = s.redundantLog().find((l) => String(l['message']).startsWith("the peer's port refuses connections"));
      assert.ok(warned, 'the takeover is logged with its evidence');
      assert.ok(Number(warned['leaseLeftMs']) > 0, `the lease still had time left when taken over: ${JSON.stringify(warned)}`);

      grants.push((await onRedundant.checkout({ session_id: session, feature: FEATURE, count: 1, request_id: 'after' })).lease_id);

      // The old holder reaches Redis again: its renewal is refused (not its lease) and it steps down; every write it tries is fenced.
      s.primaryRedis.restore();
      const refusal = await onPrimary.checkout({ session_id: session, feature: FEATURE, count: 1, request_id: 'on-the-old-holder' }).then(
        () => 'granted',
        (err: Error) => err.message,
      );
      assert.notEqual(refusal, 'granted', 'the old holder grants nothing once the lease was taken over');
      await eventually(() => (s.primary.node.controller.machine.state === 'STANDBY' ? true : undefined), 20_000, 'old holder stepped down');

      const keys = clusterKeys(s.primary.config.clusterId);
      const check = new Redis({ port: s.redis.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      try {
        assert.equal(await check.get(keys.leader), `node-b:${s.redundant.node.controller.machine.epoch}`);
        for (const id of grants) assert.equal(await check.exists(`${keys.prefix}:lease:${id}`), 1, `granted seat ${id} is held`);
        assert.equal(Number(await check.hget(`${keys.prefix}:used`, FEATURE)), grants.length, 'the seat count equals the grants: none lost, none twice');
      } finally {
        check.disconnect();
      }
    } finally {
      onPrimary.close();
      onRedundant.close();
    }
  });

  it('port refused while the holder keeps renewing (a wrong peer address, a firewall REJECT): never taken over', async () => {
    const s = await setup(cleanups);
    await s.primaryPort.close();
    // Two TTLs: every failed heartbeat starts a probing round, each finds the port refused and the lease renewed.
    await new Promise((r) => setTimeout(r, 8_000));
    assert.equal(s.redundant.node.controller.machine.state, 'STANDBY');
    assert.equal(s.primary.node.controller.machine.state, 'ACTIVE');
    assert.equal(await earlyTakeovers(s.redundant), 0);
    assert.ok(
      s.redundantLog().some((l) => String(l['message']).startsWith('early takeover refused')),
      'the suspicion was checked against the renewals and refused',
    );
  });
});
