import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadLicenseProto } from '../../src/contract/proto';
import { createAdminClient } from '../../src/server/admin/admin-client';
import { LicenseClient } from '../../src/sdk/index';
import { signDevLicense } from '../../src/tools/local/dev-license';
import { captureLog, newClusterSecret, type StartedNode, startTestNode, startTestPair, TEST_TOKEN, testConfig, vendorFilesOf } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';
import { createTestPki, type TestPki } from '../helpers/tls';

async function grpcCode(p: Promise<unknown>): Promise<grpc.status> {
  try {
    await p;
    return grpc.status.OK;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
}

const INSECURE_WARNING = /^peer heartbeats are not authenticated/;
const insecureWarnings = (lines: Record<string, unknown>[]): Record<string, unknown>[] =>
  lines.filter((l) => l['level'] === 'warn' && INSECURE_WARNING.test(String(l['message'])));

describe('TLS and authenticated peers (in-process nodes, real Redis)', () => {
  let redis: RedisProcess;
  let pki: TestPki;
  let rogue: TestPki;
  const nodes: StartedNode[] = [];
  const closers: (() => Promise<void> | void)[] = [];

  before(async () => {
    redis = await startRedis();
    pki = createTestPki('cluster');
    rogue = createTestPki('rogue');
  });
  after(async () => {
    for (const c of closers) await c();
    for (const n of nodes) await n.node.stop();
    await redis.stop();
  });

  async function pair(over: (role: 'primary' | 'redundant') => Record<string, string>) {
    const started = await startTestPair(redis.url, { roleEnv: { primary: over('primary'), redundant: over('redundant') } });
    nodes.push(started.primary, started.redundant);
    return { p: started.primary, r: started.redundant, clusterId: started.primary.config.clusterId };
  }

  it('TLS on: the SDK connects with the CA; a plaintext client cannot', async () => {
    const server = pki.issue('tls-only');
    const { p } = await pair(() => ({ LICENSE_TLS_CERT: server.certFile, LICENSE_TLS_KEY: server.keyFile }));
    await eventually(() => p.node.controller.machine.isServing() || undefined);
    const sdk = new LicenseClient({ endpoints: [p.addr], clientId: 'tls-app', tls: { ca: readFileSync(pki.caFile) }, retryTimeoutMs: 5_000 });
    closers.push(() => sdk.close());
    const seat = await sdk.checkout('cad-pro');
    assert.ok(seat.held);
    const plain = createAdminClient(p.addr, TEST_TOKEN, { timeoutMs: 2_000 });
    closers.push(() => plain.close());
    assert.equal(await grpcCode(plain.getStatus()), grpc.status.UNAVAILABLE);
    const tlsAdmin = createAdminClient(p.addr, TEST_TOKEN, { tls: { caFile: pki.caFile } });
    closers.push(() => tlsAdmin.close());
    assert.equal((await tlsAdmin.getStatus()).state, 'NODE_STATE_ACTIVE');
  });

  it('mutual TLS (LICENSE_TLS_CA): peers talk, admin needs a client certificate from the cluster CA, SDK clients need none', async () => {
    const certs = { primary: pki.issue('mtls-a'), redundant: pki.issue('mtls-b') };
    const { p, r } = await pair((role) => ({
      LICENSE_TLS_CERT: certs[role].certFile,
      LICENSE_TLS_KEY: certs[role].keyFile,
      LICENSE_TLS_CA: pki.caFile,
    }));
    const operator = pki.issue('operator');
    const good = createAdminClient(r.addr, TEST_TOKEN, { tls: { caFile: pki.caFile, ...operator } });
    closers.push(() => good.close());
    const s = await eventually(async () => {
      const st = await good.getStatus();
      return st.peer?.reachable && st.state === 'NODE_STATE_STANDBY' ? st : undefined;
    });
    assert.equal(s.leader_node_id, 'node-a');

    const noCert = createAdminClient(p.addr, TEST_TOKEN, { tls: { caFile: pki.caFile } });
    closers.push(() => noCert.close());
    await assert.rejects(noCert.getStatus(), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED && /client certificate/.test(err.details));

    const wrongCa = createAdminClient(p.addr, TEST_TOKEN, { tls: { caFile: pki.caFile, ...rogue.issue('intruder') } });
    closers.push(() => wrongCa.close());
    assert.notEqual(await grpcCode(wrongCa.getStatus()), grpc.status.OK);

    const sdk = new LicenseClient({ endpoints: [p.addr, r.addr], clientId: 'mtls-app', tls: { ca: readFileSync(pki.caFile) }, retryTimeoutMs: 5_000 });
    closers.push(() => sdk.close());
    assert.ok((await sdk.checkout('solver')).held);
  });

  it('a rogue node with a certificate from another CA cannot pose as the redundant', async () => {
    const certs = { primary: pki.issue('r-a'), redundant: rogue.issue('r-b') };
    const { p, r } = await pair((role) => ({
      LICENSE_TLS_CERT: certs[role].certFile,
      LICENSE_TLS_KEY: certs[role].keyFile,
      LICENSE_TLS_CA: role === 'primary' ? pki.caFile : rogue.caFile,
    }));
    await new Promise((res) => setTimeout(res, 1_500));
    const admin = createAdminClient(p.addr, TEST_TOKEN, { tls: { caFile: pki.caFile, ...pki.issue('op2') } });
    closers.push(() => admin.close());
    const st = await admin.getStatus();
    assert.equal(st.state, 'NODE_STATE_ACTIVE');
    assert.equal(st.peer?.node_id ?? '', '', 'the rogue was never accepted as the peer');
    assert.equal(r.node.controller.machine.peer, undefined);
  });

  it('LICENSE_CLUSTER_SECRET: nodes with the same secret talk; a node with another or no secret is refused', async () => {
    const secret = 'correct-horse-battery-staple-0123';
    const { p, r, clusterId } = await pair(() => ({ LICENSE_CLUSTER_SECRET: secret }));
    await eventually(() => (r.node.controller.snapshot().peer?.reachable ? true : undefined));
    assert.equal(r.node.controller.snapshot().peer?.error, '');

    for (const [name, extra] of [
      ['wrong-secret', { LICENSE_CLUSTER_SECRET: 'another-secret-entirely-9876' }],
      // A node with a peer and no secret only starts when told to accept that.
      ['no-secret', { LICENSE_INSECURE_PEERS: 'true' }],
    ] as const) {
      const log = captureLog();
      // A license of the same vendor that lists the impostor, so that only the secret is wrong.
      const impostorLicense = signDevLicense(vendorFilesOf(p.config), path.join(path.dirname(p.config.licenseFile), `impostor-${name}.json`), clusterId, {
        servers: [
          { node_id: 'node-a', role: 'primary' },
          { node_id: `impostor-${name}`, role: 'redundant' },
        ],
      });
      const impostor = await startTestNode(
        testConfig(redis.url, {
          LICENSE_CLUSTER_ID: clusterId,
          LICENSE_NODE_ID: `impostor-${name}`,
          LICENSE_PEER_ADDR: p.addr,
          LICENSE_FILE: impostorLicense,
          LICENSE_VENDOR_PUBLIC_KEY: p.config.vendorPublicKeyFile,
          LICENSE_LOG_LEVEL: 'warn',
          ...extra,
        }),
        { logStream: log.stream },
      );
      nodes.push(impostor);
      const err = await eventually(() => impostor.node.controller.snapshot().peer?.error || undefined, 10_000, 'impostor refused');
      assert.match(err, /refused: .*(LICENSE_CLUSTER_SECRET|not signed)/);
      assert.notEqual(p.node.controller.machine.peer?.nodeId, `impostor-${name}`);
      await impostor.node.stop();
      assert.equal(insecureWarnings(log.lines()).length, name === 'no-secret' ? 1 : 0, `${name}: the unauthenticated-peers warning`);
    }
  });

  it('a node with neither secret nor CA nor LICENSE_INSECURE_PEERS refuses every heartbeat it receives, without naming its cluster', async () => {
    const n = await startTestNode(testConfig(redis.url));
    nodes.push(n);
    await eventually(() => n.node.controller.machine.isServing() || undefined);
    const before = n.node.controller.machine.highestEpoch;
    const client = new (loadLicenseProto().ClusterService)(n.addr, grpc.credentials.createInsecure());
    closers.push(() => client.close());
    const err = await new Promise<grpc.ServiceError>((resolve, reject) =>
      client.Heartbeat(
        {
          cluster_id: n.config.clusterId,
          node_id: 'node-b',
          role: 'ROLE_REDUNDANT',
          state: 'NODE_STATE_STANDBY',
          stepping_down: true,
          wants_lease: true,
          highest_epoch: before + 5,
          sent_at_ms: Date.now(),
        },
        { deadline: Date.now() + 5_000 },
        (e) => (e ? resolve(e) : reject(new Error('an unauthenticated heartbeat was accepted'))),
      ),
    );
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(err.metadata.get('license-error')[0], 'PEER_REFUSED');
    assert.match(err.details, /LICENSE_CLUSTER_SECRET/);
    assert.ok(!err.details.includes(n.config.clusterId), 'the refusal does not reveal the cluster id');
    assert.equal(n.node.controller.machine.peer, undefined, 'nothing was heard');
    assert.equal(n.node.controller.machine.highestEpoch, before, 'no epoch adopted');
    assert.equal(n.node.controller.machine.state, 'ACTIVE');
  });

  it('LICENSE_INSECURE_PEERS=true: a node with a peer and neither secret nor CA starts, warns at every start, and its heartbeats are accepted', async () => {
    // A peer without a secret of its own accepts unsigned heartbeats.
    const p = await startTestNode(testConfig(redis.url, { LICENSE_INSECURE_PEERS: 'true' }));
    nodes.push(p);
    await eventually(() => p.node.controller.machine.isServing() || undefined);
    const peerOf = (over: Record<string, string>) =>
      testConfig(redis.url, {
        LICENSE_CLUSTER_ID: p.config.clusterId,
        LICENSE_NODE_ID: 'node-b',
        LICENSE_PEER_ADDR: p.addr,
        LICENSE_FILE: p.config.licenseFile,
        LICENSE_VENDOR_PUBLIC_KEY: p.config.vendorPublicKeyFile,
        LICENSE_LOG_LEVEL: 'warn',
        ...over,
      });
    const insecure = peerOf({ LICENSE_INSECURE_PEERS: 'true' });
    assert.equal(insecure.insecurePeers, true);
    assert.equal(insecure.clusterSecret, undefined);
    // Two starts of the same node (same config and state dir): the warning each time.
    for (const start of [1, 2]) {
      const log = captureLog();
      const r = await startTestNode(insecure, { logStream: log.stream });
      nodes.push(r);
      await eventually(() => (r.node.controller.snapshot().peer?.reachable ? true : undefined), 10_000, `start ${start}: peer reachable`);
      assert.equal(r.node.controller.snapshot().peer?.error, '');
      await r.node.stop();
      const warnings = insecureWarnings(log.lines());
      assert.equal(warnings.length, 1, `start ${start}: one warning`);
      assert.match(String(warnings[0]?.['message']), /LICENSE_INSECURE_PEERS=true/);
      assert.match(String(warnings[0]?.['message']), /LICENSE_CLUSTER_SECRET/);
    }
    // Authenticated (a secret, or the flag with a secret), or neither flag nor peer (it refuses every heartbeat): no warning.
    const secret = newClusterSecret();
    for (const [name, config] of [
      ['secret', peerOf({ LICENSE_CLUSTER_SECRET: secret })],
      ['secret and LICENSE_INSECURE_PEERS=true', peerOf({ LICENSE_CLUSTER_SECRET: secret, LICENSE_INSECURE_PEERS: 'true' })],
      ['no peer, no flag', testConfig(redis.url, { LICENSE_LOG_LEVEL: 'warn' })],
    ] as const) {
      const log = captureLog();
      const n = await startTestNode(config, { logStream: log.stream });
      nodes.push(n);
      await new Promise((res) => setTimeout(res, 300));
      await n.node.stop();
      assert.deepEqual(insecureWarnings(log.lines()), [], `${name}: no warning`);
      assert.ok(!JSON.stringify(log.lines()).includes(secret), `${name}: the secret is never logged`);
    }
  });
});
