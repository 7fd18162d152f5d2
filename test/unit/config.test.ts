import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, readConfigFile } from '../../src/server/config';
import { ErrorCode, LicenseError } from '../../src/server/errors';

const BASE = {
  LICENSE_CLUSTER_ID: 'acme',
  LICENSE_NODE_ID: 'node-a',
  LICENSE_ROLE: 'primary',
  LICENSE_ADMIN_TOKEN: 'a-long-enough-admin-token',
  LICENSE_FILE: 'license.json',
  LICENSE_VENDOR_PUBLIC_KEY: 'vendor-public.pem',
};

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof LicenseError);
    assert.equal(err.code, ErrorCode.CONFIG_INVALID);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail('expected a config error');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(BASE);
    assert.equal(c.leaseTtlMs, 5_000);
    assert.equal(c.leaseSafetyMarginMs, 1_000);
    assert.equal(c.heartbeatIntervalMs, 1_000);
    assert.equal(c.sessionTtlMs, 60_000);
    assert.equal(c.failoverBudgetMs, 72 * 3_600_000);
    assert.equal(c.activationExtensionMs, 72 * 3_600_000);
    assert.equal(c.handbackAfterMs, 10_000);
    assert.equal(c.budgetResetAfterMs, 3_600_000);
    assert.equal(c.redundantStartupGraceMs, 10_000);
    assert.equal(c.redis.url, 'redis://127.0.0.1:6379');
    assert.equal(c.grpcAddr, '0.0.0.0:7400');
    assert.equal(c.metricsAddr, '0.0.0.0:9464');
    assert.equal(c.logLevel, 'info');
    assert.ok(Object.isFrozen(c));
  });

  it('startup grace defaults to twice the lease TTL', () => {
    assert.equal(loadConfig({ ...BASE, LICENSE_LEASE_TTL_MS: '3000' }).redundantStartupGraceMs, 6_000);
  });

  for (const [key, value, fragment] of [
    ['LICENSE_CLUSTER_ID', undefined, 'is required'],
    ['LICENSE_CLUSTER_ID', '{bad}', 'letters, digits'],
    ['LICENSE_NODE_ID', 'a:b', 'letters, digits'],
    ['LICENSE_ROLE', 'leader', '"primary" or "redundant"'],
    ['LICENSE_LEASE_TTL_MS', 'abc', 'whole number of milliseconds'],
    ['LICENSE_LEASE_TTL_MS', '0', 'above 0'],
    ['LICENSE_HEARTBEAT_INTERVAL_MS', '3000', 'at most'],
    ['LICENSE_GRPC_ADDR', 'localhost', 'host:port'],
    ['LICENSE_PEER_ADDR', 'peer:99999', 'port must be'],
    ['LICENSE_REDIS_URL', 'http://x', 'redis://'],
    ['LICENSE_ADMIN_TOKEN', 'short', 'at least 16'],
    ['LICENSE_LOG_LEVEL', 'loud', 'one of'],
    ['LICENSE_FILE', undefined, 'signed license file'],
    ['LICENSE_VENDOR_PUBLIC_KEY', undefined, 'public key'],
    ['LICENSE_REDIS_SENTINELS', 'a:1,b', 'entry 2'],
  ] as const) {
    it(`${key}=${value ?? '(unset)'} stops the node naming the key`, () => {
      const env: Record<string, string> = { ...BASE };
      if (value === undefined) delete env[key];
      else env[key] = value;
      const msg = configError(env);
      assert.ok(msg.startsWith(`${key}: `), msg);
      assert.ok(msg.includes(fragment), msg);
    });
  }

  it('Sentinel needs a master name', () => {
    const msg = configError({ ...BASE, LICENSE_REDIS_SENTINELS: 'a:26379' });
    assert.match(msg, /^LICENSE_REDIS_MASTER_NAME: /);
    const c = loadConfig({ ...BASE, LICENSE_REDIS_SENTINELS: 'a:26379, b:26380', LICENSE_REDIS_MASTER_NAME: 'lic' });
    assert.deepEqual(c.redis, { sentinels: [{ host: 'a', port: 26379 }, { host: 'b', port: 26380 }], masterName: 'lic' });
  });

  it('Redis Cluster seed nodes; not together with Sentinel', () => {
    const c = loadConfig({ ...BASE, LICENSE_REDIS_CLUSTER_NODES: 'r1:7000,r2:7001' });
    assert.deepEqual(c.redis.clusterNodes, [
      { host: 'r1', port: 7000 },
      { host: 'r2', port: 7001 },
    ]);
    assert.match(configError({ ...BASE, LICENSE_REDIS_CLUSTER_NODES: 'r1:7000', LICENSE_REDIS_SENTINELS: 's:1' }), /^LICENSE_REDIS_CLUSTER_NODES: cannot be combined/);
    assert.match(configError({ ...BASE, LICENSE_REDIS_CLUSTER_NODES: 'r1' }), /^LICENSE_REDIS_CLUSTER_NODES: entry 1 must be host:port/);
  });

  it('TLS files go together; the cluster secret has a minimum length; limits are whole numbers', () => {
    assert.match(configError({ ...BASE, LICENSE_TLS_CERT: 'c.pem' }), /^LICENSE_TLS_KEY: LICENSE_TLS_CERT and LICENSE_TLS_KEY must be set together/);
    assert.match(configError({ ...BASE, LICENSE_TLS_CA: 'ca.pem' }), /^LICENSE_TLS_CA: needs LICENSE_TLS_CERT/);
    assert.match(configError({ ...BASE, LICENSE_CLUSTER_SECRET: 'short' }), /^LICENSE_CLUSTER_SECRET: must be at least 16/);
    assert.match(configError({ ...BASE, LICENSE_MAX_SEATS_PER_SESSION: '0' }), /^LICENSE_MAX_SEATS_PER_SESSION: must be a whole number above 0/);
    assert.match(configError({ ...BASE, LICENSE_BLOCKED_KEEPS_SESSIONS: 'yes' }), /^LICENSE_BLOCKED_KEEPS_SESSIONS: must be "true" or "false"/);
    const c = loadConfig({ ...BASE, LICENSE_TLS_CERT: 'c.pem', LICENSE_TLS_KEY: 'k.pem', LICENSE_TLS_CA: 'ca.pem' });
    assert.deepEqual(c.tls, { certFile: 'c.pem', keyFile: 'k.pem', caFile: 'ca.pem' });
    assert.deepEqual(c.limits, { maxSessionsPerClient: 64, maxSeatsPerSession: 1024, maxConcurrentCalls: 1024, maxMessageBytes: 65536 });
  });

  it('advertise address defaults to the gRPC address, with the host name for a wildcard bind', () => {
    assert.equal(loadConfig({ ...BASE, LICENSE_GRPC_ADDR: '10.0.0.5:7400' }).advertiseAddr, '10.0.0.5:7400');
    assert.doesNotMatch(loadConfig(BASE).advertiseAddr, /^0\.0\.0\.0:/);
    assert.equal(loadConfig({ ...BASE, LICENSE_ADVERTISE_ADDR: 'lic.example:7400' }).advertiseAddr, 'lic.example:7400');
  });

  it('a config file sets the same keys and the environment wins', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
    const file = path.join(dir, 'node.yaml');
    writeFileSync(file, 'LICENSE_CLUSTER_ID: filecluster\nLICENSE_LEASE_TTL_MS: 4000\n');
    const c = loadConfig({ ...BASE, LICENSE_CLUSTER_ID: 'envcluster' }, readConfigFile(file));
    assert.equal(c.clusterId, 'envcluster');
    assert.equal(c.leaseTtlMs, 4_000);
    writeFileSync(file, 'LICENSE_TYPO: 1\n');
    assert.throws(() => readConfigFile(file), /unknown key LICENSE_TYPO/);
  });
});
