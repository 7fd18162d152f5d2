import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_KEYS, DEFAULTS, describeRedis, loadConfig, parseHostPort, readConfigFile } from '../../src/server/config';
import { type KeySpec, LICENSE_TERM_KEYS, redactRedisUrl, SPEC } from '../../src/server/config-spec';
import { ErrorCode, LicenseError } from '../../src/server/errors';

const BASE = {
  LICENSE_CLUSTER_ID: 'acme',
  LICENSE_NODE_ID: 'node-a',
  LICENSE_ROLE: 'primary',
  LICENSE_ADMIN_TOKEN: 'a-long-enough-admin-token',
  LICENSE_FILE: 'license.json',
  LICENSE_VENDOR_PUBLIC_KEY: 'vendor-public.pem',
};

function configError(env: Record<string, string>, fileValues: Record<string, string> = {}): string {
  try {
    loadConfig(env, fileValues);
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
    assert.equal(c.handbackAfterMs, 10_000);
    assert.equal(c.redundantStartupGraceMs, 10_000);
    assert.equal(c.redis.url, 'redis://127.0.0.1:6379');
    assert.equal(c.grpcAddr, '0.0.0.0:7400');
    assert.equal(c.metricsAddr, '0.0.0.0:9464');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.insecurePeers, false);
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
    assert.deepEqual(c.redis, {
      sentinels: [
        { host: 'a', port: 26379 },
        { host: 'b', port: 26380 },
      ],
      masterName: 'lic',
      // Replicated topology: one replica must acknowledge each write unless told otherwise.
      minReplicas: 1,
    });
    assert.equal(loadConfig(BASE).redis.minReplicas, 0, 'one Redis: nothing to wait for');
    assert.equal(loadConfig({ ...BASE, LICENSE_REDIS_URL: 'redis://r:6379', LICENSE_REDIS_MIN_REPLICAS: '2' }).redis.minReplicas, 2);
    assert.match(configError({ ...BASE, LICENSE_REDIS_MIN_REPLICAS: '-1' }), /^LICENSE_REDIS_MIN_REPLICAS: must be a whole number of replicas \(0 to 16\)/);
    assert.match(configError({ ...BASE, LICENSE_REDIS_MIN_REPLICAS: '17' }), /^LICENSE_REDIS_MIN_REPLICAS: must be a whole number of replicas/);
  });

  it('Redis Cluster seed nodes; not together with Sentinel', () => {
    const c = loadConfig({ ...BASE, LICENSE_REDIS_CLUSTER_NODES: 'r1:7000,r2:7001' });
    assert.deepEqual(c.redis.clusterNodes, [
      { host: 'r1', port: 7000 },
      { host: 'r2', port: 7001 },
    ]);
    assert.match(
      configError({ ...BASE, LICENSE_REDIS_CLUSTER_NODES: 'r1:7000', LICENSE_REDIS_SENTINELS: 's:1' }),
      /^LICENSE_REDIS_CLUSTER_NODES: cannot be combined/,
    );
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

  it('LICENSE_ROLE is optional (the license file gives the role) and, when set, still checked', () => {
    const env: Record<string, string> = { ...BASE };
    delete env['LICENSE_ROLE'];
    assert.equal(loadConfig(env).role, undefined);
    assert.equal(loadConfig({ ...env, LICENSE_ROLE: 'redundant' }).role, 'redundant');
  });

  // The failover terms are the vendor's: a customer who could set them could stretch the
  // budget (an endless budget on the redundant, a refill after every short handback).
  for (const [key, field] of [
    ['LICENSE_FAILOVER_BUDGET_MS', 'failover.budget_ms'],
    ['LICENSE_BUDGET_RESET_AFTER_MS', 'failover.reset_after_ms'],
    ['LICENSE_ACTIVATION_EXTENSION_MS', 'failover.max_extension_ms'],
  ] as const) {
    it(`${key} is no longer a setting: refused in the environment and in a --config file, naming ${field}`, () => {
      for (const value of ['9007199254740991', '1', '259200000']) {
        const msg = configError({ ...BASE, [key]: value });
        assert.match(msg, new RegExp(`^${key}: is no longer a setting: .*license term.*${field.replace('.', '\\.')}`));
      }
      // Another key's problem does not hide it: it is the first thing checked.
      assert.match(configError({ ...BASE, LICENSE_LEASE_TTL_MS: 'soon', [key]: '1' }), new RegExp(`^${key}: `));
      const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
      const file = path.join(dir, 'node.yaml');
      writeFileSync(file, `${key}: 1\n`);
      assert.throws(
        () => readConfigFile(file),
        (err: unknown) =>
          err instanceof LicenseError &&
          err.code === ErrorCode.CONFIG_INVALID &&
          err.message.startsWith(`--config ${file}: ${key}: is no longer a setting: `) &&
          err.message.includes(field) &&
          !err.message.includes('\n'),
      );
      // Handed over as file values (the way licensed passes them): refused the same way.
      assert.match(configError(BASE, { [key]: '1' }), new RegExp(`^${key}: is no longer a setting`));
      // Empty counts as unset, as for every key (compose templates leave ${X:-} empty).
      assert.doesNotThrow(() => loadConfig({ ...BASE, [key]: '' }));
    });
  }

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

  it('a bad value is reported before a missing required key, with the value it got', () => {
    // The drill "bad configuration stops the node" depends on this order and exact line.
    const env: Record<string, string> = { ...BASE, LICENSE_LEASE_TTL_MS: 'soon' };
    delete env['LICENSE_FILE'];
    assert.equal(configError(env), 'LICENSE_LEASE_TTL_MS: must be a whole number of milliseconds (got "soon")');
  });

  it('a value with a line break still gives a one-line message', () => {
    assert.equal(configError({ ...BASE, LICENSE_LOG_LEVEL: 'info\nwarn' }), 'LICENSE_LOG_LEVEL: must be one of error, warn, info, debug (got "info\\nwarn")');
  });

  it('metrics "off" means no listener; anything else must be host:port', () => {
    assert.equal(loadConfig({ ...BASE, LICENSE_METRICS_ADDR: 'off' }).metricsAddr, undefined);
    assert.match(configError({ ...BASE, LICENSE_METRICS_ADDR: 'nope' }), /^LICENSE_METRICS_ADDR: must be host:port or "off"/);
  });

  it('safety margin defaults to 20% of the TTL and is at most half of it; a node is not its own peer', () => {
    assert.equal(loadConfig({ ...BASE, LICENSE_LEASE_TTL_MS: '3000' }).leaseSafetyMarginMs, 600);
    assert.equal(
      configError({ ...BASE, LICENSE_LEASE_SAFETY_MARGIN_MS: '3000' }),
      'LICENSE_LEASE_SAFETY_MARGIN_MS: must be at most half of LICENSE_LEASE_TTL_MS (5000)',
    );
    assert.match(
      configError({ ...BASE, LICENSE_GRPC_ADDR: '10.0.0.5:7400', LICENSE_PEER_ADDR: '10.0.0.5:7400' }),
      /^LICENSE_PEER_ADDR: must not equal LICENSE_GRPC_ADDR/,
    );
  });

  describe('a node with a peer authenticates its heartbeats', () => {
    const PEER = { ...BASE, LICENSE_GRPC_ADDR: '10.0.0.5:7400', LICENSE_PEER_ADDR: '10.0.0.6:7400' };
    const SECRET = 'f3e1c0de5ecret-0f-the-cluster-42';

    it('without LICENSE_CLUSTER_SECRET or LICENSE_TLS_CA it is refused, in one line naming the keys and the fix', () => {
      const msg = configError(PEER);
      assert.match(msg, /^LICENSE_CLUSTER_SECRET: is required when LICENSE_PEER_ADDR is set/);
      assert.match(msg, /same value on both nodes \(e\.g\. openssl rand -hex 32\)/);
      assert.match(msg, /LICENSE_TLS_CA for mutual TLS/);
      assert.match(msg, /LICENSE_INSECURE_PEERS=true to accept unauthenticated heartbeats/);
      // The same from a config file, and with TLS but no CA (encrypted, yet anyone with a connection may pose as the peer).
      assert.equal(configError(BASE, { LICENSE_PEER_ADDR: '10.0.0.6:7400' }), msg);
      assert.equal(configError({ ...PEER, LICENSE_TLS_CERT: 'c.pem', LICENSE_TLS_KEY: 'k.pem' }), msg);
      assert.equal(configError({ ...PEER, LICENSE_INSECURE_PEERS: 'false' }), msg);
      assert.equal(configError({ ...PEER, LICENSE_CLUSTER_SECRET: '' }), msg, 'an empty secret is no secret');
    });

    it('is accepted with a cluster secret, with mutual TLS, or with LICENSE_INSECURE_PEERS=true', () => {
      const withSecret = loadConfig({ ...PEER, LICENSE_CLUSTER_SECRET: SECRET });
      assert.equal(withSecret.clusterSecret, SECRET);
      assert.equal(withSecret.insecurePeers, false);
      const withCa = loadConfig({ ...PEER, LICENSE_TLS_CERT: 'c.pem', LICENSE_TLS_KEY: 'k.pem', LICENSE_TLS_CA: 'ca.pem' });
      assert.equal(withCa.tls?.caFile, 'ca.pem');
      assert.equal(withCa.clusterSecret, undefined);
      assert.equal(withCa.insecurePeers, false);
      const insecure = loadConfig({ ...PEER, LICENSE_INSECURE_PEERS: 'true' });
      assert.equal(insecure.peerAddr, '10.0.0.6:7400');
      assert.equal(insecure.clusterSecret, undefined);
      assert.equal(insecure.insecurePeers, true);
      assert.equal(loadConfig(PEER, { LICENSE_INSECURE_PEERS: 'true' }).insecurePeers, true, 'from a config file too');
      assert.equal(loadConfig({ ...PEER, LICENSE_CLUSTER_SECRET: SECRET, LICENSE_INSECURE_PEERS: 'true' }).clusterSecret, SECRET);
    });

    it('a node without a peer needs none of them; LICENSE_INSECURE_PEERS defaults to false and takes only true/false', () => {
      const alone = loadConfig(BASE);
      assert.equal(alone.peerAddr, undefined);
      assert.equal(alone.insecurePeers, false);
      assert.equal(loadConfig({ ...BASE, LICENSE_PEER_ADDR: '' }).peerAddr, undefined, 'empty is unset');
      assert.equal(
        configError({ ...PEER, LICENSE_INSECURE_PEERS: 'yes' }),
        'LICENSE_INSECURE_PEERS: must be "true" or "false" (got "yes")',
        'a bad flag is named before the missing secret',
      );
    });

    it('the refusal never shows a secret: a bad secret is named without its value, and no other value is echoed', () => {
      const short = 'hunter2-short';
      const bad = configError({ ...PEER, LICENSE_CLUSTER_SECRET: short });
      assert.match(bad, /^LICENSE_CLUSTER_SECRET: must be at least 16/);
      assert.ok(!bad.includes(short) && !bad.includes('(got'), bad);
      const missing = configError({ ...PEER, LICENSE_REDIS_URL: 'redis://app:s3cr3t-pw@redis:6379' });
      for (const value of ['s3cr3t', PEER.LICENSE_ADMIN_TOKEN, PEER.LICENSE_PEER_ADDR]) assert.ok(!missing.includes(value), `${value} in ${missing}`);
    });
  });

  it('parseHostPort keeps its own messages', () => {
    assert.deepEqual(parseHostPort('[::1]:7400'), { host: '::1', port: 7400 });
    assert.throws(() => parseHostPort('localhost'), { message: 'must be host:port, got "localhost"' });
    assert.throws(() => parseHostPort('h:99999'), { message: 'port must be 0-65535, got 99999' });
  });
});

