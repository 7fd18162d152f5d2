import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { clusterKeys } from '../../src/server/store/keys';
import { type UsageEvent, USAGE_EVENT_KINDS } from '../../src/server/usage/usage-event';
import { ioredisUsagePages, readUsage, type UsagePages } from '../../src/server/usage/usage-reader';
import { createUsageReport } from '../../src/server/usage/usage-report';
import { connectUsageStream, RedisReplyError, type UsageStreamConnection } from '../../src/server/usage/usage-stream-client';
import { type RedisProcess, startRedis, uniqueClusterId } from '../helpers/redis';

/** The built CLI (npm test builds first). */
const CTL = path.resolve(__dirname, '..', '..', 'dist', 'server', 'cli', 'licensectl.js');
const H = 3_600_000;
const DEFAULT_PASS = 'default-pass';
const REPORTER_PASS = 'rep,pass/ok';

interface CtlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function ctl(args: string[], env: Record<string, string> = {}): Promise<CtlResult> {
  return new Promise((resolve) => {
    const { LICENSE_REDIS_URL: _u, LICENSE_CLUSTER_ID: _c, LICENSE_REDIS_TLS_CA: _t, ...base } = process.env;
    execFile(process.execPath, [CTL, ...args], { env: { ...base, ...env }, timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr: stderr.trim() });
    });
  });
}

/** The fields of one event, in the order the seat scripts append them (includes/sessions.lua usageEvent). */
function fields(e: Omit<UsageEvent, 'id'>): string[] {
  return [
    't',
    String(e.atMs),
    'e',
    e.kind,
    'f',
    e.feature,
    'n',
    String(e.count),
    'u',
    e.user,
    'h',
    e.host,
    'c',
    e.clientId,
    's',
    e.sessionId,
    'l',
    e.leaseId,
    'r',
    e.reason,
    'w',
    String(e.waitMs),
  ];
}

/** Every event a reader gives, in order. */
async function collect(pages: UsagePages, key: string, toMs: number, pageSize?: number): Promise<UsageEvent[]> {
  const out: UsageEvent[] = [];
  const read = await readUsage(pages, { key, toMs, ...(pageSize === undefined ? {} : { pageSize }) }, { add: (e) => void out.push(e) });
  assert.equal(read.events, out.length);
  return out;
}

