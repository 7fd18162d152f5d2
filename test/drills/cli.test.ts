import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LocalCluster, startLocalCluster } from '../../src/tools/local/local-cluster';
import { NodeProcess } from '../../src/tools/local/node-process';
import { signDevLicense } from '../../src/tools/local/dev-license';
import { hostIdFromMachineId, readHostId } from '../../src/server/license/host-id';
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

/** The unsigned license these tests sign with the vendor CLI. */
const ACME = {
  licensee: 'ACME',
  cluster_id: 'acme',
  serial: 1,
  servers: [
    { node_id: 'n1', role: 'primary' },
    { node_id: 'n2', role: 'redundant' },
  ],
  features: [{ name: 'cad', seats: 3 }],
};

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
    writeFileSync(unsigned, JSON.stringify(ACME));
    const out = path.join(dir, 'license.json');
    const r = run('licensectl', ['vendor', 'sign-license', '--key', path.join(dir, 'vendor-private.pem'), '--in', unsigned, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wrote .*license\.json: ACME, cluster acme, serial 1, servers n1 \(primary\), n2 \(redundant\), cad=3$/m);
    const signed = JSON.parse(readFileSync(out, 'utf8')) as { signature: string; features: unknown[] };
    assert.ok(signed.signature.length > 40);
    for (const [bad, field] of [
      [{ ...ACME, features: [{ name: 'cad', seats: -1 }] }, 'features\\.0\\.seats'],
      [{ ...ACME, failover: { budget_ms: 0 } }, 'failover\\.budget_ms'],
      [{ ...ACME, serial: 0 }, 'serial'],
      [{ ...ACME, servers: [{ node_id: 'n1', role: 'redundant' }] }, 'servers: must name exactly one primary'],
    ] as const) {
      writeFileSync(unsigned, JSON.stringify(bad));
      const refused = run('licensectl', [
        'vendor',
        'sign-license',
        '--key',
        path.join(dir, 'vendor-private.pem'),
        '--in',
        unsigned,
        '--out',
        path.join(dir, 'x.json'),
      ]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, new RegExp(`^licensectl: --in .*unsigned\\.json: ${field}`));
    }
    writeFileSync(unsigned, JSON.stringify({ ...ACME, features: [{ name: 'cad', seats: -1 }] }));
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
      LICENSE_ADMIN_TOKEN: 'a-long-enough-admin-token',
      LICENSE_VENDOR_PUBLIC_KEY: path.join(dir, 'vendor-public.pem'),
      LICENSE_METRICS_ADDR: 'off',
      LICENSE_CONSOLE_ADDR: 'off',
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

/**
 * What a customer controls (configuration, which machine a node runs on, which license
 * file it loads) cannot change the vendor's terms: each attempt stops `licensed` at start
 * with exit 2 and one line saying what is wrong.
 */
describe('licensed refuses what would stretch the license (exit 2, one line)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'terms-'));
  const key = path.join(dir, 'vendor-private.pem');
  const sign = (name: string, doc: object): string => {
    const unsigned = path.join(dir, `${name}.unsigned.json`);
    const out = path.join(dir, `${name}.json`);
    writeFileSync(unsigned, JSON.stringify(doc));
    const r = run('licensectl', ['vendor', 'sign-license', '--key', key, '--in', unsigned, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    return out;
  };
  const env = (over: Record<string, string> = {}): Record<string, string> => ({
    LICENSE_CLUSTER_ID: 'acme',
    LICENSE_NODE_ID: 'n2',
    LICENSE_ADMIN_TOKEN: 'a-long-enough-admin-token',
    LICENSE_VENDOR_PUBLIC_KEY: path.join(dir, 'vendor-public.pem'),
    LICENSE_FILE: path.join(dir, 'acme.json'),
    LICENSE_METRICS_ADDR: 'off',
    LICENSE_CONSOLE_ADDR: 'off',
    LICENSE_GRPC_ADDR: '127.0.0.1:0',
    LICENSE_REDIS_URL: 'redis://127.0.0.1:1',
    LICENSE_STATE_DIR: path.join(dir, 'state'),
    ...over,
  });
  const refused = (over: Record<string, string>, args: string[] = []): string => {
    const r = run('licensed', ['serve', ...args], env(over));
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    return lines[0] ?? '';
  };
  /** Starts licensed for real (it gets past every start check) and stops it again. */
  const starts = async (over: Record<string, string>): Promise<void> => {
    const n = new NodeProcess({ name: 'terms', env: env(over) }).start();
    try {
      await n.waitForLog((l) => l.message === 'license node listening', 15_000, 'the node listening');
    } finally {
      await n.kill();
    }
  };

  before(() => {
    assert.equal(run('licensectl', ['vendor', 'keygen', '--out', dir]).code, 0);
    sign('acme', ACME);
  });

  for (const [key, field] of [
    ['LICENSE_FAILOVER_BUDGET_MS', 'failover.budget_ms'],
    ['LICENSE_BUDGET_RESET_AFTER_MS', 'failover.reset_after_ms'],
    ['LICENSE_ACTIVATION_EXTENSION_MS', 'failover.max_extension_ms'],
  ] as const) {
    it(`${key}: a license term now, refused in the environment and in --config naming ${field}`, () => {
      assert.match(refused({ [key]: '9007199254740991' }), new RegExp(`^licensed: ${key}: is no longer a setting: .*${field.replace('.', '\\.')}`));
      const file = path.join(dir, `${key}.yaml`);
      writeFileSync(file, `${key}: 1\n`);
      assert.match(refused({}, ['--config', file]), new RegExp(`^licensed: --config ${file}: ${key}: is no longer a setting: .*${field.replace('.', '\\.')}`));
    });
  }

  it('the role comes from the license: LICENSE_ROLE=primary on the licensed redundant is refused; unset it runs as the redundant', async () => {
    assert.match(
      refused({ LICENSE_ROLE: 'primary' }),
      /^licensed: LICENSE_ROLE: "primary" contradicts license file .*acme\.json, which makes n2 the redundant/,
    );
    await starts({});
  });

  it('a node id the license does not list is refused, naming the key and the listed servers', () => {
    assert.match(
      refused({ LICENSE_NODE_ID: 'n3' }),
      /^licensed: LICENSE_NODE_ID: "n3" is not a server of license file .*, which lists n1 \(primary\), n2 \(redundant\)/,
    );
  });

  it('host binding: licensectl hostid prints this machine id; a server bound to another machine is refused, bound to this one it starts', async (t) => {
    let here: string;
    try {
      here = readHostId();
    } catch {
      t.skip('this machine has no machine id');
      return;
    }
    const h = run('licensectl', ['hostid']);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(h.stdout, `${here}\n`);
    const other = hostIdFromMachineId(here === hostIdFromMachineId('0'.repeat(32)) ? '1'.repeat(32) : '0'.repeat(32));
    const elsewhere = sign('elsewhere', { ...ACME, servers: [ACME.servers[0], { node_id: 'n2', role: 'redundant', host_id: other }] });
    assert.match(
      refused({ LICENSE_FILE: elsewhere }),
      new RegExp(`^licensed: license file .*elsewhere\\.json: server n2 is bound to host id ${other}, this machine is ${here} \\(licensectl hostid\\)`),
    );
    await starts({ LICENSE_FILE: sign('here', { ...ACME, servers: [ACME.servers[0], { node_id: 'n2', role: 'redundant', host_id: here }] }) });
  });

  it('serials only go up: once a node ran with serial 2, serial 1 is refused at start', async () => {
    const state = path.join(dir, 'state-serial');
    await starts({ LICENSE_FILE: sign('serial-2', { ...ACME, serial: 2 }), LICENSE_STATE_DIR: state });
    assert.match(
      refused({ LICENSE_FILE: sign('serial-1', ACME), LICENSE_STATE_DIR: state }),
      /^licensed: license file .*serial-1\.json: serial 1 is older than serial 2, which this node has run with or seen in cluster "acme"/,
    );
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
    assert.match(r.stdout, /^license\s+serial 1$/m);
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
    signDevLicense(c.license, other, c.clusterId, { features: [{ name: 'cad-pro', seats: 99 }] });
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
