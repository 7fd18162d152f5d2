import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { SeatServiceClient } from '../../src/contract/generated/license/v1/SeatService';
import { type FaultProxy, startFaultProxy } from '../../src/tools/local/fault-proxy';
import { loadLicenseProto } from '../../src/contract/proto';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';

/**
 * Redis trouble with a node in process: a cut link turns into quick UNAVAILABLE
 * answers (no offline queue, short command timeouts), never calls that pile up until
 * the client's deadline; when Redis comes back the node serves again without a restart.
 */
describe('Redis outage (real Redis behind a fault proxy)', () => {
  let redis: RedisProcess;
  let proxy: FaultProxy;
  let node: StartedNode;
  let client: SeatServiceClient;

  before(async () => {
    redis = await startRedis();
    proxy = await startFaultProxy('127.0.0.1', redis.port);
    node = await startTestNode(testConfig(`redis://${proxy.addr}`));
    client = new (loadLicenseProto().SeatService)(node.addr, grpc.credentials.createInsecure());
    await eventually(() => node.node.controller.machine.isServing() || undefined);
  });
  after(async () => {
    client.close();
    await node.node.stop();
    await proxy.close();
    await redis.stop();
  });

  const open = (deadlineMs: number) =>
    new Promise<string>((resolve, reject) =>
      client.OpenSession({ client_id: 'outage-test' }, { deadline: Date.now() + deadlineMs }, (err, r) =>
        err || !r ? reject(err ?? new Error('empty response')) : resolve(r.session_id),
      ),
    );
  const code = async (p: Promise<unknown>): Promise<grpc.status> => {
    try {
      await p;
      return grpc.status.OK;
    } catch (err) {
      return (err as grpc.ServiceError).code;
    }
  };

  for (const mode of ['reset', 'blackhole'] as const) {
    it(`link ${mode}: calls fail UNAVAILABLE well before a 10 s deadline, the node steps down, and recovers when Redis is back`, async () => {
      assert.equal(await code(open(5_000)), grpc.status.OK);
      proxy.cut(mode);
      // Twenty calls at once: each must come back UNAVAILABLE, none may sit until its deadline.
      const codes = await Promise.all(Array.from({ length: 20 }, () => code(open(10_000))));
      assert.deepEqual(new Set(codes), new Set([grpc.status.UNAVAILABLE]), `codes: ${codes.join(',')}`);
      await eventually(() => (node.node.controller.machine.state === 'STANDBY' ? true : undefined), 10_000, 'step-down after the lease deadline');
      proxy.restore();
      await eventually(() => node.node.controller.machine.isServing() || undefined, 20_000, 'serving again');
      assert.equal(await code(open(5_000)), grpc.status.OK);
    });
  }
});
