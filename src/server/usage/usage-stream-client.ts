/**
 * A read-only Redis connection that does one thing, XRANGE pages of a usage stream, fast: what
 * `licensectl report usage` reads with.
 *
 * Why not ioredis: its reply decoder makes a Buffer and then a string of every bulk string of a
 * reply, ~0.7 µs each; an event is 23 of them (id, 11 names, 11 values), so a million events cost
 * ~17 s of this process before any report is computed (npm run bench -- usage). Here a page's
 * reply is kept as bytes, field names are compared as bytes, numbers are read from the digits,
 * and only the values an event holds become strings: ~1-2 µs an event, and Redis's own XRANGE
 * is the bound. The events are exactly what XRANGE + parseUsageEntry give, odd values included
 * (test/integration/usage-reader.test.ts checks random entries both ways).
 *
 * RESP2, one page asked for ahead at most, no reconnects (a report that loses its connection
 * fails and is run again), no Sentinel or Cluster discovery (it is given the address of the
 * master or of a replica). redis:// and rediss:// URLs, with user, password and db.
 */
import net from 'node:net';
import tls from 'node:tls';
import { type UsageEvent, type UsageEventKind, USAGE_EVENT_KINDS } from './usage-event';
import type { UsagePage, UsagePages, UsageSink } from './usage-reader';

/** Where and how to connect. */
export interface UsageStreamOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://...` (TLS). */
  readonly url: string;
  /** CA to verify a rediss:// server with instead of the system roots. */
  readonly tlsCa?: Buffer;
  readonly connectTimeoutMs?: number;
  /** Fail when Redis sends nothing for this long while an answer is due. */
  readonly replyTimeoutMs?: number;
}

export interface UsageStreamConnection extends UsagePages {
  close(): void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_REPLY_TIMEOUT_MS = 60_000;
const INITIAL_BUFFER = 64 * 1024;
const CR = 13;
const STAR = 42;
const DOLLAR = 36;
const PLUS = 43;
const MINUS = 45;
const COLON = 58;
/** Field names as bytes (usage-event.ts). */
const F = { t: 116, e: 101, f: 102, n: 110, u: 117, h: 104, c: 99, s: 115, l: 108, r: 114, w: 119 } as const;
const KINDS: ReadonlySet<string> = new Set(USAGE_EVENT_KINDS);

/**
 * A Redis error reply (`-ERR ...`, `WRONGPASS ...`) in Redis's own words: what ioredis calls a
 * ReplyError. Not a LicenseError: it never leaves the CLI.
 */
export class RedisReplyError extends Error {
  override readonly name = 'RedisReplyError';
}

interface Pending {
  readonly resolve: (reply: Buffer, lastTop: number) => void;
  readonly reject: (err: Error) => void;
}

/** A complete reply, as bytes: `buf[0]` is its type byte. */
const isError = (buf: Buffer): boolean => buf[0] === MINUS;
const errorText = (buf: Buffer): string => buf.toString('utf8', 1, buf.indexOf(CR));

function encode(args: readonly string[]): Buffer {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return Buffer.from(out);
}

/**
 * Bytes in, complete replies out (exported for its tests). Scanning is resumable (the position
 * and the arrays still open are kept), so a 2 MB page arriving in 64 KB chunks is scanned once,
 * not once per chunk.
 */
export class ReplyScanner {
  private buf = Buffer.allocUnsafe(INITIAL_BUFFER);
  private len = 0;
  private pos = 0;
  /** Elements still to come in each array open at the scan position. */
  private readonly open: number[] = [];
  /** Where the latest element of the top-level array starts: the last entry of a page, for its id. */
  private lastTop = -1;

  push(chunk: Buffer): void {
    if (this.len + chunk.length > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + chunk.length));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    chunk.copy(this.buf, this.len);
    this.len += chunk.length;
  }

