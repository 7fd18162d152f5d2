import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { SeatServiceClient } from '../../src/contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../../src/contract/proto';
import {
  LicenseClient,
  type LicenseClientEvents,
  type LicenseClientOptions,
  NoActiveServerError,
  SeatsExhaustedError,
  ServerBlockedError,
} from '../../src/sdk/index';
import { UnresolvedCheckouts } from '../../src/sdk/unresolved-checkouts';
import { FakeSeatServer, FakeSeatStore, type SeatMethod, waitFor } from '../helpers/fake-seat-server';

/**
 * What the SDK believes it holds against what the server holds: HeartbeatResponse.lease_ids,
 * the session's local expiry, close(), and checkouts whose answer was lost.
 */

type Callback = (err: grpc.ServiceError | null, res?: object) => void;
type ForwardFn = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => grpc.ClientUnaryCall;

function unavailable(details: string): Partial<grpc.StatusObject> {
  return { code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata() };
}

/**
 * A node as the SDK sees it today: a gRPC front that forwards every call to a FakeSeatServer
 * and adds `lease_ids` to each Heartbeat answer from the shared store, as the real server
 * does. Its own faults act between the client and the node.
 */
class ReportingNode {
  /** Lease ids left out of `lease_ids` (the server has them, but does not say so). */
  readonly hidden = new Set<string>();
  /** Calls of these methods reach the node, but their answer is replaced by UNAVAILABLE. */
  readonly loseAnswers = new Set<SeatMethod>();
  /** Calls of these methods never reach the node: UNAVAILABLE at once. */
  readonly refuse = new Set<SeatMethod>();
  /** Answers of these methods are held back this long after the node gave them. */
  readonly delayAnswersMs = new Map<SeatMethod, number>();
  /** Calls that reached this front, refused ones included, by method. */
  readonly arrived = new Map<SeatMethod, number>();

  private constructor(
    readonly inner: FakeSeatServer,
    private readonly front: grpc.Server,
    private readonly client: SeatServiceClient,
    readonly port: number,
  ) {}

