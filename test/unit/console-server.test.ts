import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { AdminOps } from '../../src/server/admin/admin-ops';
import { ManualClock } from '../../src/server/clock';
import { CONTENT_SECURITY_POLICY } from '../../src/server/console/http-io';
import { createSessionStore } from '../../src/server/console/sessions';
import { type ConsoleServerOptions, type RunningConsole, sessionCookieName, startConsoleServer } from '../../src/server/console/console-server';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { checkAdminToken } from '../../src/server/grpc/admin-auth';
import type { Logger } from '../../src/server/log';
import { createTestPki } from '../helpers/tls';

const TOKEN = 'admin-token-0123456789';
const TTL_MS = 8 * 3_600_000;
const BUDGET = { granted_ms: 1, consumed_ms: 0, remaining_ms: 1, blocked: false, activations: 0, episode_id: 'e1' };
const STATUS = { cluster_id: 'c1', node_id: 'a', state: 'NODE_STATE_ACTIVE' as const, epoch: 7 };

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Page files in <dir>/assets, with a secret next to them and a dotfile inside them that must never be served. */
function makeAssets(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'console-test-'));
  tempDirs.push(dir);
  const assets = path.join(dir, 'assets');
  mkdirSync(assets);
  writeFileSync(path.join(dir, 'package.json'), '{"secret": true}');
  writeFileSync(path.join(assets, 'index.html'), '<!doctype html><title>License Server Control Panel</title><script src="app.js"></script>');
  writeFileSync(path.join(assets, 'app.js'), 'console.log("page");');
  writeFileSync(path.join(assets, 'style.css'), 'body { margin: 0 }');
  writeFileSync(path.join(assets, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(path.join(assets, '.env'), 'SECRET=1');
  return assets;
}

/** An in-memory AdminOps that records each call; `failWith` makes a method throw. */
function fakeOps() {
  const calls: { method: string; req?: unknown }[] = [];
  const failWith = new Map<string, Error>();
  const record = <T>(method: string, answer: T, req?: unknown): Promise<T> => {
    calls.push(req === undefined ? { method } : { method, req });
    const err = failWith.get(method);
    return err === undefined ? Promise.resolve(answer) : Promise.reject(err);
  };
  const ops: AdminOps = {
    getStatus: () => record('getStatus', STATUS),
    listLeases: (req) => record('listLeases', { leases: [], next_page_token: '' }, req),
    requestActivationKey: () => record('requestActivationKey', { request_key: 'RQ-1' }),
    activate: (req) => record('activate', { budget: BUDGET }, req),
    checkActivationKey: (req) => record('checkActivationKey', { cluster_id: 'c1', node_id: 'b', seq: 1 }, req),
    sendActivationRequest: () => record('sendActivationRequest', { request_key: 'RQ-1', activation_key: 'AK-1', budget: BUDGET }),
    stepDown: () => record('stepDown', { stepped_down: true, state: 'NODE_STATE_STANDBY' as const }),
    getAudit: (req) => record('getAudit', { entries: [], head: '', local_head: '' }, req),
    releaseLease: (req) => record('releaseLease', { released: true }, req),
  };
  return { ops, calls, failWith, named: (m: string) => calls.filter((c) => c.method === m) };
}

function captureLogger() {
  const lines: { level: string; msg: string; meta: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, meta: Record<string, unknown> = {}) =>
      lines.push({ level, msg, meta });
  return { logger: { error: at('error'), warn: at('warn'), info: at('info') } as unknown as Logger, lines };
}

interface Harness {
  console: RunningConsole;
  url: string;
  clock: ManualClock;
  fake: ReturnType<typeof fakeOps>;
  lines: ReturnType<typeof captureLogger>['lines'];
}

async function startHarness(over: Partial<ConsoleServerOptions> = {}): Promise<Harness> {
  const clock = new ManualClock();
  const fake = fakeOps();
  const { logger, lines } = captureLogger();
  const running = await startConsoleServer({
    host: '127.0.0.1',
    port: 0,
    adminToken: TOKEN,
    ops: fake.ops,
    settings: { nodeId: 'a', clusterId: 'c1', vendorContact: 'licenses@vendor.example', sendAvailable: true, version: '1.2.3' },
    sessionTtlMs: TTL_MS,
    assetsDir: makeAssets(),
    logger,
    clock,
    ...over,
  });
  return { console: running, url: running.url, clock, fake, lines };
}

const bearer = { authorization: `Bearer ${TOKEN}` };

interface ErrorBody {
  error: { code: string; grpc_code: string; message: string };
}

async function json<T = unknown>(res: Response): Promise<T> {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return (await res.json()) as T;
}

async function signIn(url: string): Promise<{ cookie: string; csrf: string; setCookie: string; expiresAtMs: number }> {
  const res = await fetch(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) });
  assert.equal(res.status, 200);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const body = await json<{ csrf_token: string; expires_at_ms: number }>(res);
  return { cookie: setCookie.split(';')[0] ?? '', csrf: body.csrf_token, setCookie, expiresAtMs: body.expires_at_ms };
}

