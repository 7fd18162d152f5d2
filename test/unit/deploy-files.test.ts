import assert from 'node:assert/strict';
import { loadPolicyFile, mayActivate } from '../../src/server/vendor/vendor-policy';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { CONFIG_KEYS, loadConfig } from '../../src/server/config';
import { parseUnsignedLicense } from '../../src/server/license/license-file';
import { checkAgainstLicense, parseSeatPolicy } from '../../src/server/policy/seat-policy';
import { LOADGEN_ENV_KEYS } from '../../src/tools/loadgen/options';
import { createMetrics } from '../../src/server/metrics/metrics';

/**
 * No Docker engine runs in CI, so the compose file, Dockerfile, Prometheus, Grafana and
 * drill files are checked by reading them against the contracts they depend on: the
 * configuration keys, the metric names the node exports, the runbook anchors.
 */
type Healthcheck = { test?: string[] | string; disable?: boolean };
type Service = {
  environment?: Record<string, string>;
  ports?: string[];
  image?: string;
  command?: string[];
  entrypoint?: string[];
  init?: boolean;
  user?: string;
  build?: { dockerfile: string };
  volumes?: string[];
  healthcheck?: Healthcheck;
  depends_on?: Record<string, { condition: string }> | string[];
};
const composeText = readFileSync('docker-compose.yml', 'utf8');
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const svc = (name: string): Service => {
  const s = compose.services[name];
  assert.ok(s, `service ${name}`);
  return s;
};

/** Resolves compose's ${VAR:-default} to the default. */
const resolve = (v: string): string => v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
const dependsOn = (s: Service): string[] => (Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {}));
/** "7401:7400" -> { host: 7401, container: 7400 }; a bare "7400" publishes nothing fixed. */
const portMap = (p: string): { host: number | undefined; container: number } => {
  const parts = p.split(':');
  const container = Number(parts.at(-1)?.split('/')[0]);
  return { host: parts.length >= 2 ? Number(parts.at(-2)) : undefined, container };
};

