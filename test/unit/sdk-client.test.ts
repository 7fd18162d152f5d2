import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  ClientClosedError,
  FeatureExpiredError,
  FeatureNotFoundError,
  InvalidRequestError,
  LicenseClient,
  type LicenseClientEvents,
  type LicenseClientOptions,
  NoActiveServerError,
  SeatsExhaustedError,
} from '../../src/sdk/index';
import { closedPortAddr, FakeSeatServer, FakeSeatStore, waitFor } from '../helpers/fake-seat-server';

/** Everything a test starts, stopped in reverse order when it ends (an open handle hangs the runner). */
function harness(t: TestContext) {
  const cleanups: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  return {
    store(ttlMs = 3_000, heartbeatIntervalMs = 100): FakeSeatStore {
      return new FakeSeatStore(ttlMs, heartbeatIntervalMs).addFeature('cad-pro', 3).addFeature('solo', 1);
    },
    async server(store: FakeSeatStore): Promise<FakeSeatServer> {
      const s = await FakeSeatServer.start(store);
      cleanups.push(() => s.stop());
      return s;
    },
    client(endpoints: string[], over: Partial<LicenseClientOptions> = {}): LicenseClient {
      const c = new LicenseClient({
        endpoints,
        clientId: 'sdk-test',
        callTimeoutMs: 1_000,
        retryTimeoutMs: 5_000,
        backoff: { initialMs: 20, maxMs: 100 },
        ...over,
      });
      cleanups.push(() => c.close());
      return c;
    },
  };
}

/** Collects the payloads of one event. */
function record<K extends keyof LicenseClientEvents>(c: LicenseClient, event: K): Array<LicenseClientEvents[K]> {
  const seen: Array<LicenseClientEvents[K]> = [];
  c.on(event, (p) => seen.push(p));
  return seen;
}

