import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LocalCluster, startLocalCluster } from '../../src/tools/local/local-cluster';
import { NodeProcess } from '../../src/tools/local/node-process';
import { signLicense } from '../../src/server/license/license-file';
import { eventually } from '../helpers/redis';
import { createSeatProbe } from '../helpers/seat-probe';

const DIST = path.resolve(__dirname, '..', '..', 'dist', 'server', 'cli');

function run(bin: 'licensectl' | 'licensed', args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(DIST, `${bin}.js`), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', ...env },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('licensectl vendor tools', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vendor-'));

  it('keygen writes a private key only the owner can read, and refuses to overwrite', () => {
    const r = run('licensectl', ['vendor', 'keygen', '--out', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(path.join(dir, 'vendor-private.pem')).mode & 0o777, 0o600);
    assert.match(readFileSync(path.join(dir, 'vendor-public.pem'), 'utf8'), /BEGIN PUBLIC KEY/);
    const again = run('licensectl', ['vendor', 'keygen', '--out', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds vendor keys; pass --force/);
  });

  it('sign-license signs a valid file and rejects a bad one naming the field', () => {
    const unsigned = path.join(dir, 'unsigned.json');
    writeFileSync(unsigned, JSON.stringify({ licensee: 'ACME', cluster_id: 'acme', features: [{ name: 'cad', seats: 3 }] }));
    const out = path.join(dir, 'license.json');
    const r = run('licensectl', ['vendor', 'sign-license', '--key', path.join(dir, 'vendor-private.pem'), '--in', unsigned, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const signed = JSON.parse(readFileSync(out, 'utf8')) as { signature: string; features: unknown[] };
    assert.ok(signed.signature.length > 40);
    writeFileSync(unsigned, JSON.stringify({ licensee: 'ACME', cluster_id: 'acme', features: [{ name: 'cad', seats: -1 }] }));
    const bad = run('licensectl', [
      'vendor',
      'sign-license',
      '--key',
      path.join(dir, 'vendor-private.pem'),
      '--in',
      unsigned,
      '--out',
      path.join(dir, 'x.json'),
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^licensectl: --in .*unsigned\.json: features\.0\.seats: /);
  });

  it('licensed refuses to start on a tampered or foreign license, naming the file and the reason', () => {
    const out = path.join(dir, 'license.json');
    const base = {
      LICENSE_CLUSTER_ID: 'acme',
      LICENSE_NODE_ID: 'n1',
      LICENSE_ROLE: 'primary',
      LICENSE_ADMIN_TOKEN: 'a-long-enough-admin-token',
      LICENSE_VENDOR_PUBLIC_KEY: path.join(dir, 'vendor-public.pem'),
      LICENSE_METRICS_ADDR: 'off',
      LICENSE_STATE_DIR: path.join(dir, 'state'),
    };
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { features: { seats: number }[] };
    (doc.features[0] as { seats: number }).seats = 300;
    const tampered = path.join(dir, 'tampered.json');
    writeFileSync(tampered, JSON.stringify(doc));
    const t = run('licensed', ['serve'], { ...base, LICENSE_FILE: tampered });
    assert.equal(t.code, 2);
    assert.equal(t.stderr.trim().split('\n').length, 1);
    assert.match(t.stderr, new RegExp(`^licensed: license file ${tampered.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: signature does not verify`));
    const foreign = run('licensed', ['serve'], { ...base, LICENSE_CLUSTER_ID: 'other', LICENSE_FILE: out });
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /issued for cluster "acme", this node is in cluster "other"/);
    const missing = run('licensed', ['serve'], { ...base, LICENSE_FILE: path.join(dir, 'nope.json') });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.json: cannot read \(ENOENT\)/);
  });
});

describe('licensectl against a running cluster', () => {
  let c: LocalCluster;
  before(async () => {
    c = await startLocalCluster({ leaseTtlMs: 1_500, heartbeatIntervalMs: 300, handbackAfterMs: 1_500 });
    await c.primary.waitForState('ACTIVE');
    await c.redundant.waitForState('STANDBY');
  });
  after(async () => {
    await c.stop();
  });

  it('status prints the node, state, leader, peer, budget and features; --json is machine-readable', async () => {
    await eventually(async () => (await c.admin('primary').getStatus()).peer?.reachable || undefined);
    const r = run('licensectl', ['--server', c.addr.primary, '--token', c.token, 'status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^cluster\s+local-/m);
    assert.match(r.stdout, /^state\s+ACTIVE$/m);
    assert.match(r.stdout, /^leader\s+node-a at /m);
    assert.match(r.stdout, /^peer\s+node-b \(redundant\) STANDBY, reachable/m);
    assert.match(r.stdout, /^feature\s+cad-pro: 0\/5 in use$/m);
    const j = run('licensectl', ['--server', c.addr.redundant, '--token', c.token, '--json', 'status']);
    const s = JSON.parse(j.stdout) as { state: string; leader_node_id: string };
    assert.equal(s.state, 'NODE_STATE_STANDBY');
    assert.equal(s.leader_node_id, 'node-a');
  });

  it('a wrong token or a dead server is one clear line and exit 1', () => {
    const bad = run('licensectl', ['--server', c.addr.primary, '--token', 'wrong-token-wrong-token', 'status']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /PERMISSION_DENIED: admin token rejected/);
    const none = run('licensectl', ['--server', c.addr.primary, 'status']);
    assert.match(none.stderr, /no admin token: pass --token or set LICENSE_ADMIN_TOKEN/);
    // Neither the real token nor the wrong one ever reaches a log line.
    const logged = [...c.primary.lines, ...c.redundant.lines].map((l) => JSON.stringify(l));
    assert.ok(logged.length > 3);
    assert.ok(!logged.some((l) => l.includes(c.token) || l.includes('wrong-token-wrong-token')), 'an admin token was logged');
  });

  it('leases lists held seats (table and --json)', async () => {
    const r0 = run('licensectl', ['--server', c.addr.primary, '--token', c.token, 'leases']);
    assert.equal(r0.stdout.trim(), 'no seats in use');
    // Hold a seat with a bare gRPC client (the SDK is covered by its own tests).
    const probe = await createSeatProbe(c.addr.primary);
    await probe.checkout('cad-pro', 2);
    const r = run('licensectl', ['--server', c.addr.redundant, '--token', c.token, 'leases']);
    assert.match(r.stdout, /^LEASE\s+FEATURE\s+COUNT\s+CLIENT/m);
    assert.match(r.stdout, /cad-pro\s+2\s+seat-probe/);
    const j = JSON.parse(run('licensectl', ['--server', c.addr.primary, '--token', c.token, '--json', 'leases', '--feature', 'cad-pro']).stdout) as {
      leases: { feature: string; count: number }[];
    };
    assert.deepEqual(
      j.leases.map((l) => [l.feature, l.count]),
      [['cad-pro', 2]],
    );
    await probe.close();
  });
});

describe('license digest check between the peers', () => {
  let c: LocalCluster;
  after(async () => {
    await c.stop();
  });

  it('a redundant with a different license file is logged as an error on both nodes and shown in status', async () => {
    c = await startLocalCluster({ leaseTtlMs: 1_500, heartbeatIntervalMs: 300, startNodes: false });
    // Same vendor, same cluster, different seats: validly signed, but not the same file.
    const other = path.join(c.dir, 'license-other.json');
    writeFileSync(
      other,
      JSON.stringify(
        signLicense(
          { licensee: 'Local development', cluster_id: c.clusterId, features: [{ name: 'cad-pro', seats: 99 }] },
          createPrivateKey(readFileSync(c.license.privateKeyFile, 'utf8')),
        ),
      ),
    );
    const redundant = new NodeProcess({ name: 'redundant', env: { ...c.envOf('redundant'), LICENSE_FILE: other } });
    c.primary.start();
    redundant.start();
    try {
      await c.primary.waitForLog((l) => l.level === 'error' && /different license file/.test(String(l.message)), 15_000, 'digest error on primary');
      await redundant.waitForLog((l) => l.level === 'error' && /different license file/.test(String(l.message)), 15_000, 'digest error on redundant');
      const s = await eventually(async () => {
        const st = await c.admin('primary').getStatus();
        return st.peer?.license_digest ? st : undefined;
      });
      assert.notEqual(s.peer?.license_digest, s.license_digest);
      const r = run('licensectl', ['--server', c.addr.primary, '--token', c.token, 'status']);
      assert.match(r.stdout, /WARNING: peer loaded a different license file/);
    } finally {
      await redundant.kill();
    }
  });
});
