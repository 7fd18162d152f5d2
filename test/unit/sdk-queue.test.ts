import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { SeatServiceHandlers } from '../../src/contract/generated/license/v1/SeatService';
import { LICENSE_ERROR_KEY, LICENSE_LEADER_KEY, LICENSE_POLICY_RULE_KEY, LICENSE_QUEUE_POSITION_KEY } from '../../src/contract/metadata';
import { loadLicenseProto } from '../../src/contract/proto';
import {
  type CheckoutQueuedEvent,
  InvalidRequestError,
  LicenseClient,
  LicenseClientError,
  type LicenseClientOptions,
  OperationAbortedError,
  PolicyLimitError,
  QueueTimeoutError,
  toClientError,
} from '../../src/sdk/index';
import { waitFor } from '../helpers/fake-seat-server';

/**
 * The SDK's side of checkout queueing (CheckoutOptions.wait) against a small fake of the
 * server's queue: the shared fake in test/helpers cannot send initial metadata
 * (`license-queue-position`) nor hold a call open, so this file has its own.
 */

const FEATURE = 'cad';

interface CheckoutRecord {
  readonly node: string;
  readonly request: { session_id: string; feature: string; count: number; request_id: string; wait_ms: number };
  /** How long the call had left until its gRPC deadline when it arrived. */
  readonly deadlineInMs: number;
  cancelled: boolean;
  outcome: string;
}

interface PendingCall {
  readonly node: QueueNode;
  readonly rec: CheckoutRecord;
  readonly waiter: Waiter;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
  respond(err: Partial<grpc.StatusObject> | null, res?: Lease): void;
}

interface Waiter {
  readonly sid: string;
  readonly rid: string;
  /** The calls waiting for this checkout; none after its node stepped down, until the client retries. */
  readonly calls: Set<PendingCall>;
}

interface Lease {
  lease_id: string;
  feature: string;
  count: number;
  expires_at_ms: number;
}

/** The state both fake nodes share, as Redis is for real ones: sessions, leases, one FIFO queue. */
class QueueStore {
  readonly sessions = new Set<string>();
  /** lease id -> session and request id */
  readonly leases = new Map<string, { sid: string; rid: string }>();
  readonly queue: Waiter[] = [];

  constructor(readonly seats: number) {}

  leaseOf(sid: string, rid: string): string | undefined {
    for (const [id, l] of this.leases) if (l.sid === sid && l.rid === rid) return id;
    return undefined;
  }

  grant(sid: string, rid: string): Lease {
    const id = randomUUID();
    this.leases.set(id, { sid, rid });
    return { lease_id: id, feature: FEATURE, count: 1, expires_at_ms: Date.now() + 3_000 };
  }

  /** Grants the queue's heads while seats are free, answering the calls that wait for them. */
  serve(): void {
    for (let head = this.queue[0]; head && this.leases.size < this.seats; head = this.queue[0]) {
      this.queue.shift();
      const lease = this.grant(head.sid, head.rid);
      for (const p of [...head.calls]) finish(p, null, lease, 'granted');
    }
  }
}

function statusError(code: grpc.status, details: string, md: Record<string, string> = {}): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return { code, details, metadata };
}

/** Answers one waiting call (once) and forgets it; the waiter stays queued unless `leave`. */
function finish(p: PendingCall, err: Partial<grpc.StatusObject> | null, res: Lease | undefined, outcome: string, leave = false): void {
  if (p.done) return;
  p.done = true;
  clearTimeout(p.timer);
  p.waiter.calls.delete(p);
  p.node.pending.delete(p);
  p.rec.outcome = outcome;
  if (leave && p.waiter.calls.size === 0) {
    const i = p.node.store.queue.indexOf(p.waiter);
    if (i >= 0) p.node.store.queue.splice(i, 1);
  }
  p.respond(err, res);
}

/** One fake node: active or standby, a policy refusal to give, and the Checkout calls it saw. */
class QueueNode {
  readonly checkouts: CheckoutRecord[] = [];
  readonly pending = new Set<PendingCall>();
  standby: { leader?: string } | undefined;
  /** The next Checkout is refused by a seat policy rule. */
  refuseNext: { code: grpc.status; rule: string } | undefined;

