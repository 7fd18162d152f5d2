/**
 * The web console in a real browser against a fake node: the built page
 * (dist/console-web, `npm run build`) served with the node's CSP, and a fake /api/v1/
 * that answers in the shapes of docs/CONSOLE.md (typed with the generated proto types).
 * The real console server replaces the fake in the end-to-end test.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Budget__Output } from '../../src/contract/generated/license/v1/Budget';
import type { CheckActivationKeyResponse__Output } from '../../src/contract/generated/license/v1/CheckActivationKeyResponse';
import type { GetAuditResponse__Output } from '../../src/contract/generated/license/v1/GetAuditResponse';
import type { GetStatusResponse__Output } from '../../src/contract/generated/license/v1/GetStatusResponse';
import type { LeaseInfo__Output } from '../../src/contract/generated/license/v1/LeaseInfo';
import type { ListLeasesResponse__Output } from '../../src/contract/generated/license/v1/ListLeasesResponse';
import type { ReleaseLeaseResponse__Output } from '../../src/contract/generated/license/v1/ReleaseLeaseResponse';
import type { SendActivationRequestResponse__Output } from '../../src/contract/generated/license/v1/SendActivationRequestResponse';
import type { StepDownResponse__Output } from '../../src/contract/generated/license/v1/StepDownResponse';
import type * as Console from '../../src/console-web/types';
import { findChromium, launchBrowser } from '../helpers/browser';

const WEB_DIR = path.resolve('dist/console-web');
const SHOTS = path.resolve('test-output/console');
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const TOKEN = 'console-test-token-0123456789';
const XSS_CLIENT = '<img src=x onerror=alert(1)>';
const HOUR = 3_600_000;
const BUDGET_MS = 72 * HOUR;
const EPISODE = 'ep-20261101-7f3a';
const REQUEST_KEY = `LRQ1.${Buffer.from(JSON.stringify({ cluster_id: 'acme', node_id: 'node-b', episode_id: EPISODE, seq: 1 })).toString('base64url')}`;
const GOOD_KEY = `LAK1.${Buffer.from(JSON.stringify({ node_id: 'node-b', episode_id: EPISODE, seq: 1, granted_ms: BUDGET_MS })).toString('base64url')}.c2lnbmF0dXJl`;
const TAMPERED_KEY = GOOD_KEY.replace('LAK1.e', 'LAK1.f');
const REDIS_TOPOLOGY = 'sentinel licmaster via s1:26379,s2:26379 (writes confirmed by 1 replica)';
const POLICY_DIGEST = '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaa8a4';

// The console's own types must accept what the proto says the API answers (a drift here is a compile error).
type Accepts<Console, Proto extends Console> = Proto;
export type _ConsoleTypesMatchTheProto = [
  Accepts<Console.Status, GetStatusResponse__Output>,
  Accepts<Console.LeaseInfo, LeaseInfo__Output>,
  Accepts<Console.CheckActivationKeyResponse, CheckActivationKeyResponse__Output>,
  Accepts<Console.GetAuditResponse, GetAuditResponse__Output>,
  Accepts<Console.StepDownResponse, StepDownResponse__Output>,
  Accepts<Console.ReleaseLeaseResponse, ReleaseLeaseResponse__Output>,
];

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Call {
  method: string;
  path: string;
  csrf: string | undefined;
  body: unknown;
}

/** A node's console as the page sees it: static files plus a fake /api/v1/ with mutable state. */
class FakeNode {
  readonly sessions = new Map<string, string>(); // cookie value -> csrf token
  readonly calls: Call[] = [];
  state: 'standby' | 'failover' | 'blocked' = 'standby';
  failoverSince = 0;
  budgetGranted = BUDGET_MS;
  /** Charged before the current stretch of serving (failoverSince on). */
  consumedBefore = 2_000;
  /** The peer's seat policy digest and this node's policy file error, as heartbeats and the watch report them. */
  peerPolicyDigest = POLICY_DIGEST;
  policyError = '';
  activations = 0;
  /** What the peer's last heartbeat says of its Redis. */
  peerStoreOk = true;
  /** Bytes of every static file served, by path (the page's first-load weight). */
  readonly served = new Map<string, number>();
  leases: LeaseInfo__Output[] = [];
  port = 0;
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  budget(): Budget__Output {
    const charging = this.state === 'failover' ? Date.now() - this.failoverSince : 0;
    const consumed = this.state === 'blocked' ? this.budgetGranted : Math.min(this.budgetGranted, this.consumedBefore + charging);
    return {
      granted_ms: this.budgetGranted,
      consumed_ms: consumed,
      remaining_ms: this.budgetGranted - consumed,
      blocked: this.state === 'blocked',
      activations: this.activations,
      episode_id: this.state === 'standby' ? '' : EPISODE,
    };
  }