/** A request sent byte for byte as written (fetch would resolve `..` before sending). */
function rawGet(url: string, rawPath: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('console server over HTTP', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.console.close();
  });

  it('answers 401 without credentials and calls nothing', async () => {
    const res = await fetch(`${h.url}/api/v1/status`);
    assert.equal(res.status, 401);
    const body = await json<ErrorBody>(res);
    assert.equal(body.error.code, 'UNAUTHENTICATED');
    assert.equal(body.error.grpc_code, 'UNAUTHENTICATED');
    assert.match(body.error.message, /sign in/);
    assert.equal(h.fake.named('getStatus').length, 0);
  });

  it('serves the API to a bearer token, in the proto field names', async () => {
    const res = await fetch(`${h.url}/api/v1/status`, { headers: bearer });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), STATUS);
    const settings = await fetch(`${h.url}/api/v1/console`, { headers: bearer });
    assert.deepEqual(await json(settings), {
      node_id: 'a',
      cluster_id: 'c1',
      vendor_contact: 'licenses@vendor.example',
      send_available: true,
      version: '1.2.3',
    });
  });

  it("refuses a wrong bearer token with 403 and admin-auth's sentence", async () => {
    const res = await fetch(`${h.url}/api/v1/status`, { headers: { authorization: 'Bearer not-the-token' } });
    assert.equal(res.status, 403);
    const body = await json<ErrorBody>(res);
    assert.equal(body.error.code, 'PERMISSION_DENIED');
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer not-the-token');
    assert.throws(
      () => checkAdminToken(md, TOKEN),
      (err: LicenseError) => err.message === body.error.message,
    );
  });

  it('passes list and audit queries on as the RPC requests, and refuses bad values naming the parameter', async () => {
    const res = await fetch(`${h.url}/api/v1/leases?feature=cad&user=ann&page_size=50&page_token=t1`, { headers: bearer });
    assert.equal(res.status, 200);
    assert.deepEqual(h.fake.named('listLeases').at(-1)?.req, { feature: 'cad', user: 'ann', hostname: '', page_size: 50, page_token: 't1' });
    await fetch(`${h.url}/api/v1/audit?limit=20`, { headers: bearer });
    assert.deepEqual(h.fake.named('getAudit').at(-1)?.req, { limit: 20 });
    for (const [q, field] of [
      ['/leases?page_size=abc', 'page_size'],
      ['/leases?page_size=5001', 'page_size'],
      ['/leases?page_size=-1', 'page_size'],
      ['/leases?pagesize=10', 'pagesize'],
      ['/audit?limit=-1', 'limit'],
      ['/audit?limit=1.5', 'limit'],
    ] as const) {
      const bad = await fetch(`${h.url}/api/v1${q}`, { headers: bearer });
      assert.equal(bad.status, 400, q);
      const body = await json<ErrorBody>(bad);
      assert.equal(body.error.code, 'INVALID_ARGUMENT');
      assert.ok(body.error.message.startsWith(`${field}:`), body.error.message);
    }
  });

  it('signs in with the token: an HttpOnly SameSite=Strict cookie, not Secure over HTTP', async () => {
    const s = await signIn(h.url);
    assert.match(s.cookie, /^license_console_c1_a=[A-Za-z0-9_-]{43}$/);
    // One name per node: the other console of the pair on the same host keeps its own session.
    assert.notEqual(sessionCookieName('c1', 'a'), sessionCookieName('c1', 'b'));
    assert.match(s.setCookie, /; HttpOnly/);
    assert.match(s.setCookie, /; SameSite=Strict/);
    assert.match(s.setCookie, /; Path=\//);
    assert.doesNotMatch(s.setCookie, /Secure/);
    assert.equal(s.expiresAtMs, h.clock.now() + TTL_MS);
    assert.match(s.csrf, /^[A-Za-z0-9_-]{43}$/);
  });

  it('answers GET /session 401 without a cookie (the page then shows its sign-in)', async () => {
    const res = await fetch(`${h.url}/api/v1/session`, { headers: bearer });
    assert.equal(res.status, 401);
    assert.equal((await json<ErrorBody>(res)).error.code, 'UNAUTHENTICATED');
  });

  it('serves GETs to the cookie, and GET /session tells the page its CSRF token', async () => {
    const s = await signIn(h.url);
    const res = await fetch(`${h.url}/api/v1/status`, { headers: { cookie: s.cookie } });
    assert.equal(res.status, 200);
    const me = await fetch(`${h.url}/api/v1/session`, { headers: { cookie: s.cookie } });
    assert.deepEqual(await json(me), { csrf_token: s.csrf, expires_at_ms: s.expiresAtMs });
  });

  it("refuses a cookie POST without the CSRF token or with another session's, and runs nothing", async () => {
    const s = await signIn(h.url);
    const other = await signIn(h.url);
    const before = h.fake.named('stepDown').length;
    for (const csrf of [undefined, other.csrf, '']) {
      const res = await fetch(`${h.url}/api/v1/step-down`, {
        method: 'POST',
        headers: { cookie: s.cookie, 'content-type': 'application/json', ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }) },
        body: '{}',
      });
      assert.equal(res.status, 403);
      const body = await json<ErrorBody>(res);
      assert.equal(body.error.code, 'PERMISSION_DENIED');
      assert.equal(body.error.message, 'missing or wrong CSRF token; reload the console');
    }
    assert.equal(h.fake.named('stepDown').length, before);
    const ok = await fetch(`${h.url}/api/v1/step-down`, { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf }, body: '{}' });
    assert.equal(ok.status, 200);
    assert.deepEqual(await json(ok), { stepped_down: true, state: 'NODE_STATE_STANDBY' });
    assert.equal(h.fake.named('stepDown').length, before + 1);
  });

  it('needs no CSRF token with a bearer token, and passes the body on', async () => {
    const res = await fetch(`${h.url}/api/v1/activation/apply`, { method: 'POST', headers: bearer, body: JSON.stringify({ activation_key: 'AK-42' }) });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { budget: BUDGET });
    assert.deepEqual(h.fake.named('activate').at(-1)?.req, { activation_key: 'AK-42' });
    const empty = await fetch(`${h.url}/api/v1/activation/request`, { method: 'POST', headers: bearer });
    assert.deepEqual(await json(empty), { request_key: 'RQ-1' });
  });

  it('ends a session after its time (clock.advance): 401 "expired", and the cookie is cleared', async () => {
    const s = await signIn(h.url);
    h.clock.advance(TTL_MS - 1);
    assert.equal((await fetch(`${h.url}/api/v1/status`, { headers: { cookie: s.cookie } })).status, 200);
    h.clock.advance(1);
    const res = await fetch(`${h.url}/api/v1/status`, { headers: { cookie: s.cookie } });
    assert.equal(res.status, 401);
    const body = await json<ErrorBody>(res);
    assert.equal(body.error.code, 'UNAUTHENTICATED');
    assert.match(body.error.message, /expired/);
    assert.match(res.headers.get('set-cookie') ?? '', /^license_console_c1_a=; .*Max-Age=0/);
  });

  it('signs out with DELETE /session (CSRF token needed); the cookie then stops working', async () => {
    const s = await signIn(h.url);
    const noCsrf = await fetch(`${h.url}/api/v1/session`, { method: 'DELETE', headers: { cookie: s.cookie } });
    assert.equal(noCsrf.status, 403);
    const res = await fetch(`${h.url}/api/v1/session`, { method: 'DELETE', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf } });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), {});
    assert.match(res.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await fetch(`${h.url}/api/v1/status`, { headers: { cookie: s.cookie } })).status, 401);
  });

  it("answers a LicenseError with its gRPC code's HTTP status and {error: {code, grpc_code, message}}", async () => {
    const cases = [
      [ErrorCode.ACTIVATION_BAD_SIGNATURE, 403, 'PERMISSION_DENIED'],
      [ErrorCode.ACTIVATION_MALFORMED, 400, 'INVALID_ARGUMENT'],
      [ErrorCode.ACTIVATION_USED, 400, 'FAILED_PRECONDITION'],
      [ErrorCode.NOT_ACTIVE, 503, 'UNAVAILABLE'],
      [ErrorCode.NOT_FOUND, 404, 'NOT_FOUND'],
      [ErrorCode.LIMIT_EXCEEDED, 429, 'RESOURCE_EXHAUSTED'],
      [ErrorCode.INTERNAL, 500, 'INTERNAL'],
    ] as const;
    try {
      for (const [code, status, grpcCode] of cases) {
        h.fake.failWith.set('checkActivationKey', new LicenseError(code, `refused: ${code}; do something`));
        const res = await fetch(`${h.url}/api/v1/activation/check`, { method: 'POST', headers: bearer, body: '{"activation_key": "AK"}' });
        assert.equal(res.status, status, code);
        assert.deepEqual(await json(res), { error: { code, grpc_code: grpcCode, message: `refused: ${code}; do something` } });
      }
      h.fake.failWith.set('checkActivationKey', new TypeError('secret internals'));
      const res = await fetch(`${h.url}/api/v1/activation/check`, { method: 'POST', headers: bearer, body: '{"activation_key": "AK"}' });
      assert.equal(res.status, 500);
      const body = await json<ErrorBody>(res);
      assert.equal(body.error.code, 'INTERNAL');
      assert.doesNotMatch(body.error.message, /secret internals/);
      assert.ok(h.lines.some((l) => l.level === 'error' && String(l.meta['err']).includes('secret internals')));
    } finally {
      h.fake.failWith.delete('checkActivationKey');
    }
  });

  it('refuses a body over 64 KiB with 413, declared or streamed, and runs nothing', async () => {
    const before = h.fake.named('activate').length;
    const big = JSON.stringify({ activation_key: 'A'.repeat(70 * 1024) });
    const res = await fetch(`${h.url}/api/v1/activation/apply`, { method: 'POST', headers: bearer, body: big });
    assert.equal(res.status, 413);
    assert.equal((await json<ErrorBody>(res)).error.code, 'INVALID_ARGUMENT');
    // Chunked, no Content-Length: the server counts as it reads and stops.
    const u = new URL(h.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: u.hostname, port: u.port, path: '/api/v1/activation/apply', method: 'POST', headers: { ...bearer, 'transfer-encoding': 'chunked' } },
        (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write('{"activation_key": "');
      for (let i = 0; i < 20; i++) req.write('B'.repeat(4096));
      req.end('"}');
    });
    assert.equal(status, 413);
    assert.equal(h.fake.named('activate').length, before);
  });

  it('refuses malformed JSON and wrongly typed or unknown fields with 400, naming the problem', async () => {
    const post = (body: string) => fetch(`${h.url}/api/v1/activation/apply`, { method: 'POST', headers: bearer, body });
    const malformed = await post('{"activation_key": ');
    assert.equal(malformed.status, 400);
    const m = await json<ErrorBody>(malformed);
    assert.equal(m.error.code, 'INVALID_ARGUMENT');
    assert.match(m.error.message, /^request body is not JSON: /);
    const cases = [
      ['{"activation_key": 42}', /^activation_key: must be a string, got number/],
      ['{}', /^activation_key: required/],
      ['{"activationKey": "AK"}', /^activationKey: unknown field/],
      ['[1]', /must be a JSON object, got an array/],
    ] as const;
    for (const [body, message] of cases) {
      const res = await post(body);
      assert.equal(res.status, 400, body);
      assert.match((await json<ErrorBody>(res)).error.message, message);
    }
    assert.equal(h.fake.named('activate').filter((c) => (c.req as { activation_key: unknown }).activation_key !== 'AK-42').length, 0);
  });

  it('serves the page files with their types and the security headers', async () => {
    const index = await fetch(`${h.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await index.text(), /License Server Control Panel/);
    assert.equal(index.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(index.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(index.headers.get('strict-transport-security'), null);
    for (const [file, type] of [
      ['app.js', /^text\/javascript/],
      ['style.css', /^text\/css/],
      ['logo.svg', /^image\/svg\+xml/],
    ] as const) {
      const res = await fetch(`${h.url}/${file}`);
      assert.equal(res.status, 200, file);
      assert.match(res.headers.get('content-type') ?? '', type);
    }
    const etag = index.headers.get('etag');
    assert.ok(etag);
    assert.equal((await fetch(`${h.url}/`, { headers: { 'if-none-match': etag } })).status, 304);
    const api = await fetch(`${h.url}/api/v1/status`);
    assert.equal(api.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(api.headers.get('cache-control'), 'no-store');
    assert.equal(api.headers.get('x-content-type-options'), 'nosniff');
  });

  it('never serves a file outside the assets directory, nor a dotfile: plain 404', async () => {
    for (const p of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/%2e%2e/',
      '/..%2fpackage.json',
      '/%2E%2E%2Fpackage.json',
      '/.env',
      '/assets/../.env',
      '/%00',
      '/..\\package.json',
      '/nope.js',
      '/index.html/',
    ]) {
      const res = await rawGet(h.url, p);
      assert.equal(res.status, 404, p);
      assert.doesNotMatch(res.body, /secret|SECRET/, p);
    }
    const viaFetch = await fetch(`${h.url}/../package.json`);
    assert.equal(viaFetch.status, 404);
    assert.match(viaFetch.headers.get('content-type') ?? '', /^text\/plain/);
  });

  it('answers unknown API routes 404 and wrong methods 405 with Allow, as JSON', async () => {
    const unknown = await fetch(`${h.url}/api/v1/nope`, { headers: bearer });
    assert.equal(unknown.status, 404);
    assert.equal((await json<ErrorBody>(unknown)).error.code, 'NOT_FOUND');
    const wrong = await fetch(`${h.url}/api/v1/status`, { method: 'POST', headers: bearer, body: '{}' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET');
    assert.match((await json<ErrorBody>(wrong)).error.message, /POST is not allowed on \/api\/v1\/status/);
  });

  it('refuses a cross-origin POST (Origin host differs from Host) and runs nothing; same origin passes', async () => {
    const before = h.fake.named('stepDown').length;
    for (const origin of ['http://evil.example', 'null', `https://${new URL(h.url).host}`]) {
      const res = await fetch(`${h.url}/api/v1/step-down`, { method: 'POST', headers: { ...bearer, origin }, body: '{}' });
      assert.equal(res.status, 403, origin);
      assert.match((await json<ErrorBody>(res)).error.message, /cross-origin request refused/);
    }
    assert.equal(h.fake.named('stepDown').length, before);
    const same = await fetch(`${h.url}/api/v1/step-down`, { method: 'POST', headers: { ...bearer, origin: h.url }, body: '{}' });
    assert.equal(same.status, 200);
  });

  it('logs each state-changing call once (never the token or the key), and warns on refused sign-ins', async () => {
    const from = h.lines.length;
    await fetch(`${h.url}/api/v1/activation/apply`, { method: 'POST', headers: bearer, body: JSON.stringify({ activation_key: 'AK-SECRET-KEY' }) });
    await fetch(`${h.url}/api/v1/session`, { method: 'POST', body: JSON.stringify({ token: 'wrong-token-guess' }) });
    const lines = h.lines.slice(from);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l.meta['path'], l.meta['outcome']]),
      [
        ['info', 'console api call', '/api/v1/activation/apply', 'OK'],
        ['warn', 'console sign-in refused', '/api/v1/session', 'PERMISSION_DENIED'],
      ],
    );
    assert.equal(lines[0]?.meta['remote'], '127.0.0.1');
    const text = JSON.stringify(h.lines);
    for (const secret of [TOKEN, 'AK-SECRET-KEY', 'wrong-token-guess']) assert.ok(!text.includes(secret), secret);
  });
});