describe('LicenseClient: finding the active node', () => {
  it('follows license-leader from a standby, adding an address it was not given', async (t) => {
    const h = harness(t);
    const store = h.store();
    const standby = await h.server(store);
    const active = await h.server(store);
    standby.setStandby(active.addr);
    const c = h.client([standby.addr]);

    await c.connect();

    assert.equal(c.activeEndpoint, active.addr);
    assert.deepEqual(c.endpoints, [standby.addr, active.addr]);
    assert.equal(standby.callsOf('OpenSession')[0]?.outcome, 'UNAVAILABLE');
    assert.equal(active.callsOf('OpenSession').length, 1);
    assert.ok(c.sessionId !== undefined && store.sessions.has(c.sessionId));
  });

  it('rotates past an endpoint that is down', async (t) => {
    const h = harness(t);
    const store = h.store();
    const dead = await closedPortAddr();
    const live = await h.server(store);
    const c = h.client([dead, live.addr]);

    await c.connect();

    assert.equal(c.activeEndpoint, live.addr);
    assert.equal(live.callsOf('OpenSession').length, 1);
  });

  it('gives up with NoActiveServerError naming every endpoint tried', async (t) => {
    const h = harness(t);
    const dead1 = await closedPortAddr();
    const dead2 = await closedPortAddr();
    const c = h.client([dead1, dead2], { retryTimeoutMs: 500 });

    const err = await c.connect().then(
      () => assert.fail('connect should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NoActiveServerError, String(err));
    assert.equal(err.code, 'NO_ACTIVE_SERVER');
    assert.deepEqual([...err.endpointsTried].sort(), [dead1, dead2].sort());
    assert.match(err.message, new RegExp(dead1.replace(/\./g, '\\.')));
    assert.equal(err.grpcCode, grpc.status.UNAVAILABLE);
  });
});

describe('LicenseClient: checkout', () => {
  it('retries a checkout with the same request_id after UNAVAILABLE and gets one lease', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const c = h.client([a.addr]);
    await c.connect();
    // The node grants the seat, then the answer is lost: only the request_id prevents a second grant.
    a.failNext(1, { methods: ['Checkout'], afterProcessing: true });

    const seat = await c.checkout('cad-pro');

    const calls = a.callsOf('Checkout');
    assert.deepEqual(
      calls.map((x) => x.outcome),
      ['UNAVAILABLE', 'ok'],
    );
    const ids = calls.map((x) => x.request['request_id']);
    assert.equal(typeof ids[0], 'string');
    assert.notEqual(ids[0], '');
    assert.equal(ids[0], ids[1]);
    assert.equal(store.leases.size, 1);
    assert.ok(store.leases.has(seat.leaseId));
    assert.equal(seat.feature, 'cad-pro');
    assert.equal(seat.count, 1);
    assert.ok(seat.held);
    assert.deepEqual(c.heldSeats, [seat]);
  });

  it('uses a fresh request_id for each checkout call', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const c = h.client([a.addr]);
    const s1 = await c.checkout('cad-pro'); // connects on demand
    const s2 = await c.checkout('cad-pro');
    assert.notEqual(s1.leaseId, s2.leaseId);
    const ids = a.callsOf('Checkout').map((x) => x.request['request_id']);
    assert.equal(new Set(ids).size, 2);
  });

  it('throws typed errors for exhausted, unknown, expired and invalid', async (t) => {
    const h = harness(t);
    const store = h.store().addFeature('old', 5, Date.now() - 60_000);
    const a = await h.server(store);
    const c = h.client([a.addr]);
    const lost = record(c, 'seatLost');
    await c.connect();
    const session = c.sessionId;
    await c.checkout('solo');

    await assert.rejects(c.checkout('solo'), (e: unknown) => {
      assert.ok(e instanceof SeatsExhaustedError, String(e));
      assert.equal(e.code, 'SEATS_EXHAUSTED');
      assert.equal(e.grpcCode, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(e.endpoint, a.addr);
      return true;
    });
    await assert.rejects(c.checkout('no-such-feature'), (e: unknown) => {
      assert.ok(e instanceof FeatureNotFoundError, String(e));
      assert.equal(e.code, 'NOT_FOUND');
      return true;
    });
    // An unknown feature must not be mistaken for a lost session.
    assert.equal(c.sessionId, session);
    assert.equal(lost.length, 0);
    assert.equal(a.callsOf('OpenSession').length, 1);

    await assert.rejects(c.checkout('old'), FeatureExpiredError);
    await assert.rejects(c.checkout('cad-pro', { count: 0 }), (e: unknown) => {
      assert.ok(e instanceof InvalidRequestError, String(e));
      assert.equal(e.grpcCode, grpc.status.INVALID_ARGUMENT);
      assert.match(e.message, /count/);
      return true;
    });
    // Caught before sending: protobuf would truncate it.
    await assert.rejects(c.checkout('cad-pro', { count: 1.5 }), InvalidRequestError);
    assert.equal(c.heldSeats.length, 1);
  });

  it('lists features', async (t) => {
    const h = harness(t);
    const store = h.store().addFeature('dated', 2, 4_102_444_800_000);
    const a = await h.server(store);
    const c = h.client([a.addr]);
    await c.checkout('cad-pro', { count: 2 });
    const fs = await c.features();
    assert.deepEqual(
      fs.find((f) => f.name === 'cad-pro'),
      { name: 'cad-pro', seatsTotal: 3, seatsInUse: 2, queueLength: 0, expiresAtMs: null },
    );
    assert.equal(fs.find((f) => f.name === 'dated')?.expiresAtMs, 4_102_444_800_000);
  });
});

describe('LicenseClient: failover and session loss', () => {
  it('with recoverSeats off: reports seatLost for each seat and reopens the session when heartbeat gets NOT_FOUND', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const c = h.client([a.addr], { recoverSeats: false });
    const lost = record(c, 'seatLost');
    const reopened = record(c, 'sessionReopened');
    await c.connect();
    const oldSession = c.sessionId ?? '';
    const s1 = await c.checkout('cad-pro');
    const s2 = await c.checkout('solo');

    store.dropSession(oldSession);

    await waitFor('sessionReopened', () => reopened.length > 0);
    assert.deepEqual(lost.map((e) => e.seat.leaseId).sort(), [s1.leaseId, s2.leaseId].sort());
    for (const e of lost) assert.equal(e.reason, 'session-not-found');
    assert.equal(reopened[0]?.previousSessionId, oldSession);
    assert.equal(reopened[0]?.sessionId, c.sessionId);
    assert.notEqual(c.sessionId, oldSession);
    assert.ok(s1.lost && s2.lost);
    assert.equal(c.heldSeats.length, 0);

    // A lost seat has nothing to give back.
    await s1.release();
    assert.equal(a.callsOf('Release').length, 0);
    // The new session works.
    const s3 = await c.checkout('solo');
    assert.equal(s3.sessionId, c.sessionId);
  });

  it('recovers seats after the session is lost: same Seat objects, new leases; what cannot be had again is seatLost', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const c = h.client([a.addr]);
    const recovered = record(c, 'seatRecovered');
    const lost = record(c, 'seatLost');
    await c.connect();
    const oldSession = c.sessionId ?? '';
    const s1 = await c.checkout('cad-pro');
    const s2 = await c.checkout('solo');
    const [old1, old2] = [s1.leaseId, s2.leaseId];
    // The store lost the session; meanwhile someone else took the only 'solo' seat.
    store.dropSession(oldSession);
    const other = h.client([a.addr], { clientId: 'other' });
    await other.checkout('solo');

    await waitFor('recovery', () => recovered.length + lost.length === 2);
    assert.deepEqual(
      recovered.map((e) => e.previousLeaseId),
      [old1],
    );
    assert.equal(recovered[0]?.seat, s1, 'the same Seat object');
    assert.notEqual(s1.leaseId, old1);
    assert.equal(s1.sessionId, c.sessionId);
    assert.ok(s1.held);
    assert.deepEqual(
      lost.map((e) => e.seat.leaseId),
      [old2],
    );
    assert.ok(s2.lost);
    assert.deepEqual(
      c.heldSeats.map((s) => s.leaseId),
      [s1.leaseId],
    );
    await s1.release();
    assert.equal(c.heldSeats.length, 0);
  });

  it('reopens once when a checkout finds its session gone, with a fresh request_id', async (t) => {
    const h = harness(t);
    const store = h.store(60_000);
    const a = await h.server(store);
    // Heartbeat far away (30 s: half the TTL), so the checkout is what finds out.
    const c = h.client([a.addr], { heartbeatIntervalMs: 60_000 });
    const reopened = record(c, 'sessionReopened');
    await c.connect();
    const oldSession = c.sessionId ?? '';
    store.dropSession(oldSession);

    const seat = await c.checkout('cad-pro');

    assert.equal(reopened.length, 1);
    assert.notEqual(seat.sessionId, oldSession);
    const checkouts = a.callsOf('Checkout');
    assert.deepEqual(
      checkouts.map((x) => x.outcome),
      ['NOT_FOUND', 'ok'],
    );
    assert.notEqual(checkouts[0]?.request['request_id'], checkouts[1]?.request['request_id']);
  });

  it('treats seats as lost when no heartbeat succeeds before the session expires, then reopens', async (t) => {
    const h = harness(t);
    const store = h.store(800, 100);
    const a = await h.server(store);
    const b = await h.server(store);
    const c = h.client([a.addr, b.addr], { callTimeoutMs: 200, recoverSeats: false });
    const lost = record(c, 'seatLost');
    const reopened = record(c, 'sessionReopened');
    const seat = await c.checkout('cad-pro');

    // No node is active, and none knows a leader.
    a.setStandby();
    b.setStandby();
    // A release started now keeps retrying until the seat is lost, then has nothing to do.
    const releasing = seat.release();
    await waitFor('seatLost', () => lost.length > 0);
    assert.equal(lost[0]?.reason, 'session-expired');
    assert.equal(lost[0]?.seat, seat);
    assert.ok(seat.lost);
    await releasing;
    assert.ok(!seat.released);

    b.setActive();
    await waitFor('sessionReopened', () => reopened.length > 0);
    assert.equal(c.activeEndpoint, b.addr);
  });
});

