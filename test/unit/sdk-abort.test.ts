import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { LicenseClient, type LicenseClientOptions, OperationAbortedError } from '../../src/sdk/index';
import { closedPortAddr, FakeSeatServer, FakeSeatStore, waitFor } from '../helpers/fake-seat-server';

function harness(t: TestContext) {
  const cleanups: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  return {
    async server(): Promise<{ store: FakeSeatStore; srv: FakeSeatServer }> {
      const store = new FakeSeatStore(3_000, 100).addFeature('cad-pro', 3);
      const srv = await FakeSeatServer.start(store);
      cleanups.push(() => srv.stop());
      return { store, srv };
    },
    client(endpoints: string[], over: Partial<LicenseClientOptions> = {}): LicenseClient {
      const c = new LicenseClient({
        endpoints,
        clientId: 'sdk-abort-test',
        callTimeoutMs: 5_000,
        retryTimeoutMs: 30_000,
        backoff: { initialMs: 20, maxMs: 100 },
        ...over,
      });
      cleanups.push(() => c.close());
      return c;
    },
  };
}

/** The rejection of `p`, which must reject within `withinMs`. */
async function rejection(p: Promise<unknown>, withinMs: number): Promise<unknown> {
  const start = Date.now();
  const err = await p.then(
    () => assert.fail('should have rejected'),
    (e: unknown) => e,
  );
  assert.ok(Date.now() - start < withinMs, `rejected after ${Date.now() - start} ms, expected under ${withinMs}`);
  return err;
}

function assertAborted(err: unknown, op: string, reason: unknown): void {
  assert.ok(err instanceof OperationAbortedError, String(err));
  assert.equal(err.name, 'AbortError');
  assert.equal(err.code, 'ABORTED');
  assert.equal(err.operation, op);
  assert.equal(err.cause, reason);
}

describe('LicenseClient: AbortSignal', () => {
  it('aborting a checkout cancels its hung call at once, and the seat it may have been granted is given back', async (t) => {
    const h = harness(t);
    const { store, srv } = await h.server();
    const c = h.client([srv.addr]);
    await c.connect();
    srv.hangNext(1, ['Checkout']);
    const ac = new AbortController();

    const pending = c.checkout('cad-pro', { signal: ac.signal });
    await waitFor('the checkout to reach the server', () => srv.callsOf('Checkout').length === 1);
    const reason = new Error('user pressed cancel');
    ac.abort(reason);

    // callTimeoutMs is 5 s: only the abort can end the call this early.
    assertAborted(await rejection(pending, 2_000), 'checkout cad-pro', reason);
    assert.equal(c.heldSeats.length, 0);
    // The give-back: the same request again, and the lease it returns released.
    await waitFor('the give-back release', () => srv.callsOf('Release').some((x) => x.outcome === 'ok'));
    const checkouts = srv.callsOf('Checkout');
    assert.deepEqual(
      checkouts.map((x) => x.outcome),
      ['hang', 'ok'],
    );
    assert.equal(checkouts[0]?.request['request_id'], checkouts[1]?.request['request_id']);
    assert.equal(store.leases.size, 0);
    assert.ok(!c.closed);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left on the caller signal');
  });

  it('aborting during the backoff after a lost answer gives back the lease the server did grant', async (t) => {
    const h = harness(t);
    const { store, srv } = await h.server();
    // A long backoff, so the abort lands in the sleep between two tries.
    const c = h.client([srv.addr], { backoff: { initialMs: 20_000, maxMs: 20_000 } });
    await c.connect();
    srv.failNext(1, { methods: ['Checkout'], afterProcessing: true });
    const ac = new AbortController();

    const pending = c.checkout('cad-pro', { signal: ac.signal });
    await waitFor('the granted-but-lost checkout', () => srv.callsOf('Checkout').length === 1);
    const granted = [...store.leases.keys()];
    assert.equal(granted.length, 1);
    ac.abort();

    assertAborted(await rejection(pending, 2_000), 'checkout cad-pro', ac.signal.reason);
    await waitFor('the give-back release', () => srv.callsOf('Release').length === 1);
    assert.equal(srv.callsOf('Release')[0]?.request['lease_id'], granted[0]);
    assert.equal(store.leases.size, 0);
  });

  it('an already aborted signal rejects before anything is sent', async (t) => {
    const h = harness(t);
    const { srv } = await h.server();
    const c = h.client([srv.addr]);
    const signal = AbortSignal.abort('not needed');

    assertAborted(await rejection(c.checkout('cad-pro', { signal }), 1_000), 'checkout cad-pro', 'not needed');
    assertAborted(await rejection(c.features({ signal }), 1_000), 'features', 'not needed');
    assert.equal(srv.calls.length, 0);
  });

  it('aborting a checkout that waits for the session leaves the shared OpenSession going', async (t) => {
    const h = harness(t);
    const { srv } = await h.server();
    srv.setStandby(); // no active node yet: OpenSession keeps retrying
    const c = h.client([srv.addr]);
    const connecting = c.connect();
    const ac = new AbortController();
    const pending = c.checkout('cad-pro', { signal: ac.signal });
    await waitFor('OpenSession retries', () => srv.callsOf('OpenSession').length >= 2);

    ac.abort();
    assertAborted(await rejection(pending, 1_000), 'checkout cad-pro', ac.signal.reason);
    srv.setActive();
    await connecting;
    assert.ok(c.sessionId !== undefined);
    assert.equal(srv.callsOf('Checkout').length, 0);
    await c.checkout('cad-pro');
  });

  it('aborting a checkout that keeps retrying against a standby ends it at once', async (t) => {
    const h = harness(t);
    const { srv } = await h.server();
    const c = h.client([srv.addr]);
    await c.connect();
    srv.setStandby();
    const ac = new AbortController();
    const pending = c.checkout('cad-pro', { signal: ac.signal });
    await waitFor('checkout retries', () => srv.callsOf('Checkout').length >= 2);
    ac.abort();
    assertAborted(await rejection(pending, 1_000), 'checkout cad-pro', ac.signal.reason);
  });

  it('aborts features() and leaves no listener on a signal after success', async (t) => {
    const h = harness(t);
    const { srv } = await h.server();
    const c = h.client([srv.addr]);
    const ac = new AbortController();
    const seat = await c.checkout('cad-pro', { signal: ac.signal });
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    ac.abort(); // after the fact: changes nothing
    assert.ok(seat.held);
    assert.equal(srv.callsOf('Release').length, 0);

    srv.hangNext(1, ['ListFeatures']);
    const ac2 = new AbortController();
    const listing = c.features({ signal: ac2.signal });
    await waitFor('ListFeatures sent', () => srv.callsOf('ListFeatures').length === 1);
    ac2.abort();
    assertAborted(await rejection(listing, 2_000), 'features', ac2.signal.reason);
    assert.equal((await c.features()).length, 1, 'the client still works');
  });

  it('close() wins over a caller abort: ClientClosedError, not an abort', async (t) => {
    const h = harness(t);
    const dead = await closedPortAddr();
    const c = h.client([dead]);
    const ac = new AbortController();
    const pending = c.features({ signal: ac.signal });
    await new Promise((r) => setTimeout(r, 100));
    await c.close();
    ac.abort();
    const err = await rejection(pending, 1_000);
    assert.ok(err instanceof Error && err.name === 'ClientClosedError', String(err));
  });
});