describe('config errors never echo a secret', () => {
  const PASSWORD = 's3cr3t-p@ss/word';

  it('a Redis URL with a trailing space: names the key, shows the URL with the password masked', () => {
    const msg = configError({ ...BASE, LICENSE_REDIS_URL: `redis://app:${PASSWORD}@redis.internal:6379 ` });
    assert.equal(msg, 'LICENSE_REDIS_URL: must be a redis:// or rediss:// URL (got "redis://app:***@redis.internal:6379 ")');
    assert.ok(!msg.includes('s3cr3t'), msg);
  });

  it('a Redis URL from a config file is masked the same way', () => {
    const msg = configError(BASE, { LICENSE_REDIS_URL: `rediss://:${PASSWORD}@r:6380/0 ` });
    assert.match(msg, /^LICENSE_REDIS_URL: /);
    assert.ok(!msg.includes('s3cr3t'), msg);
  });

  it('ignoring Redis when Sentinel is used does not skip the check (nor the masking)', () => {
    const msg = configError({ ...BASE, LICENSE_REDIS_SENTINELS: 's:26379', LICENSE_REDIS_MASTER_NAME: 'm', LICENSE_REDIS_URL: `redis://u:${PASSWORD}@h 1` });
    assert.match(msg, /^LICENSE_REDIS_URL: /);
    assert.ok(!msg.includes('s3cr3t'), msg);
  });

  for (const [key, value] of [
    ['LICENSE_ADMIN_TOKEN', 'hunter2-short'],
    ['LICENSE_ADMIN_TOKEN', 'a long enough token with spaces'],
    ['LICENSE_CLUSTER_SECRET', 'hunter2-short'],
  ] as const) {
    it(`${key}: a bad value is named but not shown`, () => {
      const msg = configError({ ...BASE, [key]: value });
      assert.ok(msg.startsWith(`${key}: must be `), msg);
      assert.ok(!msg.includes(value) && !msg.includes('hunter2') && !msg.includes('(got'), msg);
    });
  }

  it('the secret keys are marked secret in the spec', () => {
    const secret = Object.entries(SPEC)
      .filter(([, spec]: [string, KeySpec<unknown>]) => spec.secret === true)
      .map(([k]) => k);
    assert.deepEqual(secret.sort(), ['LICENSE_ADMIN_TOKEN', 'LICENSE_CLUSTER_SECRET', 'LICENSE_REDIS_URL', 'LICENSE_VENDOR_ACTIVATION_TOKEN']);
  });

  it('redactRedisUrl masks user-info passwords and password= parameters, and hides what is not a URL', () => {
    assert.equal(redactRedisUrl('redis://user:pw@h:6379/0'), 'redis://user:***@h:6379/0');
    assert.equal(redactRedisUrl('redis://:pw@h'), 'redis://:***@h');
    assert.equal(redactRedisUrl('redis://onlypw@h'), 'redis://***@h');
    assert.equal(redactRedisUrl('redis://u:p@ss/w@h:1'), 'redis://u:***@h:1');
    assert.equal(redactRedisUrl('redis://h:6379?db=1&password=pw&x=1'), 'redis://h:6379?db=1&password=***&x=1');
    assert.equal(redactRedisUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
    assert.equal(redactRedisUrl('user:pw@h:6379'), undefined);
  });
});

describe('describeRedis', () => {
  it('names the topology and addresses, never credentials', () => {
    assert.equal(describeRedis({ url: 'redis://user:s3cr3t@db.example:6380/2?password=x', minReplicas: 0 }), 'single redis://db.example:6380/2');
    assert.equal(describeRedis({ url: 'rediss://:pw@[::1]:6379', minReplicas: 1 }), 'single rediss://[::1]:6379 (writes confirmed by 1 replica)');
    assert.equal(
      describeRedis({
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26379 },
        ],
        masterName: 'licmaster',
        minReplicas: 2,
      }),
      'sentinel licmaster via s1:26379,s2:26379 (writes confirmed by 2 replicas)',
    );
    assert.equal(describeRedis({ clusterNodes: [{ host: 'c1', port: 7000 }], minReplicas: 0 }), 'cluster c1:7000');
    assert.equal(describeRedis({ url: 'not a url with pw', minReplicas: 0 }), 'single redis');
  });
});