  static async start(store: FakeSeatStore): Promise<ReportingNode> {
    const inner = await FakeSeatServer.start(store);
    const proto = loadLicenseProto();
    const client = new proto.SeatService(inner.addr, grpc.credentials.createInsecure());
    const front = new grpc.Server();
    const self: { node?: ReportingNode } = {};
    const handlers: Record<string, grpc.handleUnaryCall<object, object>> = {};
    for (const method of ['OpenSession', 'Heartbeat', 'Checkout', 'Release', 'CloseSession', 'ListFeatures'] as const) {
      handlers[method] = (call, callback) => {
        const node = self.node;
        if (!node) return callback(unavailable('not started'));
        node.arrived.set(method, (node.arrived.get(method) ?? 0) + 1);
        if (node.refuse.has(method)) return callback(unavailable(`injected: ${method} refused`));
        // eslint-disable-next-line @typescript-eslint/unbound-method -- invoked below as forward.call(client, ...)
        const forward = client[method] as unknown as ForwardFn;
        const out = forward.call(client, call.request, new grpc.Metadata(), { deadline: call.getDeadline() }, (err, res) => {
          const answer = (): void => {
            if (err) return callback(err);
            if (node.loseAnswers.has(method)) return callback(unavailable(`injected: ${method} answer lost`));
            if (method === 'Heartbeat' && res) {
              const sessionId = (call.request as { session_id: string }).session_id;
              const ids = store
                .leasesOf(sessionId)
                .map((l) => l.id)
                .filter((id) => !node.hidden.has(id));
              return callback(null, { ...res, lease_ids: ids });
            }
            callback(null, res);
          };
          const delay = node.delayAnswersMs.get(method) ?? 0;
          if (delay > 0) setTimeout(answer, delay);
          else answer();
        });
        call.on('cancelled', () => out.cancel());
      };
    }
    front.addService(proto.SeatService.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      front.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    self.node = new ReportingNode(inner, front, client, port);
    return self.node;
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  get store(): FakeSeatStore {
    return this.inner.store;
  }

  callsOf(method: SeatMethod) {
    return this.inner.callsOf(method);
  }

  async stop(): Promise<void> {
    this.front.forceShutdown();
    this.client.close();
    await this.inner.stop();
  }
}

function harness(t: TestContext) {
  const cleanups: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  return {
    store(ttlMs = 3_000, heartbeatIntervalMs = 100): FakeSeatStore {
      return new FakeSeatStore(ttlMs, heartbeatIntervalMs).addFeature('cad-pro', 3).addFeature('solo', 1);
    },
    async node(store: FakeSeatStore): Promise<ReportingNode> {
      const n = await ReportingNode.start(store);
      cleanups.push(() => n.stop());
      return n;
    },
    client(endpoints: string[], over: Partial<LicenseClientOptions> = {}): LicenseClient {
      const c = new LicenseClient({
        endpoints,
        clientId: 'sdk-truth-test',
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

function record<K extends keyof LicenseClientEvents>(c: LicenseClient, event: K): Array<LicenseClientEvents[K]> {
  const seen: Array<LicenseClientEvents[K]> = [];
  c.on(event, (p) => seen.push(p));
  return seen;
}

/** Heartbeats answered ok so far. */
function beats(n: ReportingNode): number {
  return n.callsOf('Heartbeat').filter((x) => x.outcome === 'ok').length;
}

/** Waits until `n` more heartbeats were answered after now. */
async function heartbeatsPass(n: ReportingNode, count = 2): Promise<void> {
  const from = beats(n);
  await waitFor(`${count} more heartbeats`, () => beats(n) >= from + count);
}

/** The lease is gone from the server as a Redis failover would lose it: lease, and the request id that made it. */
function loseGrant(store: FakeSeatStore, leaseId: string): void {
  const lease = store.leases.get(leaseId);
  assert.ok(lease, `lease ${leaseId} on the server`);
  store.leases.delete(leaseId);
  const session = store.sessions.get(lease.sessionId);
  for (const [rid, lid] of session?.requestIds ?? []) if (lid === leaseId) session?.requestIds.delete(rid);
}

function requestIdOf(store: FakeSeatStore, sessionId: string, leaseId: string): string | undefined {
  for (const [rid, lid] of store.sessions.get(sessionId)?.requestIds ?? []) if (lid === leaseId) return rid;
  return undefined;
}

describe('LicenseClient: what the server holds (HeartbeatResponse.lease_ids)', () => {
  it('moves heartbeats to the new active node with the same session, without a new checkout', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const b = await h.node(store);
    b.inner.setStandby(a.addr);
    const c = h.client([a.addr, b.addr]);
    const failovers = record(c, 'failover');
    const lost = record(c, 'seatLost');
    await c.connect();
    const sessionId = c.sessionId;
    const seat = await c.checkout('cad-pro');
    assert.equal(c.activeEndpoint, a.addr);

    // Failover: a steps down, b takes over; sessions and leases live in the shared store.
    a.inner.setStandby(b.addr);
    b.inner.setActive();

    await waitFor('failover event', () => failovers.length > 0);
    await waitFor('two heartbeats on b', () => b.callsOf('Heartbeat').filter((x) => x.outcome === 'ok').length >= 2);
    assert.deepEqual(failovers, [{ from: a.addr, to: b.addr }]);
    assert.equal(c.activeEndpoint, b.addr);
    assert.equal(c.sessionId, sessionId);
    for (const call of b.callsOf('Heartbeat')) assert.equal(call.request['session_id'], sessionId);
    assert.equal(b.callsOf('OpenSession').length, 0);
    assert.equal(b.callsOf('Checkout').length, 0);
    assert.equal(lost.length, 0);
    assert.ok(seat.held);
    assert.deepEqual(c.heldSeats, [seat]);
    assert.ok(store.leases.has(seat.leaseId));

    // Release also goes to the new node.
    await seat.release();
    assert.ok(seat.released);
    assert.equal(b.callsOf('Release').length, 1);
    assert.equal(store.leases.size, 0);
  });

  it('throws ServerBlockedError and emits blocked; held seats keep being renewed', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const c = h.client([a.addr]);
    const blocked = record(c, 'blocked');
    const lost = record(c, 'seatLost');
    const seat = await c.checkout('cad-pro');
    a.inner.blocked = true;

    await assert.rejects(c.checkout('cad-pro'), (e: unknown) => {
      assert.ok(e instanceof ServerBlockedError, String(e));
      assert.equal(e.code, 'REDUNDANT_BLOCKED');
      assert.equal(e.grpcCode, grpc.status.FAILED_PRECONDITION);
      return true;
    });
    assert.equal(blocked.length, 1);
    assert.equal(blocked[0]?.endpoint, a.addr);
    assert.ok(blocked[0]?.error instanceof ServerBlockedError);

    // A new client cannot even open a session on a blocked node.
    const other = h.client([a.addr]);
    await assert.rejects(other.connect(), ServerBlockedError);

    // The blocked node lists the lease on every heartbeat, so the seat needs no new grant.
    const checkouts = a.callsOf('Checkout').length;
    await heartbeatsPass(a, 3);
    assert.ok(seat.held);
    assert.equal(lost.length, 0);
    assert.equal(a.callsOf('Checkout').length, checkouts);
  });

  it('checks a seat the server lost out again with the same request_id within one heartbeat; it stays held', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const c = h.client([a.addr]);
    const recovered = record(c, 'seatRecovered');
    const lost = record(c, 'seatLost');
    const seat = await c.checkout('cad-pro', { count: 2 });
    const sessionId = c.sessionId ?? '';
    const oldLease = seat.leaseId;
    const rid = requestIdOf(store, sessionId, oldLease);
    assert.ok(rid);
    const checkoutsBefore = a.callsOf('Checkout').length;

    loseGrant(store, oldLease);

    await waitFor('seatRecovered', () => recovered.length === 1);
    assert.equal(recovered[0]?.seat, seat);
    assert.equal(recovered[0]?.previousLeaseId, oldLease);
    assert.deepEqual(lost, []);
    const again = a.callsOf('Checkout').slice(checkoutsBefore);
    assert.deepEqual(
      again.map((x) => [x.request['request_id'], x.request['session_id'], x.request['count'], x.outcome]),
      [[rid, sessionId, 2, 'ok']],
      'one checkout, same request id',
    );
    assert.ok(seat.held);
    assert.notEqual(seat.leaseId, oldLease);
    assert.equal(seat.sessionId, sessionId);
    assert.deepEqual(
      store.leasesOf(sessionId).map((l) => l.id),
      [seat.leaseId],
    );
    assert.deepEqual(c.heldSeats, [seat]);
    await heartbeatsPass(a);
    assert.equal(a.callsOf('Checkout').length, checkoutsBefore + 1, 'never checked out twice');
    await seat.release();
    assert.equal(store.leases.size, 0);
  });

  it('reports seatLost not-held-by-server when the seat cannot be had again', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const c = h.client([a.addr]);
    const lost = record(c, 'seatLost');
    const recovered = record(c, 'seatRecovered');
    const seat = await c.checkout('solo');
    // The grant is lost and someone else takes the only seat before the next heartbeat.
    a.refuse.add('Heartbeat');
    loseGrant(store, seat.leaseId);
    const other = h.client([a.addr], { clientId: 'other' });
    await other.checkout('solo');
    a.refuse.delete('Heartbeat');

    await waitFor('seatLost', () => lost.length === 1);
    assert.equal(lost[0]?.seat, seat);
    assert.equal(lost[0]?.reason, 'not-held-by-server');
    assert.ok(lost[0]?.error instanceof SeatsExhaustedError, String(lost[0]?.error));
    assert.ok(seat.lost && !seat.held);
    assert.deepEqual(c.heldSeats, []);
    await heartbeatsPass(a);
    assert.deepEqual(recovered, []);
    assert.equal(lost.length, 1);
    // A lost seat has nothing to give back.
    await seat.release();
    assert.equal(a.callsOf('Release').length, 0);
  });

  it('reports seatLost when the request id was used for a lease since released (FAILED_PRECONDITION)', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const c = h.client([a.addr]);
    const lost = record(c, 'seatLost');
    const seat = await c.checkout('cad-pro');
    a.inner.failNext(1, { methods: ['Checkout'], code: grpc.status.FAILED_PRECONDITION, licenseError: 'FAILED_PRECONDITION' });
    loseGrant(store, seat.leaseId);

    await waitFor('seatLost', () => lost.length === 1);
    assert.equal(lost[0]?.reason, 'not-held-by-server');
    assert.equal(lost[0]?.error.code, 'FAILED_PRECONDITION');
    assert.ok(!seat.held);
    assert.equal(store.leases.size, 0);
  });

  it('keeps a seat the server did not list when its request id still returns the same lease', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const c = h.client([a.addr]);
    const lost = record(c, 'seatLost');
    const recovered = record(c, 'seatRecovered');
    const seat = await c.checkout('cad-pro');
    const leaseId = seat.leaseId;
    const before = a.callsOf('Checkout').length;

    a.delayAnswersMs.set('Checkout', 300);
    a.hidden.add(leaseId);
    await waitFor('the re-checkout', () => a.callsOf('Checkout').length > before);
    // While it is checked again, the seat is still held, and listed once.
    assert.deepEqual(c.heldSeats, [seat]);
    assert.ok(seat.held);
    await heartbeatsPass(a);

    assert.equal(a.callsOf('Checkout')[before]?.outcome, 'ok');
    assert.ok(seat.held);
    assert.equal(seat.leaseId, leaseId);
    assert.deepEqual(lost, []);
    assert.deepEqual(recovered, []);
    assert.equal(store.leases.size, 1);
  });

  it('releases a lease the server lists that the client does not know (an orphan)', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const c = h.client([a.addr]);
    const seat = await c.checkout('cad-pro');
    const sessionId = c.sessionId ?? '';
    const orphan = randomUUID();
    store.leases.set(orphan, { id: orphan, sessionId, feature: 'cad-pro', count: 1, expiresAtMs: Date.now() + 3_000 });

    await waitFor('the orphan released', () => !store.leases.has(orphan));
    assert.deepEqual(
      a.callsOf('Release').map((x) => [x.request['lease_id'], x.outcome]),
      [[orphan, 'ok']],
    );
    assert.ok(seat.held);
    assert.ok(store.leases.has(seat.leaseId));
    assert.deepEqual(c.heldSeats, [seat]);
  });

  it('never releases an unknown lease while a checkout of the session is in flight', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const c = h.client([a.addr], { callTimeoutMs: 3_000 });
    await c.connect();
    // The node grants at once, the answer takes several heartbeats to arrive.
    a.delayAnswersMs.set('Checkout', 700);
    const pending = c.checkout('cad-pro');
    await waitFor('the grant', () => store.leases.size === 1);
    await heartbeatsPass(a, 3);
    const seat = await pending;

    assert.equal(a.callsOf('Release').length, 0);
    assert.ok(seat.held);
    assert.ok(store.leases.has(seat.leaseId));
    a.delayAnswersMs.clear();
    await heartbeatsPass(a);
    assert.equal(a.callsOf('Release').length, 0);
    assert.ok(store.leases.has(seat.leaseId));
  });

