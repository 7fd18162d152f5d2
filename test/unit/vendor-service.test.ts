import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type ActivationRequest, encodeRequestKey, newNonce, verifyActivationKey } from '../../src/server/budget/activation-keys';
import { ManualClock } from '../../src/server/clock';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { openDecisionLog, readDecisionLog } from '../../src/server/vendor/decision-log';
import { sendRequestKey } from '../../src/server/vendor/vendor-client';
import { parsePolicy, tokenSha256 } from '../../src/server/vendor/vendor-policy';
import { AUTH_FAILURES_PER_MINUTE, createVendorService, MAX_BODY_BYTES, type VendorDecision, type VendorService } from '../../src/server/vendor/vendor-service';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const ACME = 'acme-token-0123456789abcdef';
const GLOBEX = 'globex-token-0123456789abcdef';
const HOUR = 3_600_000;

const POLICY = `customers:
  acme:
    token_sha256: "${tokenSha256(ACME)}"
    clusters: [acme-prod, acme-lab]
    max_activations_per_episode: 2
    extension_ms: ${24 * HOUR}
    rate_per_minute: 50
  globex:
    token_sha256: "${tokenSha256(GLOBEX)}"
    clusters: [globex-main, globex-secret-site]
    max_activations_per_episode: 1
    rate_per_minute: 3
`;

function requestKey(over: Partial<ActivationRequest> = {}): string {
  return encodeRequestKey({
    cluster_id: 'acme-prod',
    node_id: 'node-b',
    episode_id: 'aaaaaaaaaaaa',
    seq: 1,
    extension_ms: 72 * HOUR,
    nonce: newNonce(),
    issued_at_ms: Date.UTC(2026, 0, 1),
    ...over,
  });
}

interface Started {
  readonly service: VendorService;
  readonly url: string;
  readonly clock: ManualClock;
  readonly decisions: VendorDecision[];
}

const running: VendorService[] = [];
after(async () => {
  await Promise.all(running.map((s) => s.close()));
});

async function start(
  opts: { policy?: string; history?: VendorDecision[]; log?: (d: VendorDecision) => void; key?: KeyObject; clock?: ManualClock } = {},
): Promise<Started> {
  const decisions: VendorDecision[] = [];
  const clock = opts.clock ?? new ManualClock();
  const service = createVendorService({
    privateKey: opts.key ?? privateKey,
    policy: parsePolicy(opts.policy ?? POLICY),
    clock,
    log: opts.log ?? ((d) => decisions.push(d)),
    ...(opts.history ? { history: opts.history } : {}),
  });
  running.push(service);
  const url = await service.listen('127.0.0.1', 0);
  return { service, url, clock, decisions };
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
  readonly error: { code: string; message: string };
}

