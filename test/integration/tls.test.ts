import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createAdminClient } from '../../src/server/admin/admin-client';
import { LicenseClient } from '../../src/sdk/index';
import { type StartedNode, startTestNode, startTestPair, TEST_TOKEN, testConfig } from '../helpers/node';
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
      ['no-secret', {}],
    ] as const) {
      const impostor = await startTestNode(
        testConfig(redis.url, {
          LICENSE_CLUSTER_ID: clusterId,
          LICENSE_NODE_ID: `impostor-${name}`,
          LICENSE_ROLE: 'redundant',
          LICENSE_PEER_ADDR: p.addr,
          LICENSE_FILE: p.config.licenseFile,
          LICENSE_VENDOR_PUBLIC_KEY: p.config.vendorPublicKeyFile,
          ...extra,
        }),
      );
      nodes.push(impostor);
      const err = await eventually(() => impostor.node.controller.snapshot().peer?.error || undefined, 10_000, 'impostor refused');
      assert.match(err, /refused: .*(LICENSE_CLUSTER_SECRET|not signed)/);
      assert.notEqual(p.node.controller.machine.peer?.nodeId, `impostor-${name}`);
      await impostor.node.stop();
    }
  });
});
