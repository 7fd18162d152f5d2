import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createAdminClient } from '../../src/server/admin/admin-client';
import type { SeatServiceClient } from '../../src/contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../../src/contract/proto';
import { type StartedNode, startTestPair, TEST_TOKEN } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown;

/** Promisified SeatService calls that keep the trailing metadata of errors. */
function seatClient(addr: string) {
  const proto = loadLicenseProto();
  const c: SeatServiceClient = new proto.SeatService(addr, grpc.credentials.createInsecure());
  const call =
    <Req, Res>(fn: Unary<Req, Res>) =>
    (req: Req): Promise<Res> =>
      new Promise((resolve, reject) =>
        fn.call(c, req, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res as Res))),
      );
  /* eslint-disable @typescript-eslint/unbound-method -- call() invokes each one as fn.call(c, ...) */
  return {
    client: c,
    open: call(c.OpenSession as Unary<object, { session_id: string; ttl_ms: number; heartbeat_interval_ms: number; expires_at_ms: number }>),
    heartbeat: call(c.Heartbeat as Unary<object, { expires_at_ms: number; lease_ids: string[] }>),
    checkout: call(c.Checkout as Unary<object, { lease_id: string; feature: string; count: number; expires_at_ms: number }>),
    release: call(c.Release as Unary<object, { released: boolean }>),
    close: call(c.CloseSession as Unary<object, { leases_released: number }>),
    features: call(c.ListFeatures as Unary<object, { features: { name: string; seats_total: number; seats_in_use: number; expires_at_ms: number }[] }>),
  };
  /* eslint-enable @typescript-eslint/unbound-method */
}

async function grpcError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  assert.fail('call succeeded');
}

const SESSION_TTL = 1_200;