describe('LICENSE_POLICY_FILE', () => {
  it('is optional, and names the seat policy file when set', () => {
    assert.equal(loadConfig(BASE).policyFile, undefined);
    assert.equal(loadConfig({ ...BASE, LICENSE_POLICY_FILE: '/etc/license/policy.yaml' }).policyFile, '/etc/license/policy.yaml');
  });
});

describe('LICENSE_USAGE_RETENTION', () => {
  it('takes days, hours, minutes, seconds or milliseconds; 400 days by default; at least a minute', () => {
    assert.equal(loadConfig(BASE).usageRetentionMs, 400 * 24 * 3_600_000);
    assert.equal(loadConfig({ ...BASE, LICENSE_USAGE_RETENTION: '36h' }).usageRetentionMs, 36 * 3_600_000);
    assert.equal(loadConfig({ ...BASE, LICENSE_USAGE_RETENTION: '90m' }).usageRetentionMs, 90 * 60_000);
    assert.equal(loadConfig({ ...BASE, LICENSE_USAGE_RETENTION: '120000' }).usageRetentionMs, 120_000);
    assert.match(configError({ ...BASE, LICENSE_USAGE_RETENTION: '1 year' }), /^LICENSE_USAGE_RETENTION: must be a duration such as 400d/);
    assert.match(configError({ ...BASE, LICENSE_USAGE_RETENTION: '30s' }), /^LICENSE_USAGE_RETENTION: must be at least one minute/);
  });
});