  it('gives back a checkout whose answer was lost and whose retries ran out, once the cluster answers again', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const c = h.client([a.addr], { retryTimeoutMs: 400 });
    await c.connect();
    const sessionId = c.sessionId;
    a.loseAnswers.add('Checkout');
    a.refuse.add('Heartbeat');

    await assert.rejects(c.checkout('cad-pro'), NoActiveServerError);
    assert.equal(store.leases.size, 1, 'the node granted it');
    const rids = new Set(a.callsOf('Checkout').map((x) => x.request['request_id']));
    assert.equal(rids.size, 1, 'every retry sent the same request id');
    const granted = [...store.leases.keys()][0];

    a.loseAnswers.clear();
    a.refuse.clear();
    await waitFor('the lost grant released', () => store.leases.size === 0);
    assert.ok(
      a.callsOf('Release').some((x) => x.request['lease_id'] === granted && x.outcome === 'ok'),
      'released the lease granted unseen',
    );
    assert.equal(c.sessionId, sessionId);
    assert.deepEqual(c.heldSeats, []);
    const n = a.callsOf('Checkout').length;
    await heartbeatsPass(a);
    assert.equal(a.callsOf('Checkout').length, n, 'settled once, not re-sent again');
  });
});

describe('LicenseClient: truth at the session expiry', () => {
  it('reports every seat lost (session-expired) when the local expiry passes, and recovers them in a new session', async (t) => {
    const h = harness(t);
    const store = h.store(1_000, 100);
    const a = await h.node(store);
    const c = h.client([a.addr], { callTimeoutMs: 200, retryTimeoutMs: 60_000 });
    const lost = record(c, 'seatLost');
    const recovered = record(c, 'seatRecovered');
    const reopened = record(c, 'sessionReopened');
    const s1 = await c.checkout('cad-pro');
    const s2 = await c.checkout('solo');
    const oldSession = c.sessionId;

    // The cluster answers nothing any more, not even a new session.
    a.refuse.add('Heartbeat').add('OpenSession');
    await waitFor('seatLost for both', () => lost.length === 2);
    assert.deepEqual(
      lost.map((e) => [e.seat, e.reason]),
      [
        [s1, 'session-expired'],
        [s2, 'session-expired'],
      ],
    );
    assert.ok(!s1.held && !s2.held && s1.lost && s2.lost);
    assert.deepEqual(c.heldSeats, []);
    assert.equal(reopened.length, 0, 'reported while no new session could be opened');
    assert.equal(recovered.length, 0);

    a.refuse.clear();
    await waitFor('both seats recovered', () => recovered.length === 2);
    assert.equal(reopened[0]?.previousSessionId, oldSession);
    assert.ok(s1.held && s2.held && !s1.lost);
    assert.equal(s1.sessionId, c.sessionId);
    assert.notEqual(c.sessionId, oldSession);
    assert.deepEqual(
      store
        .leasesOf(c.sessionId ?? '')
        .map((l) => l.id)
        .sort(),
      [s1.leaseId, s2.leaseId].sort(),
    );
    assert.equal(lost.length, 2);
  });

  it('does not recover a seat released while it was lost', async (t) => {
    const h = harness(t);
    const store = h.store(1_000, 100);
    const a = await h.node(store);
    const c = h.client([a.addr], { callTimeoutMs: 200, retryTimeoutMs: 60_000 });
    const lost = record(c, 'seatLost');
    const recovered = record(c, 'seatRecovered');
    const keep = await c.checkout('cad-pro');
    const drop = await c.checkout('solo');
    a.refuse.add('Heartbeat').add('OpenSession');
    await waitFor('seatLost for both', () => lost.length === 2);

    await drop.release();
    a.refuse.clear();
    await waitFor('recovery', () => recovered.length === 1);
    await heartbeatsPass(a);
    assert.equal(recovered[0]?.seat, keep);
    assert.ok(keep.held);
    assert.ok(!drop.held);
    assert.deepEqual(c.heldSeats, [keep]);
    assert.equal(store.inUse('solo'), 0);
  });

  it('a seat whose session the server forgot is held only until that session would have expired', async (t) => {
    const h = harness(t);
    const store = h.store(1_000, 100);
    const a = await h.node(store);
    const c = h.client([a.addr], { callTimeoutMs: 200, retryTimeoutMs: 60_000 });
    const lost = record(c, 'seatLost');
    const recovered = record(c, 'seatRecovered');
    const seat = await c.checkout('cad-pro');
    const oldSession = c.sessionId ?? '';

    // The server forgets the session, and no new one can be opened for now.
    a.refuse.add('OpenSession');
    store.dropSession(oldSession);
    await waitFor('seatLost', () => lost.length === 1);
    assert.equal(lost[0]?.reason, 'session-not-found');
    assert.ok(!seat.held);
    assert.deepEqual(c.heldSeats, []);

    a.refuse.clear();
    await waitFor('seatRecovered', () => recovered.length === 1);
    assert.ok(seat.held);
    assert.notEqual(seat.sessionId, oldSession);
  });
});

