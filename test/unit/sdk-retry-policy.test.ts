import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { onAbort, raceAbort, sleep } from '../../src/sdk/abort';
import { FIRST_TRY, planRetry, tryTimeoutMs } from '../../src/sdk/retry-policy';

function unavailable(leader?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (leader !== undefined) metadata.set('license-leader', leader);
  return Object.assign(new Error('14 UNAVAILABLE: standby'), { code: grpc.status.UNAVAILABLE, details: 'standby', metadata });
}

const backoff = { initialMs: 100, maxMs: 1_000 };
const noJitter = (): number => 0;

describe('sdk retry policy', () => {
  it('follows the first leader hint at once, backs off on the second in a row', () => {
    const first = planRetry(unavailable('b:2'), 'a:1', FIRST_TRY, backoff, noJitter);
    assert.deepEqual(first, { leader: 'b:2', delayMs: 0, next: { attempt: 0, followedHint: true } });
    const second = planRetry(unavailable('a:1'), 'b:2', first.next, backoff, noJitter);
    assert.deepEqual(second, { leader: 'a:1', delayMs: 50, next: { attempt: 1, followedHint: true } });
  });

  it('rotates with backoff when there is no usable hint', () => {
    for (const hint of [undefined, 'a:1' /* itself */, 'not-an-address']) {
      const step = planRetry(unavailable(hint), 'a:1', { attempt: 2, followedHint: true }, backoff, noJitter);
      assert.deepEqual(step, { leader: undefined, delayMs: 200, next: { attempt: 3, followedHint: false } }, String(hint));
    }
  });

  it('caps each try at callTimeoutMs and at what is left of the operation', () => {
    assert.equal(tryTimeoutMs(5_000, 10_000, 1_000), 5_000);
    assert.equal(tryTimeoutMs(5_000, 3_000, 1_000), 2_000);
    assert.ok(tryTimeoutMs(5_000, 1_000, 1_000) <= 0);
  });
});

describe('sdk abort helpers', () => {
  it('onAbort fires once for any of its signals, at once if already aborted, and unsubscribes', () => {
    const a = new AbortController();
    const b = new AbortController();
    let fired = 0;
    onAbort([a.signal, undefined, b.signal], () => fired++);
    b.abort();
    a.abort();
    assert.equal(fired, 1);
    onAbort([AbortSignal.abort()], () => fired++);
    assert.equal(fired, 2);
    const c = new AbortController();
    const stop = onAbort([c.signal], () => fired++);
    stop();
    c.abort();
    assert.equal(fired, 2);
  });

  it('sleep ends early on abort and resolves', async () => {
    const ac = new AbortController();
    const start = Date.now();
    const slept = sleep(10_000, [undefined, ac.signal]);
    ac.abort();
    await slept;
    assert.ok(Date.now() - start < 1_000);
    await sleep(10_000, [AbortSignal.abort()]);
  });

  it('raceAbort rejects on abort while the work goes on, and passes results through', async () => {
    const ac = new AbortController();
    let finish: (v: string) => void = () => undefined;
    const work = new Promise<string>((r) => (finish = r));
    const raced = raceAbort(work, ac.signal, () => new Error('aborted'));
    ac.abort();
    await assert.rejects(raced, /aborted/);
    finish('done');
    assert.equal(await work, 'done');
    assert.equal(await raceAbort(Promise.resolve(1), new AbortController().signal, () => new Error('no')), 1);
    await assert.rejects(
      raceAbort(Promise.reject(new Error('own')), undefined, () => new Error('no')),
      /own/,
    );
  });
});