describe('docker-compose.yml', () => {
  it('has redis (AOF on), vendor-init, primary and redundant', () => {
    for (const s of ['redis', 'vendor-init', 'primary', 'redundant']) assert.ok(compose.services[s], `service ${s}`);
    assert.match(String(compose.services['redis']?.image), /^redis:7/);
    assert.ok(compose.services['redis']?.command?.includes('--appendonly'));
  });

  for (const role of ['primary', 'redundant'] as const) {
    it(`${role}: only contract LICENSE_* keys, and they load as a valid config`, () => {
      const svc = compose.services[role] as Service;
      const env = Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, resolve(String(v))]));
      for (const k of Object.keys(env)) assert.ok((CONFIG_KEYS as readonly string[]).includes(k), `unknown key ${k}`);
      const c = loadConfig(env);
      // The role comes from the demo license, which lists this node id with it.
      assert.equal(c.role, undefined, 'no LICENSE_ROLE: the license gives the role');
      const unsigned = parseUnsignedLicense(JSON.parse(readFileSync('deploy/demo/license.unsigned.json', 'utf8')));
      assert.equal(unsigned.servers.find((s) => s.node_id === c.nodeId)?.role, role, `the demo license lists ${c.nodeId} as the ${role}`);
      assert.equal(c.grpcAddr, '0.0.0.0:7400');
      assert.equal(c.peerAddr, role === 'primary' ? 'redundant:7400' : 'primary:7400');
      assert.ok(svc.init, 'init: true so SIGTERM reaches node');
      const container = (svc.ports ?? []).map((p) => p.split(':').at(-1));
      assert.ok(container.includes('7400') && container.includes('9464'), 'grpc and metrics ports published');
      // The console: on, published, and each node names the URL its published port gives.
      assert.equal(c.console?.addr, '0.0.0.0:7480');
      assert.ok(container.includes('7480'), 'console port published');
      const consoleHost = (svc.ports ?? []).map(portMap).find((p) => p.container === 7480)?.host;
      assert.equal(c.console?.url, `http://localhost:${consoleHost}`);
      // "Send automatically" reaches the stack's vendor service, with the token its policy knows.
      assert.equal(c.vendorActivation?.url, 'http://vendor:7490/v1/activations');
      assert.match(c.vendorContact, /@/);
    });
  }

  it('the vendor service: licensectl vendor serve with the demo key, a policy that gives the nodes\' token cluster "demo", its log on a volume', () => {
    const s = svc('vendor');
    assert.equal(s.image, svc('primary').image);
    assert.deepEqual(s.entrypoint, ['node', 'dist/server/cli/licensectl.js']);
    const cmd = (s.command ?? []).map(String);
    assert.deepEqual(cmd.slice(0, 2), ['vendor', 'serve']);
    const arg = (flag: string): string | undefined => cmd[cmd.indexOf(flag) + 1];
    assert.equal(arg('--key'), '/vendor/vendor-private.pem');
    assert.equal(arg('--listen'), '0.0.0.0:7490');
    assert.deepEqual(
      (s.ports ?? []).map(portMap).map((p) => p.container),
      [7490],
    );
    assert.ok(dependsOn(s).includes('vendor-init'));
    const policyPath = String(arg('--policy')).replace('/app/', '');
    const policy = loadPolicyFile(policyPath);
    const token = resolve(String(svc('primary').environment?.['LICENSE_VENDOR_ACTIVATION_TOKEN']));
    const customer = policy.authenticate(token);
    assert.ok(customer, 'the policy knows the token the nodes send');
    assert.ok(mayActivate(customer, String(svc('primary').environment?.['LICENSE_CLUSTER_ID'])));
    const logDir = path.dirname(String(arg('--log')));
    assert.ok((s.volumes ?? []).some((v) => v.split(':')[1] === logDir && compose.volumes && (v.split(':')[0] ?? '') in compose.volumes));
  });

  it('the demo license is a valid unsigned license for the cluster id and node ids the nodes run with, serial 1', () => {
    const unsigned = parseUnsignedLicense(JSON.parse(readFileSync('deploy/demo/license.unsigned.json', 'utf8')));
    assert.equal(resolve(String(compose.services['primary']?.environment?.['LICENSE_CLUSTER_ID'])), unsigned.cluster_id);
    assert.equal(unsigned.serial, 1);
    assert.deepEqual(
      unsigned.servers.map((s) => [s.node_id, s.role]),
      (['primary', 'redundant'] as const).map((role) => [String(svc(role).environment?.['LICENSE_NODE_ID']), role]),
    );
    assert.equal(unsigned.failover, undefined, 'the demo runs with the license defaults');
    const init = readFileSync('deploy/demo/init-vendor.sh', 'utf8');
    assert.match(init, /vendor keygen --out "\$out"/);
    assert.match(init, /vendor-public\.pem/);
    // The budget drill re-signs it (next serial, short budget) with the demo vendor key.
    const resign = readFileSync('deploy/demo/sign-license.sh', 'utf8');
    assert.match(resign, /vendor sign-license --key "\$out\/vendor-private\.pem"/);
    assert.match(resign, /serial \+ 1/);
    assert.equal(spawnSync('sh', ['-n', 'deploy/demo/sign-license.sh']).status, 0, 'sign-license.sh parses');
    assert.match(readFileSync('deploy/drills/budget-exhaust-and-activate.sh', 'utf8'), /demo\/sign-license\.sh "\$@"/);
  });

  it('both nodes load the same seat policy from a mounted directory; it parses and fits the demo license', () => {
    const files = (['primary', 'redundant'] as const).map((role) => String(svc(role).environment?.['LICENSE_POLICY_FILE']));
    assert.equal(files[0], files[1]);
    const file = files[0] ?? '';
    for (const role of ['primary', 'redundant'] as const) {
      // The directory, so a file saved by rename-replace reaches the node (a file mount keeps the old inode).
      const mount = (svc(role).volumes ?? []).map((v) => v.split(':')).find(([, inside]) => inside !== undefined && file.startsWith(`${inside}/`));
      assert.ok(mount, `${role} mounts the directory of ${file}`);
      assert.equal(mount[0], './deploy/demo');
      assert.equal(path.posix.dirname(file), mount[1]);
    }
    const policy = parseSeatPolicy(readFileSync(path.join('deploy/demo', path.posix.basename(file)), 'utf8'), 'deploy/demo/policy.yaml');
    const unsigned = parseUnsignedLicense(JSON.parse(readFileSync('deploy/demo/license.unsigned.json', 'utf8')));
    assert.deepEqual(checkAgainstLicense(policy, new Map(unsigned.features.map((f) => [f.name, f.seats]))), []);
    assert.ok(policy.features.size > 0);
  });

  it('both nodes share one cluster id and distinct node ids', () => {
    const p = compose.services['primary']?.environment ?? {};
    const r = compose.services['redundant']?.environment ?? {};
    assert.equal(resolve(String(p['LICENSE_CLUSTER_ID'])), resolve(String(r['LICENSE_CLUSTER_ID'])));
    assert.notEqual(p['LICENSE_NODE_ID'], r['LICENSE_NODE_ID']);
  });

  it('both nodes sign their heartbeats with the same cluster secret, which the host environment can override', () => {
    const raw = ['primary', 'redundant'].map((role) => String(svc(role).environment?.['LICENSE_CLUSTER_SECRET'] ?? ''));
    assert.equal(raw[0], raw[1], 'one secret for both nodes (same value, same override variable)');
    assert.match(raw[0] ?? '', /^\$\{LICENSE_CLUSTER_SECRET:-[^}]+\}$/, 'set from ${LICENSE_CLUSTER_SECRET:-demo default}');
    for (const role of ['primary', 'redundant'] as const) {
      const env = Object.fromEntries(Object.entries(svc(role).environment ?? {}).map(([k, v]) => [k, resolve(String(v))]));
      const c = loadConfig(env);
      assert.ok(c.peerAddr, `${role}: has a peer`);
      assert.equal(c.clusterSecret, resolve(raw[0] ?? ''), `${role}: signs with the shared secret`);
      assert.equal(c.insecurePeers, false, `${role}: never runs with unauthenticated peers`);
      assert.ok(!('LICENSE_INSECURE_PEERS' in env), `${role}: no LICENSE_INSECURE_PEERS`);
      // Without it the node would refuse to start.
      assert.throws(
        () => loadConfig({ ...env, LICENSE_CLUSTER_SECRET: '' }),
        /^LicenseError: LICENSE_CLUSTER_SECRET: is required when LICENSE_PEER_ADDR is set/,
      );
    }
    // The demo default says it is one, next to a comment telling production to set its own.
    assert.match(resolve(raw[0] ?? ''), /change-me/);
    assert.match(composeText, /#.*set your own[\s\S]*openssl rand -hex 32[\s\S]*LICENSE_CLUSTER_SECRET: \$\{LICENSE_CLUSTER_SECRET:-/);
  });

  it('runs the whole stack: redis, vendor-init, primary, redundant, prometheus, grafana, loadgen', () => {
    const always = Object.entries(compose.services).filter(([, s]) => !(s as { profiles?: string[] }).profiles);
    assert.deepEqual(always.map(([n]) => n).sort(), ['grafana', 'loadgen', 'primary', 'prometheus', 'redis', 'redundant', 'vendor', 'vendor-init']);
  });

  it('profile "sentinel": two replicas and three sentinels with quorum 2 watching redis; nodes take LICENSE_REDIS_SENTINELS from the environment', () => {
    const inProfile = Object.entries(compose.services)
      .filter(([, s]) => (s as { profiles?: string[] }).profiles?.includes('sentinel'))
      .map(([n]) => n)
      .sort();
    assert.deepEqual(inProfile, ['redis-replica-1', 'redis-replica-2', 'sentinel-1', 'sentinel-2', 'sentinel-3']);
    // Every data server enforces the same min-replicas settings, so a promoted replica does too.
    for (const n of ['redis', 'redis-replica-1', 'redis-replica-2']) {
      const cmd = (svc(n).command ?? []).join(' ');
      assert.match(cmd, /--min-replicas-to-write \$\{REDIS_MIN_REPLICAS_TO_WRITE:-0\} --min-replicas-max-lag 10 --repl-diskless-sync-delay 0/, n);
      if (n !== 'redis') assert.ok(cmd.includes('--replicaof redis 6379'), n);
    }
    assert.match(composeText, /REDIS_MIN_REPLICAS_TO_WRITE=1 LICENSE_REDIS_SENTINELS=/);
    for (const n of ['sentinel-1', 'sentinel-2', 'sentinel-3']) {
      const cmd = (svc(n).command ?? []).join(' ');
      assert.match(cmd, /sentinel monitor licmaster redis 6379 2/);
      assert.match(cmd, /--sentinel/);
    }
    for (const role of ['primary', 'redundant']) {
      const env = svc(role).environment ?? {};
      assert.equal(env['LICENSE_REDIS_SENTINELS'], '${LICENSE_REDIS_SENTINELS:-}');
      assert.equal(env['LICENSE_REDIS_MASTER_NAME'], '${LICENSE_REDIS_MASTER_NAME:-}');
      assert.equal(env['LICENSE_REDIS_MIN_REPLICAS'], '${LICENSE_REDIS_MIN_REPLICAS:-}');
    }
  });

  it('every LICENSE_* key of every service is a contract key; the loadgen reads only LOADGEN_* keys it knows', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const k of Object.keys(s.environment ?? {})) {
        if (k.startsWith('LICENSE_')) assert.ok((CONFIG_KEYS as readonly string[]).includes(k), `${name}: unknown key ${k}`);
      }
    }
    const env = Object.keys(svc('loadgen').environment ?? {});
    assert.ok(env.length > 0);
    for (const k of env) assert.ok((LOADGEN_ENV_KEYS as readonly string[]).includes(k), `loadgen: unknown key ${k}`);
  });

  it('publishes the documented ports, each once', () => {
    const published = new Map<number, string>();
    for (const [name, s] of Object.entries(compose.services)) {
      for (const p of s.ports ?? []) {
        const { host, container } = portMap(p);
        assert.ok(host !== undefined, `${name}: publish a fixed host port (${p})`);
        assert.ok(!published.has(host), `host port ${host} published by ${published.get(host)} and ${name}`);
        published.set(host, `${name}:${container}`);
      }
    }
    assert.deepEqual(Object.fromEntries([...published].sort(([a], [b]) => a - b)), {
      3000: 'grafana:3000',
      7400: 'primary:7400',
      7401: 'redundant:7400',
      7480: 'primary:7480',
      7481: 'redundant:7480',
      7490: 'vendor:7490',
      9090: 'prometheus:9090',
      9464: 'primary:9464',
      9465: 'redundant:9464',
    });
    // The comment block at the top names every published port.
    const header = composeText
      .split('\n')
      .filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('#') || x.trim() === ''))
      .join('\n');
    for (const [host, target] of published) assert.match(header, new RegExp(`^#\\s+${host} -> ${target}\\b`, 'm'), `header documents ${host} -> ${target}`);
    assert.deepEqual(svc('redis').ports ?? [], [], 'redis stays private to the stack');
    assert.deepEqual(svc('loadgen').ports ?? [], []);
  });

  it('redis keeps an fsync-every-second AOF on a named volume', () => {
    const cmd = svc('redis').command ?? [];
    const arg = (flag: string): string | undefined => cmd[cmd.indexOf(flag) + 1];
    assert.equal(arg('--appendonly'), 'yes');
    assert.equal(arg('--appendfsync'), 'everysec');
    assert.ok(svc('redis').volumes?.includes('redis-data:/data'));
    assert.ok(compose.volumes && 'redis-data' in compose.volumes);
  });

  it('each node keeps its own state dir on its own volume; every named volume is declared', () => {
    const mounts: string[] = [];
    for (const role of ['primary', 'redundant']) {
      const s = svc(role);
      const dir = String(s.environment?.['LICENSE_STATE_DIR']);
      const m = (s.volumes ?? []).find((v) => v.split(':')[1] === dir);
      assert.ok(m, `${role}: a volume at LICENSE_STATE_DIR ${dir}`);
      assert.ok(!m.startsWith('.') && !m.startsWith('/'), `${role}: a named volume, not a bind mount`);
      mounts.push(m.split(':')[0] ?? '');
      assert.ok((s.volumes ?? []).includes('vendor:/vendor:ro'), `${role}: vendor files read-only`);
    }
    assert.notEqual(mounts[0], mounts[1], 'primary and redundant must not share a state dir');
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] ?? '';
        if (source.startsWith('.') || source.startsWith('/')) {
          assert.ok(existsSync(source), `${name}: bind mount source ${source} exists`);
        } else {
          assert.ok(compose.volumes && source in compose.volumes, `${name}: volume ${source} declared`);
        }
      }
    }
  });

  it('healthchecks: redis pings, nodes probe /healthz on their metrics port without curl, one-shot jobs have none', () => {
    assert.ok(svc('redis').healthcheck?.test?.includes('ping'));
    for (const role of ['primary', 'redundant']) {
      const s = svc(role);
      const test = s.healthcheck?.test;
      assert.ok(Array.isArray(test) && test[0] === 'CMD' && test[1] === 'node', `${role}: exec-form node probe (the image has no curl)`);
      const metricsPort = String(s.environment?.['LICENSE_METRICS_ADDR']).split(':').at(-1);
      assert.ok(test.join(' ').includes(`http://127.0.0.1:${metricsPort}/healthz`), `${role}: probes /healthz on ${metricsPort}`);
    }
    // They run the node image, whose HEALTHCHECK would probe a node that is not there.
    for (const name of ['loadgen', 'vendor-init']) assert.equal(svc(name).healthcheck?.disable, true, `${name}: healthcheck disabled`);
  });

  it('loadgen runs the node image with node directly, against both nodes, after they are healthy', () => {
    const s = svc('loadgen');
    assert.equal(s.image, svc('primary').image);
    assert.deepEqual(s.entrypoint, ['node', 'dist/tools/cli/loadgen.js']);
    assert.ok(s.init);
    assert.deepEqual(String(s.environment?.['LOADGEN_ENDPOINTS']).split(','), ['primary:7400', 'redundant:7400']);
    assert.deepEqual(dependsOn(s).sort(), ['primary', 'redundant']);
    assert.ok(existsSync('src/tools/cli/loadgen.ts'));
  });

  it('prometheus mounts deploy/prometheus and loads its config; grafana gets anonymous viewers and the provisioning', () => {
    const p = svc('prometheus');
    assert.match(String(p.image), /^prom\/prometheus:/);
    const mount = (p.volumes ?? []).find((v) => v.startsWith('./deploy/prometheus:'));
    assert.ok(mount, 'deploy/prometheus mounted');
    const dir = mount.split(':')[1] ?? '';
    assert.ok((p.command ?? []).includes(`--config.file=${dir}/prometheus.yml`));
    const g = svc('grafana');
    assert.match(String(g.image), /^grafana\/grafana:/);
    assert.equal(String(g.environment?.['GF_AUTH_ANONYMOUS_ENABLED']), 'true');
    assert.equal(g.environment?.['GF_AUTH_ANONYMOUS_ORG_ROLE'], 'Viewer');
    assert.ok((g.volumes ?? []).some((v) => v.startsWith('./deploy/grafana/provisioning:/etc/grafana/provisioning')));
    const providers = parse(readFileSync('deploy/grafana/provisioning/dashboards/dashboards.yml', 'utf8')) as { providers: { options: { path: string } }[] };
    const dashPath = providers.providers[0]?.options.path ?? '';
    assert.ok(
      (g.volumes ?? []).some((v) => v.startsWith(`./deploy/grafana/dashboards:${dashPath}`)),
      `dashboards mounted at ${dashPath}`,
    );
    const home = String(g.environment?.['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH']);
    assert.ok(home.startsWith(dashPath) && existsSync(path.join('deploy/grafana/dashboards', path.basename(home))), 'home dashboard exists');
  });
});