  /** The next complete reply and where its last top-level element starts (-1: none), or undefined until more bytes come. */
  next(): { reply: Buffer; lastTop: number } | undefined {
    const b = this.buf;
    const len = this.len;
    let pos = this.pos;
    for (;;) {
      if (pos >= len) break;
      const start = pos;
      if (this.open.length === 1) this.lastTop = start;
      // A header line: type byte, a number or text, CRLF. Not Buffer.indexOf: bytes past len are garbage.
      let cr = start + 1;
      while (cr < len && b[cr] !== CR) cr++;
      if (cr + 1 >= len) break;
      const type = b[start];
      let done: boolean;
      if (type === PLUS || type === MINUS || type === COLON) {
        pos = cr + 2;
        done = true;
      } else if (type === DOLLAR || type === STAR) {
        const n = readInt(b, start + 1, cr);
        if (type === DOLLAR) {
          if (n >= 0 && cr + 2 + n + 2 > len) break;
          pos = n >= 0 ? cr + 2 + n + 2 : cr + 2;
          done = true;
        } else {
          pos = cr + 2;
          done = n <= 0;
          if (!done) this.open.push(n);
        }
      } else {
        throw new Error(`Redis protocol error: unexpected byte ${type ?? '?'} in a reply`);
      }
      if (!done) continue;
      let top = this.open.length - 1;
      while (top >= 0) {
        const left = (this.open[top] ?? 1) - 1;
        if (left > 0) {
          this.open[top] = left;
          break;
        }
        this.open.pop();
        top--;
      }
      if (top >= 0) continue;
      // A whole reply: hand its bytes over and keep the rest (the start of the next page, if any) in a new buffer.
      const reply = b.subarray(0, pos);
      const lastTop = this.lastTop;
      const rest = len - pos;
      this.buf = Buffer.allocUnsafe(Math.max(INITIAL_BUFFER, rest * 2));
      b.copy(this.buf, 0, pos, len);
      this.len = rest;
      this.pos = 0;
      this.lastTop = -1;
      return { reply, lastTop };
    }
    this.pos = pos;
    return undefined;
  }
}

/** A whole number from ASCII digits (with an optional '-'). */
function readInt(b: Buffer, from: number, to: number): number {
  let i = from;
  const neg = b[i] === MINUS;
  if (neg) i++;
  let n = 0;
  for (; i < to; i++) n = n * 10 + ((b[i] ?? 48) - 48);
  return neg ? -n : n;
}

/** Reads the parts of one XRANGE reply; `s`..`e` is the latest bulk string's content. */
class Cursor {
  p = 0;
  s = 0;
  e = 0;
  constructor(readonly b: Buffer) {}

  /** A header of the given type; returns its number. */
  header(type: number): number {
    const b = this.b;
    if (b[this.p] !== type) throw new Error(`Redis protocol error: expected '${String.fromCharCode(type)}' in an XRANGE reply`);
    let cr = this.p + 1;
    while (cr < b.length && b[cr] !== CR) cr++;
    const n = readInt(b, this.p + 1, cr);
    this.p = cr + 2;
    return n;
  }

  bulk(): void {
    const n = this.header(DOLLAR);
    this.s = this.p;
    this.e = this.p + Math.max(0, n);
    this.p = n >= 0 ? this.e + 2 : this.p;
  }

  text(): string {
    return this.s === this.e ? '' : this.b.toString('utf8', this.s, this.e);
  }

  /** parseUsageEntry's number: digits read directly; anything else as Number() reads it, non-finite as 0. */
  num(): number {
    const b = this.b;
    const len = this.e - this.s;
    if (len > 0 && len <= 15) {
      let n = 0;
      let i = this.s;
      for (; i < this.e; i++) {
        const d = (b[i] ?? 0) - 48;
        if (d < 0 || d > 9) break;
        n = n * 10 + d;
      }
      if (i === this.e) return n;
    }
    const v = Number(this.text());
    return Number.isFinite(v) ? v : 0;
  }
}

/** One page of XRANGE as bytes: the count and last id read at once, the events when fed (exported for its tests). */
export function xrangePage(reply: Buffer, lastTop: number): UsagePage {
  const head = new Cursor(reply);
  const entries = head.header(STAR);
  let lastId = '';
  if (entries > 0 && lastTop >= 0) {
    const last = new Cursor(reply);
    last.p = lastTop;
    last.header(STAR);
    last.bulk();
    lastId = last.text();
  }
  const firstEntry = head.p;
  return {
    entries: Math.max(0, entries),
    lastId,
    feed(sink: UsageSink): number {
      const c = new Cursor(reply);
      c.p = firstEntry;
      let events = 0;
      for (let i = 0; i < entries; i++) {
        if (c.header(STAR) !== 2) throw new Error('Redis protocol error: an XRANGE entry is not [id, fields]');
        c.bulk();
        const id = c.text();
        const fields = c.header(STAR);
        let t = 0;
        let kind = '';
        let feature = '';
        let count = 0;
        let user = '';
        let host = '';
        let clientId = '';
        let sessionId = '';
        let leaseId = '';
        let reason = '';
        let waitMs = 0;
        for (let j = 0; j < fields; j += 2) {
          c.bulk();
          // One-letter names only; like parseUsageEntry, a name seen twice keeps its last value.
          const name = c.e - c.s === 1 ? (reply[c.s] ?? 0) : 0;
          if (j + 1 >= fields) break;
          c.bulk();
          switch (name) {
            case F.t:
              t = c.num();
              break;
            case F.e:
              kind = c.text();
              break;
            case F.f:
              feature = c.text();
              break;
            case F.n:
              count = c.num();
              break;
            case F.u:
              user = c.text();
              break;
            case F.h:
              host = c.text();
              break;
            case F.c:
              clientId = c.text();
              break;
            case F.s:
              sessionId = c.text();
              break;
            case F.l:
              leaseId = c.text();
              break;
            case F.r:
              reason = c.text();
              break;
            case F.w:
              waitMs = c.num();
              break;
          }
        }
        if (!KINDS.has(kind)) continue;
        const e: UsageEvent = {
          id,
          atMs: t || Number(id.split('-')[0]) || 0,
          kind: kind as UsageEventKind,
          feature,
          count,
          user,
          host,
          clientId,
          sessionId,
          leaseId,
          reason,
          waitMs,
        };
        events++;
        sink.add(e);
      }
      return events;
    },
  };
}