describe('console sign-in limit', () => {
  it('allows 10 sign-in attempts a minute per address, then 429 until the minute has passed', async () => {
    const h = await startHarness();
    try {
      const attempt = (token: string) => fetch(`${h.url}/api/v1/session`, { method: 'POST', body: JSON.stringify({ token }) });
      for (let i = 0; i < 9; i++) assert.equal((await attempt('wrong')).status, 403);
      assert.equal((await attempt(TOKEN)).status, 200);
      const limited = await attempt(TOKEN);
      assert.equal(limited.status, 429);
      const body = await json<ErrorBody>(limited);
      assert.equal(body.error.code, 'LIMIT_EXCEEDED');
      assert.equal(body.error.grpc_code, 'RESOURCE_EXHAUSTED');
      assert.equal(limited.headers.get('retry-after'), '60');
      h.clock.advance(60_000);
      assert.equal((await attempt(TOKEN)).status, 200);
    } finally {
      await h.console.close();
    }
  });

  it('does not count bearer calls as sign-ins', async () => {
    const h = await startHarness();
    try {
      for (let i = 0; i < 15; i++) assert.equal((await fetch(`${h.url}/api/v1/status`, { headers: bearer })).status, 200);
      assert.equal((await fetch(`${h.url}/api/v1/session`, { method: 'POST', body: JSON.stringify({ token: TOKEN }) })).status, 200);
    } finally {
      await h.console.close();
    }
  });
});