describe('deploy/Dockerfile', () => {
  const text = readFileSync('deploy/Dockerfile', 'utf8');
  it('runs node directly (not npm/npx) so SIGTERM arrives', () => {
    assert.match(text, /ENTRYPOINT \["node", "dist\/server\/cli\/licensed\.js"\]/);
    assert.doesNotMatch(text, /CMD \["npm/);
  });
  it('ships dist, proto and production node_modules', () => {
    for (const p of ['/app/dist', '/app/proto', '/app/node_modules']) assert.ok(text.includes(p), p);
  });
  it('keeps ENTRYPOINT and CMD exactly, multi-stage, non-root, with a /healthz HEALTHCHECK in exec form', () => {
    const lines = text.split('\n');
    assert.ok(lines.includes('ENTRYPOINT ["node", "dist/server/cli/licensed.js"]'));
    assert.ok(lines.includes('CMD ["serve"]'));
    assert.ok(lines.filter((l) => l.startsWith('FROM ')).length >= 2, 'multi-stage');
    const finalStage = text.slice(text.lastIndexOf('\nFROM '));
    assert.match(finalStage, /^USER node$/m);
    const hc = /^HEALTHCHECK (?:--\S+ +)*\\\n\s*CMD (\[.*\])$/m.exec(text) ?? /^HEALTHCHECK .*CMD (\[.*\])$/m.exec(text);
    assert.ok(hc?.[1], 'HEALTHCHECK ... CMD [...]');
    const argv = JSON.parse(hc[1]) as string[];
    assert.equal(argv[0], 'node');
    assert.match(argv.join(' '), /\/healthz/);
  });
});

// ------------------------------------------------------------------ metric names

/** Names the node exports: its registry (with a stub source), histogram series, Prometheus' own `up`. */
async function exportedMetricNames(): Promise<Set<string>> {
  const m = createMetrics({
    state: () => 'ACTIVE',
    leaderEpoch: () => 1,
    isLeaseHolder: () => true,
    peer: () => ({ lastHeartbeatMs: 1, reachable: true, clockSkewMs: 0 }),
    budget: () => ({ remainingMs: 1, consumedMs: 0, grantedMs: 1, blocked: false }),
    licensedSeats: () => [{ name: 'f', total: 1 }],
    seatUsage: () => Promise.resolve([{ name: 'f', inUse: 0, queueLength: 0 }]),
  });
  const names = new Set<string>(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${s}`);
    if (String(metric.type) === 'summary') for (const s of ['_sum', '_count']) names.add(`${metric.name}${s}`);
  }
  return names;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * Metric names in a PromQL expression: identifiers left after dropping strings, label
 * matchers, ranges, grouping label lists, function calls and keywords.
 */
function promqlMetricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w:.$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()/g)) {
    const id = m[1] ?? '';
    if (!PROMQL_WORDS.has(id.toLowerCase())) names.add(id);
  }
  return [...names];
}

type Rule = { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
const rules = (parse(readFileSync('deploy/prometheus/alerts.yml', 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
type Panel = {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: { expr: string; refId: string }[];
};
const dashboard = JSON.parse(readFileSync('deploy/grafana/dashboards/license-cluster.json', 'utf8')) as {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  annotations: { list: { expr?: string }[] };
  templating: { list: { name: string; type: string; current?: { value: string } }[] };
};
const dashboardExprs = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...dashboard.annotations.list.flatMap((a) => (a.expr ? [a.expr] : [])),
];

describe('metric names used by alerts and the dashboard', () => {
  let exported: Set<string>;
  before(async () => {
    exported = await exportedMetricNames();
  });

  it('the name parser finds metric names and skips functions, keywords and labels', () => {
    assert.deepEqual(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (job, le) (rate(license_grpc_request_duration_seconds_bucket{job="license", method=~"A|B"}[5m]))) > 0.25',
      ).sort(),
      ['license_grpc_request_duration_seconds_bucket'],
    );
    assert.deepEqual(promqlMetricNames('(sum(license_is_active{job="license"}) or vector(0)) < 1 and on (instance) up == 1e3').sort(), [
      'license_is_active',
      'up',
    ]);
    assert.deepEqual(promqlMetricNames('time() - foo_seconds and foo_seconds > 0 unless bar offset 5m'), ['foo_seconds', 'bar']);
  });

  it('knows what the node exports (contract names, histogram series, default process metrics)', () => {
    for (const n of [
      'license_node_state',
      'license_lease_acquisitions_total',
      'license_grpc_request_duration_seconds_bucket',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      assert.ok(exported.has(n), n);
    }
    assert.ok(!exported.has('license_grpc_request_duration_seconds_total'));
  });

  it('every metric in alerts.yml is one the node exports', () => {
    const used = new Set(rules.flatMap((r) => promqlMetricNames(r.expr)));
    assert.ok(used.size >= 10, `found only ${[...used].join(', ')}`);
    for (const n of used) assert.ok(exported.has(n), `alerts.yml uses ${n}, which the node does not export`);
  });

  it('every metric in the Grafana dashboard is one the node exports', () => {
    const used = new Set(dashboardExprs.flatMap(promqlMetricNames));
    assert.ok(used.size >= 15, `found only ${[...used].join(', ')}`);
    for (const n of used) assert.ok(exported.has(n), `license-cluster.json uses ${n}, which the node does not export`);
  });
});

// ------------------------------------------------------------------ prometheus

describe('deploy/prometheus', () => {
  const cfg = parse(readFileSync('deploy/prometheus/prometheus.yml', 'utf8')) as {
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
  };

  it('prometheus.yml scrapes both nodes as job "license" on their metrics port and loads the alert rules', () => {
    const job = cfg.scrape_configs.find((j) => j.job_name === 'license');
    assert.ok(job, 'job license');
    assert.equal(job.metrics_path ?? '/metrics', '/metrics');
    const targets = job.static_configs.flatMap((s) => s.targets).sort();
    const expected = ['primary', 'redundant'].map((role) => `${role}:${String(svc(role).environment?.['LICENSE_METRICS_ADDR']).split(':').at(-1)}`);
    assert.deepEqual(targets, expected.sort());
    assert.ok(cfg.rule_files.includes('alerts.yml'));
    for (const f of cfg.rule_files) assert.ok(existsSync(path.join('deploy/prometheus', f)), f);
  });

  it('has the contract alerts, each with a severity, a summary, a description and a runbook anchor that exists', () => {
    const names = rules.map((r) => r.alert);
    for (const a of ['RedundantActive', 'FailoverBudgetLow', 'RedundantBlocked', 'NoActiveNode', 'LeaderFlapping', 'PeerUnreachable', 'ClockSkew']) {
      assert.ok(names.includes(a), `alert ${a}`);
    }
    assert.equal(new Set(names).size, names.length, 'alert names unique');
    const runbook = readFileSync('docs/RUNBOOK.md', 'utf8');
    // GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
    const anchors = new Set(
      [...runbook.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
        (m[1] ?? '')
          .trim()
          .toLowerCase()
          .replace(/[^\w\- ]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const r of rules) {
      assert.match(String(r.labels?.['severity']), /^(critical|warning|info)$/, `${r.alert}: severity`);
      assert.ok(r.annotations?.['summary'], `${r.alert}: summary`);
      assert.ok(r.annotations?.['description'], `${r.alert}: description`);
      const url = String(r.annotations?.['runbook_url']);
      const m = /^docs\/RUNBOOK\.md#([\w-]+)$/.exec(url);
      assert.ok(m?.[1], `${r.alert}: runbook_url ${url}`);
      assert.ok(anchors.has(m[1]), `${r.alert}: docs/RUNBOOK.md has no heading for #${m[1]}`);
    }
  });

  it('NoActiveNode also fires when no node can be scraped (absent series)', () => {
    const expr = rules.find((r) => r.alert === 'NoActiveNode')?.expr ?? '';
    assert.match(expr, /license_is_active/);
    assert.match(expr, /or\s+vector\(0\)|absent\(/);
  });

  it('alerts.test.yml unit-tests the alerts that matter most', () => {
    const t = parse(readFileSync('deploy/prometheus/alerts.test.yml', 'utf8')) as {
      rule_files: string[];
      tests: { alert_rule_test?: { alertname: string }[] }[];
    };
    assert.deepEqual(t.rule_files, ['alerts.yml']);
    const tested = new Set(t.tests.flatMap((x) => (x.alert_rule_test ?? []).map((a) => a.alertname)));
    for (const a of ['NoActiveNode', 'RedundantBlocked', 'FailoverBudgetLow', 'LeaderFlapping', 'RedundantActive', 'FeatureSaturatedWithQueue'])
      assert.ok(tested.has(a), `${a} tested`);
  });
});

