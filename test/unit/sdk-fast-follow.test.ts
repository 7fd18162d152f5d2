import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { isConnectionFailure } from '../../src/sdk/errors';
import { LicenseClient, type LicenseClientEvents, type LicenseClientOptions, NoActiveServerError } from '../../src/sdk/index';
import { resolveOptions } from '../../src/sdk/options';
import { FIRST_TRY, planNextTry } from '../../src/sdk/retry-policy';
import { type InvokeContext, Transport } from '../../src/sdk/transport';
import { closedPortAddr, FakeSeatServer, FakeSeatStore } from '../helpers/fake-seat-server';

/**
 * The SDK follows a failover at once: after a lost connection the next try goes to the
 * other endpoint with no wait, a `license-leader` hint is followed with no wait, and only
 * then (or when two nodes keep naming each other) does the backoff apply.
 *
 * The backoff is made huge so the assertions are about behaviour, not speed: with equal
 * jitter every backoff sleep lasts at least half of `initialMs`, 10 s here, so a call that
 * is done within NO_SLEEP_MS cannot have slept, on however slow a machine.
 */
const BIG_BACKOFF = { initialMs: 20_000, maxMs: 20_000 };
const NO_SLEEP_MS = 5_000;

function harness(t: TestContext) {
  const cleanups: Array<() => Promise<void> | void> = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });
  const clientOptions = (endpoints: string[], over: Partial<LicenseClientOptions>): LicenseClientOptions => ({
    endpoints,
    clientId: 'sdk-fast-follow-test',
    callTimeoutMs: 5_000,
    retryTimeoutMs: 60_000,
    backoff: BIG_BACKOFF,
    // No heartbeat during a test: it would find the new node first and hide what a call does.
    heartbeatIntervalMs: 60_000,
    ...over,
  });
  return {
    store(): FakeSeatStore {
      // TTL 120 s: a session outlives the test without a heartbeat.
      return new FakeSeatStore(120_000, 60_000).addFeature('cad-pro', 3);
    },
    async server(store: FakeSeatStore): Promise<FakeSeatServer> {
      const s = await FakeSeatServer.start(store);
      cleanups.push(() => s.stop());
      return s;
    },
    client(endpoints: string[], over: Partial<LicenseClientOptions> = {}): LicenseClient {
      const c = new LicenseClient(clientOptions(endpoints, over));
      cleanups.push(() => c.close());
      return c;
    },
    /** The client's transport alone, where the number of tries of one call can be read (InvokeContext.attempts). */
    transport(endpoints: string[], over: Partial<LicenseClientOptions> = {}): Transport {
      const tr = new Transport(resolveOptions(clientOptions(endpoints, over)), () => undefined);
      cleanups.push(() => {
        tr.close();
        tr.closeChannels();
      });
      return tr;
    },
  };
}

function record<K extends keyof LicenseClientEvents>(c: LicenseClient, event: K): Array<LicenseClientEvents[K]> {
  const seen: Array<LicenseClientEvents[K]> = [];
  c.on(event, (p) => seen.push(p));
  return seen;
}

/** Runs `fn` and returns its result with the monotonic milliseconds it took. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - start };
}

/** The rejection of `p` with the milliseconds until it came. */
async function timedRejection(p: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  const error = await p().then(
    () => assert.fail('should have rejected'),
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - start };
}

function ctxFor(op: string, retryTimeoutMs = 60_000): InvokeContext {
  return { op, deadline: performance.now() + retryTimeoutMs };
}