interface Target {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly username: string;
  readonly password: string;
  readonly db: number;
}

/** The parts of a redis:// URL this reader uses; throws naming what is wrong (never the password). */
export function parseRedisUrl(url: string): Target {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('not a URL: want redis://[user:password@]host[:port][/db] or rediss://...');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`unsupported scheme ${u.protocol} (want redis:// or rediss://)`);
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw new Error(`the path must be a database number, got "/${path}"`);
  const port = u.port === '' ? 6379 : Number(u.port);
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port,
    tls: u.protocol === 'rediss:',
    username: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    db: path === '' ? 0 : Number(path),
  };
}

/** Connects, authenticates and selects the database; the connection then answers `range` calls. */
export async function connectUsageStream(opts: UsageStreamOptions): Promise<UsageStreamConnection> {
  const target = parseRedisUrl(opts.url);
  const where = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const replyTimeoutMs = opts.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;

  const socket: net.Socket = target.tls
    ? tls.connect({
        host: target.host,
        port: target.port,
        ...(net.isIP(target.host) === 0 ? { servername: target.host } : {}),
        ...(opts.tlsCa ? { ca: opts.tlsCa } : {}),
      })
    : net.connect({ host: target.host, port: target.port });
  socket.setNoDelay(true);

  const scanner = new ReplyScanner();
  const queue: Pending[] = [];
  let failure: Error | undefined;

  const fail = (err: Error): void => {
    failure ??= err;
    for (const p of queue.splice(0)) p.reject(failure);
    socket.destroy();
  };

  socket.on('data', (chunk: Buffer) => {
    scanner.push(chunk);
    try {
      for (let r = scanner.next(); r !== undefined; r = scanner.next()) {
        const p = queue.shift();
        if (p === undefined) throw new Error('Redis protocol error: a reply nobody asked for');
        p.resolve(r.reply, r.lastTop);
      }
    } catch (err) {
      fail(err instanceof Error ? err : new Error(String(err)));
    }
    if (queue.length === 0) socket.setTimeout(0);
  });
  socket.on('timeout', () => fail(new Error(`Redis at ${where} sent nothing for ${replyTimeoutMs} ms`)));
  socket.on('error', (err) => fail(new Error(`Redis at ${where}: ${err.message}`)));
  socket.on('close', () => fail(new Error(`Redis at ${where} closed the connection`)));

  const send = (args: readonly string[]): Promise<{ reply: Buffer; lastTop: number }> => {
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => {
      queue.push({
        resolve: (reply, lastTop) => {
          if (isError(reply)) reject(new RedisReplyError(errorText(reply)));
          else resolve({ reply, lastTop });
        },
        reject,
      });
      socket.setTimeout(replyTimeoutMs);
      socket.write(encode(args));
    });
  };

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`cannot connect to Redis at ${where} within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onError = (err: Error): void => done(failure ?? err);
    const onClose = (): void => done(failure ?? new Error(`Redis at ${where} closed the connection`));
    socket.once(target.tls ? 'secureConnect' : 'connect', () => done());
    socket.once('error', onError);
    socket.once('close', onClose);
  });
  try {
    if (target.password !== '') await send(target.username !== '' ? ['AUTH', target.username, target.password] : ['AUTH', target.password]);
    if (target.db !== 0) await send(['SELECT', String(target.db)]);
  } catch (err) {
    socket.destroy();
    throw err;
  }

  return {
    async range(key, start, end, count) {
      const { reply, lastTop } = await send(['XRANGE', key, start, end, 'COUNT', String(count)]);
      return xrangePage(reply, lastTop);
    },
    close() {
      failure ??= new Error('connection closed');
      socket.destroy();
    },
  };
}