describe('console and vendor settings', () => {
  it('the console is on at 0.0.0.0:7480 by default, off with "off"; its URL and session length can be set', () => {
    assert.deepEqual(loadConfig(BASE).console, { addr: '0.0.0.0:7480', sessionTtlMs: 8 * 3_600_000 });
    assert.equal(loadConfig({ ...BASE, LICENSE_CONSOLE_ADDR: 'off' }).console, undefined);
    assert.deepEqual(loadConfig({ ...BASE, LICENSE_CONSOLE_URL: 'https://lic.example.com:8443/', LICENSE_CONSOLE_SESSION_MS: '60000' }).console, {
      addr: '0.0.0.0:7480',
      sessionTtlMs: 60_000,
      url: 'https://lic.example.com:8443',
    });
    assert.match(configError({ ...BASE, LICENSE_CONSOLE_URL: 'javascript:alert(1)' }), /^LICENSE_CONSOLE_URL: must be an http:\/\/ or https:\/\/ URL/);
    assert.match(configError({ ...BASE, LICENSE_CONSOLE_ADDR: '7480' }), /^LICENSE_CONSOLE_ADDR: must be host:port or "off"/);
  });

  it('the vendor activation URL and token go together; the contact must be an e-mail address', () => {
    const both = { LICENSE_VENDOR_ACTIVATION_URL: 'https://vendor.example/v1/activations', LICENSE_VENDOR_ACTIVATION_TOKEN: 'customer-token-0123456789' };
    assert.deepEqual(loadConfig({ ...BASE, ...both }).vendorActivation, {
      url: both.LICENSE_VENDOR_ACTIVATION_URL,
      token: both.LICENSE_VENDOR_ACTIVATION_TOKEN,
    });
    assert.match(configError({ ...BASE, LICENSE_VENDOR_ACTIVATION_URL: both.LICENSE_VENDOR_ACTIVATION_URL }), /^LICENSE_VENDOR_ACTIVATION_URL: .*set together/);
    const msg = configError({ ...BASE, LICENSE_VENDOR_ACTIVATION_TOKEN: both.LICENSE_VENDOR_ACTIVATION_TOKEN });
    assert.match(msg, /^LICENSE_VENDOR_ACTIVATION_TOKEN: /);
    assert.ok(!msg.includes(both.LICENSE_VENDOR_ACTIVATION_TOKEN), msg);
    assert.equal(loadConfig(BASE).vendorContact, '');
    assert.equal(loadConfig({ ...BASE, LICENSE_VENDOR_CONTACT: 'licensing@vendor.example' }).vendorContact, 'licensing@vendor.example');
    assert.match(configError({ ...BASE, LICENSE_VENDOR_CONTACT: 'not an address' }), /^LICENSE_VENDOR_CONTACT: must be an e-mail address/);
  });
});