describe('SDK fast follow: a lost connection goes to the other endpoint at once', () => {
  it('the first checkout after the active node stops listening reaches the other node without a backoff wait', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const b = await h.server(store);
    b.setStandby(a.addr);
    const c = h.client([a.addr, b.addr]);
    const failovers = record(c, 'failover');
    await c.connect();
    const first = await c.checkout('cad-pro');
    assert.equal(c.activeEndpoint, a.addr);

    // A's process dies: its port refuses connections. B took over (the shared store keeps the session).
    await a.stop();
    b.setActive();
    const { value: seat, ms } = await timed(() => c.checkout('cad-pro'));

    assert.ok(ms < NO_SLEEP_MS, `checkout took ${Math.round(ms)} ms: it slept a backoff (>= ${BIG_BACKOFF.initialMs / 2} ms)`);
    assert.deepEqual(
      b.callsOf('Checkout').map((x) => x.outcome),
      ['ok'],
    );
    assert.equal(c.activeEndpoint, b.addr);
    assert.deepEqual(failovers, [{ from: a.addr, to: b.addr }]);
    assert.ok(seat.held && first.held);
    assert.equal(store.leases.size, 2);
  });

  it('a call to a refusing endpoint takes exactly one more try, on the other endpoint', async (t) => {
    const h = harness(t);
    const store = h.store();
    const dead = await closedPortAddr();
    const live = await h.server(store);
    const tr = h.transport([dead, live.addr]);
    const ctx = ctxFor('features');

    const { value: res, ms } = await timed(() => tr.invoke('ListFeatures', {}, ctx));

    assert.equal(ctx.attempts, 2);
    assert.ok(ms < NO_SLEEP_MS, `took ${Math.round(ms)} ms`);
    assert.deepEqual(
      res.features.map((f) => f.name),
      ['cad-pro'],
    );
    assert.equal(tr.activeEndpoint, live.addr);
  });

  it('backs off once every endpoint was tried: two refusing endpoints get one try each, then the backoff outlasts the budget', async (t) => {
    const h = harness(t);
    const dead1 = await closedPortAddr();
    const dead2 = await closedPortAddr();
    // 8 s of retrying cannot hold a backoff sleep of at least 10 s: after the free tries, the call gives up.
    const tr = h.transport([dead1, dead2]);
    const ctx = ctxFor('features', 8_000);

    const { error, ms } = await timedRejection(() => tr.invoke('ListFeatures', {}, ctx));

    assert.ok(error instanceof NoActiveServerError, String(error));
    assert.equal(ctx.attempts, 2, 'one try per endpoint, no more without a backoff');
    assert.deepEqual([...error.endpointsTried].sort(), [dead1, dead2].sort());
    assert.ok(ms < NO_SLEEP_MS, `gave up after ${Math.round(ms)} ms`);
  });

  it('a single refusing endpoint is not retried without a backoff', async (t) => {
    const h = harness(t);
    const dead = await closedPortAddr();
    const tr = h.transport([dead]);
    const ctx = ctxFor('features', 8_000);

    const { error } = await timedRejection(() => tr.invoke('ListFeatures', {}, ctx));

    assert.ok(error instanceof NoActiveServerError, String(error));
    assert.equal(ctx.attempts, 1);
  });

  it('a checkout whose answer was lost with the connection goes to the other node at once, with the same request_id, and is granted once', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const b = await h.server(store);
    b.setStandby(a.addr);
    const c = h.client([a.addr, b.addr]);
    await c.connect();
    // A grants the seat, then its answer is lost the way a dropped connection loses it
    // (UNAVAILABLE, no license-error); B has taken over meanwhile.
    a.failNext(1, { methods: ['Checkout'], afterProcessing: true });
    b.setActive();

    const { value: seat, ms } = await timed(() => c.checkout('cad-pro'));

    assert.ok(ms < NO_SLEEP_MS, `checkout took ${Math.round(ms)} ms`);
    const onA = a.callsOf('Checkout');
    const onB = b.callsOf('Checkout');
    assert.equal(onA.length, 1);
    assert.deepEqual(
      onB.map((x) => x.outcome),
      ['ok'],
    );
    assert.equal(onB[0]?.request['request_id'], onA[0]?.request['request_id']);
    assert.equal(store.leases.size, 1, 'granted once');
    assert.ok(store.leases.has(seat.leaseId));
  });
});

