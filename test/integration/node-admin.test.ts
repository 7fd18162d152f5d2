import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createAdminClient } from '../../src/server/admin/admin-client';
import { loadLicenseProto } from '../../src/contract/proto';
import { checkHealth as check, healthClient } from '../helpers/health';
import { bearer, type StartedNode, startTestPair, TEST_TOKEN } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';

describe('a node in process: admin auth, status and health', () => {
  let redis: RedisProcess;
  let primary: StartedNode;
  let redundant: StartedNode;
  const closers: (() => void)[] = [];

  before(async () => {
    redis = await startRedis();
    ({ primary, redundant } = await startTestPair(redis.url));
  });
  after(async () => {
    for (const c of closers) c();
    await primary.node.stop();
    await redundant.node.stop();
    await redis.stop();
  });

  it('AdminService without a token is UNAUTHENTICATED, with a wrong one PERMISSION_DENIED', async () => {
    const proto = loadLicenseProto();
    const client = new proto.AdminService(primary.addr, grpc.credentials.createInsecure());
    closers.push(() => client.close());
    const call = (md: grpc.Metadata) =>
      new Promise<grpc.ServiceError>((resolve, reject) =>
        client.GetStatus({}, md, { deadline: Date.now() + 3_000 }, (err) => (err ? resolve(err) : reject(new Error('call succeeded')))),
      );
    const none = await call(new grpc.Metadata());
    assert.equal(none.code, grpc.status.UNAUTHENTICATED);
    assert.match(none.details, /authorization: Bearer/);
    const wrong = await call(bearer('not-the-token-at-all'));
    assert.equal(wrong.code, grpc.status.PERMISSION_DENIED);
    const malformed = new grpc.Metadata();
    malformed.set('authorization', TEST_TOKEN); // no "Bearer"
    assert.equal((await call(malformed)).code, grpc.status.PERMISSION_DENIED);
  });

  it('GetStatus reports the contract fields; the redundant names the leader', async () => {
    const pa = createAdminClient(primary.addr, TEST_TOKEN);
    const ra = createAdminClient(redundant.addr, TEST_TOKEN);
    closers.push(
      () => pa.close(),
      () => ra.close(),
    );
    const ps = await eventually(async () => {
      const s = await pa.getStatus();
      return s.state === 'NODE_STATE_ACTIVE' ? s : undefined;
    });
    assert.equal(ps.cluster_id, primary.config.clusterId);
    assert.equal(ps.node_id, 'node-a');
    assert.equal(ps.role, 'ROLE_PRIMARY');
    assert.ok(ps.epoch >= 1);
    assert.equal(ps.leader_node_id, 'node-a');
    assert.deepEqual(ps.budget, {
      granted_ms: primary.node.license.failover.budgetMs,
      consumed_ms: 0,
      remaining_ms: primary.node.license.failover.budgetMs,
      blocked: false,
      activations: 0,
      episode_id: '',
    });
    const rs = await eventually(async () => {
      const s = await ra.getStatus();
      return s.state === 'NODE_STATE_STANDBY' && s.peer?.reachable ? s : undefined;
    });
    assert.equal(rs.epoch, 0);
    assert.equal(rs.leader_node_id, 'node-a');
    assert.equal(rs.leader_addr, primary.addr);
    assert.equal(rs.peer?.node_id, 'node-a');
    assert.equal(rs.peer?.state, 'NODE_STATE_ACTIVE');
  });

  it('grpc.health.v1: license.v1.SeatService is SERVING only on the active node', async () => {
    const ph = healthClient(primary.addr);
    const rh = healthClient(redundant.addr);
    closers.push(
      () => ph.close(),
      () => rh.close(),
    );
    await eventually(async () => ((await check(ph, 'license.v1.SeatService')) === 'SERVING' ? true : undefined));
    assert.equal(await check(rh, 'license.v1.SeatService'), 'NOT_SERVING');
    assert.equal(await check(rh, ''), 'SERVING');
    // Step the primary down: the roles swap, and so does health.
    const pa = createAdminClient(primary.addr, TEST_TOKEN);
    closers.push(() => pa.close());
    assert.equal((await pa.stepDown()).stepped_down, true);
    assert.equal(await check(ph, 'license.v1.SeatService'), 'NOT_SERVING');
    await eventually(async () => ((await check(rh, 'license.v1.SeatService')) === 'SERVING' ? true : undefined));
  });
});