describe('config spec', () => {
  it('CONFIG_KEYS lists every declared key; the failover terms are license terms, not keys', () => {
    assert.deepEqual(CONFIG_KEYS, Object.keys(SPEC));
    assert.equal(new Set(CONFIG_KEYS).size, 42);
    assert.deepEqual(Object.keys(LICENSE_TERM_KEYS).sort(), ['LICENSE_ACTIVATION_EXTENSION_MS', 'LICENSE_BUDGET_RESET_AFTER_MS', 'LICENSE_FAILOVER_BUDGET_MS']);
    for (const k of Object.keys(LICENSE_TERM_KEYS)) assert.ok(!(CONFIG_KEYS as readonly string[]).includes(k), k);
  });

  it('DEFAULTS keeps its keys and values', () => {
    assert.deepEqual(
      { ...DEFAULTS },
      {
        LICENSE_REDIS_URL: 'redis://127.0.0.1:6379',
        LICENSE_GRPC_ADDR: '0.0.0.0:7400',
        LICENSE_METRICS_ADDR: '0.0.0.0:9464',
        LICENSE_USAGE_RETENTION: 400 * 24 * 3_600_000,
        LICENSE_CONSOLE_ADDR: '0.0.0.0:7480',
        LICENSE_CONSOLE_SESSION_MS: 8 * 3_600_000,
        LICENSE_STATE_DIR: '.licensed-state',
        LICENSE_LEASE_TTL_MS: 5_000,
        LICENSE_HEARTBEAT_INTERVAL_MS: 1_000,
        LICENSE_SESSION_TTL_MS: 60_000,
        LICENSE_HANDBACK_AFTER_MS: 10_000,
        LICENSE_BLOCKED_KEEPS_SESSIONS: true,
        LICENSE_INSECURE_PEERS: false,
        LICENSE_LOG_LEVEL: 'info',
        LICENSE_MAX_SESSIONS_PER_CLIENT: 64,
        LICENSE_MAX_SEATS_PER_SESSION: 1_024,
        LICENSE_MAX_CONCURRENT_CALLS: 1_024,
        LICENSE_MAX_MESSAGE_BYTES: 64 * 1024,
      },
    );
    assert.ok(Object.isFrozen(DEFAULTS));
  });

  it('every fixed default, written as the docs show it, parses back to itself', () => {
    for (const [key, spec] of Object.entries(SPEC) as [string, KeySpec<unknown>][]) {
      const d = spec.default;
      if (d === undefined) continue;
      assert.ok(typeof d === 'string' || typeof d === 'number' || typeof d === 'boolean', key);
      const r = spec.parse.safeParse(String(d));
      assert.ok(r.success, key);
      assert.deepEqual(r.data, d, key);
    }
  });

  it('a key has at most one of default, required and derived', () => {
    for (const [key, spec] of Object.entries(SPEC) as [string, KeySpec<unknown>][]) {
      assert.ok([spec.default, spec.required, spec.derived].filter((x) => x !== undefined).length <= 1, key);
      assert.ok(spec.doc.length > 0 && !spec.doc.includes('\n'), key);
    }
  });
});