describe('SDK fast follow: license-leader hints', () => {
  it('follows a hint at once to the named node, even one it was not given, rather than rotating', async (t) => {
    const h = harness(t);
    const store = h.store();
    const standby = await h.server(store);
    const other = await h.server(store);
    const leader = await h.server(store);
    standby.setStandby(leader.addr);
    other.setStandby(); // rotation would come here
    const c = h.client([standby.addr, other.addr]);

    const { ms } = await timed(() => c.connect());

    assert.ok(ms < NO_SLEEP_MS, `connect took ${Math.round(ms)} ms`);
    assert.equal(standby.callsOf('OpenSession').length, 1);
    assert.equal(other.callsOf('OpenSession').length, 0);
    assert.deepEqual(
      leader.callsOf('OpenSession').map((x) => x.outcome),
      ['ok'],
    );
    assert.equal(c.activeEndpoint, leader.addr);
    assert.deepEqual(c.endpoints, [standby.addr, other.addr, leader.addr]);
  });

  it('a lost connection, then a hint: both followed at once', async (t) => {
    const h = harness(t);
    const store = h.store();
    const dead = await closedPortAddr();
    const standby = await h.server(store);
    const leader = await h.server(store);
    standby.setStandby(leader.addr);
    const c = h.client([dead, standby.addr]);

    const { ms } = await timed(() => c.connect());

    assert.ok(ms < NO_SLEEP_MS, `connect took ${Math.round(ms)} ms`);
    assert.equal(standby.callsOf('OpenSession').length, 1);
    assert.equal(leader.callsOf('OpenSession').length, 1);
    assert.equal(c.activeEndpoint, leader.addr);
  });
});

describe('SDK fast follow: two nodes that name each other', () => {
  it('get one free redirect, then the backoff: with a backoff longer than the budget, two tries in all', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const b = await h.server(store);
    a.setStandby(b.addr);
    b.setStandby(a.addr);
    const c = h.client([a.addr, b.addr], { retryTimeoutMs: 8_000 });

    const { error, ms } = await timedRejection(() => c.connect());

    assert.ok(error instanceof NoActiveServerError, String(error));
    assert.equal(error.lastError?.code, 'NOT_ACTIVE');
    assert.equal(a.callsOf('OpenSession').length, 1);
    assert.equal(b.callsOf('OpenSession').length, 1);
    // It gave up because the next sleep would outlast the budget, not after sleeping it.
    assert.ok(ms < NO_SLEEP_MS, `gave up after ${Math.round(ms)} ms`);
  });

  it('do not make the client spin: over the whole retry budget the tries stay bounded by the backoff', async (t) => {
    const h = harness(t);
    const store = h.store();
    const a = await h.server(store);
    const b = await h.server(store);
    a.setStandby(b.addr);
    b.setStandby(a.addr);
    // Every backoff sleep lasts 200..400 ms; 2 s of retrying holds at most 10 of them.
    const c = h.client([a.addr, b.addr], { retryTimeoutMs: 2_000, backoff: { initialMs: 400, maxMs: 400 } });

    const { error } = await timedRejection(() => c.connect());

    assert.ok(error instanceof NoActiveServerError, String(error));
    const tries = a.callsOf('OpenSession').length + b.callsOf('OpenSession').length;
    // The first try, one free redirect, then one try per sleep; a spinning client would make thousands.
    assert.ok(tries <= 12, `${tries} tries in 2 s`);
    assert.ok(tries >= 3, `${tries} tries: it kept trying after the first redirect`);
  });
});

/** A failed call as grpc-js reports it; `md` is the trailing metadata the node sent, if any. */
function serviceError(code: grpc.status, md: Record<string, string> = {}): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return Object.assign(new Error(`${code} ${grpc.status[code]}`), { code, details: 'x', metadata });
}

