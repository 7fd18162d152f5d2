import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { LicenseClient, type LicenseClientEvents, type LicenseClientOptions, NoActiveServerError, SeatsExhaustedError } from '../../src/sdk/index';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { connect, eventually, type RedisProcess, startRedis } from '../helpers/redis';

/**
 * The SDK tells the truth about its seats against a real node and a real Redis: a grant
 * lost behind its back, a session that expires while the node is unreachable, close(), and
 * a checkout whose answer never arrives.
 */

type LinkMode = 'pass' | 'down' | 'drop-answers';

interface LinkProxy {
  readonly addr: string;
  /** 'down' resets every connection and refuses new ones; 'drop-answers' forwards what the client sends and drops every byte back. */
  set(mode: LinkMode): void;
  close(): Promise<void>;
}

/** A TCP link between the SDK and the node that a test can break in the ways it needs. */
async function startLinkProxy(target: string): Promise<LinkProxy> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const pairs = new Set<[net.Socket, net.Socket]>();
  let mode: LinkMode = 'pass';
  const resetAll = (): void => {
    for (const [c, u] of pairs) {
      c.resetAndDestroy();
      u.destroy();
    }
    pairs.clear();
  };
  const server = net.createServer((client) => {
    if (mode === 'down') return void client.resetAndDestroy();
    const upstream = net.connect(port, host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (d) => {
      if (mode !== 'down') upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (mode === 'pass') client.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected address');
  return {
    addr: `127.0.0.1:${address.port}`,
    set(next) {
      // Half-delivered HTTP/2 frames must not be resumed: both sides start over.
      if (next === 'down' || mode === 'drop-answers') resetAll();
      mode = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        resetAll();
        server.close(() => resolve());
      }),
  };
}

function record<K extends keyof LicenseClientEvents>(c: LicenseClient, event: K): Array<LicenseClientEvents[K]> {
  const seen: Array<LicenseClientEvents[K]> = [];
  c.on(event, (p) => seen.push(p));
  return seen;
}

const SESSION_TTL_MS = 3_000;

describe('SDK truth against a real node and Redis', () => {
  let redis: RedisProcess;
  let admin: Redis;
  let node: StartedNode;
  const clients: LicenseClient[] = [];
  const links: LinkProxy[] = [];
  let p: string;

  before(async () => {
    redis = await startRedis();
    admin = connect(redis);
    node = await startTestNode(
      testConfig(
        redis.url,
        { LICENSE_SESSION_TTL_MS: String(SESSION_TTL_MS) },
        {
          features: [
            { name: 'lost-grant', seats: 5 },
            { name: 'solo', seats: 1 },
            { name: 'expiring', seats: 3 },
            { name: 'closing', seats: 5 },
            { name: 'unanswered', seats: 2 },
          ],
        },
      ),
    );
    p = `{lic:${node.config.clusterId}}`;
    await eventually(() => node.node.controller.machine.isServing() || undefined);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(links.map((l) => l.close()));
    admin.disconnect();
    await node.node.stop();
    await redis.stop();
  });

  function client(endpoint: string, clientId: string, over: Partial<LicenseClientOptions> = {}): LicenseClient {
    const c = new LicenseClient({
      endpoints: [endpoint],
      clientId,
      callTimeoutMs: 500,
      retryTimeoutMs: 10_000,
      backoff: { initialMs: 50, maxMs: 200 },
      ...over,
    });
    clients.push(c);
    return c;
  }

  async function link(): Promise<LinkProxy> {
    const l = await startLinkProxy(node.addr);
    links.push(l);
    return l;
  }

  async function used(feature: string): Promise<number> {
    return Number((await admin.hget(`${p}:used`, feature)) ?? 0);
  }

  async function sessionLeases(sessionId: string): Promise<string[]> {
    return (await admin.smembers(`${p}:session:${sessionId}:leases`)).sort();
  }

  /**
   * Forgets a grant as a Redis failover that lost it would: the lease hash, its place in
   * the session's set, index and counters, and the request id that made it. Returns that id.
   */
  async function loseGrant(sessionId: string, leaseId: string): Promise<string> {
    const [feature, count] = await admin.hmget(`${p}:lease:${leaseId}`, 'feature', 'count');
    assert.ok(feature && count, `lease ${leaseId} in Redis`);
    const reqs = await admin.hgetall(`${p}:session:${sessionId}:reqs`);
    const rid = Object.keys(reqs).find((k) => reqs[k] === leaseId);
    assert.ok(rid, 'the request id of the lease');
    await admin
      .multi()
      .del(`${p}:lease:${leaseId}`)
      .srem(`${p}:session:${sessionId}:leases`, leaseId)
      .zrem(`${p}:lease_index`, `${feature}:${leaseId}`)
      .hincrby(`${p}:used`, feature, -Number(count))
      .hincrby(`${p}:session:${sessionId}`, 'seats', -Number(count))
      .hdel(`${p}:session:${sessionId}:reqs`, rid)
      .exec();
    return rid;
  }

  it('checks a seat whose grant Redis lost out again with the same request id, within one heartbeat, and keeps it held', async () => {
    const c = client(node.addr, 'lost-grant');
    const recovered = record(c, 'seatRecovered');
    const lost = record(c, 'seatLost');
    const beats = record(c, 'heartbeat');
    const seat = await c.checkout('lost-grant', { count: 2 });
    const sessionId = c.sessionId ?? '';
    const oldLease = seat.leaseId;

    const rid = await loseGrant(sessionId, oldLease);
    const beatsAtLoss = beats.length;
    assert.equal(await used('lost-grant'), 0);

    await eventually(() => recovered.length === 1 || undefined, 20_000, 'seatRecovered');
    // The heartbeat that showed the loss triggered the re-checkout; the next one may have started meanwhile on a slow machine.
    assert.ok(beats.length - beatsAtLoss <= 2, `recovered ${beats.length - beatsAtLoss} heartbeats after the loss`);
    assert.equal(recovered[0]?.seat, seat);
    assert.equal(recovered[0]?.previousLeaseId, oldLease);
    assert.deepEqual(lost, []);
    assert.ok(seat.held);
    assert.notEqual(seat.leaseId, oldLease);
    assert.equal(c.sessionId, sessionId, 'same session');
    assert.equal(await admin.hget(`${p}:session:${sessionId}:reqs`, rid), seat.leaseId, 'granted again under the same request id');
    assert.deepEqual(await sessionLeases(sessionId), [seat.leaseId]);
    assert.equal(await used('lost-grant'), 2);

    // Later heartbeats list the lease: nothing more happens.
    const n = beats.length;
    await eventually(() => beats.length >= n + 2 || undefined, 20_000, 'two more heartbeats');
    assert.equal(recovered.length, 1);
    assert.equal(await used('lost-grant'), 2);
    await seat.release();
    assert.equal(await used('lost-grant'), 0);
  });

  it('reports a seat whose grant Redis lost seatLost (not-held-by-server) when no seat is free any more', async () => {
    const l = await link();
    const c = client(l.addr, 'lost-grant-taken');
    const lost = record(c, 'seatLost');
    const recovered = record(c, 'seatRecovered');
    const seat = await c.checkout('solo');
    const sessionId = c.sessionId ?? '';

    // While the client cannot see the node, its grant is lost and another client takes the seat.
    l.set('down');
    await loseGrant(sessionId, seat.leaseId);
    const other = client(node.addr, 'taker');
    await other.checkout('solo');
    l.set('pass');

    await eventually(() => lost.length === 1 || undefined, 20_000, 'seatLost');
    assert.equal(lost[0]?.seat, seat);
    assert.equal(lost[0]?.reason, 'not-held-by-server');
    assert.ok(lost[0]?.error instanceof SeatsExhaustedError, String(lost[0]?.error));
    assert.ok(!seat.held && seat.lost);
    assert.deepEqual(c.heldSeats, []);
    assert.equal(c.sessionId, sessionId, 'the session lives on');
    assert.deepEqual(recovered, []);
    assert.equal(await used('solo'), 1, "the other client's seat only");
  });

  it('reports every seat lost (session-expired) when the session expires while the node is unreachable, and recovers them when it is back', async () => {
    const l = await link();
    const c = client(l.addr, 'expiring', { retryTimeoutMs: 60_000 });
    const lost = record(c, 'seatLost');
    const recovered = record(c, 'seatRecovered');
    const reopened = record(c, 'sessionReopened');
    const s1 = await c.checkout('expiring');
    const s2 = await c.checkout('expiring', { count: 2 });
    const oldSession = c.sessionId ?? '';

    l.set('down');
    await eventually(() => lost.length === 2 || undefined, 20_000, 'seatLost for both seats');
    assert.deepEqual(
      lost.map((e) => e.reason),
      ['session-expired', 'session-expired'],
    );
    assert.deepEqual(
      lost.map((e) => e.seat),
      [s1, s2],
    );
    assert.ok(!s1.held && !s2.held);
    assert.deepEqual(c.heldSeats, []);
    assert.equal(reopened.length, 0, 'reported while the node was still unreachable');
    // The node frees them too, once it reaps the expired session.
    await eventually(async () => ((await used('expiring')) === 0 ? true : undefined), 20_000, 'the node to free the seats');

    l.set('pass');
    await eventually(() => recovered.length === 2 || undefined, 20_000, 'seatRecovered for both seats');
    const newSession = c.sessionId ?? '';
    assert.notEqual(newSession, oldSession);
    assert.equal(reopened[0]?.previousSessionId, oldSession);
    assert.ok(s1.held && s2.held && !s1.lost && !s2.lost);
    assert.equal(s1.sessionId, newSession);
    assert.deepEqual(await sessionLeases(newSession), [s1.leaseId, s2.leaseId].sort());
    assert.equal(await used('expiring'), 3);
    assert.equal(lost.length, 2);
  });

  it('close() leaves no seat held and frees them on the server', async () => {
    const c = client(node.addr, 'closing');
    const s1 = await c.checkout('closing');
    const s2 = await c.checkout('closing', { count: 2 });
    const sessionId = c.sessionId ?? '';
    assert.equal(await used('closing'), 3);

    await c.close();

    assert.ok(!s1.held && !s2.held && s1.released && s2.released);
    assert.deepEqual(c.heldSeats, []);
    assert.equal(await used('closing'), 0);
    assert.equal(await admin.zscore(`${p}:sessions`, sessionId), null, 'the session is closed');
  });

  it('close() with the node unreachable returns, holds nothing, and the node frees the seats at the TTL', async () => {
    const l = await link();
    const c = client(l.addr, 'closing-cut');
    const seat = await c.checkout('closing', { count: 2 });
    l.set('down');

    await c.close();

    assert.ok(!seat.held);
    assert.deepEqual(c.heldSeats, []);
    await eventually(async () => ((await used('closing')) === 0 ? true : undefined), 20_000, 'the node to free the seats');
  });

  it('leaves no orphaned lease behind a checkout whose answer was lost', async () => {
    const l = await link();
    const c = client(l.addr, 'unanswered', { callTimeoutMs: 300, retryTimeoutMs: 900 });
    const lost = record(c, 'seatLost');
    await c.connect();
    const sessionId = c.sessionId ?? '';

    // Requests still reach the node; no answer comes back.
    l.set('drop-answers');
    await assert.rejects(c.checkout('unanswered'), NoActiveServerError);
    assert.equal(await used('unanswered'), 1, 'the node granted it unseen');
    assert.equal((await sessionLeases(sessionId)).length, 1);

    l.set('pass');
    await eventually(async () => ((await used('unanswered')) === 0 ? true : undefined), 20_000, 'the orphaned lease released');
    assert.deepEqual(await sessionLeases(sessionId), []);
    assert.equal(c.sessionId, sessionId, 'settled in the same session, not by a reopen');
    assert.deepEqual(c.heldSeats, []);
    assert.deepEqual(lost, []);
    const features = await c.features();
    assert.equal(features.find((f) => f.name === 'unanswered')?.seatsInUse, 0);
    // And a new checkout still works: the seats are free.
    await c.checkout('unanswered', { count: 2 });
  });
});
