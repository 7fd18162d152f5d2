import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Redis } from 'ioredis';
import { createAdminClient } from '../../src/server/admin/admin-client';
import type { SeatServiceClient } from '../../src/contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../../src/contract/proto';
import { ManualClock } from '../../src/server/clock';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import type { License } from '../../src/server/license/license-file';
import { createLogger } from '../../src/server/log';
import { SWEEP_MAX_BATCHES, SeatService } from '../../src/server/seats/seat-service';
import type { Fence } from '../../src/server/store/fence';
import { type ClusterKeys, clusterKeys } from '../../src/server/store/keys';
import { LeaseStore } from '../../src/server/store/lease-store';
import { CHECKOUT_RECLAIM_BATCH, RELEASED_REQUEST_IDS_KEPT, SeatStore, SWEEP_BATCH } from '../../src/server/store/seat-store';
import { ScriptRunner } from '../../src/server/store/scripts';
import { type StartedNode, startTestNode, TEST_TOKEN, testConfig } from '../helpers/node';
import { connect, eventually, type RedisProcess, startRedis, uniqueClusterId } from '../helpers/redis';

/**
 * Issue 12, "bounded server work": what one call costs Redis must not grow with the
 * history of a session or with the number of expired sessions. Work is measured as
 * Redis sees it (INFO commandstats counts the commands scripts run too), never as time.
 */

const TTL = 60_000;
const T0 = 1_800_000_000_000;
/** Read time for the expired population: every session opened at T0 has expired by then. */
const NOW = T0 + TTL + 1_000;
const INFO = { clientId: 'app', user: 'alice', hostname: 'ws-1', pid: 7 };
const BIG = 1_000_000;