  status(): GetStatusResponse__Output {
    const serving = this.state !== 'standby';
    return {
      cluster_id: 'acme',
      node_id: 'node-b',
      role: 'ROLE_REDUNDANT',
      state: this.state === 'standby' ? 'NODE_STATE_STANDBY' : this.state === 'failover' ? 'NODE_STATE_FAILOVER_ACTIVE' : 'NODE_STATE_FAILOVER_BLOCKED',
      epoch: serving ? 8 : 0,
      leader_node_id: serving ? 'node-b' : 'node-a',
      budget: this.budget(),
      features: [
        { name: 'cad-pro', seats_total: 10, seats_in_use: this.inUse('cad-pro'), expires_at_ms: Date.parse('2027-12-31T00:00:00Z'), queue_length: 2 },
        { name: 'solver', seats_total: 50, seats_in_use: this.inUse('solver'), expires_at_ms: 0, queue_length: 0 },
      ],
      leader_addr: serving ? '10.0.0.12:7400' : '10.0.0.11:7400',
      advertise_addr: '10.0.0.12:7400',
      peer: {
        node_id: 'node-a',
        addr: '10.0.0.11:7400',
        role: 'ROLE_PRIMARY',
        state: 'NODE_STATE_ACTIVE',
        epoch: 7,
        last_heartbeat_ms: serving ? this.failoverSince - 800 : Date.now() - 400,
        reachable: !serving,
        error: serving ? 'connect ECONNREFUSED 10.0.0.11:7400' : '',
        license_digest: 'sha256:4f1c',
        clock_skew_ms: 3,
        license_serial: 3,
        console_url: 'http://node-a.example:7480/',
        store_ok: this.peerStoreOk,
        policy_digest: this.peerPolicyDigest,
      },
      license_digest: 'sha256:4f1c',
      store_ok: true,
      highest_epoch: serving ? 8 : 7,
      lease_valid_for_ms: serving ? 4_200 : 0,
      version: '0.2.0',
      license_serial: 3,
      license_error: '',
      console_url: 'http://node-b.example:7480/',
      redis_topology: REDIS_TOPOLOGY,
      policy_digest: POLICY_DIGEST,
      policy_error: this.policyError,
    };
  }

  private inUse(feature: string): number {
    return this.leases.filter((l) => l.feature === feature).reduce((n, l) => n + l.count, 0);
  }

  private audit(): GetAuditResponse__Output {
    if (this.state === 'standby') return { entries: [], head: '', local_head: '' };
    const e = (seq: number, event: string, detail: Record<string, number | string>) =>
      JSON.stringify({
        seq,
        at_ms: this.failoverSince + seq * 1000,
        node_id: 'node-b',
        episode_id: EPISODE,
        event,
        detail,
        prev: `h${seq - 1}`,
        hash: `h${seq}`,
      });
    const entries = [e(1, 'episode_opened', { granted_ms: BUDGET_MS })];
    if (this.state === 'blocked') entries.push(e(2, 'blocked', { consumed_ms: BUDGET_MS, granted_ms: BUDGET_MS }));
    if (this.activations > 0) entries.push(e(3, 'activation_applied', { key_id: 'k-9d2e', seq: 1, extension_ms: BUDGET_MS, granted_ms: this.budgetGranted }));
    return { entries, head: `${entries.length}:h${entries.length}`, local_head: `${entries.length}:h${entries.length}` };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    const url = new URL(req.url ?? '/', this.url);
    if (!url.pathname.startsWith('/api/')) return this.serveStatic(url.pathname, res);
    res.setHeader('Cache-Control', 'no-store');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: Record<string, unknown> = {};
    if (text) {
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return fail(res, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'request body is not JSON');
      }
    }
    const csrf = req.headers['x-csrf-token'] as string | undefined;
    const method = req.method ?? 'GET';
    this.calls.push({ method, path: url.pathname, csrf, body });
    const cookie = /(?:^|;\s*)license_console=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    const sessionCsrf = cookie ? this.sessions.get(cookie) : undefined;
    const route = `${method} ${url.pathname}`;