describe('LicenseClient: deadlines and close', () => {
  it('ends a hung call at callTimeoutMs and retries it with the same request_id', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const c = h.client([a.addr], { callTimeoutMs: 300 });
    await c.connect();
    a.hangNext(1, ['Checkout']);

    const seat = await c.checkout('cad-pro');

    const calls = a.callsOf('Checkout');
    assert.deepEqual(
      calls.map((x) => x.outcome),
      ['hang', 'ok'],
    );
    assert.equal(calls[0]?.request['request_id'], calls[1]?.request['request_id']);
    assert.equal(store.leases.size, 1);
    assert.ok(store.leases.has(seat.leaseId));
  });

  it('fails with DEADLINE_EXCEEDED as the last error when every call hangs', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const c = h.client([a.addr], { callTimeoutMs: 150, retryTimeoutMs: 600 });
    a.hangNext(1_000, ['ListFeatures']);

    await assert.rejects(c.features(), (e: unknown) => {
      assert.ok(e instanceof NoActiveServerError, String(e));
      assert.equal(e.grpcCode, grpc.status.DEADLINE_EXCEEDED);
      assert.equal(e.lastError?.grpcCode, grpc.status.DEADLINE_EXCEEDED);
      assert.deepEqual(e.endpointsTried, [a.addr]);
      return true;
    });
    assert.ok(a.callsOf('ListFeatures').length >= 2, 'retried after the first deadline');
  });

  it('close() closes the session once, frees the seats, and later calls throw ClientClosedError', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const c = h.client([a.addr]);
    const seat = await c.checkout('cad-pro', { count: 2 });
    const sessionId = c.sessionId;

    await Promise.all([c.close(), c.close()]);
    await c.close();

    assert.equal(a.callsOf('CloseSession').length, 1);
    assert.equal(a.callsOf('CloseSession')[0]?.request['session_id'], sessionId);
    assert.equal(store.leases.size, 0);
    assert.equal(store.sessions.size, 0);
    assert.ok(seat.released);
    assert.equal(c.heldSeats.length, 0);
    assert.equal(c.sessionId, undefined);
    assert.ok(c.closed);
    await seat.release(); // idempotent, no call
    assert.equal(a.callsOf('Release').length, 0);
    await assert.rejects(c.checkout('cad-pro'), ClientClosedError);
    await assert.rejects(c.connect(), ClientClosedError);
    await assert.rejects(c.features(), ClientClosedError);

    // No heartbeat after close.
    const beats = a.callsOf('Heartbeat').length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(a.callsOf('Heartbeat').length, beats);
  });

  it('close() ends an operation that is still retrying', async (t) => {
    const h = harness(t);
    const dead = await closedPortAddr();
    const c = h.client([dead], { retryTimeoutMs: 60_000 });
    const pending = c.connect();
    await new Promise((r) => setTimeout(r, 100));
    await c.close();
    await assert.rejects(pending, ClientClosedError);
  });

  it('seat.release() is idempotent', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const c = h.client([a.addr]);
    const seat = await c.checkout('solo');
    await Promise.all([seat.release(), seat.release()]);
    await seat.release();
    assert.equal(a.callsOf('Release').length, 1);
    assert.ok(seat.released);
    assert.equal(c.heldSeats.length, 0);
    // The seat is free again.
    await c.checkout('solo');
  });
});
