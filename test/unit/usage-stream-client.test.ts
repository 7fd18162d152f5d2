import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UsageEvent } from '../../src/server/usage/usage-event';
import { parseRedisUrl, ReplyScanner, xrangePage } from '../../src/server/usage/usage-stream-client';

/** RESP2 bulk string / array, as Redis writes them. */
const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const array = (items: readonly string[]): string => `*${items.length}\r\n${items.join('')}`;
const entry = (id: string, fields: readonly string[]): string => array([bulk(id), array(fields.map(bulk))]);

const REPLY = array([
  entry('1000-0', ['t', '1000', 'e', 'grant', 'f', 'cad', 'n', '2', 'u', 'Zoë, "Z"', 'h', 'h1', 'c', 'c1', 's', 's1', 'l', 'L1', 'r', '', 'w', '0']),
  // An odd number of fields (Redis never sends one): the lone name is ignored, the next entry is intact.
  entry('1001-0', ['e', 'deny', 'f', 'cad', 'r', 'SEATS_EXHAUSTED', 'w']),
  entry('1002-5', ['e', 'queue', 'f', 'sim', 'w', '\r\n$1\r\n']),
]);

const feed = (reply: Buffer, lastTop: number): { events: UsageEvent[]; page: ReturnType<typeof xrangePage> } => {
  const page = xrangePage(reply, lastTop);
  const events: UsageEvent[] = [];
  page.feed({ add: (e) => void events.push(e) });
  return { events, page };
};

describe('usage stream client: replies as bytes', () => {
  it('a reply split at any byte comes out once, whole, with its last entry found', () => {
    const bytes = Buffer.from(REPLY);
    for (let cut = 1; cut < bytes.length; cut++) {
      const s = new ReplyScanner();
      s.push(bytes.subarray(0, cut));
      assert.equal(s.next(), undefined, `complete after only ${cut} of ${bytes.length} bytes`);
      s.push(bytes.subarray(cut));
      const r = s.next();
      assert.ok(r, `nothing after the rest, cut at ${cut}`);
      assert.ok(r.reply.equals(bytes), `cut at ${cut}`);
      assert.equal(feed(r.reply, r.lastTop).page.lastId, '1002-5');
      assert.equal(s.next(), undefined);
    }
  });

  it('byte by byte, and two replies in one read', () => {
    const s = new ReplyScanner();
    const bytes = Buffer.from(REPLY + REPLY + '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n' + '*0\r\n');
    const out: Buffer[] = [];
    for (const b of bytes) {
      s.push(Buffer.from([b]));
      for (let r = s.next(); r; r = s.next()) out.push(r.reply);
    }
    const together = new ReplyScanner();
    together.push(bytes);
    for (let r = together.next(); r; r = together.next()) out.push(r.reply);
    assert.deepEqual(
      out.slice(4).map((b) => b.toString()),
      out.slice(0, 4).map((b) => b.toString()),
    );
    assert.deepEqual(
      out.slice(0, 4).map((b) => b.toString()),
      [REPLY, REPLY, '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n', '*0\r\n'],
    );
  });

  it('decodes the events as parseUsageEntry would', () => {
    const s = new ReplyScanner();
    s.push(Buffer.from(REPLY));
    const r = s.next();
    assert.ok(r);
    const { events, page } = feed(r.reply, r.lastTop);
    assert.equal(page.entries, 3);
    const base = { count: 0, user: '', host: '', clientId: '', sessionId: '', leaseId: '', reason: '', waitMs: 0 };
    assert.deepEqual(events, [
      {
        ...base,
        id: '1000-0',
        atMs: 1000,
        kind: 'grant',
        feature: 'cad',
        count: 2,
        user: 'Zoë, "Z"',
        host: 'h1',
        clientId: 'c1',
        sessionId: 's1',
        leaseId: 'L1',
      },
      { ...base, id: '1001-0', atMs: 1001, kind: 'deny', feature: 'cad', reason: 'SEATS_EXHAUSTED' },
      // A value that is not a number counts as 0, as Number() and parseUsageEntry have it.
      { ...base, id: '1002-5', atMs: 1002, kind: 'queue', feature: 'sim' },
    ]);
    const empty = new ReplyScanner();
    empty.push(Buffer.from('*0\r\n'));
    const e = empty.next();
    assert.ok(e);
    assert.deepEqual([feed(e.reply, e.lastTop).page.entries, feed(e.reply, e.lastTop).page.lastId], [0, '']);
  });

  it('redis URLs: user, password (percent-encoded), db, TLS, IPv6', () => {
    assert.deepEqual(parseRedisUrl('redis://127.0.0.1'), { host: '127.0.0.1', port: 6379, tls: false, username: '', password: '', db: 0 });
    assert.deepEqual(parseRedisUrl('rediss://rep:p%40ss%2Fw@redis.example.com:6380/2'), {
      host: 'redis.example.com',
      port: 6380,
      tls: true,
      username: 'rep',
      password: 'p@ss/w',
      db: 2,
    });
    assert.equal(parseRedisUrl('redis://[::1]:7000').host, '::1');
    assert.throws(() => parseRedisUrl('redis://h/x'), /path must be a database number/);
    assert.throws(() => parseRedisUrl('127.0.0.1:6379'), /unsupported scheme|not a URL/);
  });
});