describe('SDK fast follow: the retry order (planNextTry)', () => {
  const backoff = { initialMs: 100, maxMs: 1_000 };
  const noJitter = (): number => 0;
  const refused = serviceError(grpc.status.UNAVAILABLE); // grpc-js: "No connection established ... ECONNREFUSED"
  const ab = ['a:1', 'b:2'];

  it('tells a lost connection from a node that refused', () => {
    assert.ok(isConnectionFailure(refused));
    assert.ok(!isConnectionFailure(serviceError(grpc.status.UNAVAILABLE, { 'license-error': 'NOT_ACTIVE' })));
    assert.ok(!isConnectionFailure(serviceError(grpc.status.UNAVAILABLE, { 'license-leader': 'b:2' })));
    assert.ok(!isConnectionFailure(serviceError(grpc.status.DEADLINE_EXCEEDED)));
    assert.ok(!isConnectionFailure(serviceError(grpc.status.INTERNAL)));
  });

  it('after a lost connection: an endpoint not tried yet at once, then the backoff', () => {
    const hop = planNextTry(refused, 'a:1', FIRST_TRY, { endpoints: ab, tried: ['a:1'] }, backoff, noJitter);
    assert.deepEqual(hop, { endpoint: 'b:2', delayMs: 0, next: { attempt: 0, followedHint: false } });
    // Both tried: the round is over, the first backoff is the initial one.
    const round = planNextTry(refused, 'b:2', hop.next, { endpoints: ab, tried: ab }, backoff, noJitter);
    assert.deepEqual(round, { endpoint: 'a:1', delayMs: 50, next: { attempt: 1, followedHint: false } });
    // Three endpoints: the free tries go around in rotation order.
    const abc = ['a:1', 'b:2', 'c:3'];
    assert.equal(planNextTry(refused, 'b:2', FIRST_TRY, { endpoints: abc, tried: ['b:2'] }, backoff, noJitter).endpoint, 'c:3');
    assert.equal(planNextTry(refused, 'c:3', FIRST_TRY, { endpoints: abc, tried: ['b:2', 'c:3'] }, backoff, noJitter).endpoint, 'a:1');
    // One endpoint: nowhere else to go.
    assert.deepEqual(planNextTry(refused, 'a:1', FIRST_TRY, { endpoints: ['a:1'], tried: ['a:1'] }, backoff, noJitter), {
      endpoint: 'a:1',
      delayMs: 50,
      next: { attempt: 1, followedHint: false },
    });
  });

  it('a refusal or a deadline is not a lost connection: rotation with backoff, as before', () => {
    for (const failure of [
      serviceError(grpc.status.UNAVAILABLE, { 'license-error': 'NOT_ACTIVE' }), // a standby that knows no leader
      serviceError(grpc.status.UNAVAILABLE, { 'license-error': 'STORE_UNAVAILABLE' }),
      serviceError(grpc.status.DEADLINE_EXCEEDED),
    ]) {
      const step = planNextTry(failure, 'a:1', FIRST_TRY, { endpoints: ab, tried: ['a:1'] }, backoff, noJitter);
      assert.deepEqual(step, { endpoint: 'b:2', delayMs: 50, next: { attempt: 1, followedHint: false } }, failure.message);
    }
  });

  it('a standby about to take over (license-retry-after-ms): back to it after that long, not to the dead node, not after a backoff', () => {
    const soon = serviceError(grpc.status.UNAVAILABLE, { 'license-error': 'NOT_ACTIVE', 'license-retry-after-ms': '340' });
    const step = planNextTry(soon, 'b:2', { attempt: 3, followedHint: false }, { endpoints: ab, tried: ['a:1', 'b:2'] }, backoff, noJitter);
    assert.deepEqual(step, { endpoint: 'b:2', delayMs: 340, next: { attempt: 3, followedHint: false } });
    // Capped at twice the backoff cap; a value that is no number of ms is ignored (the usual rules apply).
    const far = serviceError(grpc.status.UNAVAILABLE, { 'license-error': 'NOT_ACTIVE', 'license-retry-after-ms': '999999' });
    assert.equal(planNextTry(far, 'b:2', FIRST_TRY, { endpoints: ab, tried: ['b:2'] }, backoff, noJitter).delayMs, 2_000);
    const junk = serviceError(grpc.status.UNAVAILABLE, { 'license-error': 'NOT_ACTIVE', 'license-retry-after-ms': '-5' });
    assert.deepEqual(planNextTry(junk, 'b:2', FIRST_TRY, { endpoints: ab, tried: ['b:2'] }, backoff, noJitter), {
      endpoint: 'a:1',
      delayMs: 50,
      next: { attempt: 1, followedHint: false },
    });
  });

  it('a hint at once, a hint back after a backoff', () => {
    const standby = (leader: string): grpc.ServiceError => serviceError(grpc.status.UNAVAILABLE, { 'license-error': 'NOT_ACTIVE', 'license-leader': leader });
    const first = planNextTry(standby('c:3'), 'a:1', FIRST_TRY, { endpoints: ab, tried: ['a:1'] }, backoff, noJitter);
    assert.deepEqual(first, { endpoint: 'c:3', delayMs: 0, next: { attempt: 0, followedHint: true } });
    const back = planNextTry(standby('a:1'), 'c:3', first.next, { endpoints: [...ab, 'c:3'], tried: ['a:1', 'c:3'] }, backoff, noJitter);
    assert.deepEqual(back, { endpoint: 'a:1', delayMs: 50, next: { attempt: 1, followedHint: true } });
  });
});