describe('usage stream readers against a real redis-server', () => {
  let server: RedisProcess;
  let redis: Redis;
  let url: string;
  let fast: UsageStreamConnection;

  before(async () => {
    server = await startRedis({
      extraArgs: [
        '--user',
        'default',
        'on',
        `>${DEFAULT_PASS}`,
        '~*',
        '&*',
        '+@all',
        '--user',
        'reporter',
        'on',
        `>${REPORTER_PASS}`,
        '~*',
        '+xrange',
        '+select',
      ],
    });
    redis = new Redis(`redis://:${DEFAULT_PASS}@127.0.0.1:${server.port}`, { maxRetriesPerRequest: 1 });
    url = `redis://reporter:${encodeURIComponent(REPORTER_PASS)}@127.0.0.1:${server.port}`;
    fast = await connectUsageStream({ url });
  });

  after(async () => {
    fast.close();
    redis.disconnect();
    await server.stop();
  });

  it('a few hundred events as the scripts append them: both readers give them all, in order, over many pages', async () => {
    const key = clusterKeys(uniqueClusterId('usage')).usage;
    const now = Date.now();
    const written: Omit<UsageEvent, 'id'>[] = [];
    const pipeline = redis.pipeline();
    for (let i = 0; i < 300; i++) {
      const kind = USAGE_EVENT_KINDS[i % USAGE_EVENT_KINDS.length] ?? 'grant';
      const e = {
        atMs: now - (300 - i) * 1_000,
        kind,
        feature: i % 2 ? 'cad-pro' : 'sim',
        count: 1 + (i % 3),
        user: `user${i % 7}`,
        host: `ws-${i % 5}.example.com`,
        clientId: `client-${i % 11}`,
        sessionId: `s${i % 13}`,
        leaseId: kind === 'deny' ? '' : `lease-${i}`,
        reason: kind === 'deny' ? 'SEATS_EXHAUSTED' : '',
        waitMs: kind === 'queue' ? i * 10 : 0,
      };
      written.push(e);
      pipeline.xadd(key, '*', ...fields(e));
    }
    await pipeline.exec();
    const toMs = Date.now() + H;
    const viaIoredis = await collect(ioredisUsagePages(redis), key, toMs, 7);
    const viaFast = await collect(fast, key, toMs, 7);
    assert.equal(viaFast.length, 300);
    assert.deepEqual(viaFast, viaIoredis);
    assert.deepEqual(
      viaFast.map(({ id: _id, ...e }) => e),
      written,
    );
    assert.deepEqual(await collect(fast, key, toMs), viaFast, 'one page of 10,000 or 43 pages of 7: the same events');

    // The same report whichever way the events came.
    const report = (events: readonly UsageEvent[]): unknown => {
      const r = createUsageReport({ fromMs: now - 200_000, toMs, by: 'user' });
      for (const e of events) r.add(e);
      return r.result();
    };
    const r = createUsageReport({ fromMs: now - 200_000, toMs, by: 'user' });
    const read = await readUsage(fast, { key, toMs, pageSize: 50 }, r);
    assert.equal(read.pages, 7, '300 entries in pages of 50, the last one empty');
    assert.equal(read.oldestAtMs, written[0]?.atMs);
    assert.deepEqual(r.result(), report(viaIoredis));
  });

  it('--to is exclusive, by the entry ids; entries sharing a millisecond are not lost between pages', async () => {
    const key = clusterKeys(uniqueClusterId('usage')).usage;
    const base = 1_790_000_000_000;
    for (let ms = 0; ms < 4; ms++) {
      for (let s = 0; s < 5; s++) {
        await redis.xadd(key, `${base + ms}-${s}`, ...fields({ ...blank(), atMs: base + ms, leaseId: `L${ms}-${s}` }));
      }
    }
    const ids = (events: readonly UsageEvent[]): string[] => events.map((e) => e.id);
    assert.equal((await collect(fast, key, base + 4, 3)).length, 20);
    assert.deepEqual(ids(await collect(fast, key, base + 2, 3)), ids(await collect(ioredisUsagePages(redis), key, base + 2, 3)));
    assert.equal((await collect(fast, key, base + 2, 3)).length, 10, 'ids of ms base and base+1 only');
    assert.equal((await collect(fast, key, base, 3)).length, 0);
    assert.equal((await collect(fast, key, 1_000, 3)).length, 0);
  });

  it('odd entries (unknown kinds, missing, repeated or extra fields, bad numbers, any text) read exactly as parseUsageEntry reads them', async () => {
    const value = fc.oneof(
      fc.constantFrom('', '0', '12', '007', '-3', '1e3', '0x10', ' 5 ', 'NaN', 'Infinity', '99999999999999999999', '1.5'),
      fc.string({ unit: 'grapheme', maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.constantFrom('\r\n', '$3\r\nabc', '*2\r\n', 'a,b "c"'),
    );
    const name = fc.constantFrom('t', 'e', 'f', 'n', 'u', 'h', 'c', 's', 'l', 'r', 'w', 'x', 'tt', 'é', '');
    const kind = fc.constantFrom(...USAGE_EVENT_KINDS, 'grant2', 'GRANT', '');
    const entry = fc.tuple(kind, fc.array(fc.tuple(name, value), { maxLength: 14 }));
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 20 }), async (entries) => {
        const key = clusterKeys(uniqueClusterId('odd')).usage;
        for (const [k, pairs] of entries) await redis.xadd(key, '*', 'e', k, ...pairs.flat());
        const toMs = Date.now() + H;
        const viaFast = await collect(fast, key, toMs, 4);
        assert.deepEqual(viaFast, await collect(ioredisUsagePages(redis), key, toMs, 4));
        await redis.del(key);
      }),
      { numRuns: 60 },
    );
  });

  it('replies far larger than one TCP read are put together at any split', async () => {
    const key = clusterKeys(uniqueClusterId('big')).usage;
    for (let i = 0; i < 12; i++) {
      await redis.xadd(key, '*', ...fields({ ...blank(), atMs: 1_000 + i, host: `h${'x'.repeat(150_000 + i * 7_919)}`, user: `ü${i}` }));
    }
    const toMs = Date.now() + H;
    const viaFast = await collect(fast, key, toMs, 5);
    assert.equal(viaFast.length, 12);
    assert.deepEqual(viaFast, await collect(ioredisUsagePages(redis), key, toMs, 5));
  });

  it('errors: a key of another type, a wrong password, nobody listening', async () => {
    const key = clusterKeys(uniqueClusterId('wrong')).usage;
    await redis.set(key, 'not a stream');
    await assert.rejects(collect(fast, key, Date.now()), (err: unknown) => err instanceof RedisReplyError && /^WRONGTYPE/.test(err.message));
    // The connection is still good after an error reply.
    assert.deepEqual(await collect(fast, clusterKeys(uniqueClusterId('none')).usage, Date.now()), []);
    await assert.rejects(connectUsageStream({ url: `redis://reporter:nope@127.0.0.1:${server.port}` }), /WRONGPASS/);
    await assert.rejects(connectUsageStream({ url: 'redis://127.0.0.1:1' }), /Redis at 127\.0\.0\.1:1: .*ECONNREFUSED/);
    await assert.rejects(connectUsageStream({ url: 'http://127.0.0.1:6379' }), /unsupported scheme http:/);
  });

  it('selects the database named in the URL', async () => {
    const key = clusterKeys(uniqueClusterId('db')).usage;
    await redis.select(3);
    await redis.xadd(key, '*', ...fields({ ...blank(), atMs: 5 }));
    await redis.select(0);
    const inDb3 = await connectUsageStream({ url: `${url}/3` });
    try {
      assert.equal((await collect(inDb3, key, Date.now() + H)).length, 1);
      assert.equal((await collect(fast, key, Date.now() + H)).length, 0);
    } finally {
      inDb3.close();
    }
  });

  describe('licensectl report usage (the built CLI)', () => {
    const cluster = uniqueClusterId('ctl');
    const T0 = Date.UTC(2026, 10, 1);

    before(async () => {
      const key = clusterKeys(cluster).usage;
      const add = (hours: number, e: Partial<UsageEvent>, seq = 0): Promise<string | null> =>
        redis.xadd(key, `${T0 + hours * H}-${seq}`, ...fields({ ...blank(), atMs: T0 + hours * H, ...e }));
      // cad: 2 seats of "Smith, Jo" from before the window to 2h, 1 seat of bob 1h-3h, a denial at 1h.
      await add(-1, { kind: 'grant', feature: 'cad', user: 'Smith, Jo', host: 'h1', leaseId: 'L1', count: 2 });
      await add(1, { kind: 'grant', feature: 'cad', user: 'bob', host: 'h2', leaseId: 'L2' });
      await add(1, { kind: 'deny', feature: 'cad', user: 'carol', host: 'h3', reason: 'SEATS_EXHAUSTED' }, 1);
      await add(2, { kind: 'release', feature: 'cad', user: 'Smith, Jo', host: 'h1', leaseId: 'L1', count: 2 });
      await add(3, { kind: 'release', feature: 'cad', user: 'bob', host: 'h2', leaseId: 'L2' });
      // After the window: never read.
      await add(5, { kind: 'grant', feature: 'cad', user: 'late', host: 'h9', leaseId: 'L9', count: 40 });
    });

    const window = ['--from', '2026-11-01', '--to', '2026-11-01T04:00Z'];
    const env = (): Record<string, string> => ({ LICENSE_REDIS_URL: url, LICENSE_CLUSTER_ID: cluster });

    it('json: seat-hours, peak and denials of the window, from the environment (no node running)', async () => {
      const r = await ctl(['report', 'usage', ...window, '--format', 'json'], env());
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as {
        cluster: string;
        rows: { feature: string; peakSeats: number; seatHours: number; denials: number; topUsers: unknown }[];
      };
      assert.equal(out.cluster, cluster);
      // [0,1h) 2, [1,2h) 3, [2,3h) 1, [3,4h) 0: peak 3, 2+3+1 = 6 seat-hours.
      assert.deepEqual(
        out.rows.map((x) => [x.feature, x.peakSeats, x.seatHours, x.denials]),
        [['cad', 3, 6, 1]],
      );
      assert.deepEqual(out.rows[0]?.topUsers, [
        { user: 'Smith, Jo', seatHours: 4 },
        { user: 'bob', seatHours: 2 },
      ]);
    });

    it('csv by user, options on the command line: a spreadsheet-ready file', async () => {
      const r = await ctl(['report', 'usage', ...window, '--by', 'user', '--format', 'csv', '--redis-url', url, '--cluster', cluster]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.replace(/^\uFEFF/, '').split('\r\n'), [
        'from_utc,to_utc,feature,user,peak_seats,average_seats,seat_hours,grants,denials,denials_SEATS_EXHAUSTED,queued,queue_wait_p50_hours,queue_wait_p95_hours',
        '2026-11-01 00:00,2026-11-01 04:00,cad,"Smith, Jo",2,1,4,0,0,0,0,,',
        '2026-11-01 00:00,2026-11-01 04:00,cad,bob,1,0.5,2,1,0,0,0,,',
        '2026-11-01 00:00,2026-11-01 04:00,cad,carol,0,0,0,0,1,1,0,,',
        '',
      ]);
    });

    it('table by default, with a title naming the window', async () => {
      const r = await ctl(['report', 'usage', ...window, '--feature', 'cad'], env());
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage of cluster ${cluster}, feature cad, 2026-11-01 00:00 to 2026-11-01 04:00 UTC \\(4 hours\\), by feature\n`));
      assert.match(r.stdout, /\ncad\s+3\s+1\.50\s+6\.0\s+1\s+1\s+0\s+–\s+–\s+SEATS_EXHAUSTED 1\s+Smith, Jo 4\.0; bob 2\.0\n$/);
    });

    it('clear errors: a bad --from, no cluster id, a wrong password, an empty stream noted', async () => {
      const bad = await ctl(['report', 'usage', '--from', '2026-13-01'], env());
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^licensectl: --from: "2026-13-01" is not a real date/);
      const badBy = await ctl(['report', 'usage', '--by', 'team'], env());
      assert.equal(badBy.code, 1);
      assert.match(badBy.stderr, /--by <group>' argument 'team' is invalid/);
      const noCluster = await ctl(['report', 'usage', '--redis-url', url]);
      assert.equal(noCluster.code, 1);
      assert.match(noCluster.stderr, /no cluster id: pass --cluster or set LICENSE_CLUSTER_ID/);
      const wrong = await ctl(['report', 'usage', '--redis-url', `redis://reporter:nope@127.0.0.1:${server.port}`, '--cluster', cluster]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /^licensectl: redis:\/\/reporter:\*\*\*@127\.0\.0\.1:\d+: WRONGPASS/);
      assert.doesNotMatch(wrong.stderr, /nope/);
      const empty = await ctl(['report', 'usage', '--cluster', 'no-such-cluster', '--format', 'json'], env());
      assert.equal(empty.code, 0, empty.stderr);
      assert.match(empty.stderr, /note: no usage events in \{lic:no-such-cluster\}:usage/);
    });
  });
});

function blank(): Omit<UsageEvent, 'id'> {
  return { atMs: 0, kind: 'grant', feature: 'f', count: 1, user: 'u', host: 'h', clientId: 'c', sessionId: 's', leaseId: 'l', reason: '', waitMs: 0 };
}