describe('SeatService over gRPC (in-process nodes, real Redis)', () => {
  let redis: RedisProcess;
  let primary: StartedNode;
  let standby: StartedNode;
  let s: ReturnType<typeof seatClient>;
  let onStandby: ReturnType<typeof seatClient>;

  before(async () => {
    redis = await startRedis();
    ({ primary, redundant: standby } = await startTestPair(redis.url, {
      env: { LICENSE_SESSION_TTL_MS: String(SESSION_TTL) },
      license: {
        features: [
          { name: 'cad-pro', seats: 5 },
          { name: 'solver', seats: 50 },
          { name: 'old-tool', seats: 5, expires_at: '2020-01-01' },
        ],
      },
    }));
    s = seatClient(primary.addr);
    onStandby = seatClient(standby.addr);
    await eventually(() => primary.node.controller.machine.isServing() || undefined);
    await eventually(async () => ((await createAdminClient(standby.addr, TEST_TOKEN).getStatus()).leader_addr ? true : undefined));
  });
  after(async () => {
    s.client.close();
    onStandby.client.close();
    await standby.node.stop();
    await primary.node.stop();
    await redis.stop();
  });

  const open = () => s.open({ client_id: 'test-app', user: 'alice', hostname: 'ws-1', pid: 4242 });

  it('OpenSession returns a session with its TTL and a heartbeat interval of TTL/3', async () => {
    const r = await open();
    assert.match(r.session_id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(r.ttl_ms, SESSION_TTL);
    assert.equal(r.heartbeat_interval_ms, SESSION_TTL / 3);
    assert.ok(r.expires_at_ms > Date.now());
  });

  it('a standby answers every SeatService call UNAVAILABLE with license-leader', async () => {
    const calls = [
      onStandby.open({ client_id: 'x' }),
      onStandby.heartbeat({ session_id: 'abc' }),
      onStandby.checkout({ session_id: 'abc', feature: 'cad-pro', count: 1 }),
      onStandby.release({ session_id: 'abc', lease_id: 'x' }),
      onStandby.close({ session_id: 'abc' }),
      onStandby.features({}),
      // Even bad input: the standby does not judge requests it would not serve.
      onStandby.checkout({ session_id: '', feature: '!!', count: -1 }),
    ];
    for (const p of calls) {
      const err = await grpcError(p);
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.deepEqual(err.metadata.get('license-leader'), [primary.addr]);
      assert.match(err.details, /not active/);
    }
  });

  it('checkout and release change seats_in_use; ListFeatures shows every licensed feature', async () => {
    const sess = await open();
    const lease = await s.checkout({ session_id: sess.session_id, feature: 'cad-pro', count: 2 });
    assert.equal(lease.feature, 'cad-pro');
    assert.equal(lease.count, 2);
    let f = (await s.features({})).features;
    assert.deepEqual(
      f.map((x) => [x.name, x.seats_total]),
      [
        ['cad-pro', 5],
        ['solver', 50],
        ['old-tool', 5],
      ],
    );
    assert.equal(f.find((x) => x.name === 'cad-pro')?.seats_in_use, 2);
    assert.equal(f.find((x) => x.name === 'old-tool')?.expires_at_ms, Date.UTC(2020, 0, 1));
    assert.equal((await s.release({ session_id: sess.session_id, lease_id: lease.lease_id })).released, true);
    assert.equal((await s.release({ session_id: sess.session_id, lease_id: lease.lease_id })).released, false);
    f = (await s.features({})).features;
    assert.equal(f.find((x) => x.name === 'cad-pro')?.seats_in_use, 0);
    assert.equal((await s.close({ session_id: sess.session_id })).leases_released, 0);
  });

  it('the same request_id twice gives one lease', async () => {
    const sess = await open();
    const a = await s.checkout({ session_id: sess.session_id, feature: 'solver', count: 3, request_id: 'retry-me' });
    const b = await s.checkout({ session_id: sess.session_id, feature: 'solver', count: 3, request_id: 'retry-me' });
    assert.equal(a.lease_id, b.lease_id);
    const f = (await s.features({})).features;
    assert.equal(f.find((x) => x.name === 'solver')?.seats_in_use, 3);
    // Once released, a late retry of the same checkout is refused rather than taking the seats again.
    assert.equal((await s.release({ session_id: sess.session_id, lease_id: a.lease_id })).released, true);
    const late = await grpcError(s.checkout({ session_id: sess.session_id, feature: 'solver', count: 3, request_id: 'retry-me' }));
    assert.equal(late.code, grpc.status.FAILED_PRECONDITION);
    assert.match(late.details, /request_id retry-me was used for a lease of this session that has been released; use a new request_id/);
    assert.equal((await s.features({})).features.find((x) => x.name === 'solver')?.seats_in_use, 0);
    assert.equal((await s.close({ session_id: sess.session_id })).leases_released, 0);
  });

  it('no free seats: RESOURCE_EXHAUSTED with license-error SEATS_EXHAUSTED and what to do', async () => {
    const sess = await open();
    await s.checkout({ session_id: sess.session_id, feature: 'cad-pro', count: 5 });
    const err = await grpcError(s.checkout({ session_id: sess.session_id, feature: 'cad-pro', count: 1 }));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual(err.metadata.get('license-error'), ['SEATS_EXHAUSTED']);
    assert.match(err.details, /not enough free seats of cad-pro: 5 of 5 in use, 1 requested; retry later or release a seat/);
    await s.close({ session_id: sess.session_id });
  });

  it('bad input is INVALID_ARGUMENT naming the field, and changes nothing', async () => {
    const sess = await open();
    const sid = sess.session_id;
    const cases: [Promise<unknown>, string][] = [
      [s.checkout({ session_id: sid, feature: 'cad-pro', count: 0 }), 'count'],
      [s.checkout({ session_id: sid, feature: 'cad-pro', count: -3 }), 'count'],
      [s.checkout({ session_id: sid, feature: 'cad-pro', count: 6 }), 'count'],
      [s.checkout({ session_id: sid, feature: 'bad feature!', count: 1 }), 'feature'],
      [s.checkout({ session_id: sid, feature: 'x'.repeat(65), count: 1 }), 'feature'],
      [s.checkout({ session_id: sid, feature: '', count: 1 }), 'feature'],
      [s.checkout({ session_id: sid, feature: 'cad-pro', count: 1, request_id: 'r'.repeat(129) }), 'request_id'],
      [s.checkout({ session_id: '../etc', feature: 'cad-pro', count: 1 }), 'session_id'],
      [s.open({ client_id: 'c'.repeat(257) }), 'client_id'],
      [s.open({ client_id: 'ok', user: 'u'.repeat(257) }), 'user'],
      [s.open({ client_id: 'ok', hostname: 'h'.repeat(257) }), 'hostname'],
      [s.open({ client_id: '' }), 'client_id'],
      [s.open({ client_id: 'next\u0085line' }), 'client_id'],
      [s.open({ client_id: 'ok', hostname: '\u{1F600}'.repeat(257) }), 'hostname'],
      [s.release({ session_id: sid, lease_id: '' }), 'lease_id'],
    ];
    for (const [p, field] of cases) {
      const err = await grpcError(p);
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${field}: ${err.details}`);
      assert.ok(err.details.startsWith(`${field}: `), err.details);
    }
    // Lengths count characters (code points): 256 emoji are fine.
    const emoji = await s.open({ client_id: '\u{1F600}'.repeat(256) });
    await s.close({ session_id: emoji.session_id });
    const f = (await s.features({})).features;
    assert.ok(f.every((x) => x.seats_in_use === 0 || x.name !== 'cad-pro'));
    await s.close({ session_id: sid });
  });

  it('unknown feature is NOT_FOUND; an expired feature is FAILED_PRECONDITION FEATURE_EXPIRED', async () => {
    const sess = await open();
    const nf = await grpcError(s.checkout({ session_id: sess.session_id, feature: 'nope', count: 1 }));
    assert.equal(nf.code, grpc.status.NOT_FOUND);
    assert.match(nf.details, /feature nope is not in the license \(licensed: cad-pro, solver, old-tool\)/);
    const ex = await grpcError(s.checkout({ session_id: sess.session_id, feature: 'old-tool', count: 1 }));
    assert.equal(ex.code, grpc.status.FAILED_PRECONDITION);
    assert.deepEqual(ex.metadata.get('license-error'), ['FEATURE_EXPIRED']);
    await s.close({ session_id: sess.session_id });
  });

  it('an unknown session is NOT_FOUND for Heartbeat and Checkout', async () => {
    for (const p of [s.heartbeat({ session_id: 'doesnotexist' }), s.checkout({ session_id: 'doesnotexist', feature: 'cad-pro', count: 1 })]) {
      assert.equal((await grpcError(p)).code, grpc.status.NOT_FOUND);
    }
  });

  it('a heartbeat renews the session and its seats; a session that stops heartbeating loses its seats after its TTL', async () => {
    const sess = await open();
    const lease = await s.checkout({ session_id: sess.session_id, feature: 'solver', count: 4 });
    // Keep it alive past one TTL with heartbeats only; each answer names the lease held.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, SESSION_TTL / 3));
      const hb = await s.heartbeat({ session_id: sess.session_id });
      assert.ok(hb.expires_at_ms > Date.now());
      assert.deepEqual(hb.lease_ids, [lease.lease_id]);
    }
    assert.equal((await s.features({})).features.find((x) => x.name === 'solver')?.seats_in_use, 4);
    // Now stop: after the TTL the seats are free (not counted, and swept).
    await eventually(async () => ((await s.features({})).features.find((x) => x.name === 'solver')?.seats_in_use === 0 ? true : undefined), 10_000);
    const err = await grpcError(s.heartbeat({ session_id: sess.session_id }));
    assert.equal(err.code, grpc.status.NOT_FOUND);
  });

  it('200 concurrent checkouts from 20 sessions against a 50-seat feature: exactly 50 granted', async () => {
    const sessions = await Promise.all(Array.from({ length: 20 }, () => open()));
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => s.checkout({ session_id: sessions[i % 20]?.session_id, feature: 'solver', count: 1, request_id: `r${i}` })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const exhausted = results.filter((r) => r.status === 'rejected' && (r.reason as grpc.ServiceError).code === grpc.status.RESOURCE_EXHAUSTED).length;
    assert.equal(ok, 50);
    assert.equal(exhausted, 150);
    assert.equal((await s.features({})).features.find((x) => x.name === 'solver')?.seats_in_use, 50);
    const admin = createAdminClient(primary.addr, TEST_TOKEN);
    const leases = await admin.listLeases('solver');
    admin.close();
    assert.equal(leases.leases.length, 50);
    assert.ok(leases.leases.every((l) => l.client_id === 'test-app' && l.user === 'alice' && l.pid === 4242));
    await Promise.all(sessions.map((x) => s.close({ session_id: x.session_id })));
  });
});
