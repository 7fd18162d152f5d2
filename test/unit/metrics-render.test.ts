import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics, type MetricsSource, type SeatUsage } from '../../src/server/metrics/metrics';
import { coalescedRender } from '../../src/server/metrics/metrics-server';

/** A hostile scraper must not make the node render /metrics once per request (issue 12). */
describe('coalescedRender', () => {
  it('renders once for concurrent scrapes and reuses the result for the reuse window only', async () => {
    let t = 0;
    let renders = 0;
    let release: (body: string) => void = () => {};
    const render = coalescedRender(
      () =>
        new Promise<string>((resolve) => {
          renders++;
          release = resolve;
        }),
      1_000,
      () => t,
    );
    const burst = Array.from({ length: 100 }, () => render());
    assert.equal(renders, 1, 'one rendering in flight serves every scrape that arrives meanwhile');
    release('body-1');
    assert.deepEqual(new Set(await Promise.all(burst)), new Set(['body-1']));
    t = 999;
    assert.equal(await render(), 'body-1', 'reused inside the window');
    assert.equal(renders, 1);
    t = 1_000;
    const next = render();
    assert.equal(renders, 2, 'rendered again once the window is over');
    release('body-2');
    assert.equal(await next, 'body-2');
  });

  it('does not reuse a failed rendering', async () => {
    let calls = 0;
    const render = coalescedRender(
      () => {
        calls++;
        return calls === 1 ? Promise.reject(new Error('redis away')) : Promise.resolve('ok');
      },
      1_000,
      () => 0,
    );
    await assert.rejects(render(), /redis away/);
    assert.equal(await render(), 'ok');
    assert.equal(calls, 2);
  });
});

/** Seats in use and queue lengths are read from Redis at scrape time (issue 15). */
describe('seat gauges', () => {
  function nodeWith(seatUsage: () => Promise<SeatUsage[]>): ReturnType<typeof createMetrics> {
    const source: MetricsSource = {
      state: () => 'ACTIVE',
      leaderEpoch: () => 1,
      isLeaseHolder: () => true,
      peer: () => undefined,
      budget: () => ({ remainingMs: 1, consumedMs: 0, grantedMs: 1, blocked: false }),
      licensedSeats: () => [
        { name: 'cad-pro', total: 5 },
        { name: 'solver', total: 2 },
      ],
      seatUsage,
    };
    return createMetrics(source, { defaultMetrics: false });
  }
  const seatLines = (text: string): string[] => text.split('\n').filter((l) => /^license_(seats_in_use|queue_length)\{/.test(l));

  it('one read per scrape gives license_seats_in_use and license_queue_length per feature', async () => {
    let reads = 0;
    const m = nodeWith(() => {
      reads++;
      return Promise.resolve([
        { name: 'cad-pro', inUse: 5, queueLength: 3 },
        { name: 'solver', inUse: 1, queueLength: 0 },
      ]);
    });
    const text = await m.registry.metrics();
    assert.equal(reads, 1, 'both gauges share one read of Redis');
    assert.match(text, /^# TYPE license_queue_length gauge$/m);
    assert.deepEqual(seatLines(text), [
      'license_seats_in_use{feature="cad-pro"} 5',
      'license_seats_in_use{feature="solver"} 1',
      'license_queue_length{feature="cad-pro"} 3',
      'license_queue_length{feature="solver"} 0',
    ]);
    await m.registry.metrics();
    assert.equal(reads, 2, 'the next scrape reads again: nothing is cached between scrapes');
  });

  it('keeps the last values of both gauges while Redis is away, and moves on once it is back', async () => {
    let answer: () => Promise<SeatUsage[]> = () => Promise.resolve([{ name: 'cad-pro', inUse: 5, queueLength: 2 }]);
    const m = nodeWith(() => answer());
    const first = seatLines(await m.registry.metrics());
    assert.deepEqual(first, ['license_seats_in_use{feature="cad-pro"} 5', 'license_queue_length{feature="cad-pro"} 2']);
    answer = () => Promise.reject(new Error('connect ECONNREFUSED'));
    assert.deepEqual(seatLines(await m.registry.metrics()), first, 'the scrape succeeds with the last values');
    answer = () => Promise.resolve([{ name: 'cad-pro', inUse: 4, queueLength: 0 }]);
    assert.deepEqual(seatLines(await m.registry.metrics()), ['license_seats_in_use{feature="cad-pro"} 4', 'license_queue_length{feature="cad-pro"} 0']);
  });
});
