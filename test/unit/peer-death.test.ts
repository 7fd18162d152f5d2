import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { PeerDeathWatch, type ProbeResult, probePort } from '../../src/server/cluster/peer-death';

/** A watch whose probes answer from `answers` in turn; records what it was asked. */
function scripted(answers: ProbeResult[], firstRefusal: number | false = 10) {
  const calls = { probes: 0, firstRefusals: 0, confirmed: 0 };
  const watch = new PeerDeathWatch({
    host: '127.0.0.1',
    port: 1,
    probeTimeoutMs: 100,
    probe: () => {
      calls.probes++;
      return Promise.resolve(answers.shift() ?? 'open');
    },
    firstRefusal: () => {
      calls.firstRefusals++;
      return Promise.resolve(firstRefusal);
    },
    confirmed: () => {
      calls.confirmed++;
    },
  });
  return { watch, calls };
}

describe('PeerDeathWatch: two refused probes, and what must hold between them', () => {
  it('refused, then refused again after the gap: confirmed once', async () => {
    const { watch, calls } = scripted(['refused', 'refused']);
    void watch.suspect();
    void watch.suspect(); // a round is running: ignored
    await watch.settled();
    assert.deepEqual(calls, { probes: 2, firstRefusals: 1, confirmed: 1 });
  });

  it('a paused or cut-off peer does not refuse (no answer): nothing happens, the TTL decides', async () => {
    const { watch, calls } = scripted(['no-answer']);
    void watch.suspect();
    await watch.settled();
    assert.deepEqual(calls, { probes: 1, firstRefusals: 0, confirmed: 0 });
  });

  it('open at first (the connections of a dying process close before its port does), refused a moment later: confirmed', async () => {
    const { watch, calls } = scripted(['open', 'open', 'refused', 'refused']);
    void watch.suspect();
    await watch.settled();
    assert.deepEqual(calls, { probes: 4, firstRefusals: 1, confirmed: 1 });
  });

  it('open on every look (a connection that merely dropped): nothing happens', async () => {
    const { watch, calls } = scripted(['open', 'open', 'open', 'open']);
    void watch.suspect();
    await watch.settled();
    assert.deepEqual(calls, { probes: 4, firstRefusals: 0, confirmed: 0 });
  });

  it('refused once, then the port answers (a restart): not confirmed', async () => {
    const { watch, calls } = scripted(['refused', 'open']);
    void watch.suspect();
    await watch.settled();
    assert.deepEqual(calls, { probes: 2, firstRefusals: 1, confirmed: 0 });
  });

  it('refused, but nothing to take over (the lease is not the peer’s): no second probe', async () => {
    const { watch, calls } = scripted(['refused', 'refused'], false);
    void watch.suspect();
    await watch.settled();
    assert.deepEqual(calls, { probes: 1, firstRefusals: 1, confirmed: 0 });
  });
});

describe('probePort tells a refusal from an open port', () => {
  it('a closed port is refused; a listening one is open', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      assert.equal(await probePort('127.0.0.1', port, 1_000), 'open');
    } finally {
      await new Promise((r) => server.close(r));
    }
    assert.equal(await probePort('127.0.0.1', port, 1_000), 'refused');
  });
});
