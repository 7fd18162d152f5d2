import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { SeatServiceClient } from '../../src/contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../../src/contract/proto';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';

/** Limits against abusive or broken clients: each breach is refused with a clear message and counted. */
describe('limits (in-process node, real Redis)', () => {
  let redis: RedisProcess;
  let node: StartedNode;
  let c: SeatServiceClient;

  before(async () => {
    redis = await startRedis();
    node = await startTestNode(
      testConfig(redis.url, {
        LICENSE_MAX_SESSIONS_PER_CLIENT: '2',
        LICENSE_MAX_SEATS_PER_SESSION: '3',
        LICENSE_MAX_CONCURRENT_CALLS: '4',
        LICENSE_MAX_MESSAGE_BYTES: '4096',
        LICENSE_SESSION_TTL_MS: '1500',
        LICENSE_METRICS_ADDR: '127.0.0.1:0',
      }),
    );
    c = new (loadLicenseProto().SeatService)(node.addr, grpc.credentials.createInsecure());
    await eventually(() => node.node.controller.machine.isServing() || undefined);
  });
  after(async () => {
    c.close();
    await node.node.stop();
    await redis.stop();
  });

  const call = <T>(fn: (cb: (err: grpc.ServiceError | null, r?: T) => void) => void): Promise<T> =>
    new Promise((resolve, reject) => fn((err, r) => (err || r === undefined ? reject(err ?? new Error('empty response')) : resolve(r))));
  const dl = () => ({ deadline: Date.now() + 5_000 });
  const open = (client_id: string) => call<{ session_id: string }>((cb) => c.OpenSession({ client_id }, dl(), cb));
  const checkout = (session_id: string, count: number) => call<{ lease_id: string }>((cb) => c.Checkout({ session_id, feature: 'solver', count }, dl(), cb));
  const failure = async (p: Promise<unknown>): Promise<grpc.ServiceError> => {
    try {
      await p;
    } catch (err) {
      return err as grpc.ServiceError;
    }
    assert.fail('call succeeded');
  };
  const metric = async (limit: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`)).text();
    return Number(new RegExp(`^license_limit_rejections_total\\{limit="${limit}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };

  it('sessions per client id: the third open is RESOURCE_EXHAUSTED / LIMIT_EXCEEDED; closed and expired ones free the slot', async () => {
    const a = await open('greedy-app');
    await open('greedy-app');
    const err = await failure(open('greedy-app'));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual(err.metadata.get('license-error'), ['LIMIT_EXCEEDED']);
    assert.match(err.details, /client_id greedy-app already has 2 open sessions \(limit 2\)/);
    // /metrics is rendered at most once a second (RENDER_REUSE_MS): wait for the next rendering.
    await eventually(async () => ((await metric('sessions_per_client')) === 1 ? true : undefined), 10_000, 'the sessions_per_client rejection counted');
    await open('other-app'); // other client ids are not affected
    await call((cb) => c.CloseSession({ session_id: a.session_id }, dl(), cb));
    await open('greedy-app');
    // Let both expire: they stop counting.
    await new Promise((r) => setTimeout(r, 1_700));
    await open('greedy-app');
    await open('greedy-app');
  });

  it('seats per session: a checkout past the limit is refused; a release makes room', async () => {
    const s = await open('seat-app');
    const first = await checkout(s.session_id, 2);
    const err = await failure(checkout(s.session_id, 2));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual(err.metadata.get('license-error'), ['LIMIT_EXCEEDED']);
    assert.match(err.details, /holds 2 seat\(s\); 2 more would pass the limit of 3 per session/);
    await checkout(s.session_id, 1);
    await call((cb) => c.Release({ session_id: s.session_id, lease_id: first.lease_id }, dl(), cb));
    await checkout(s.session_id, 2);
    await eventually(async () => ((await metric('seats_per_session')) === 1 ? true : undefined), 10_000, 'the seats_per_session rejection counted');
  });

  it('concurrent calls: past the bound, calls are refused at once with "busy", none hangs', async () => {
    const s = await open('burst-app');
    const results = await Promise.allSettled(Array.from({ length: 60 }, () => call((cb) => c.Heartbeat({ session_id: s.session_id }, dl(), cb))));
    const busy = results.filter((r) => r.status === 'rejected' && (r.reason as grpc.ServiceError).code === grpc.status.RESOURCE_EXHAUSTED);
    const ok = results.filter((r) => r.status === 'fulfilled');
    assert.ok(busy.length > 0, 'some calls were refused');
    assert.ok(ok.length > 0, 'some calls were served');
    assert.equal(busy.length + ok.length, 60);
    assert.match(((busy[0] as PromiseRejectedResult).reason as grpc.ServiceError).details, /busy: more than 4 calls in flight/);
    await eventually(async () => ((await metric('concurrent_calls')) >= busy.length ? true : undefined), 10_000, 'the busy refusals counted');
  });

  it('an oversized message is refused by the transport, and the node keeps serving', async () => {
    const err = await failure(open('x'.repeat(10_000)));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    await open('after-big-message');
  });
});