async function rejects(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof LicenseError, `not a LicenseError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Calls per Redis command so far (INFO commandstats), commands run inside scripts included. */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) out.set(m[1] ?? '', Number(m[2]));
  return out;
}

/** Commands run between two commandstats reads, without the INFO calls themselves and the EVALSHA that ran the scripts. */
function commandsBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of after) {
    if (k === 'info' || k === 'evalsha' || k === 'eval') continue;
    const n = v - (before.get(k) ?? 0);
    if (n > 0) d.set(k, n);
  }
  return d;
}

const total = (d: Map<string, number>): number => [...d.values()].reduce((a, b) => a + b, 0);

function testLicense(features: Record<string, number>): License {
  return {
    licensee: 'test',
    clusterId: 'test',
    serial: 1,
    servers: [],
    failover: { budgetMs: 1, resetAfterMs: 1, maxExtensionMs: 1 },
    features: new Map(Object.entries(features).map(([name, seats]) => [name, { name, seats }])),
    digest: 'test',
  };
}

describe('bounded server work (real redis-server)', () => {
  let server: RedisProcess;
  let redis: Redis;
  let scripts: ScriptRunner;

  before(async () => {
    server = await startRedis();
    redis = connect(server);
    scripts = new ScriptRunner(redis);
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  /** A fresh cluster whose lease is held by node "a". */
  async function setup(): Promise<{ keys: ClusterKeys; seats: SeatStore; fence: Fence }> {
    const keys = clusterKeys(uniqueClusterId());
    const lease = new LeaseStore(scripts, keys, 10 * 60_000, 1);
    const r = await lease.acquire({ nodeId: 'a', knownEpoch: 0, addr: 'a:1', role: 'primary', nowMs: T0 });
    assert.ok(r.acquired);
    return { keys, seats: new SeatStore(scripts, keys, TTL), fence: { nodeId: 'a', epoch: r.epoch } };
  }

  const co = (sessionId: string, feature: string, count: number, seatsLicensed: number, requestId: string, newLeaseId: string, nowMs = T0) => ({
    sessionId,
    feature,
    count,
    seatsLicensed,
    requestId,
    newLeaseId,
    nowMs,
  });

  it('(a) 10,000 checkouts and releases with distinct request ids keep the request-id records of the session bounded', async () => {
    const { keys, seats, fence } = await setup();
    await seats.openSession(fence, 's1', INFO, T0);
    // Three seats stay held throughout: their request ids stay live (and retries answer them).
    for (let i = 0; i < 3; i++) await seats.checkout(fence, co('s1', 'f', 1, BIG, `held-${i}`, `held-${i}`));
    const N = 10_000;
    for (let i = 0; i < N; i += 500) {
      await Promise.all(
        Array.from({ length: 500 }, async (_, j) => {
          const n = i + j;
          const g = await seats.checkout(fence, co('s1', 'f', 1, BIG, `req-${n}`, `l-${n}`));
          assert.equal(await seats.release(fence, 's1', g.leaseId, T0), true);
        }),
      );
    }
    const live = await redis.hlen(`${keys.prefix}:session:s1:reqs`);
    const released = await redis.zcard(`${keys.prefix}:session:s1:released`);
    assert.equal(live, 3, 'live request ids: one per held lease');
    assert.ok(released <= RELEASED_REQUEST_IDS_KEPT, `released request ids kept: ${released}`);
    assert.equal(released, RELEASED_REQUEST_IDS_KEPT);
    // A late retry of a recently released checkout never takes a second seat.
    await rejects(seats.checkout(fence, co('s1', 'f', 1, BIG, `req-${N - 1}`, 'again')), ErrorCode.FAILED_PRECONDITION, /has been released/);
    await rejects(seats.checkout(fence, co('s1', 'f', 1, BIG, `req-${N - RELEASED_REQUEST_IDS_KEPT}`, 'again')), ErrorCode.FAILED_PRECONDITION);
    // A retry of a held one answers the same lease.
    const again = await seats.checkout(fence, co('s1', 'f', 1, BIG, 'held-1', 'other'));
    assert.deepEqual([again.leaseId, again.reused], ['held-1', true]);
    assert.equal(await redis.hget(keys.used, 'f'), '3');
    // The cap is the documented trade-off: a request id released more than RELEASED_REQUEST_IDS_KEPT releases ago is forgotten.
    const forgotten = await seats.checkout(fence, co('s1', 'f', 1, BIG, 'req-0', 'new-seat'));
    assert.deepEqual([forgotten.leaseId, forgotten.reused], ['new-seat', false]);
    // Closing drops every record of the session.
    await seats.closeSession(fence, 's1', T0);
    assert.deepEqual(await redis.keys(`${keys.prefix}:session:*`), []);
  });

  describe('with 50,000 expired sessions in Redis', () => {
    let keys: ClusterKeys;
    let store: SeatStore;
    let fence: Fence;
    let service: SeatService;
    const clock = new ManualClock(NOW);
    const EXPIRED = 50_000;
    const FEATURES = ['f1', 'f2', 'f3'];
    /** Seats the expired sessions hold per feature, and what the live ones hold: counted by hand as they are made. */
    const expiredHeld: Record<string, number> = { f1: 0, f2: 0, f3: 0, g: 0 };
    const liveHeld: Record<string, number> = { f1: 0, f2: 0, f3: 0, g: 0 };
    const batches: number[] = [];

    before(async () => {
      ({ keys, seats: store, fence } = await setup());
      // One feature whose every seat is held by the oldest expired sessions.
      for (let i = 0; i < 5; i++) {
        await store.openSession(fence, `old-${i}`, INFO, T0 - 1_000);
        await store.checkout(fence, co(`old-${i}`, 'g', 1, 5, '', `old-lease-${i}`, T0 - 1_000));
        expiredHeld['g'] = (expiredHeld['g'] ?? 0) + 1;
      }
      // The population, made with the product's own scripts (pipelined): sessions, lease hashes, counters, indexes.
      const CHUNK = 2_500;
      for (let i = 0; i < EXPIRED; i += CHUNK) {
        await Promise.all(
          Array.from({ length: CHUNK }, async (_, j) => {
            const n = i + j;
            const feature = FEATURES[n % 3] ?? 'f1';
            const count = 1 + (n % 2);
            const sid = `x-${n}`;
            await store.openSession(fence, sid, { ...INFO, clientId: `app-${n % 1_000}` }, T0 + (n % 500));
            await store.checkout(fence, co(sid, feature, count, BIG, `r-${n}`, `xl-${n}`, T0 + (n % 500)));
            expiredHeld[feature] = (expiredHeld[feature] ?? 0) + count;
          }),
        );
      }
      for (let i = 0; i < 10; i++) {
        await store.openSession(fence, `live-${i}`, INFO, NOW);
        await store.checkout(fence, co(`live-${i}`, 'f1', 2, BIG, '', `live-lease-${i}`, NOW));
        liveHeld['f1'] = (liveHeld['f1'] ?? 0) + 2;
      }
      // The sweep's batches are recorded to check they stay bounded.
      const recorder = Object.create(store) as SeatStore;
      recorder.reclaimExpired = async (f, nowMs, limit) => {
        const r = await store.reclaimExpired(f, nowMs, limit);
        batches.push(r.sessions);
        return r;
      };
      service = new SeatService({
        store: recorder,
        license: testLicense({ f1: BIG, f2: BIG, f3: BIG, g: 5 }),
        cluster: { fenceForNewGrant: () => fence, fenceForRunningWork: () => fence, onStaleEpoch: () => {} },
        clock,
        logger: createLogger({ level: 'error', context: { node: 'a', cluster: keys.prefix } }),
        settings: { blockedKeepsSessions: true },
      });
      assert.equal(await redis.zcount(keys.sessions, '-inf', NOW), EXPIRED + 5);
    });

    it('(b) a /metrics usage read and ListFeatures cost O(features) Redis commands, whatever the expired sessions', async () => {
      const READS = 20;
      const before = await commandCalls(redis);
      for (let i = 0; i < READS; i++) {
        await store.usage();
        await service.listFeatures();
      }
      const used = commandsBetween(before, await commandCalls(redis));
      // Nothing walks sessions or leases: no per-session or per-lease command at all.
      for (const cmd of ['zrangebyscore', 'zrange', 'smembers', 'hmget', 'hget', 'zscore', 'scan', 'zscan'])
        assert.equal(used.get(cmd) ?? 0, 0, `${cmd}: ${used.get(cmd)}`);
      assert.ok(total(used) <= 2 * READS * 2, `commands for ${2 * READS} reads: ${JSON.stringify([...used])}`);
      // The counters: a seat of an expired session counts until it is reaped.
      const usage = Object.fromEntries(await store.usage());
      for (const f of [...FEATURES, 'g']) assert.equal(usage[f], (expiredHeld[f] ?? 0) + (liveHeld[f] ?? 0), f);
    });

    it('(b) a checkout with free seats reclaims nothing; with too few it reclaims one small batch', async () => {
      await store.openSession(fence, 'buyer', INFO, NOW);
      const zcard = await redis.zcard(keys.sessions);
      const before = await commandCalls(redis);
      await service.checkout({ session_id: 'buyer', feature: 'f2', count: 1, request_id: 'b-1' });
      const used = commandsBetween(before, await commandCalls(redis));
      assert.equal(used.get('zrangebyscore') ?? 0, 0, 'no reclaim scan while seats are free');
      assert.ok(total(used) <= 30, `one checkout: ${JSON.stringify([...used])}`);
      assert.equal(await redis.zcard(keys.sessions), zcard, 'no session was reaped');
      liveHeld['f2'] = (liveHeld['f2'] ?? 0) + 1;
      // Every seat of g is held by an expired session: the checkout frees a few (oldest first) and gets its seat.
      await service.checkout({ session_id: 'buyer', feature: 'g', count: 1, request_id: 'b-2' });
      const reaped = zcard - (await redis.zcard(keys.sessions));
      assert.ok(reaped >= 5 && reaped <= CHECKOUT_RECLAIM_BATCH, `checkout reaped ${reaped} sessions`);
      for (let i = 0; i < 5; i++) assert.equal(await redis.zscore(keys.sessions, `old-${i}`), null, 'the oldest sessions, which held g, are gone');
      expiredHeld['g'] = 0;
      liveHeld['g'] = 1;
      assert.equal(await redis.hget(keys.used, 'g'), '1');
    });

    it('(b) a ListLeases page costs O(page size) whatever the number of sessions, expired or not', async () => {
      const before = await commandCalls(redis);
      const page = await service.listLeases({ feature: '', pageSize: 100, pageToken: '' });
      const used = commandsBetween(before, await commandCalls(redis));
      assert.ok(page.leases.length <= 100);
      assert.notEqual(page.nextPageToken, '');
      assert.ok(total(used) <= 4 * 100 + 10, `one page of 100: ${total(used)} commands`);
    });

    it('(c) the sweep reaps them in bounded batches, and the counters then equal the hand-computed seats', async () => {
      const expiredLeft = await redis.zcount(keys.sessions, '-inf', NOW);
      assert.ok(expiredLeft > EXPIRED - CHECKOUT_RECLAIM_BATCH);
      let runs = 0;
      let reaped = 0;
      for (;;) {
        const before = batches.length;
        const r = await service.sweep();
        runs++;
        const mine = batches.slice(before);
        assert.ok(mine.length <= SWEEP_MAX_BATCHES, `batches in one sweep run: ${mine.length}`);
        assert.ok(
          mine.every((n) => n <= SWEEP_BATCH),
          `a batch over ${SWEEP_BATCH}: ${mine.join(',')}`,
        );
        assert.ok(r.sessions <= SWEEP_BATCH * SWEEP_MAX_BATCHES);
        reaped += r.sessions;
        if (r.sessions === 0) break;
        assert.ok(runs < 100, 'the sweep keeps making progress');
      }
      assert.ok(runs > 2, `50,000 sessions need several sweep runs, got ${runs}`);
      assert.equal(reaped, expiredLeft);
      const used = Object.fromEntries(Object.entries(await redis.hgetall(keys.used)).map(([k, v]) => [k, Number(v)]));
      const expected = Object.fromEntries(Object.entries(liveHeld).filter(([, n]) => n > 0));
      assert.deepEqual(used, expected);
      assert.deepEqual(Object.fromEntries(await store.usage()), expected);
      const features = Object.fromEntries((await service.listFeatures()).map((f) => [f.name, f.seatsInUse]));
      assert.deepEqual(features, { f1: liveHeld['f1'], f2: liveHeld['f2'], f3: 0, g: liveHeld['g'] });
      // Nothing of a reaped session is left behind: 10 live sessions and the buyer remain, with their leases.
      assert.equal(await redis.zcard(keys.sessions), 11);
      let cursor = '0';
      let leftovers = 0;
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${keys.prefix}:*x*`, 'COUNT', 10_000);
        cursor = next;
        leftovers += found.filter((k) => /:(session:x-|lease:xl-|client:app-)/.test(k)).length;
      } while (cursor !== '0');
      assert.equal(leftovers, 0);
    });
  });
});

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown;