async function post(url: string, token: string | undefined, body: unknown, method = 'POST'): Promise<Reply> {
  const res = await fetch(`${url}/v1/activations`, {
    method,
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    ...(method === 'POST' ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const json = (await res.json()) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, body: json, error: (json['error'] ?? { code: '', message: '' }) as Reply['error'] };
}

const activate = (url: string, token: string, key: string): Promise<Reply> => post(url, token, { request_key: key });

describe('vendor activation service (real HTTP on a free port)', () => {
  it('grants: a key signed for the request, the policy extension capped by the license, logged as one decision with who and what', async () => {
    const s = await start();
    const key = requestKey({ extension_ms: 72 * HOUR, audit_head: '3:' + 'ab'.repeat(32) });
    const r = await activate(s.url, ACME, key);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body).sort(), ['activation_key', 'cluster_id', 'episode_id', 'expires_at_ms', 'granted_ms', 'node_id', 'seq']);
    const g = verifyActivationKey(String(r.body['activation_key']), publicKey);
    assert.equal(g.cluster_id, 'acme-prod');
    assert.equal(g.node_id, 'node-b');
    assert.equal(g.seq, 1);
    assert.equal(g.granted_ms, 24 * HOUR, "the policy's extension");
    assert.equal(g.expires_at_ms, s.clock.now() + 7 * 24 * HOUR, "valid for the policy's default 7 days from the service clock");
    assert.deepEqual(r.body, {
      activation_key: r.body['activation_key'],
      cluster_id: 'acme-prod',
      node_id: 'node-b',
      episode_id: 'aaaaaaaaaaaa',
      seq: 1,
      granted_ms: 24 * HOUR,
      expires_at_ms: g.expires_at_ms,
    });
    assert.equal(r.headers.get('cache-control'), 'no-store');

    // A license that accepts less than the policy's extension gets what the license accepts.
    const short = await activate(s.url, ACME, requestKey({ extension_ms: HOUR, node_id: 'node-c' }));
    assert.equal(short.body['granted_ms'], HOUR);

    assert.equal(s.decisions.length, 2);
    const d = s.decisions[0];
    assert.ok(d);
    assert.equal(d.decision, 'granted');
    assert.equal(d.reason, 'granted');
    assert.equal(d.status, 200);
    assert.equal(d.customer, 'acme');
    assert.equal(d.cluster_id, 'acme-prod');
    assert.equal(d.node_id, 'node-b');
    assert.equal(d.episode_id, 'aaaaaaaaaaaa');
    assert.equal(d.seq, 1);
    assert.equal(d.audit_head, '3:' + 'ab'.repeat(32));
    assert.equal(d.activation_key, r.body['activation_key']);
    assert.equal(d.remote, '127.0.0.1');
    assert.equal(d.at_ms, s.clock.now());
    assert.equal(d.time, new Date(s.clock.now()).toISOString());
    assert.ok(!JSON.stringify(s.decisions).includes(ACME), 'the token is never logged');

    const health = await fetch(`${s.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok', mode: 'policy' });
  });

  it('401 for a missing or unknown token, in words that do not say whether a token is anyone else’s', async () => {
    const s = await start();
    const key = requestKey();
    const unknown = await activate(s.url, 'not-a-customer-token-0123456789', key);
    const nearMiss = await activate(s.url, `${ACME}x`, key);
    const hashAsToken = await activate(s.url, tokenSha256(GLOBEX), key);
    const none = await post(s.url, undefined, { request_key: key });
    for (const r of [unknown, nearMiss, hashAsToken, none]) {
      assert.equal(r.status, 401);
      assert.equal(r.error.code, ErrorCode.UNAUTHENTICATED);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="license-activation"');
      assert.doesNotMatch(r.error.message, /acme|globex/);
    }
    assert.deepEqual(unknown.body, nearMiss.body);
    assert.deepEqual(unknown.body, hashAsToken.body);
    assert.match(unknown.error.message, /^the activation token is not accepted; check LICENSE_VENDOR_ACTIVATION_TOKEN/);
    assert.match(none.error.message, /^no activation token: send Authorization: Bearer <token>/);
    assert.ok(s.decisions.every((d) => d.decision === 'refused' && d.reason === 'unauthenticated' && d.customer === undefined && d.status === 401));
  });

  it('403 for a cluster the token does not cover: names the requested cluster only, never what anyone (this token included) may activate', async () => {
    const s = await start();
    const r = await activate(s.url, ACME, requestKey({ cluster_id: 'globex-main' }));
    assert.equal(r.status, 403);
    assert.equal(r.error.code, ErrorCode.PERMISSION_DENIED);
    assert.equal(r.error.message, 'this activation token may not activate cluster globex-main; contact the vendor if it should');
    for (const secret of ['globex-secret-site', 'acme-prod', 'acme-lab', 'globex:', 'acme']) assert.ok(!r.error.message.includes(secret), secret);
    const d = s.decisions.at(-1);
    assert.equal(d?.reason, 'cluster_not_allowed');
    assert.equal(d?.customer, 'acme');
    assert.equal(d?.cluster_id, 'globex-main');
    assert.equal(d?.activation_key, undefined);
  });

  it('409 once the activations per episode are used up: per (cluster, node, episode), sequence numbers counted once', async () => {
    const s = await start();
    const ep = { cluster_id: 'acme-lab', episode_id: 'bbbbbbbbbbbb' };
    assert.equal((await activate(s.url, ACME, requestKey({ ...ep, seq: 1 }))).status, 200);
    // The same activation asked again with a new nonce (the operator lost the key): a key, not a second count.
    assert.equal((await activate(s.url, ACME, requestKey({ ...ep, seq: 1 }))).status, 200);
    assert.equal((await activate(s.url, ACME, requestKey({ ...ep, seq: 2 }))).status, 200);
    const third = await activate(s.url, ACME, requestKey({ ...ep, seq: 3 }));
    assert.equal(third.status, 409);
    assert.equal(third.error.code, ErrorCode.LIMIT_EXCEEDED);
    assert.equal(
      third.error.message,
      'activation limit reached: 2 of 2 activations per failover episode were granted for node node-b of cluster acme-lab in episode bbbbbbbbbbbb; contact the vendor',
    );
    assert.equal(s.decisions.at(-1)?.reason, 'activation_limit');
    // Another node, another episode, another cluster: counted apart.
    assert.equal((await activate(s.url, ACME, requestKey({ ...ep, seq: 3, node_id: 'node-a' }))).status, 200);
    assert.equal((await activate(s.url, ACME, requestKey({ ...ep, seq: 3, episode_id: 'cccccccccccc' }))).status, 200);
    assert.equal((await activate(s.url, ACME, requestKey({ ...ep, seq: 3, cluster_id: 'acme-prod' }))).status, 200);
  });

  it('idempotent: the same request key again gets the same activation key and is not counted twice', async () => {
    const s = await start();
    const key = requestKey({ cluster_id: 'globex-main' });
    const first = await activate(s.url, GLOBEX, key);
    assert.equal(first.status, 200);
    s.clock.advance(5_000);
    const again = await activate(s.url, GLOBEX, key);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    assert.deepEqual(
      s.decisions.map((d) => d.reason),
      ['granted', 'repeat'],
    );
    // globex has one activation per episode: the repeat did not use a second.
    const next = await activate(s.url, GLOBEX, requestKey({ cluster_id: 'globex-main', seq: 2 }));
    assert.equal(next.status, 409);
    assert.match(next.error.message, /1 of 1 activations/);
  });

  it('a nonce answered for one request and presented with another request is refused', async () => {
    const s = await start();
    const nonce = newNonce();
    assert.equal((await activate(s.url, ACME, requestKey({ nonce }))).status, 200);
    const other = await activate(s.url, ACME, requestKey({ nonce, seq: 2 }));
    assert.equal(other.status, 409);
    assert.equal(other.error.code, ErrorCode.ACTIVATION_USED);
    assert.equal(s.decisions.at(-1)?.reason, 'nonce_reused');
  });

  it('400 for a body that is not JSON, not an object, without request_key, or with a malformed request key; each says what is wrong', async () => {
    const s = await start();
    const notJson = await post(s.url, ACME, '{"request_key": ');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.error.code, ErrorCode.INVALID_ARGUMENT);
    assert.match(notJson.error.message, /^request body is not JSON \(.+\); send \{"request_key": "LRQ1\.\.\."\}$/);
    const notObject = await post(s.url, ACME, '["LRQ1.x"]');
    assert.match(notObject.error.message, /^request body must be a JSON object/);
    const missing = await post(s.url, ACME, { requestKey: requestKey() });
    assert.match(missing.error.message, /^request body has no request_key; send/);
    const number = await post(s.url, ACME, { request_key: 5 });
    assert.match(number.error.message, /^request body has a request_key that is not a string/);
    const bad = await activate(s.url, ACME, 'LRQ1.bm90IGpzb24');
    assert.equal(bad.status, 400);
    assert.equal(bad.error.code, ErrorCode.ACTIVATION_MALFORMED);
    assert.equal(bad.error.message, 'request key is malformed: not base64url-encoded JSON; copy the whole key, on one line');
    const activationKeyInstead = await activate(s.url, ACME, 'LAK1.abc.def');
    assert.match(activationKeyInstead.error.message, /expected LRQ1\.<data>/);
    assert.deepEqual(
      s.decisions.map((d) => d.reason),
      ['malformed_json', 'malformed_json', 'malformed_json', 'malformed_json', 'malformed_request_key', 'malformed_request_key'],
    );
    assert.ok(s.decisions.every((d) => d.customer === 'acme'));
  });

  it('413 for a body over 16 KiB, by Content-Length or as it streams in, without reading the rest', async () => {
    const s = await start();
    const big = await post(s.url, ACME, { request_key: 'x'.repeat(MAX_BODY_BYTES) });
    assert.equal(big.status, 413);
    assert.match(big.error.message, /^request body over 16384 bytes/);

    // Chunked, no Content-Length, and never ended: the answer comes once 16 KiB have arrived.
    const { port } = new URL(s.url);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/v1/activations', method: 'POST', headers: { authorization: `Bearer ${ACME}` } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('error', reject);
      req.write('{"request_key": "');
      req.write('x'.repeat(MAX_BODY_BYTES + 10));
    });
    assert.equal(answer.status, 413);
    assert.deepEqual(
      s.decisions.map((d) => d.reason),
      ['body_too_large', 'body_too_large'],
    );
  });

  it('429 past the rate per token, with Retry-After; other tokens unaffected; the bucket refills with time', async () => {
    const s = await start();
    const key = () => requestKey({ cluster_id: 'globex-main', episode_id: newNonce().slice(0, 12) });
    for (let i = 0; i < 3; i++) assert.equal((await activate(s.url, GLOBEX, key())).status, 200);
    const limited = await activate(s.url, GLOBEX, key());
    assert.equal(limited.status, 429);
    assert.equal(limited.error.code, ErrorCode.LIMIT_EXCEEDED);
    assert.equal(limited.headers.get('retry-after'), '20');
    assert.equal(limited.error.message, 'more than 3 requests per minute with this token; retry in 20 s');
    assert.equal(s.decisions.at(-1)?.reason, 'rate_limited');
    assert.equal((await activate(s.url, ACME, requestKey())).status, 200, 'acme has its own bucket');
    s.clock.advance(20_000);
    assert.equal((await activate(s.url, GLOBEX, key())).status, 200);
    assert.equal((await activate(s.url, GLOBEX, key())).status, 429);
  });

  it('429 for an address that keeps sending unknown tokens; a valid token from it is still served', async () => {
    const s = await start();
    for (let i = 0; i < AUTH_FAILURES_PER_MINUTE; i++) assert.equal((await activate(s.url, `guess-${i}-0123456789abcdef`, requestKey())).status, 401);
    const r = await activate(s.url, 'guess-x-0123456789abcdef', requestKey());
    assert.equal(r.status, 429);
    assert.match(r.error.message, /^too many requests with a missing or unknown token from this address; retry in \d+ s$/);
    assert.equal((await activate(s.url, ACME, requestKey())).status, 200);
  });

  it('404 elsewhere, 405 for another method', async () => {
    const s = await start();
    const r404 = await fetch(`${s.url}/v2/activations`, { method: 'POST' });
    assert.equal(r404.status, 404);
    assert.equal(((await r404.json()) as { error: { code: string } }).error.code, ErrorCode.NOT_FOUND);
    const r405 = await post(s.url, ACME, undefined, 'GET');
    assert.equal(r405.status, 405);
    assert.equal(r405.headers.get('allow'), 'POST');
    assert.match(r405.error.message, /^use POST \/v1\/activations/);
  });

  it('a grant the log cannot take is not answered (503) and not counted', async () => {
    let broken = true;
    const decisions: VendorDecision[] = [];
    const s = await start({
      log: (d) => {
        if (broken && d.decision === 'granted') throw new Error('disk full');
        decisions.push(d);
      },
    });
    const key = requestKey({ cluster_id: 'globex-main' });
    const r = await activate(s.url, GLOBEX, key);
    assert.equal(r.status, 503);
    assert.equal(r.error.code, ErrorCode.INTERNAL);
    assert.equal(r.body['activation_key'], undefined);
    broken = false;
    // globex has one activation per episode: the failed grant did not use it.
    assert.equal((await activate(s.url, GLOBEX, key)).status, 200);
  });

  it('restart with --log: the granted decisions in the file restore the counts and the answers to repeats', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'vendor-log-')), 'decisions.jsonl');
    const log1 = openDecisionLog(file);
    const first = await start({ log: (d) => log1.write(d) });
    const key = requestKey({ cluster_id: 'globex-main' });
    const granted = await activate(first.url, GLOBEX, key);
    assert.equal(granted.status, 200);
    assert.equal((await activate(first.url, GLOBEX, requestKey({ cluster_id: 'globex-main', seq: 2 }))).status, 409);
    await first.service.close();
    log1.close();
    // A crash mid-line leaves a torn line: read past it, and the next decision starts a line of its own.
    appendFileSync(file, '{"time":"2026-01-01T00:00:00.000Z","decision":"gran');

    const history = readDecisionLog(file);
    assert.equal(history.granted.length, 1);
    assert.equal(history.unreadable, 1);
    const log2 = openDecisionLog(file);
    const second = await start({ history: [...history.granted], log: (d) => log2.write(d) });
    assert.equal(second.service.replayed, 1);
    const repeat = await activate(second.url, GLOBEX, key);
    assert.equal(repeat.status, 200);
    assert.equal(repeat.body['activation_key'], granted.body['activation_key'], 'the same key after the restart');
    const next = await activate(second.url, GLOBEX, requestKey({ cluster_id: 'globex-main', seq: 2 }));
    assert.equal(next.status, 409, 'the count survived the restart');
    log2.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => {
        try {
          return (JSON.parse(l) as VendorDecision).reason;
        } catch {
          return 'torn';
        }
      }),
      ['granted', 'activation_limit', 'torn', 'repeat', 'activation_limit'],
    );
  });

  it('a replayed grant that does not verify with the service key (another key, an edited line) restores nothing', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const s1 = await start({ key: other });
    const key = requestKey({ cluster_id: 'globex-main' });
    assert.equal((await activate(s1.url, GLOBEX, key)).status, 200);
    const forged = s1.decisions.map((d) => ({ ...d }));
    const s2 = await start({ history: forged });
    assert.equal(s2.service.replayed, 0);
    const r = await activate(s2.url, GLOBEX, requestKey({ cluster_id: 'globex-main' }));
    assert.equal(r.status, 200, 'the foreign grant did not use the one activation');
  });

  it('a log line is one JSON object per decision, in a fixed key order', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'vendor-log-')), 'd.jsonl');
    writeFileSync(file, '');
    const log = openDecisionLog(file);
    log.write({ time: 't', at_ms: 1, decision: 'refused', reason: 'unauthenticated', status: 401, message: 'm', remote: '::1' });
    log.close();
    assert.equal(
      readFileSync(file, 'utf8'),
      '{"time":"t","at_ms":1,"decision":"refused","reason":"unauthenticated","status":401,"message":"m","remote":"::1"}\n',
    );
    assert.deepEqual(readDecisionLog(path.join(path.dirname(file), 'missing.jsonl')), { granted: [], unreadable: 0 });
  });
});

describe('vendor client (sendRequestKey) against the service', () => {
  function licenseError(err: unknown, code: ErrorCode): string {
    assert.ok(err instanceof LicenseError, String(err));
    assert.equal(err.code, code, err.message);
    return err.message;
  }

  it('returns the activation key; a bare URL gets /v1/activations', async () => {
    const s = await start();
    const sent = await sendRequestKey({ url: s.url, token: ACME, requestKey: requestKey() });
    assert.equal(verifyActivationKey(sent.activationKey, publicKey).cluster_id, 'acme-prod');
    assert.equal(sent.grantedMs, 24 * HOUR);
    assert.equal(sent.expiresAtMs, s.clock.now() + 7 * 24 * HOUR);
    const full = await sendRequestKey({ url: `${s.url}/v1/activations`, token: ACME, requestKey: `  ${requestKey({ seq: 2 })}\n` });
    assert.equal(verifyActivationKey(full.activationKey, publicKey).seq, 2);
  });

  it('a refusal is VENDOR_REFUSED with the service’s message, and never the token', async () => {
    const s = await start();
    await assert.rejects(sendRequestKey({ url: s.url, token: ACME, requestKey: requestKey({ cluster_id: 'globex-main' }) }), (err) => {
      const msg = licenseError(err, ErrorCode.VENDOR_REFUSED);
      assert.equal(
        msg,
        'vendor activation service refused the request: this activation token may not activate cluster globex-main; contact the vendor if it should',
      );
      return true;
    });
    await assert.rejects(sendRequestKey({ url: s.url, token: 'wrong-token-0123456789abcdef', requestKey: requestKey() }), (err) => {
      const msg = licenseError(err, ErrorCode.VENDOR_REFUSED);
      assert.match(msg, /^vendor activation service refused the request: the activation token is not accepted/);
      assert.ok(!msg.includes('wrong-token'));
      return true;
    });
  });

  it('connection refused, a timeout, a 5xx, or an answer that is not the service’s: VENDOR_UNAVAILABLE naming the manual flow', async () => {
    const manual = /; retry, or send the request key by e-mail \(licensectl activation request\)$/;
    // A port nobody listens on: take one, then free it.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const freePort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await assert.rejects(sendRequestKey({ url: `http://user:pw@127.0.0.1:${freePort}/`, token: ACME, requestKey: requestKey() }), (err) => {
      const msg = licenseError(err, ErrorCode.VENDOR_UNAVAILABLE);
      assert.match(msg, new RegExp(`^vendor activation service at http://127\\.0\\.0\\.1:${freePort}/v1/activations could not be reached \\(ECONNREFUSED\\)`));
      assert.match(msg, manual);
      assert.ok(!msg.includes(ACME) && !msg.includes('pw'));
      return true;
    });

    // A stand-in that answers whatever the test says (or nothing).
    let answer: ((res: http.ServerResponse) => void) | undefined;
    const fake = http.createServer((req, res) => {
      req.resume();
      answer?.(res);
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    try {
      const cases: [string, (res: http.ServerResponse) => void, RegExp][] = [
        ['500', (res) => res.writeHead(500).end('{"error":{"code":"INTERNAL","message":"boom"}}'), /answered HTTP 500/],
        ['200, not JSON', (res) => res.writeHead(200).end('<html>hello</html>'), /answered something that is not an activation key/],
        ['200, JSON without a key', (res) => res.writeHead(200).end('{"activation_key":"nope","granted_ms":1,"expires_at_ms":2}'), /not an activation key/],
        [
          '404 from a web server',
          (res) => res.writeHead(404).end('<h1>Not Found</h1>'),
          /answered HTTP 404 without an activation service's error; check the URL/,
        ],
        ['redirect', (res) => res.writeHead(302, { location: 'http://elsewhere/' }).end(), /answered HTTP 302/],
      ];
      for (const [what, fn, pattern] of cases) {
        answer = fn;
        await assert.rejects(sendRequestKey({ url, token: ACME, requestKey: requestKey() }), (err) => {
          const msg = licenseError(err, ErrorCode.VENDOR_UNAVAILABLE);
          assert.match(msg, pattern, what);
          assert.match(msg, manual, what);
          return true;
        });
      }
      answer = undefined; // never answers
      const t0 = Date.now();
      await assert.rejects(sendRequestKey({ url, token: ACME, requestKey: requestKey(), timeoutMs: 300 }), (err) => {
        assert.match(licenseError(err, ErrorCode.VENDOR_UNAVAILABLE), /did not answer within 300 ms; retry/);
        return true;
      });
      assert.ok(Date.now() - t0 < 3_000);
    } finally {
      fake.closeAllConnections();
      await new Promise<void>((r) => fake.close(() => r()));
    }
  });

  it('a URL that is not http(s) is a usage error', async () => {
    await assert.rejects(sendRequestKey({ url: 'ftp://vendor/', token: ACME, requestKey: 'LRQ1.x' }), (err) => {
      assert.match(licenseError(err, ErrorCode.INVALID_ARGUMENT), /must be http:\/\/ or https:\/\//);
      return true;
    });
    await assert.rejects(sendRequestKey({ url: 'vendor:7490', token: ACME, requestKey: 'LRQ1.x' }), LicenseError);
  });
});