describe('console server over HTTPS', () => {
  const pki = createTestPki('console');
  const server = pki.issue('node-a');
  const client = pki.issue('operator');
  const ca = readFileSync(pki.caFile);
  let h: Harness;
  before(async () => {
    h = await startHarness({ tls: { ...server, caFile: pki.caFile } });
  });
  after(async () => {
    await h.console.close();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  /** node:https, since fetch cannot be told to trust a private CA without an extra package. */
  function request(
    method: string,
    apiPath: string,
    opts: { body?: string; cert?: { certFile: string; keyFile: string } } = {},
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const u = new URL(h.url);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: u.port,
          path: apiPath,
          method,
          ca,
          ...(opts.cert ? { cert: readFileSync(opts.cert.certFile), key: readFileSync(opts.cert.keyFile) } : {}),
          agent: false,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  it('answers on an https:// URL with HSTS and a Secure cookie', async () => {
    assert.match(h.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const page = await request('GET', '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['strict-transport-security']), /^max-age=\d+/);
    const res = await request('POST', '/api/v1/session', { body: JSON.stringify({ token: TOKEN }) });
    assert.equal(res.status, 200);
    assert.match(res.headers['strict-transport-security'] ?? '', /^max-age=\d+/);
    const setCookie = res.headers['set-cookie']?.[0] ?? '';
    assert.match(setCookie, /; HttpOnly/);
    assert.match(setCookie, /; SameSite=Strict/);
    assert.match(setCookie, /; Secure/);
  });

  it('signs in a client certificate signed by LICENSE_TLS_CA with an empty body; without one, {} is 401', async () => {
    const withCert = await request('POST', '/api/v1/session', { body: '{}', cert: client });
    assert.equal(withCert.status, 200);
    assert.match(withCert.headers['set-cookie']?.[0] ?? '', /^license_console_c1_a=/);
    const without = await request('POST', '/api/v1/session', { body: '{}' });
    assert.equal(without.status, 401);
    assert.match(without.body, /client certificate/);
  });

  it('does not let a certificate from another CA sign in', async () => {
    const rogue = createTestPki('rogue');
    tempDirs.push(rogue.dir);
    const res = await request('POST', '/api/v1/session', { body: '{}', cert: rogue.issue('mallory') });
    assert.equal(res.status, 401);
  });
});

describe('console session store', () => {
  it('keeps at most maxSessions, forgetting the oldest, and purges expired ones', () => {
    const clock = new ManualClock();
    const store = createSessionStore({ ttlMs: 1_000, clock, maxSessions: 3 });
    const first = store.create();
    clock.advance(100);
    const ids = [store.create().id, store.create().id, store.create().id];
    assert.equal(store.size, 3);
    assert.equal(store.get(first.id), undefined);
    for (const id of ids) assert.ok(store.get(id));
    clock.advance(1_000);
    assert.equal(store.get(ids[0] ?? ''), undefined);
    assert.equal(store.size, 0);
  });

  it('decides expiry on the monotonic clock: stepping the wall clock does not end a session', () => {
    const clock = new ManualClock();
    const store = createSessionStore({ ttlMs: 1_000, clock });
    const { id } = store.create();
    clock.setWall(clock.now() + 10_000);
    assert.ok(store.get(id));
  });
});
