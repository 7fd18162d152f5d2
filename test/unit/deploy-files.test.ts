import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { CONFIG_KEYS, loadConfig } from '../../src/config';

/**
 * No Docker engine runs in CI, so the compose file and Dockerfile are checked by
 * reading them against the configuration contract.
 */
type Service = { environment?: Record<string, string>; ports?: string[]; image?: string; command?: string[]; init?: boolean; build?: { dockerfile: string } };
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service> };

/** Resolves compose's ${VAR:-default} to the default. */
const resolve = (v: string): string => v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

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
      assert.equal(c.role, role);
      assert.equal(c.grpcAddr, '0.0.0.0:7400');
      assert.equal(c.peerAddr, role === 'primary' ? 'redundant:7400' : 'primary:7400');
      assert.ok(svc.init, 'init: true so SIGTERM reaches node');
      const container = (svc.ports ?? []).map((p) => p.split(':').at(-1));
      assert.ok(container.includes('7400') && container.includes('9464'), 'grpc and metrics ports published');
    });
  }

  it('the demo license is signed for the cluster id the nodes run with', () => {
    const unsigned = JSON.parse(readFileSync('deploy/demo/license.unsigned.json', 'utf8')) as { cluster_id: string };
    assert.equal(resolve(String(compose.services['primary']?.environment?.['LICENSE_CLUSTER_ID'])), unsigned.cluster_id);
    const init = readFileSync('deploy/demo/init-vendor.sh', 'utf8');
    assert.match(init, /vendor keygen --out "\$out"/);
    assert.match(init, /vendor-public\.pem/);
  });

  it('both nodes share one cluster id and distinct node ids', () => {
    const p = compose.services['primary']?.environment ?? {};
    const r = compose.services['redundant']?.environment ?? {};
    assert.equal(resolve(String(p['LICENSE_CLUSTER_ID'])), resolve(String(r['LICENSE_CLUSTER_ID'])));
    assert.notEqual(p['LICENSE_NODE_ID'], r['LICENSE_NODE_ID']);
  });
});

describe('deploy/Dockerfile', () => {
  const text = readFileSync('deploy/Dockerfile', 'utf8');
  it('runs node directly (not npm/npx) so SIGTERM arrives', () => {
    assert.match(text, /ENTRYPOINT \["node", "dist\/cli\/licensed\.js"\]/);
    assert.doesNotMatch(text, /CMD \["npm/);
  });
  it('ships dist, proto and production node_modules', () => {
    for (const p of ['/app/dist', '/app/proto', '/app/node_modules']) assert.ok(text.includes(p), p);
  });
});