// ------------------------------------------------------------------ grafana

describe('deploy/grafana', () => {
  it('provisions the prometheus service as a datasource and loads dashboards from a file provider', () => {
    const ds = parse(readFileSync('deploy/grafana/provisioning/datasources/prometheus.yml', 'utf8')) as {
      datasources: { type: string; uid: string; url: string }[];
    };
    const prom = ds.datasources.find((d) => d.type === 'prometheus');
    assert.ok(prom);
    assert.equal(prom.url, 'http://prometheus:9090');
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    assert.equal(variable?.current?.value, prom.uid, 'the dashboard defaults to the provisioned datasource');
    const providers = parse(readFileSync('deploy/grafana/provisioning/dashboards/dashboards.yml', 'utf8')) as { providers: { type: string }[] };
    assert.equal(providers.providers[0]?.type, 'file');
  });

  it('the dashboard has a uid, a recent schema, unique panel ids, a sane layout and queries on every panel', () => {
    assert.equal(dashboard.uid, 'license-cluster');
    assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const p of dashboard.panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the 24-column grid`);
      if (p.type === 'row') continue;
      assert.ok((p.targets ?? []).length > 0, `${p.title}: has queries`);
      assert.equal(p.datasource?.uid, '${datasource}', `${p.title}: uses the datasource variable`);
      const refs = (p.targets ?? []).map((t) => t.refId);
      assert.equal(new Set(refs).size, refs.length, `${p.title}: unique refIds`);
    }
  });

  it('shows what an SRE needs: state, epoch, budget, blocked, seats, queues, checkouts, latency, peers, Redis', () => {
    const used = new Set(dashboardExprs.flatMap(promqlMetricNames));
    for (const n of [
      'license_node_state',
      'license_leader_epoch',
      'license_failover_budget_remaining_seconds',
      'license_failover_blocked',
      'license_seats_in_use',
      'license_seats_licensed',
      'license_queue_length',
      'license_checkouts_total',
      'license_grpc_request_duration_seconds_bucket',
      'license_peer_reachable',
      'license_peer_last_heartbeat_timestamp_seconds',
      'license_redis_errors_total',
    ]) {
      assert.ok(used.has(n), `dashboard shows ${n}`);
    }
    assert.ok(
      dashboardExprs.some((e) => /histogram_quantile\(0\.5,/.test(e)) && dashboardExprs.some((e) => /histogram_quantile\(0\.99,/.test(e)),
      'p50 and p99',
    );
  });
});

// ------------------------------------------------------------------ drills

describe('deploy/drills', () => {
  const dir = 'deploy/drills';
  const scripts = readdirSync(dir).filter((f) => f.endsWith('.sh'));

  it('has the compose drills and a README naming each', () => {
    for (const s of ['kill-primary.sh', 'pause-primary.sh', 'stop-redis.sh', 'disconnect-node.sh', 'budget-exhaust-and-activate.sh'])
      assert.ok(scripts.includes(s), s);
    const readme = readFileSync(path.join(dir, 'README.md'), 'utf8');
    for (const s of scripts.filter((f) => f !== 'lib.sh')) assert.ok(readme.includes(s), `README mentions ${s}`);
  });

  for (const f of scripts) {
    it(`${f}: bash, strict mode, parses (bash -n), only contract LICENSE_* names`, () => {
      const text = readFileSync(path.join(dir, f), 'utf8');
      if (f !== 'lib.sh') assert.match(text, /^#!\/usr\/bin\/env bash\n/);
      assert.match(text, /^set -euo pipefail$/m);
      const r = spawnSync('bash', ['-n', path.join(dir, f)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      for (const m of text.matchAll(/\bLICENSE_[A-Z_]+\b/g)) assert.ok((CONFIG_KEYS as readonly string[]).includes(m[0]), `${f}: ${m[0]} is not a config key`);
    });
  }
});