    if (route === 'POST /api/v1/session') {
      if (body['token'] !== TOKEN)
        return fail(res, 403, 'PERMISSION_DENIED', 'PERMISSION_DENIED', 'wrong admin token: use the LICENSE_ADMIN_TOKEN of this node');
      const id = randomBytes(16).toString('hex');
      const token = randomBytes(16).toString('hex');
      this.sessions.set(id, token);
      res.setHeader('Set-Cookie', `license_console=${id}; HttpOnly; SameSite=Strict; Path=/`);
      return json(res, { csrf_token: token, expires_at_ms: Date.now() + 8 * HOUR });
    }
    if (sessionCsrf === undefined) {
      return fail(res, 401, 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'console session expired or unknown: sign in again');
    }
    if (method !== 'GET' && csrf !== sessionCsrf) {
      return fail(res, 403, 'PERMISSION_DENIED', 'PERMISSION_DENIED', 'missing or wrong X-CSRF-Token: nothing changed');
    }
    switch (route) {
      case 'GET /api/v1/session':
        return json(res, { csrf_token: sessionCsrf, expires_at_ms: Date.now() + 8 * HOUR });
      case 'DELETE /api/v1/session':
        if (cookie) this.sessions.delete(cookie);
        return json(res, {});
      case 'GET /api/v1/console':
        return json(res, { node_id: 'node-b', cluster_id: 'acme', vendor_contact: 'licenses@vendor.example', send_available: true, version: '0.2.0' });
      case 'GET /api/v1/status':
        return json(res, this.status());
      case 'GET /api/v1/leases': {
        const q = url.searchParams;
        const matching = this.leases.filter(
          (l) =>
            (!q.get('feature') || l.feature === q.get('feature')) &&
            (!q.get('user') || l.user === q.get('user')) &&
            (!q.get('hostname') || l.hostname === q.get('hostname')),
        );
        const size = Number(q.get('page_size')) || 500;
        const from = Number(q.get('page_token') || '0');
        const page: ListLeasesResponse__Output = {
          leases: matching.slice(from, from + size),
          next_page_token: from + size < matching.length ? String(from + size) : '',
        };
        return json(res, page);
      }
      case 'POST /api/v1/leases/release': {
        if (this.state === 'standby') return fail(res, 400, 'NOT_ACTIVE', 'FAILED_PRECONDITION', 'only the active node frees leases: node-a is active');
        const lease = this.leases.find((l) => l.lease_id === body['lease_id']);
        this.leases = this.leases.filter((l) => l !== lease);
        const r: ReleaseLeaseResponse__Output = { released: !!lease, lease: lease ?? null };
        return json(res, r);
      }
      case 'GET /api/v1/audit':
        return json(res, this.audit());
      case 'POST /api/v1/activation/request':
        if (this.state === 'standby') return fail(res, 400, 'FAILED_PRECONDITION', 'FAILED_PRECONDITION', 'no failover episode is open: nothing to activate');
        return json(res, { request_key: REQUEST_KEY });
      case 'POST /api/v1/activation/check':
      case 'POST /api/v1/activation/apply': {
        const key = typeof body['activation_key'] === 'string' ? body['activation_key'].trim() : '';
        if (key !== GOOD_KEY) {
          return fail(
            res,
            403,
            'ACTIVATION_BAD_SIGNATURE',
            'PERMISSION_DENIED',
            'activation key signature does not verify against the vendor public key: the key was altered or is not from your vendor; ask the vendor for a new one',
          );
        }
        const after: Budget__Output = { ...this.budget(), granted_ms: this.budgetGranted + BUDGET_MS, blocked: false, activations: this.activations + 1 };
        after.remaining_ms = after.granted_ms - after.consumed_ms;
        if (route.endsWith('/check')) {
          const r: CheckActivationKeyResponse__Output = {
            cluster_id: 'acme',
            node_id: 'node-b',
            episode_id: EPISODE,
            seq: 1,
            granted_ms: BUDGET_MS,
            expires_at_ms: Date.now() + 7 * 24 * HOUR,
            budget_after: after,
          };
          return json(res, r);
        }
        this.consumedBefore = this.budgetGranted;
        this.budgetGranted += BUDGET_MS;
        this.activations += 1;
        this.state = 'failover';
        this.failoverSince = Date.now();
        return json(res, { budget: this.budget() });
      }
      case 'POST /api/v1/activation/send': {
        const r: SendActivationRequestResponse__Output = { request_key: REQUEST_KEY, activation_key: GOOD_KEY, budget: this.budget() };
        return json(res, r);
      }
      case 'POST /api/v1/step-down': {
        const r: StepDownResponse__Output = { stepped_down: this.state !== 'standby', state: 'NODE_STATE_STANDBY' };
        this.state = 'standby';
        return json(res, r);
      }
      default:
        return fail(res, 404, 'NOT_FOUND', 'NOT_FOUND', `no route ${route}`);
    }
  }

  private serveStatic(pathname: string, res: ServerResponse): void {
    const file = path.join(WEB_DIR, path.normalize(pathname === '/' ? '/index.html' : pathname));
    if (!file.startsWith(WEB_DIR + path.sep) || !existsSync(file)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    const data = readFileSync(file);
    this.served.set(pathname, data.length);
    res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' }).end(data);
  }
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function fail(res: ServerResponse, status: number, code: string, grpcCode: string, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { code, grpc_code: grpcCode, message } }));
}