describe('LicenseClient: close() leaves nothing held', () => {
  it('drops seats waiting for recovery', async (t) => {
    const h = harness(t);
    const store = h.store(2_000, 100);
    const a = await h.node(store);
    const c = h.client([a.addr], { callTimeoutMs: 200, retryTimeoutMs: 60_000 });
    const s1 = await c.checkout('cad-pro');
    const s2 = await c.checkout('solo');
    a.refuse.add('OpenSession');
    store.dropSession(c.sessionId ?? '');
    await waitFor('session lost', () => c.sessionId === undefined);

    await c.close();

    assert.ok(!s1.held && !s2.held);
    assert.deepEqual(c.heldSeats, []);
    // A reopen sent just before close() may still arrive; after that, nothing more is tried.
    await new Promise((r) => setTimeout(r, 50));
    const attempts = a.arrived.get('OpenSession');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(a.arrived.get('OpenSession'), attempts, 'no reopen attempts after close');
    assert.equal(store.leases.size, 0);
  });

  it('closes a session it gave up as expired but the server still keeps', async (t) => {
    const h = harness(t);
    const store = h.store(1_000, 100);
    const a = await h.node(store);
    const c = h.client([a.addr], { callTimeoutMs: 200, retryTimeoutMs: 60_000 });
    const lost = record(c, 'seatLost');
    const seat = await c.checkout('cad-pro', { count: 2 });
    // From now on the server keeps sessions for a minute; the client still counts 1 s.
    store.ttlMs = 60_000;
    await heartbeatsPass(a);
    a.refuse.add('Heartbeat').add('OpenSession');
    await waitFor('seatLost', () => lost.length === 1);
    assert.equal(store.sessions.size, 1, 'the server still holds the session');

    await c.close();

    assert.ok(!seat.held);
    assert.equal(store.sessions.size, 0);
    assert.equal(store.inUse('cad-pro'), 0);
  });

  it('returns within its bound when no server answers, and nothing is held after it', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.node(store);
    const c = h.client([a.addr], { callTimeoutMs: 300 });
    const seat = await c.checkout('cad-pro');
    a.inner.hangNext(1_000);

    await c.close();

    assert.ok(!seat.held);
    assert.ok(seat.released);
    assert.deepEqual(c.heldSeats, []);
  });
});

describe('UnresolvedCheckouts', () => {
  const request = (session: string, rid: string) => ({ session_id: session, feature: 'cad-pro', count: 1, request_id: rid });

  it('keeps at most `cap` entries, dropping the oldest with a warning', () => {
    const warnings: string[] = [];
    const u = new UnresolvedCheckouts(3, (message) => warnings.push(message));
    for (const rid of ['r1', 'r2', 'r3', 'r4']) u.add(request('s1', rid));
    assert.deepEqual(
      u.ofSession('s1').map((e) => e.request.request_id),
      ['r2', 'r3', 'r4'],
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /r1/);
    u.add(request('s1', 'r4'));
    assert.equal(u.size, 3, 'the same request once');
  });

  it('forgets entries of other sessions and entries asked again', () => {
    const u = new UnresolvedCheckouts(10, () => undefined);
    u.add(request('s1', 'a'));
    u.add(request('s2', 'b'));
    u.add(request('s2', 'c'));
    u.forget('s2', 'c');
    u.keepOnly('s2');
    assert.deepEqual(
      [...u.ofSession('s1'), ...u.ofSession('s2')].map((e) => e.request.request_id),
      ['b'],
    );
    u.keepOnly(undefined);
    assert.equal(u.size, 0);
  });
});