describe('ListLeases pages (in-process node, real Redis)', () => {
  let server: RedisProcess;
  let node: StartedNode;
  let seat: SeatServiceClient;
  const admin = (): ReturnType<typeof createAdminClient> => createAdminClient(node.addr, TEST_TOKEN);

  before(async () => {
    server = await startRedis();
    node = await startTestNode(
      testConfig(
        server.url,
        { LICENSE_SESSION_TTL_MS: '60000', LICENSE_MAX_SEATS_PER_SESSION: '100' },
        {
          features: [
            { name: 'cad', seats: 5_000 },
            { name: 'sim', seats: 5_000 },
          ],
        },
      ),
    );
    seat = new (loadLicenseProto().SeatService)(node.addr, grpc.credentials.createInsecure());
    await eventually(() => node.node.controller.machine.isServing() || undefined);
  });
  after(async () => {
    seat.close();
    await node.node.stop();
    await server.stop();
  });

  const call =
    <Req, Res>(fn: Unary<Req, Res>) =>
    (req: Req): Promise<Res> =>
      new Promise((resolve, reject) =>
        fn.call(seat, req, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res as Res))),
      );
  /* eslint-disable @typescript-eslint/unbound-method -- call() invokes each one as fn.call(seat, ...) */
  const open = (): Promise<{ session_id: string }> => call(seat.OpenSession as Unary<object, { session_id: string }>)({ client_id: 'pager' });
  const checkout = (session_id: string, feature: string): Promise<{ lease_id: string }> =>
    call(seat.Checkout as Unary<object, { lease_id: string }>)({ session_id, feature, count: 1 });
  const heartbeat = (session_id: string): Promise<unknown> => call(seat.Heartbeat as Unary<object, unknown>)({ session_id });
  const release = (session_id: string, lease_id: string): Promise<unknown> => call(seat.Release as Unary<object, unknown>)({ session_id, lease_id });
  /* eslint-enable @typescript-eslint/unbound-method */

  async function grpcError(p: Promise<unknown>): Promise<grpc.ServiceError> {
    try {
      await p;
    } catch (err) {
      return err as grpc.ServiceError;
    }
    assert.fail('call succeeded');
  }

  it('(d) pages through N leases exactly once each while the sessions heartbeat between pages', async () => {
    const sessions: string[] = [];
    const held = new Map<string, { sid: string; feature: string }>();
    for (let s = 0; s < 30; s++) {
      const { session_id } = await open();
      sessions.push(session_id);
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const feature = i % 3 === 0 ? 'sim' : 'cad';
          held.set((await checkout(session_id, feature)).lease_id, { sid: session_id, feature });
        }),
      );
    }
    assert.equal(held.size, 1_200);
    const a = admin();
    try {
      const seen = new Map<string, number>();
      const releasedMidway = new Set<string>();
      const addedMidway = new Set<string>();
      let token = '';
      let pages = 0;
      do {
        const page = await a.listLeases('', { pageSize: 100, pageToken: token });
        assert.ok(page.leases.length <= 100, `page of ${page.leases.length}`);
        for (const l of page.leases) seen.set(l.lease_id, (seen.get(l.lease_id) ?? 0) + 1);
        token = page.next_page_token;
        pages++;
        // Between pages: every session heartbeats (their expiry order changes), a listed lease goes, a new one comes.
        for (const sid of [...sessions].reverse()) await heartbeat(sid);
        const gone = page.leases[0];
        if (gone) {
          await release(gone.session_id, gone.lease_id);
          releasedMidway.add(gone.lease_id);
        }
        const sid = sessions[pages % sessions.length] ?? '';
        addedMidway.add((await checkout(sid, 'cad')).lease_id);
        assert.ok(pages < 100, 'paging ends');
      } while (token !== '');
      assert.ok(pages >= 12, `pages: ${pages}`);
      for (const [lid, n] of seen) assert.equal(n, 1, `lease ${lid} listed ${n} times`);
      // Every lease held throughout was listed; leases made during the walk may or may not be.
      for (const lid of held.keys()) assert.ok(seen.has(lid), `lease ${lid} was never listed`);
      for (const lid of seen.keys()) assert.ok(held.has(lid) || addedMidway.has(lid), `unknown lease ${lid}`);

      // With a feature filter: only that feature, each once.
      const sim = [...held].filter(([lid, h]) => h.feature === 'sim' && !releasedMidway.has(lid)).map(([lid]) => lid);
      const listed: string[] = [];
      token = '';
      do {
        const page = await a.listLeases('sim', { pageSize: 7, pageToken: token });
        for (const l of page.leases) {
          assert.equal(l.feature, 'sim');
          listed.push(l.lease_id);
        }
        token = page.next_page_token;
      } while (token !== '');
      assert.deepEqual([...listed].sort(), [...sim].sort());

      // page_size 0 is the default of 500; the paged helper follows next_page_token to the end.
      const first = await a.listLeases('');
      assert.equal(first.leases.length, 500);
      assert.notEqual(first.next_page_token, '');
      const all = await a.listAllLeases('', 250);
      assert.equal(new Set(all.map((l) => l.lease_id)).size, all.length);
      assert.equal(all.length, held.size - releasedMidway.size + addedMidway.size);
    } finally {
      a.close();
    }
  });

  it('(d) a bad page_token or page_size is INVALID_ARGUMENT with a clear message', async () => {
    const a = admin();
    try {
      const bad = await grpcError(a.listLeases('', { pageToken: 'not-a-token' }));
      assert.equal(bad.code, grpc.status.INVALID_ARGUMENT);
      assert.match(bad.details, /^page_token: /);
      assert.match(bad.details, /next_page_token/);
      const { next_page_token } = await a.listLeases('cad', { pageSize: 1 });
      assert.notEqual(next_page_token, '');
      const other = await grpcError(a.listLeases('sim', { pageToken: next_page_token }));
      assert.equal(other.code, grpc.status.INVALID_ARGUMENT);
      assert.match(other.details, /^page_token: .*feature/);
      const negative = await grpcError(a.listLeases('', { pageSize: -1 }));
      assert.equal(negative.code, grpc.status.INVALID_ARGUMENT);
      assert.match(negative.details, /^page_size: /);
    } finally {
      a.close();
    }
  });
});
