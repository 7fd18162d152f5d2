import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { createAdminClient } from '../../src/server/admin/admin-client';
import type { Config } from '../../src/server/config';
import { ErrorCode } from '../../src/server/errors';
import { hostIdFromMachineId } from '../../src/server/license/host-id';
import { createSilentLogger } from '../../src/server/log';
import { createNode } from '../../src/server/node';
import { StateFile } from '../../src/server/state-file';
import { clusterKeys } from '../../src/server/store/keys';
import { freePort } from '../../src/tools/local/ports';
import { signDevLicense } from '../../src/tools/local/dev-license';
import { captureLog, newClusterSecret, type StartedNode, startRefusal, startTestNode, TEST_TOKEN, testConfig, vendorFilesOf } from '../helpers/node';
import { connect, eventually, type RedisProcess, startRedis } from '../helpers/redis';

/**
 * License serials only go up: a node refuses a license older than one it or its peer has
 * seen (state dir at start; Redis and peer heartbeats later), and host ids bind a server to
 * its machine. In process, against a real redis-server.
 */
describe('license serials and host binding (nodes in process, real Redis)', () => {
  let redis: RedisProcess;
  let client: Redis;
  const nodes: StartedNode[] = [];
  const closers: (() => void)[] = [];

  before(async () => {
    redis = await startRedis();
    client = connect(redis);
  });
  after(async () => {
    for (const c of closers) c();
    for (const n of nodes) await n.node.stop();
    client.disconnect();
    await redis.stop();
  });

  async function start(config: Config, opts: Parameters<typeof startTestNode>[1] = {}): Promise<StartedNode> {
    const n = await startTestNode(config, opts);
    nodes.push(n);
    return n;
  }

  /** Another license for the same cluster, signed with the same throwaway vendor key. */
  function licenseOf(c: Config, serial: number): string {
    return signDevLicense(
      vendorFilesOf(c),
      path.join(path.dirname(c.licenseFile), `license-${serial}-${Math.random().toString(36).slice(2)}.json`),
      c.clusterId,
      {
        serial,
      },
    );
  }

  const withLicense = (c: Config, file: string, over: Record<string, string> = {}): Config =>
    testConfig(redis.url, { LICENSE_CLUSTER_ID: c.clusterId, LICENSE_FILE: file, LICENSE_VENDOR_PUBLIC_KEY: c.vendorPublicKeyFile, ...over });

  it('at start: a license older than the state dir remembers is refused (exit 2 in licensed), naming both serials', async () => {
    const c2 = testConfig(redis.url, {}, { serial: 2 });
    const n = await start(c2);
    await eventually(() => n.node.controller.machine.isServing() || undefined, 10_000, 'serving');
    await n.node.stop();
    assert.equal(new StateFile(c2.stateDir, c2.nodeId).value.licenseSerial, 2);
    const older = withLicense(c2, licenseOf(c2, 1), { LICENSE_STATE_DIR: c2.stateDir });
    const msg = startRefusal(() => createNode({ config: older, logger: createSilentLogger() }), ErrorCode.LICENSE_INVALID);
    assert.match(msg, /^license file .*: serial 1 is older than serial 2, which this node has run with or seen in cluster/);
    assert.equal(new StateFile(c2.stateDir, c2.nodeId).value.licenseSerial, 2, 'the refusal changed nothing');
  });

  it('a newer serial in Redis: the older node never takes the lease, logs both serials, GetStatus shows it, and its state dir remembers', async () => {
    const c2 = testConfig(redis.url, {}, { serial: 2 });
    const first = await start(c2);
    await eventually(() => first.node.controller.machine.isServing() || undefined, 10_000, 'serving');
    await first.node.stop(); // releases the lease: free for anyone with the newest license
    const keys = clusterKeys(c2.clusterId);
    assert.equal(await client.get(keys.licenseSerial), '2');
    assert.equal(await client.get(keys.leader), null);

    // The older license on a node whose state dir knows nothing (new machine, wiped disk).
    const older = withLicense(c2, licenseOf(c2, 1), { LICENSE_LOG_LEVEL: 'info' });
    const log = captureLog();
    const n = await start(older, { logStream: log.stream });
    await eventually(() => n.node.controller.machine.leaseRefusal, 10_000, 'refused');
    await new Promise((r) => setTimeout(r, 2 * older.leaseTtlMs));
    assert.equal(n.node.controller.machine.state, 'STANDBY');
    assert.equal(await client.get(keys.leader), null, 'it never took the free lease');
    assert.ok(!log.lines().some((l) => l['to'] === 'ACTIVE'));
    const errors = log.lines().filter((l) => l['level'] === 'error' && /^license superseded/.test(String(l['message'])));
    assert.equal(errors.length, 1, 'one error');
    assert.equal(errors[0]?.['ownSerial'], 1);
    assert.equal(errors[0]?.['newerSerial'], 2);
    const a = createAdminClient(n.addr, TEST_TOKEN);
    closers.push(() => a.close());
    const st = await a.getStatus();
    assert.equal(st.state, 'NODE_STATE_STANDBY');
    assert.equal(st.license_serial, 1);
    assert.match(st.license_error, /serial 1, but serial 2 is in use in cluster .*\(redis\).*does not take or keep the lease/);
    await n.node.stop();
    // Remembered: the same node restarted with the old license is refused at start.
    assert.equal(new StateFile(older.stateDir, older.nodeId).value.licenseSerial, 2);
    startRefusal(() => createNode({ config: older, logger: createSilentLogger() }), ErrorCode.LICENSE_INVALID);
  });

  it('the new license on the redundant first: the primary with the older one hands over at once and stops serving; restarted with the new one it takes back', async () => {
    const secret = newClusterSecret();
    // A fixed port: the redundant dials the primary there, also after its restart.
    const grpcAddr = `127.0.0.1:${await freePort()}`;
    const pc = testConfig(redis.url, {
      LICENSE_CLUSTER_SECRET: secret,
      LICENSE_HANDBACK_AFTER_MS: '300',
      LICENSE_LOG_LEVEL: 'info',
      LICENSE_GRPC_ADDR: grpcAddr,
    });
    const log = captureLog();
    const primary = await start(pc, { logStream: log.stream });
    await eventually(() => primary.node.controller.machine.isServing() || undefined, 10_000, 'primary serving');
    const newer = licenseOf(pc, 2);
    const redundant = await start(
      withLicense(pc, newer, { LICENSE_NODE_ID: 'node-b', LICENSE_PEER_ADDR: primary.addr, LICENSE_CLUSTER_SECRET: secret, LICENSE_HANDBACK_AFTER_MS: '300' }),
    );
    await eventually(() => (redundant.node.controller.machine.state === 'FAILOVER_ACTIVE' ? true : undefined), 15_000, 'the redundant took over');
    assert.equal(primary.node.controller.machine.state, 'STANDBY');
    assert.ok(primary.node.controller.machine.leaseRefusal);
    // Handed over the way a step-down does: released and the peer told, not left to expire.
    assert.ok(
      log.lines().some((l) => l['message'] === 'lease released' && l['why'] === 'step-down'),
      'released the lease',
    );
    const a = createAdminClient(primary.addr, TEST_TOKEN);
    closers.push(() => a.close());
    const st = await a.getStatus();
    assert.equal(st.state, 'NODE_STATE_STANDBY');
    assert.match(st.license_error, /serial 1, but serial 2 is in use/);
    assert.equal(primary.node.controller.machine.peer?.licenseSerial, 2, "the peer's serial, from its heartbeats");
    const ra = createAdminClient(redundant.addr, TEST_TOKEN);
    closers.push(() => ra.close());
    const rs = await ra.getStatus();
    assert.equal(rs.license_serial, 2);
    assert.equal(rs.license_error, '');
    assert.equal(rs.peer?.license_serial, 1, 'GetStatus shows the serial the peer runs with');
    // It stays out: no acquire, no asking for the lease.
    await new Promise((r) => setTimeout(r, 2 * pc.leaseTtlMs));
    assert.equal(primary.node.controller.machine.state, 'STANDBY');
    assert.equal(primary.node.controller.machine.wantsLease(), false);
    assert.equal(redundant.node.controller.machine.state, 'FAILOVER_ACTIVE');
    await primary.node.stop();

    // The operator installs the new license on the primary too: it comes back and takes over.
    startRefusal(() => createNode({ config: pc, logger: createSilentLogger() }), ErrorCode.LICENSE_INVALID);
    const again = await start(
      withLicense(pc, newer, { LICENSE_STATE_DIR: pc.stateDir, LICENSE_CLUSTER_SECRET: secret, LICENSE_HANDBACK_AFTER_MS: '300', LICENSE_GRPC_ADDR: grpcAddr }),
    );
    await eventually(() => (again.node.controller.machine.state === 'ACTIVE' ? true : undefined), 20_000, 'handback to the primary');
    assert.equal(redundant.node.controller.machine.leaseRefusal, undefined);
  });

  it("a peer's heartbeat alone (its Redis unreachable) stops the older node, which does not write the claim down", async () => {
    const pc = testConfig(redis.url, { LICENSE_INSECURE_PEERS: 'true', LICENSE_CLUSTER_SECRET: newClusterSecret() });
    const primary = await start(pc);
    await eventually(() => primary.node.controller.machine.isServing() || undefined, 10_000, 'primary serving');
    const secret = pc.clusterSecret ?? '';
    const cut = await start(
      withLicense(pc, licenseOf(pc, 7), {
        LICENSE_NODE_ID: 'node-b',
        LICENSE_PEER_ADDR: primary.addr,
        LICENSE_CLUSTER_SECRET: secret,
        LICENSE_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      }),
    );
    await eventually(() => (primary.node.controller.machine.state === 'STANDBY' ? true : undefined), 10_000, 'the primary stopped serving');
    assert.match(primary.node.controller.machine.leaseRefusal ?? '', /serial 7 is in use .*\(heartbeat of peer node-b\)/);
    await eventually(async () => ((await client.get(clusterKeys(pc.clusterId).leader)) === null ? true : undefined), 5_000, 'lease released');
    assert.equal(new StateFile(pc.stateDir, pc.nodeId).value.licenseSerial, 1, "a peer's claim is not remembered");
    assert.equal(await client.get(clusterKeys(pc.clusterId).licenseSerial), '1');
    assert.equal(cut.node.controller.machine.state, 'STARTING', 'the newer node cannot reach its Redis');
  });

  it('host binding: a server bound to a host id starts on that machine only (also when another node borrows its id)', async () => {
    const here = hostIdFromMachineId('0123456789abcdef0123456789abcdef');
    const elsewhere = hostIdFromMachineId('fedcba9876543210fedcba9876543210');
    const c = testConfig(
      redis.url,
      {},
      {
        servers: [
          { node_id: 'node-a', role: 'primary', host_id: here },
          { node_id: 'node-b', role: 'redundant', host_id: elsewhere },
        ],
      },
    );
    const msg = startRefusal(() => createNode({ config: c, logger: createSilentLogger(), hostId: () => elsewhere }), ErrorCode.LICENSE_INVALID);
    assert.match(msg, new RegExp(`server node-a is bound to host id ${here}, this machine is ${elsewhere} \\(licensectl hostid\\)`));
    // The redundant's machine cannot run the primary's id to escape the budget.
    const n = await start(c, { hostId: () => here });
    await eventually(() => n.node.controller.machine.isServing() || undefined, 10_000, 'serving on its machine');
  });
});
