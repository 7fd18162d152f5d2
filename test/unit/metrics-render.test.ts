import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