  private constructor(
    readonly store: QueueStore,
    private readonly server: grpc.Server,
    readonly addr: string,
  ) {}

  static async start(store: QueueStore): Promise<QueueNode> {
    const server = new grpc.Server();
    const self: { node?: QueueNode } = {};
    server.addService(
      loadLicenseProto().SeatService.service,
      handlers(() => self.node ?? assert.fail('not started')),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    self.node = new QueueNode(store, server, `127.0.0.1:${port}`);
    return self.node;
  }

  /**
   * The node loses the lease: every call waiting here is answered UNAVAILABLE (NOT_ACTIVE,
   * naming `leader` when given) and the checkouts keep their places in the store, as a real
   * node does.
   */
  stepDown(leader?: string): void {
    this.standby = leader === undefined ? {} : { leader };
    for (const p of [...this.pending]) finish(p, notActive(this.standby), undefined, 'UNAVAILABLE');
  }

  checkoutsOf(rid: string): CheckoutRecord[] {
    return this.checkouts.filter((c) => c.request.request_id === rid);
  }

  stop(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }
}

function notActive(standby: { leader?: string }): Partial<grpc.StatusObject> {
  return statusError(grpc.status.UNAVAILABLE, 'this license server is a standby', {
    [LICENSE_ERROR_KEY]: 'NOT_ACTIVE',
    ...(standby.leader === undefined ? {} : { [LICENSE_LEADER_KEY]: standby.leader }),
  });
}

function deadlineIn(d: grpc.Deadline): number {
  const at = d instanceof Date ? d.getTime() : d;
  return at - Date.now();
}

function handlers(node: () => QueueNode): SeatServiceHandlers {
  /** A standby refuses everything, as a real one does. */
  const activeOnly = <Req, Res>(fn: grpc.handleUnaryCall<Req, Res>): grpc.handleUnaryCall<Req, Res> => {
    return (call, cb) => {
      const n = node();
      if (n.standby) return cb(notActive(n.standby));
      fn(call, cb);
    };
  };
  return {
    OpenSession: activeOnly((_call, cb) => {
      const sid = randomUUID();
      node().store.sessions.add(sid);
      cb(null, { session_id: sid, ttl_ms: 3_000, heartbeat_interval_ms: 100, expires_at_ms: Date.now() + 3_000 });
    }),
    Heartbeat: activeOnly((call, cb) => {
      const { store } = node();
      if (!store.sessions.has(call.request.session_id))
        return cb(statusError(grpc.status.NOT_FOUND, 'no session', { [LICENSE_ERROR_KEY]: 'SESSION_NOT_FOUND' }));
      const leaseIds = [...store.leases].filter(([, l]) => l.sid === call.request.session_id).map(([id]) => id);
      cb(null, { expires_at_ms: Date.now() + 3_000, lease_ids: leaseIds });
    }),
    Release: activeOnly((call, cb) => {
      const { store } = node();
      const released = store.leases.delete(call.request.lease_id);
      store.serve();
      cb(null, { released });
    }),
    CloseSession: activeOnly((call, cb) => {
      const { store } = node();
      store.sessions.delete(call.request.session_id);
      for (const [id, l] of store.leases) if (l.sid === call.request.session_id) store.leases.delete(id);
      store.serve();
      cb(null, { leases_released: 0 });
    }),
    ListFeatures: activeOnly((_call, cb) => {
      const { store } = node();
      cb(null, {
        features: [{ name: FEATURE, seats_total: store.seats, seats_in_use: store.leases.size, expires_at_ms: 0, queue_length: store.queue.length }],
      });
    }),
    Checkout: (call, cb) => {
      const n = node();
      const { store } = n;
      const r = call.request;
      const request = { session_id: r.session_id, feature: r.feature, count: r.count, request_id: r.request_id, wait_ms: Number(r.wait_ms) };
      const rec: CheckoutRecord = { node: n.addr, request, deadlineInMs: deadlineIn(call.getDeadline()), cancelled: false, outcome: 'pending' };
      n.checkouts.push(rec);
      const answer = (err: Partial<grpc.StatusObject> | null, res: Lease | undefined, outcome: string): void => {
        rec.outcome = outcome;
        cb(err, res);
      };
      if (n.standby) return answer(notActive(n.standby), undefined, 'UNAVAILABLE');
      const refusal = n.refuseNext;
      if (refusal) {
        n.refuseNext = undefined;
        const md = { [LICENSE_ERROR_KEY]: 'POLICY_LIMIT', [LICENSE_POLICY_RULE_KEY]: refusal.rule };
        return answer(statusError(refusal.code, `refused by seat policy rule ${refusal.rule}`, md), undefined, 'POLICY_LIMIT');
      }
      const held = store.leaseOf(request.session_id, request.request_id);
      if (held !== undefined) return answer(null, { lease_id: held, feature: FEATURE, count: 1, expires_at_ms: Date.now() + 3_000 }, 'granted');
      let waiter = store.queue.find((w) => w.sid === request.session_id && w.rid === request.request_id);
      if (!waiter) {
        if (store.queue.length === 0 && store.leases.size < store.seats) return answer(null, store.grant(request.session_id, request.request_id), 'granted');
        if (request.wait_ms <= 0) {
          return answer(statusError(grpc.status.RESOURCE_EXHAUSTED, 'no seat', { [LICENSE_ERROR_KEY]: 'SEATS_EXHAUSTED' }), undefined, 'SEATS_EXHAUSTED');
        }
        waiter = { sid: request.session_id, rid: request.request_id, calls: new Set() };
        store.queue.push(waiter);
      }
      const p: PendingCall = { node: n, rec, waiter, timer: undefined, done: false, respond: (err, res) => cb(err, res) };
      waiter.calls.add(p);
      n.pending.add(p);
      // The retry's wait replaces the deadline, as on a real node.
      p.timer = setTimeout(
        () =>
          finish(
            p,
            statusError(grpc.status.DEADLINE_EXCEEDED, 'waited its whole wait_ms', { [LICENSE_ERROR_KEY]: 'QUEUE_TIMEOUT' }),
            undefined,
            'QUEUE_TIMEOUT',
            true,
          ),
        request.wait_ms,
      );
      call.on('cancelled', () => {
        rec.cancelled = true;
        finish(p, statusError(grpc.status.CANCELLED, 'cancelled'), undefined, 'CANCELLED', true);
      });
      const md = new grpc.Metadata();
      md.set(LICENSE_QUEUE_POSITION_KEY, String(store.queue.indexOf(waiter) + 1));
      call.sendMetadata(md);
    },
  };
}

function harness(t: TestContext) {
  const cleanups: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  return {
    async nodes(count: number, seats = 1): Promise<{ store: QueueStore; nodes: QueueNode[] }> {
      const store = new QueueStore(seats);
      const nodes: QueueNode[] = [];
      for (let i = 0; i < count; i++) {
        const n = await QueueNode.start(store);
        cleanups.push(() => n.stop());
        nodes.push(n);
      }
      return { store, nodes };
    },
    client(endpoints: string[], over: Partial<LicenseClientOptions> = {}): LicenseClient {
      const c = new LicenseClient({
        endpoints,
        clientId: 'sdk-queue-test',
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

function queuedEvents(c: LicenseClient): CheckoutQueuedEvent[] {
  const seen: CheckoutQueuedEvent[] = [];
  c.on('queued', (e) => seen.push(e));
  return seen;
}

/** The rejection of `p`, which must reject. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('should have rejected'),
    (e: unknown) => e,
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('LicenseClient: checkout with wait', () => {
  it('sends wait_ms, and gives the call a deadline of the wait plus callTimeoutMs; no wait keeps callTimeoutMs', async (t) => {
    const h = harness(t);
    const {
      store,
      nodes: [a = assert.fail()],
    } = await h.nodes(1);
    const holder = h.client([a.addr]);
    const seat = await holder.checkout(FEATURE);
    const c = h.client([a.addr], { callTimeoutMs: 1_000 });
    await c.connect();

    const waiting = c.checkout(FEATURE, { wait: 5_000 });
    await waitFor('the checkout to queue', () => store.queue.length === 1);
    const [first, queued] = a.checkouts;
    assert.ok(first && queued);
    assert.equal(first.request.wait_ms, 0, 'a checkout without wait sends none');
    assert.ok(first.deadlineInMs <= 1_000, `plain deadline ${first.deadlineInMs}`);
    assert.ok(queued.request.wait_ms > 4_900 && queued.request.wait_ms <= 5_000, `wait_ms ${queued.request.wait_ms}`);
    // The wait plus the margin: gRPC must not cut the wait short.
    assert.ok(queued.deadlineInMs > 5_800 && queued.deadlineInMs <= 6_000, `deadline in ${queued.deadlineInMs} ms`);

    await seat.release();
    const granted = await waiting;
    assert.ok(granted.held);
    assert.equal(store.leaseOf(granted.sessionId, queued.request.request_id), granted.leaseId);
  });

  it("emits queued with each waiter's place (and calls onQueued); seats go to the waiters in order", async (t) => {
    const h = harness(t);
    const {
      store,
      nodes: [a = assert.fail()],
    } = await h.nodes(1);
    const holder = h.client([a.addr]);
    const seat = await holder.checkout(FEATURE);
    const c = h.client([a.addr]);
    const events = queuedEvents(c);
    const places: number[] = [];

    const first = c.checkout(FEATURE, { wait: 10_000, requestId: 'first' });
    await waitFor('the first to queue', () => events.length === 1);
    const second = c.checkout(FEATURE, { wait: 10_000, onQueued: (p) => places.push(p) });
    await waitFor('the second to queue', () => events.length === 2);

    const [e1, e2] = events;
    assert.deepEqual(e1, { feature: FEATURE, position: 1, requestId: 'first', endpoint: a.addr });
    assert.equal(e2?.position, 2);
    assert.equal(e2?.requestId, a.checkouts[2]?.request.request_id, 'the made-up request id, as sent');
    assert.deepEqual(places, [2]);

    await seat.release();
    const s1 = await first;
    assert.equal(store.queue.length, 1, 'the second still waits');
    await s1.release();
    const s2 = await second;
    assert.ok(s2.held);
    assert.equal(events.length, 2, 'one event per try');
  });

  it('after a failover while queued, retries with the same request id and the wait that is left, and is queued again', async (t) => {
    const h = harness(t);
    const {
      store,
      nodes: [a = assert.fail(), b = assert.fail()],
    } = await h.nodes(2);
    b.standby = { leader: a.addr };
    const holder = h.client([a.addr, b.addr]);
    const seat = await holder.checkout(FEATURE);
    const c = h.client([a.addr, b.addr], { callTimeoutMs: 1_000 });
    const events = queuedEvents(c);
    const failovers: string[] = [];
    c.on('failover', (e) => failovers.push(e.to));

    const waiting = c.checkout(FEATURE, { wait: 5_000 });
    await waitFor('queued on a', () => events.length === 1);
    await sleep(400);
    b.standby = undefined;
    a.stepDown(b.addr);
    await waitFor('queued again on b', () => events.length === 2);

    const rid = events[0]?.requestId ?? assert.fail();
    assert.deepEqual(
      events.map((e) => [e.endpoint, e.position, e.requestId]),
      [
        [a.addr, 1, rid],
        [b.addr, 1, rid],
      ],
    );
    const onA = a.checkoutsOf(rid);
    const onB = b.checkoutsOf(rid);
    assert.equal(onA.length, 1);
    assert.equal(onB.length, 1);
    const [waitA, waitB] = [onA[0]?.request.wait_ms ?? 0, onB[0]?.request.wait_ms ?? 0];
    assert.ok(waitB <= waitA - 350, `the retry waits what is left: ${waitA} then ${waitB}`);
    assert.ok(waitB > 4_000, `not far less either: ${waitB}`);
    const deadlineB = onB[0]?.deadlineInMs ?? 0;
    assert.ok(deadlineB > waitB + 800 && deadlineB <= waitB + 1_000, `retry deadline ${deadlineB} for wait ${waitB}`);

    await seat.release();
    const granted = await waiting;
    assert.ok(granted.held);
    assert.deepEqual(failovers, [b.addr]);
    assert.equal([...store.leases.values()].filter((l) => l.rid === rid).length, 1, 'granted once');
  });

  it('fails with QueueTimeoutError when the server says the wait ran out, and does not retry', async (t) => {
    const h = harness(t);
    const {
      store,
      nodes: [a = assert.fail()],
    } = await h.nodes(1);
    await h.client([a.addr]).checkout(FEATURE);
    const c = h.client([a.addr]);
    await c.connect();

    const start = Date.now();
    const err = await rejection(c.checkout(FEATURE, { wait: 300 }));
    assert.ok(err instanceof QueueTimeoutError, String(err));
    assert.equal(err.code, 'QUEUE_TIMEOUT');
    assert.equal(err.grpcCode, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(err.endpoint, a.addr);
    assert.ok(Date.now() - start >= 290, 'it waited');
    assert.equal(store.queue.length, 0);
    await sleep(400);
    // No retry, and nothing to settle: the server has taken it out of the queue.
    assert.deepEqual(
      a.checkouts.slice(1).map((x) => x.outcome),
      ['QUEUE_TIMEOUT'],
    );
  });

  it('fails with QueueTimeoutError when the wait runs out during a failover; the request is settled with wait_ms 1 later', async (t) => {
    const h = harness(t);
    const {
      store,
      nodes: [a = assert.fail(), b = assert.fail()],
    } = await h.nodes(2);
    b.standby = {};
    await h.client([a.addr, b.addr]).checkout(FEATURE);
    const c = h.client([a.addr, b.addr], { retryTimeoutMs: 30_000 });
    await c.connect();
    const events = queuedEvents(c);

    const start = Date.now();
    const pending = c.checkout(FEATURE, { wait: 800 });
    await waitFor('queued on a', () => events.length === 1);
    a.stepDown(); // no node is active for now
    const err = await rejection(pending);
    const took = Date.now() - start;
    assert.ok(err instanceof QueueTimeoutError, String(err));
    assert.equal(err.code, 'QUEUE_TIMEOUT');
    assert.equal(err.grpcCode, undefined, 'raised by the client');
    assert.ok(err.cause instanceof LicenseClientError && err.cause.code === 'NOT_ACTIVE', String(err.cause));
    // Not retryTimeoutMs (30 s): the wait ends the retries.
    assert.ok(took >= 700 && took < 2_000, `took ${took} ms`);
    const rid = events[0]?.requestId ?? assert.fail();
    const tries = [...a.checkoutsOf(rid), ...b.checkoutsOf(rid)].map((x) => x.request.wait_ms);
    assert.ok(tries.length >= 2, `retried: ${tries.join(', ')}`);
    for (const w of tries.slice(1)) assert.ok(w < 800, `each retry waits only what is left: ${tries.join(', ')}`);

    // The queued checkout may have been granted unseen: once a node answers, it is asked
    // once more with wait_ms 1 (grant now or leave the queue), and nothing is left behind.
    const triesBefore = tries.length;
    b.standby = undefined;
    await waitFor('the settling checkout', () => b.checkoutsOf(rid).some((x) => x.request.wait_ms === 1 && x.outcome !== 'pending'));
    assert.equal([...a.checkoutsOf(rid), ...b.checkoutsOf(rid)].length, triesBefore + 1);
    assert.equal(store.queue.length, 0);
    assert.equal(store.leaseOf(c.sessionId ?? '', rid), undefined);
  });

  it('maps POLICY_LIMIT to PolicyLimitError with the rule (deny: PERMISSION_DENIED), not retried and not queued', async (t) => {
    const h = harness(t);
    const {
      store,
      nodes: [a = assert.fail()],
    } = await h.nodes(1);
    const c = h.client([a.addr]);
    await c.connect();

    a.refuseNext = { code: grpc.status.RESOURCE_EXHAUSTED, rule: 'features.cad.max[0]' };
    const max = await rejection(c.checkout(FEATURE, { wait: 5_000 }));
    assert.ok(max instanceof PolicyLimitError, String(max));
    assert.equal(max.code, 'POLICY_LIMIT');
    assert.equal(max.rule, 'features.cad.max[0]');
    assert.equal(max.denied, false);
    assert.equal(max.grpcCode, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(max.message, /features\.cad\.max\[0\]/);

    a.refuseNext = { code: grpc.status.PERMISSION_DENIED, rule: 'features.cad.deny[1]' };
    const deny = await rejection(c.checkout(FEATURE));
    assert.ok(deny instanceof PolicyLimitError, String(deny));
    assert.equal(deny.rule, 'features.cad.deny[1]');
    assert.equal(deny.denied, true);

    assert.deepEqual(
      a.checkouts.map((x) => x.outcome),
      ['POLICY_LIMIT', 'POLICY_LIMIT'],
    );
    assert.equal(store.queue.length, 0);
  });

  it('aborting a queued checkout cancels its call, so it leaves the queue; nothing is left behind', async (t) => {
    const h = harness(t);
    const {
      store,
      nodes: [a = assert.fail()],
    } = await h.nodes(1);
    const seat = await h.client([a.addr]).checkout(FEATURE);
    const c = h.client([a.addr], { callTimeoutMs: 5_000 });
    const events = queuedEvents(c);
    const ac = new AbortController();

    const pending = c.checkout(FEATURE, { wait: 30_000, signal: ac.signal });
    await waitFor('queued', () => events.length === 1);
    const reason = new Error('user gave up');
    const start = Date.now();
    ac.abort(reason);
    const err = await rejection(pending);
    assert.ok(err instanceof OperationAbortedError, String(err));
    assert.equal(err.cause, reason);
    assert.ok(Date.now() - start < 1_000, 'at once, not at the deadline');

    const rid = events[0]?.requestId ?? assert.fail();
    await waitFor('the server to see the cancel', () => a.checkoutsOf(rid)[0]?.cancelled === true);
    // The give-back asks once more, without waiting (wait_ms 1), and gets nothing.
    await waitFor('the settling checkout', () => a.checkoutsOf(rid).some((x) => x.request.wait_ms === 1 && x.outcome !== 'pending'));
    assert.equal(store.queue.length, 0);
    assert.equal(store.leaseOf(c.sessionId ?? '', rid), undefined);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left on the signal');
    // The seat the holder frees is free for anyone.
    await seat.release();
    assert.equal(store.leases.size, 0);
  });

  it('refuses a negative or NaN wait before sending; cuts a wait over one hour to the server cap', async (t) => {
    const h = harness(t);
    const {
      store,
      nodes: [a = assert.fail()],
    } = await h.nodes(1);
    await h.client([a.addr]).checkout(FEATURE);
    const c = h.client([a.addr]);
    await c.connect();
    for (const wait of [-1, Number.NaN]) {
      const err = await rejection(c.checkout(FEATURE, { wait }));
      assert.ok(err instanceof InvalidRequestError, String(err));
      assert.match(err.message, /^wait: /);
    }
    assert.equal(a.checkouts.length, 1, 'only the holder');

    const ac = new AbortController();
    const pending = c.checkout(FEATURE, { wait: 10 * 3_600_000, signal: ac.signal });
    await waitFor('queued', () => store.queue.length === 1);
    const rec = a.checkouts[1] ?? assert.fail();
    assert.ok(rec.request.wait_ms <= 3_600_000 && rec.request.wait_ms > 3_599_000, `wait_ms ${rec.request.wait_ms}`);
    assert.ok(rec.deadlineInMs <= 3_601_000 && rec.deadlineInMs > 3_600_000, `deadline in ${rec.deadlineInMs}`);
    ac.abort();
    await rejection(pending);
  });
});

describe('SDK errors of queueing and seat policy', () => {
  const err = (code: grpc.status, md: Record<string, string>): grpc.ServiceError =>
    Object.assign(new Error(`${code} x: details`), { code, details: 'details', metadata: statusError(code, '', md).metadata ?? new grpc.Metadata() });

  it('QUEUE_TIMEOUT and POLICY_LIMIT come typed; a bare RESOURCE_EXHAUSTED stays SeatsExhausted', () => {
    assert.ok(toClientError(err(grpc.status.DEADLINE_EXCEEDED, { [LICENSE_ERROR_KEY]: 'QUEUE_TIMEOUT' })) instanceof QueueTimeoutError);
    const p = toClientError(err(grpc.status.RESOURCE_EXHAUSTED, { [LICENSE_ERROR_KEY]: 'POLICY_LIMIT' }));
    assert.ok(p instanceof PolicyLimitError);
    assert.equal(p.rule, undefined, 'no rule named');
    assert.equal(p.denied, false);
    assert.equal(toClientError(err(grpc.status.RESOURCE_EXHAUSTED, {})).name, 'SeatsExhaustedError');
  });
});
