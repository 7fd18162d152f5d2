import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAdminClient } from '../../src/server/admin/admin-client';
import { encodeRequestKey, newNonce } from '../../src/server/budget/activation-keys';
import { systemClock } from '../../src/server/clock';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { loadPrivateKey } from '../../src/server/license/vendor-keys';
import { sendRequestKey } from '../../src/server/vendor/vendor-client';
import { parsePolicy, tokenSha256 } from '../../src/server/vendor/vendor-policy';
import { createVendorService, type VendorDecision, type VendorService } from '../../src/server/vendor/vendor-service';
import { startTestPair, TEST_TOKEN, type TestPair, vendorFilesOf } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';
import { createTestPki } from '../helpers/tls';

/**
 * `licensectl activation request --send URL` end to end: a real redundant blocked by a spent
 * (short, license-signed) failover budget, the vendor activation service in process with the
 * test vendor key, and the built CLI as a child process. Run `npm run build` first (npm test does).
 */
const CTL = path.resolve(__dirname, '..', '..', 'dist', 'server', 'cli', 'licensectl.js');
const CUSTOMER_TOKEN = 'customer-token-0123456789abcdef';
const OTHER_TOKEN = 'other-customer-token-0123456789';
const EXTENSION_MS = 60_000;

interface CtlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI without blocking this process: the node and the vendor service answering it live here. */
function ctl(args: string[], env: Record<string, string> = {}): Promise<CtlResult> {
  return new Promise((resolve) => {
    const { LICENSE_VENDOR_ACTIVATION_TOKEN: _inherited, ...base } = process.env;
    execFile(process.execPath, [CTL, ...args], { env: { ...base, ...env }, timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

describe('licensectl activation request --send (a blocked redundant, the vendor service, the built CLI)', () => {
  let redis: RedisProcess;
  let pair: TestPair;
  let http: VendorService;
  let https: VendorService;
  let httpUrl: string;
  let httpsUrl: string;
  let caFile: string;
  const decisions: VendorDecision[] = [];

  before(async () => {
    redis = await startRedis();
    pair = await startTestPair(redis.url, {
      env: { LICENSE_HANDBACK_AFTER_MS: '600000' },
      license: { failover: { budget_ms: 1_500, max_extension_ms: EXTENSION_MS } },
    });
    await eventually(() => pair.primary.node.controller.machine.isServing() || undefined, 10_000, 'primary active');
    await eventually(() => (pair.redundant.node.controller.snapshot().peer?.reachable ? true : undefined), 10_000, 'peers');
    const clusterId = pair.primary.config.clusterId;
    const policy = parsePolicy(`customers:
  customer:
    token_sha256: "${tokenSha256(CUSTOMER_TOKEN)}"
    clusters: [${clusterId}]
    max_activations_per_episode: 2
  other:
    token_sha256: "${tokenSha256(OTHER_TOKEN)}"
    clusters: [other-customers-cluster]
    max_activations_per_episode: 2
`);
    const privateKey = loadPrivateKey(vendorFilesOf(pair.primary.config).privateKeyFile);
    http = createVendorService({ privateKey, policy, clock: systemClock, log: (d) => decisions.push(d) });
    httpUrl = await http.listen('127.0.0.1', 0);
    const pki = createTestPki('vendor');
    const cert = pki.issue('vendor');
    caFile = pki.caFile;
    https = createVendorService({
      privateKey,
      policy,
      clock: systemClock,
      log: (d) => decisions.push(d),
      tls: { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) },
    });
    httpsUrl = await https.listen('127.0.0.1', 0);
    assert.match(httpsUrl, /^https:\/\/127\.0\.0\.1:\d+$/);

    // The primary hands over; the redundant spends its 1.5 s budget and blocks.
    const admin = createAdminClient(pair.primary.addr, TEST_TOKEN);
    await admin.stepDown();
    admin.close();
    await eventually(() => (pair.redundant.node.controller.machine.state === 'FAILOVER_BLOCKED' ? true : undefined), 20_000, 'redundant blocked');
  });

  after(async () => {
    await http?.close();
    await https?.close();
    await pair?.redundant.node.stop();
    await pair?.primary.node.stop();
    await redis?.stop();
  });

  const node = (): string[] => ['--server', pair.redundant.addr, '--token', TEST_TOKEN];
  const state = (): string => pair.redundant.node.controller.machine.state;

  it('a token without this cluster: refused with the reason, the request key left for e-mail, exit 1, still blocked', async () => {
    const r = await ctl([...node(), 'activation', 'request', '--send', `${httpUrl}/v1/activations`], { LICENSE_VENDOR_ACTIVATION_TOKEN: OTHER_TOKEN });
    assert.equal(r.code, 1, r.stderr);
    const cluster = pair.primary.config.clusterId;
    assert.match(
      r.stderr,
      new RegExp(
        `^licensectl: vendor activation service refused the request: this activation token may not activate cluster ${cluster}; contact the vendor if it should$`,
        'm',
      ),
    );
    assert.match(r.stderr, /^licensectl: the request key, for the vendor by e-mail: LRQ1\.[A-Za-z0-9_-]+$/m);
    assert.ok(!r.stderr.includes('other-customers-cluster') && !r.stderr.includes(OTHER_TOKEN));
    assert.equal(r.stdout, '');
    assert.equal(state(), 'FAILOVER_BLOCKED');
    assert.equal(decisions.at(-1)?.reason, 'cluster_not_allowed');
  });

  it('no vendor service listening: VENDOR_UNAVAILABLE naming the manual flow, exit 1; no token at all: a usage error', async () => {
    const down = await ctl([...node(), 'activation', 'request', '--send', 'http://127.0.0.1:1/', '--vendor-token', CUSTOMER_TOKEN]);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /^licensectl: vendor activation service at http:\/\/127\.0\.0\.1:1\/v1\/activations could not be reached \(ECONNREFUSED\); retry, or send the request key by e-mail \(licensectl activation request\)$/m,
    );
    assert.ok(!down.stderr.includes(CUSTOMER_TOKEN));
    const noToken = await ctl([...node(), 'activation', 'request', '--send', httpUrl]);
    assert.equal(noToken.code, 1);
    assert.equal(
      noToken.stderr,
      'licensectl: no vendor activation token: pass --vendor-token or set LICENSE_VENDOR_ACTIVATION_TOKEN (the token the vendor gave you)',
    );
    assert.equal(state(), 'FAILOVER_BLOCKED');
  });

  it('request, send (HTTPS, --vendor-ca) and apply in one step: the redundant is unblocked', async () => {
    const r = await ctl([...node(), 'activation', 'request', '--send', httpsUrl, '--vendor-ca', caFile], { LICENSE_VENDOR_ACTIVATION_TOKEN: CUSTOMER_TOKEN });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^vendor granted 1m 0s; activation applied: .* left of .*, 1 activation\(s\), not blocked$/);
    assert.equal(r.stderr, '');
    await eventually(() => (state() === 'FAILOVER_ACTIVE' ? true : undefined), 10_000, 'redundant unblocked');
    const granted = decisions.filter((d) => d.decision === 'granted');
    assert.equal(granted.length, 1);
    assert.equal(granted[0]?.customer, 'customer');
    assert.equal(granted[0]?.cluster_id, pair.primary.config.clusterId);
    assert.equal(granted[0]?.node_id, 'node-b');
    assert.equal(granted[0]?.granted_ms, EXTENSION_MS, "capped by the license's failover.max_extension_ms");
    const status = await (async () => {
      const a = createAdminClient(pair.redundant.addr, TEST_TOKEN);
      try {
        return await a.getStatus();
      } finally {
        a.close();
      }
    })();
    assert.equal(status.budget?.activations, 1);
    assert.equal(status.budget?.blocked, false);
  });

  it('without --send the manual flow is unchanged: the request key alone on stdout', async () => {
    const r = await ctl([...node(), 'activation', 'request']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^LRQ1\.[A-Za-z0-9_-]+$/);
  });
});

describe('licensectl vendor serve (the built CLI as a process)', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  function serve(args: string[]): { child: ChildProcess; firstLine: Promise<string>; exited: Promise<{ code: number | null; stderr: string }> } {
    const child = spawn(process.execPath, [CTL, 'vendor', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const firstLine = new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (c: Buffer) => {
        stdout += c.toString();
        const nl = stdout.indexOf('\n');
        if (nl >= 0) resolve(stdout.slice(0, nl));
      });
      child.on('exit', () => reject(new Error(`exited before printing: ${stderr}`)));
    });
    firstLine.catch(() => undefined);
    const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
    return { child, firstLine, exited };
  }

  it('demo mode: prints where it listens, signs, exits 0 on SIGTERM', async () => {
    const pki = createTestPki('vendor-cli');
    const keys = path.join(pki.dir, 'keys');
    const gen = await ctl(['vendor', 'keygen', '--out', keys]);
    assert.equal(gen.code, 0, gen.stderr);
    const s = serve(['--key', path.join(keys, 'vendor-private.pem'), '--listen', '127.0.0.1:0', '--demo-token', CUSTOMER_TOKEN]);
    const line = await s.firstLine;
    const m = /^vendor activation service listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
    assert.ok(m?.[1], line);
    // A request key from any cluster: demo mode signs for all.
    const key = encodeRequestKey({ cluster_id: 'demo', node_id: 'node-b', episode_id: 'e1', seq: 1, extension_ms: 1_000, nonce: newNonce(), issued_at_ms: 0 });
    const sent = await sendRequestKey({ url: m[1], token: CUSTOMER_TOKEN, requestKey: key });
    assert.equal(sent.grantedMs, 1_000);
    await assert.rejects(
      sendRequestKey({ url: m[1], token: OTHER_TOKEN, requestKey: key }),
      (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.VENDOR_REFUSED,
    );
    s.child.kill('SIGTERM');
    const { code, stderr } = await s.exited;
    assert.equal(code, 0, stderr);
    assert.match(stderr, /DEMO MODE: one token, any cluster, 3 activations per failover episode/);
  });

  it('--policy and --log: decisions appended as JSON lines; a restart replays the grants (same key for a repeat, counts kept)', async () => {
    const dir = createTestPki('vendor-cli-log').dir;
    const keys = path.join(dir, 'keys');
    assert.equal((await ctl(['vendor', 'keygen', '--out', keys])).code, 0);
    const policy = path.join(dir, 'policy.yaml');
    writeFileSync(
      policy,
      `customers:\n  acme:\n    token_sha256: "${tokenSha256(CUSTOMER_TOKEN)}"\n    clusters: [acme-prod]\n    max_activations_per_episode: 1\n`,
    );
    const log = path.join(dir, 'decisions.jsonl');
    const args = ['--key', path.join(keys, 'vendor-private.pem'), '--listen', '127.0.0.1:0', '--policy', policy, '--log', log];
    const request = (seq: number, nonce = newNonce()) =>
      encodeRequestKey({ cluster_id: 'acme-prod', node_id: 'node-b', episode_id: 'e1', seq, extension_ms: 60_000, nonce, issued_at_ms: 0 });
    const first = request(1);

    const run1 = serve(args);
    const url1 = (await run1.firstLine).replace(/^vendor activation service listening on /, '');
    const granted = await sendRequestKey({ url: url1, token: CUSTOMER_TOKEN, requestKey: first });
    run1.child.kill('SIGTERM');
    assert.equal((await run1.exited).code, 0);

    const run2 = serve(args);
    const url2 = (await run2.firstLine).replace(/^vendor activation service listening on /, '');
    const repeat = await sendRequestKey({ url: url2, token: CUSTOMER_TOKEN, requestKey: first });
    assert.equal(repeat.activationKey, granted.activationKey, 'the same key after a restart');
    await assert.rejects(sendRequestKey({ url: url2, token: CUSTOMER_TOKEN, requestKey: request(2) }), /activation limit reached: 1 of 1/);
    run2.child.kill('SIGTERM');
    const done = await run2.exited;
    assert.equal(done.code, 0);
    assert.match(done.stderr, /decision log .*decisions\.jsonl: replayed 1 grant\(s\)/);
    const lines = readFileSync(log, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as VendorDecision);
    assert.deepEqual(
      lines.map((d) => [d.decision, d.reason, d.customer]),
      [
        ['granted', 'granted', 'acme'],
        ['granted', 'repeat', 'acme'],
        ['refused', 'activation_limit', 'acme'],
      ],
    );
  });

  it('refuses to start without a policy (or a demo token), or with a bad policy, naming the problem', async () => {
    const keys = path.join(createTestPki('vendor-cli2').dir, 'keys');
    await ctl(['vendor', 'keygen', '--out', keys]);
    const key = path.join(keys, 'vendor-private.pem');
    const none = await ctl(['vendor', 'serve', '--key', key, '--listen', '127.0.0.1:0']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^licensectl: no --policy FILE: the service signs only for the customers and clusters a policy names/);
    const bad = path.join(keys, 'policy.yaml');
    writeFileSync(bad, 'customers:\n  acme:\n    clusters: [a]\n    max_activations_per_episode: 3\n    colour: red\n');
    const badRun = await ctl(['vendor', 'serve', '--key', key, '--listen', '127.0.0.1:0', '--policy', bad]);
    assert.equal(badRun.code, 1);
    assert.match(
      badRun.stderr,
      new RegExp(`^licensectl: policy ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line 5: customers\\.acme\\.colour: unknown key`),
    );
  });

  it('token-hash prints the sha256 of the token from stdin or --token', async () => {
    const viaFlag = await ctl(['vendor', 'token-hash', '--token', CUSTOMER_TOKEN]);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal(viaFlag.stdout, tokenSha256(CUSTOMER_TOKEN));
    const viaStdin = await new Promise<string>((resolve) => {
      const c = execFile(process.execPath, [CTL, 'vendor', 'token-hash'], (_e, out) => resolve(out.trim()));
      c.stdin?.end(`${CUSTOMER_TOKEN}\n`);
    });
    assert.equal(viaStdin, tokenSha256(CUSTOMER_TOKEN));
  });
});