function lease(n: number, feature: string, clientId: string, user: string, hostname: string): LeaseInfo__Output {
  const now = Date.now();
  return {
    lease_id: `lease-${n}`,
    session_id: `sess-${n}-7c1f0e2a9b`,
    feature,
    count: 1,
    client_id: clientId,
    user,
    hostname,
    pid: 4100 + n,
    granted_at_ms: now - n * 60_000,
    expires_at_ms: now + 60_000,
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const noChromium = !findChromium();

describe(
  'web console page (fake API, real Chromium)',
  { skip: noChromium && !process.env['CI'] ? 'no Chromium (apt-get install -y chromium, or set CHROMIUM_PATH)' : false },
  () => {
    const node = new FakeNode();
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    const consoleErrors: string[] = [];
    const pageErrors: string[] = [];
    const dialogs: string[] = [];
    const by = (id: string) => page.getByTestId(id);
    const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });

    before(async () => {
      assert.ok(existsSync(path.join(WEB_DIR, 'index.html')) && existsSync(path.join(WEB_DIR, 'app.js')), 'dist/console-web is not built: run npm run build');
      mkdirSync(SHOTS, { recursive: true });
      node.leases = [
        lease(1, 'cad-pro', XSS_CLIENT, 'alice', 'ws-017'),
        lease(2, 'cad-pro', 'cad-app/4.2', '<b>bob</b>', '"><script>alert(2)</script>'),
        lease(3, 'cad-pro', 'cad-app/4.2', 'carol', 'ws-022'),
        lease(4, 'solver', 'batch-runner', 'svc-batch', 'hpc-03'),
      ];
      await node.start();
      browser = await launchBrowser();
      context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: node.url });
      // Outside the page's CSP (an init script): records every violation the policy reports.
      await context.addInitScript({
        content:
          "window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));",
      });
      page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });
      page.on('pageerror', (e) => pageErrors.push(e.message));
      page.on('dialog', (d) => {
        dialogs.push(`${d.type()}: ${d.message()}`);
        void d.dismiss();
      });
    });

    after(async () => {
      await browser?.close();
      await node.stop();
    });

    it('signs in: a wrong token shows the server message, the right one shows both nodes with this one marked', async () => {
      await page.goto(`${node.url}/`);
      await by('signin-view').waitFor();
      await by('signin-token').fill('not-the-token');
      await by('signin-submit').click();
      await by('signin-error').waitFor();
      assert.match(await by('signin-error').innerText(), /wrong admin token: use the LICENSE_ADMIN_TOKEN of this node/);
      await shot('01-signin-wrong-token');

      await by('signin-token').fill(TOKEN);
      await by('signin-submit').click();
      await by('cluster-view').waitFor();
      await until('two node cards', async () => (await by('node-card').count()) === 2);
      const cards = await by('node-card').all();
      assert.deepEqual(await Promise.all(cards.map((c) => c.getAttribute('data-node-id'))), ['node-b', 'node-a']);
      const self = page.locator('[data-testid="node-card"][data-this-node="true"]');
      assert.equal(await self.getAttribute('data-node-id'), 'node-b');
      assert.equal(await self.getByTestId('this-node-marker').count(), 1);
      assert.equal(await by('header-node').innerText(), 'node-b');
      assert.equal(await by('header-cluster').innerText(), 'acme');
      assert.equal(await by('header-state').innerText(), 'STANDBY');
      assert.match(await page.locator('[data-node-id="node-a"]').innerText(), /leader/);
      // Redis: how this node reaches it, and whether each node does.
      assert.equal(await by('redis-topology').innerText(), REDIS_TOPOLOGY);
      assert.equal(await by('store-status').innerText(), 'reachable');
      assert.equal(await self.getByTestId('node-store').innerText(), 'reachable');
      assert.equal(await by('policy').innerText(), `digest ${POLICY_DIGEST.slice(0, 16)}`);
      const peerStore = page.locator('[data-node-id="node-a"]').getByTestId('peer-store');
      assert.equal(await peerStore.innerText(), 'reachable');
      // A standby points at the active node's console.
      await by('banner-standby').waitFor();
      assert.equal(await by('active-console-link').getAttribute('href'), 'http://node-a.example:7480/');
      await shot('02-cluster-standby');
      // Everything the page loaded to get here: the first load's weight, uncompressed.
      const firstLoad = [...node.served.values()].reduce((a, b) => a + b, 0);
      console.log(`console first load: ${firstLoad} bytes in ${node.served.size} files (${[...node.served.keys()].join(' ')})`);
      assert.ok(firstLoad < 60 * 1024, `first load ${firstLoad} bytes, over 60 KiB`);
    });

    it('shows seats live and renders client strings as text, never as HTML', async () => {
      node.state = 'failover';
      node.failoverSince = Date.now();
      // The peer is now unreachable: its last word on Redis is stale.
      await until('peer Redis unknown', async () => (await by('peer-store').innerText()) === 'unknown');
      await page.goto(`${node.url}/#/seats`);
      await by('seats-view').waitFor();
      await until('feature rows', async () => (await by('feature-row').count()) === 2);
      assert.equal(await page.locator('[data-feature="cad-pro"] [data-testid="feature-seats"]').innerText(), '3 / 10 seats');
      assert.equal(await page.locator('[data-feature="solver"] [data-testid="feature-seats"]').innerText(), '1 / 50 seats');
      assert.equal(await page.locator('[data-feature="cad-pro"] [data-testid="feature-queue"]').innerText(), '2');
      assert.equal(await page.locator('[data-feature="solver"] [data-testid="feature-queue"]').innerText(), '–');
      await until('lease rows', async () => (await by('lease-row').count()) === 4);
      const xssRow = page.locator('[data-lease-id="lease-1"]');
      assert.equal(await xssRow.getByTestId('lease-client').innerText(), XSS_CLIENT);
      const bobRow = page.locator('[data-lease-id="lease-2"]');
      assert.equal(await bobRow.getByTestId('lease-user').innerText(), '<b>bob</b>');
      assert.equal(await bobRow.getByTestId('lease-host').innerText(), '"><script>alert(2)</script>');
      assert.equal(await page.locator('img[src="x"]').count(), 0, 'the client id became an <img> element');
      assert.equal(await page.locator('main b, main script').count(), 0, 'a client string became markup');
      await by('banner-failover').waitFor();
      assert.match(await by('banner-peer').innerText(), /node-a is unreachable: connect ECONNREFUSED/);

      // Filter by user (exact match, as the API does).
      await by('filter-user').fill('carol');
      await by('filter-apply').click();
      await until('filtered rows', async () => (await by('lease-row').count()) === 1);
      assert.equal(await by('lease-row').getAttribute('data-lease-id'), 'lease-3');
      await by('filter-clear').click();
      await until('all rows back', async () => (await by('lease-row').count()) === 4);
      await shot('03-seats');
    });

    it('force-releases a lease only after a confirmation, with the CSRF header', async () => {
      const releases = () => node.calls.filter((c) => c.path === '/api/v1/leases/release');
      const row = page.locator('[data-lease-id="lease-1"]');
      await row.getByTestId('release-button').click();
      await by('confirm-dialog').waitFor();
      assert.equal(await by('confirm-client').innerText(), XSS_CLIENT);
      await shot('04-release-confirm');
      await by('confirm-cancel').click();
      await by('confirm-dialog').waitFor({ state: 'detached' });
      assert.equal(releases().length, 0, 'cancel sent a release');

      await row.getByTestId('release-button').click();
      await by('confirm-ok').click();
      await until('the release call', () => releases().length === 1);
      const call = releases()[0];
      assert.deepEqual(call?.body, { lease_id: 'lease-1' });
      assert.equal(call?.csrf, node.sessions.values().next().value, 'X-CSRF-Token is the session token');
      await until('row gone', async () => (await page.locator('[data-lease-id="lease-1"]').count()) === 0);
      assert.match(await by('toast').first().innerText(), /Released cad-pro × 1 of client <img src=x onerror=alert\(1\)>/);
      await until('seats updated', async () => (await page.locator('[data-feature="cad-pro"] [data-testid="feature-seats"]').innerText()) === '2 / 10 seats');
    });

    it('counts the failover budget down every second, with a bar and the audit trail', async () => {
      await page.goto(`${node.url}/#/budget`);
      await by('budget-view').waitFor();
      const first = await until('a countdown', async () => {
        const t = await by('budget-remaining').innerText();
        return /^71 h 59 m \d+ s$/.test(t) ? t : undefined;
      });
      const later = await until('the next second', async () => {
        const t = await by('budget-remaining').innerText();
        return t !== first ? t : undefined;
      });
      assert.match(later, /^71 h 59 m \d+ s$/);
      assert.equal(await by('budget-blocked').getAttribute('data-blocked'), 'false');
      const pct = Number(await by('budget-bar').getAttribute('aria-valuenow'));
      assert.ok(pct > 99 && pct <= 100, `bar at ${pct}%`);
      assert.equal(await by('budget-episode').innerText(), EPISODE);
      await until('audit rows', async () => (await by('audit-row').count()) === 1);
      await shot('05-budget-counting');
    });

    it('a blocked node: a tampered key shows the server message, a good key checks, applies and unblocks', async () => {
      node.state = 'blocked';
      await by('banner-blocked').waitFor();
      await until('blocked badge', async () => (await by('budget-blocked').getAttribute('data-blocked')) === 'true');
      assert.equal(await by('budget-remaining').innerText(), '0 s');
      await until('audit shows the block', async () => (await by('audit-row').count()) === 2);
      await shot('06-budget-blocked');

      await by('tools-button').click();
      await by('tool-input-key').click();
      await by('activation-dialog').waitFor();
      await by('activation-key-input').fill(TAMPERED_KEY);
      await by('activation-check').click();
      await by('activation-error').waitFor();
      assert.match(await by('activation-error').innerText(), /activation key signature does not verify .*\(ACTIVATION_BAD_SIGNATURE\)/);
      assert.equal(await by('activation-apply').isDisabled(), true);
      await shot('07-activation-tampered');

      await by('activation-key-input').fill(GOOD_KEY);
      await by('activation-check').click();
      await by('activation-check-result').waitFor();
      const check = await by('activation-check-result').innerText();
      assert.match(check, /adds 72 h 0 m 0 s/);
      assert.match(check, /node-b in cluster acme/);
      assert.match(check, new RegExp(`${EPISODE}.*activation #1`));
      await shot('08-activation-checked');
      await by('activation-apply').click();
      await by('activation-result').waitFor();
      assert.match(
        await by('activation-result').innerText(),
        /Applied\. The failover budget has 7[12] h \d+ m \d+ s left of 144 h 0 m 0 s granted; not blocked\./,
      );
      const apply = node.calls.find((c) => c.path === '/api/v1/activation/apply');
      assert.deepEqual(apply?.body, { activation_key: GOOD_KEY });
      assert.ok(apply?.csrf, 'apply without X-CSRF-Token');
      await page.keyboard.press('Escape');
      await by('activation-dialog').waitFor({ state: 'detached' });
      await until('unblocked', async () => (await by('budget-blocked').getAttribute('data-blocked')) === 'false');
      assert.equal(await by('banner-blocked').count(), 0);
      assert.equal(await by('budget-activations').innerText(), '1');
    });

    it('request activation key: the key under its heading, copy, mailto with the key, send automatically', async () => {
      await by('tools-button').click();
      await by('tool-request-key').click();
      await by('request-key-dialog').waitFor();
      await by('request-key').waitFor();
      assert.equal(await page.getByRole('heading', { name: 'This is your request key' }).count(), 1);
      assert.equal(await by('request-key').innerText(), REQUEST_KEY);
      await by('copy-request-key').click();
      await until('copied', async () => (await by('copy-status').innerText()) === 'Copied.');
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), REQUEST_KEY);
      const href = (await by('mailto-vendor').getAttribute('href')) ?? '';
      assert.ok(href.startsWith('mailto:licenses@vendor.example?'), href);
      const mail = new URLSearchParams(href.slice(href.indexOf('?') + 1));
      assert.ok(mail.get('body')?.includes(REQUEST_KEY), 'the mail body lacks the key');
      assert.match(mail.get('subject') ?? '', /cluster acme, node node-b/);
      await shot('09-request-key');
      await by('send-request').click();
      await by('send-result').waitFor();
      assert.match(await by('send-result').innerText(), /Activation key received and applied/);
      await by('dialog-close').click();
      await by('request-key-dialog').waitFor({ state: 'detached' });
    });

    it('steps down only after a confirmation', async () => {
      await by('tools-button').click();
      await by('step-down-button').click();
      await by('confirm-dialog').waitFor();
      assert.match(await by('confirm-dialog').innerText(), /Step down node-b\?/);
      await by('confirm-ok').click();
      await until('the step-down call', () => node.calls.some((c) => c.path === '/api/v1/step-down'));
      await until('toast', async () => /Stepped down: this node is now STANDBY/.test(await by('toast').last().innerText()));
      await until('standby banner', async () => (await by('banner-standby').count()) === 1);
      await page.goto(`${node.url}/#/cluster`);
      await by('cluster-view').waitFor();
      await until('two node cards', async () => (await by('node-card').count()) === 2);
      // The peer is back and says it cannot reach Redis.
      node.peerStoreOk = false;
      await until('peer Redis unreachable', async () => (await by('peer-store').innerText()) === 'unreachable');
      assert.equal(await by('redis-topology').innerText(), REDIS_TOPOLOGY);
      // The peer loads another seat policy, and this node's file has a bad edit.
      node.peerPolicyDigest = 'f'.repeat(64);
      node.policyError = 'policy /etc/license/policy.yaml: line 9: features.designer.max.0.per: must be one of user, host, group';
      await until('policy mismatch', async () => /the nodes enforce different seat policies/.test(await by('policy').innerText()));
      assert.match(await by('policy-error').innerText(), /refused; the last good policy stays: policy \/etc\/license\/policy\.yaml: line 9: /);
      await shot('10-cluster-after-step-down');
    });

    it('an expired session goes back to sign-in with the server message', async () => {
      node.sessions.clear();
      await by('signin-view').waitFor({ timeout: 8_000 });
      assert.match(await by('signin-message').innerText(), /Your session has ended\. The server said: console session expired or unknown: sign in again/);
      await shot('11-session-ended');
    });

    it('the CSP blocked nothing, no alert fired, no script error (and the CSP is in force)', async () => {
      assert.deepEqual(await page.evaluate('window.__csp'), []);
      assert.deepEqual(dialogs, []);
      assert.deepEqual(pageErrors, []);
      // Chromium logs every 4xx answer as "Failed to load resource"; the 401/403s above are meant.
      const unexpected = consoleErrors.filter((m) => !/^Failed to load resource: the server responded with a status of 40[13]/.test(m));
      assert.deepEqual(unexpected, []);
      // The control: an inline script is refused and reported, so an empty list above means something.
      await page.evaluate("document.body.append(Object.assign(document.createElement('script'), { textContent: 'window.__inline = 1' }))");
      await until('a reported violation', async () => (await page.evaluate<number>('window.__csp.length')) > 0);
      assert.equal(await page.evaluate('window.__inline'), undefined);
      const all = [...node.served.values()].reduce((a, b) => a + b, 0);
      console.log(`console, every file loaded: ${all} bytes in ${node.served.size} files`);
    });
  },
);
