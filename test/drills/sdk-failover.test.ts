import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type LocalCluster, startLocalCluster } from '../../src/tools/local/local-cluster';
import { LicenseClient, type Seat, SeatsExhaustedError } from '../../src/sdk/index';
import { eventually } from '../helpers/redis';

const SEATS = 5;

/**
 * An SDK client holding seats keeps them, without a new checkout, through kill -9 of
 * the primary and through the handback; a greedy second client keeps trying to take
 * every free seat; a sampler reads the seats in use from Redis all along and never
 * sees more than the seats licensed.
 */
describe('SDK through failover and handback (real processes)', () => {
  let c: LocalCluster;
  const clients: LicenseClient[] = [];
  let sampler: Redis | undefined;

  after(async () => {
    await Promise.all(clients.map((x) => x.close().catch(() => undefined)));
    sampler?.disconnect();
    await c?.stop();
  });

  it('keeps its seats through kill -9 and handback; seats in use never exceed seats licensed', async () => {
    c = await startLocalCluster({
      leaseTtlMs: 1_500,
      heartbeatIntervalMs: 300,
      handbackAfterMs: 2_000,
      features: [{ name: 'cad-pro', seats: SEATS }],
      // A session TTL well above the failover time: heartbeats pause during the failover.
      env: { LICENSE_SESSION_TTL_MS: '6000' },
      logFiles: true,
    });
    await c.primary.waitForState('ACTIVE');
    await eventually(async () => (await c.admin('redundant').getStatus()).peer?.reachable || undefined);

    const endpoints = [c.addr.primary, c.addr.redundant];
    const holder = new LicenseClient({ endpoints, clientId: 'holder', callTimeoutMs: 1_000, retryTimeoutMs: 20_000 });
    const greedy = new LicenseClient({ endpoints: [c.addr.redundant, c.addr.primary], clientId: 'greedy', callTimeoutMs: 1_000, retryTimeoutMs: 20_000 });
    clients.push(holder, greedy);
    const events: string[] = [];
    holder.on('failover', (e) => events.push(`failover ${e.from} -> ${e.to}`));
    holder.on('seatLost', (e) => events.push(`seatLost ${e.seat.leaseId} ${e.reason}`));

    await holder.connect();
    const held: Seat[] = [await holder.checkout('cad-pro'), await holder.checkout('cad-pro', { count: 2 })];
    const heldIds = held.map((s) => s.leaseId).sort();
    const sessionId = holder.sessionId;

    // Sample seats in use straight from Redis (the source of truth) every 20 ms.
    sampler = new Redis(c.redisUrl);
    let maxInUse = 0;
    let samples = 0;
    let sampling = true;
    const sampleLoop = (async () => {
      while (sampling) {
        const used = Number((await sampler.hget(`{lic:${c.clusterId}}:used`, 'cad-pro')) ?? 0);
        maxInUse = Math.max(maxInUse, used);
        samples++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    // The greedy client grabs whatever is free, all the time, and keeps what it gets.
    let greedyRunning = true;
    let greedyGot = 0;
    let greedyRefused = 0;
    const greedyLoop = (async () => {
      while (greedyRunning) {
        try {
          await greedy.checkout('cad-pro');
          greedyGot++;
        } catch (err) {
          if (err instanceof SeatsExhaustedError) greedyRefused++;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    await eventually(() => (greedyGot === SEATS - 3 ? true : undefined), 20_000, 'greedy client to take the remaining seats');

    // Crash the primary.
    await c.primary.kill();
    await c.redundant.waitForState('FAILOVER_ACTIVE', 20_000);
    await eventually(() => (events.some((e) => e.startsWith('failover')) ? true : undefined), 20_000, 'SDK failover event');
    const onRedundant = await c.admin('redundant').listLeases('cad-pro');
    assert.deepEqual(
      onRedundant.leases
        .filter((l) => l.client_id === 'holder')
        .map((l) => l.lease_id)
        .sort(),
      heldIds,
      'the same leases live on after the failover',
    );

    // Bring the primary back: after the handback delay it takes the cluster back.
    const mark = c.primary.lines.length;
    c.primary.start();
    await c.primary.waitForState('ACTIVE', 30_000, mark);
    await c.redundant.waitForState('STANDBY', 10_000);
    // A few heartbeat rounds on the primary again.
    const hbAfter = Date.now();
    await eventually(() => ((holder.lastHeartbeatAtMs ?? 0) > hbAfter + 100 ? true : undefined), 20_000, 'heartbeat after handback');
    await eventually(() => (holder.activeEndpoint === c.addr.primary ? true : undefined), 20_000, 'SDK back on the primary');

    greedyRunning = false;
    await greedyLoop;
    sampling = false;
    await sampleLoop;

    assert.equal(holder.sessionId, sessionId, 'same session throughout');
    assert.deepEqual(holder.heldSeats.map((s) => s.leaseId).sort(), heldIds, `holder kept its seats without a new checkout (events: ${events.join('; ')})`);
    assert.ok(!events.some((e) => e.startsWith('seatLost')), events.join('; '));
    assert.ok(greedyRefused > 0, 'the greedy client was refused at some point');
    assert.ok(samples > 50, `sampled ${samples} times`);
    assert.ok(maxInUse <= SEATS, `seats in use peaked at ${maxInUse} of ${SEATS}`);
    const leases = await c.admin('primary').listLeases('cad-pro');
    assert.equal(
      leases.leases.reduce((n, l) => n + l.count, 0),
      SEATS,
    );
    // Release works on the primary again and frees the seats.
    for (const s of held) await s.release();
    assert.equal(holder.heldSeats.length, 0);
  });
});
