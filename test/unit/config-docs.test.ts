import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_KEYS, configTable, loadConfig } from '../../src/server/config';
import { CONFIG_TABLE_BEGIN, CONFIG_TABLE_END, spliceConfigTable } from '../../src/server/config-spec';

/**
 * The README's configuration table is generated from the key declarations
 * (src/server/config-spec.ts) by `npm run docs:config`; these tests fail when someone
 * edits one without the other.
 */
const readme = readFileSync('README.md', 'utf8');

function readmeBlock(): string {
  const begin = readme.indexOf(CONFIG_TABLE_BEGIN);
  const end = readme.indexOf(CONFIG_TABLE_END);
  assert.ok(begin !== -1 && end > begin, 'README.md has the config-table markers, begin before end');
  assert.equal(readme.indexOf(CONFIG_TABLE_BEGIN, begin + 1), -1, 'one begin marker');
  return readme.slice(begin + CONFIG_TABLE_BEGIN.length, end).replace(/^\n|\n$/g, '');
}

describe('README configuration table', () => {
  it('equals the table generated from the spec (run `npm run docs:config` after changing a key)', () => {
    assert.equal(readmeBlock(), configTable());
    assert.equal(spliceConfigTable(readme), readme, 'the docs:config script would change nothing');
  });

  it('has one row per key in CONFIG_KEYS, in order, and no other rows', () => {
    const rows = readmeBlock().split('\n').slice(2);
    const keys = rows.map((r) => /^\| `(LICENSE_[A-Z_]+)` \|/.exec(r)?.[1]);
    assert.deepEqual(keys, [...CONFIG_KEYS]);
  });

  it('every row has exactly three cells (a | in a doc line is escaped)', () => {
    for (const row of configTable().split('\n')) {
      assert.equal(row.replace(/\\\|/g, '').split('|').length, 5, row);
    }
  });

  it('says which keys are secret and what their defaults are', () => {
    const row = (key: string): string =>
      configTable()
        .split('\n')
        .find((r) => r.startsWith(`| \`${key}\` |`)) ?? assert.fail(key);
    assert.match(row('LICENSE_ADMIN_TOKEN'), /\| required \|.*Secret: never shown in error messages/);
    assert.match(row('LICENSE_CLUSTER_SECRET'), /Secret: never shown/);
    assert.match(row('LICENSE_REDIS_URL'), /\| `redis:\/\/127\.0\.0\.1:6379` \|.*password as `\*\*\*`/);
    assert.match(row('LICENSE_SESSION_TTL_MS'), /\| `60000` \(1 min\) \|/);
    assert.match(row('LICENSE_ROLE'), /\| unset \|.*license file gives each node its role/);
    assert.match(row('LICENSE_LEASE_SAFETY_MARGIN_MS'), /\| 20% of `LICENSE_LEASE_TTL_MS` \|/);
    assert.match(row('LICENSE_REDUNDANT_STARTUP_GRACE_MS'), /\| 2 × `LICENSE_LEASE_TTL_MS` \|/);
    assert.match(row('LICENSE_PEER_ADDR'), /\| unset \|/);
    assert.match(row('LICENSE_INSECURE_PEERS'), /\| `false` \|/);
  });

  it('says that a node with a peer needs a cluster secret or mutual TLS, or LICENSE_INSECURE_PEERS=true', () => {
    const row = (key: string): string =>
      configTable()
        .split('\n')
        .find((r) => r.startsWith(`| \`${key}\` |`)) ?? assert.fail(key);
    for (const key of ['LICENSE_PEER_ADDR', 'LICENSE_CLUSTER_SECRET']) {
      assert.match(row(key), /LICENSE_TLS_CA/, key);
      assert.match(row(key), /LICENSE_INSECURE_PEERS=true/, key);
    }
    assert.match(row('LICENSE_CLUSTER_SECRET'), /openssl rand -hex 32/);
    assert.match(row('LICENSE_INSECURE_PEERS'), /unauthenticated.*warning is logged at every start/);
  });

  it('quotes the refusal of a node with an unauthenticated peer as loadConfig words it', () => {
    let message = '';
    try {
      loadConfig({
        LICENSE_CLUSTER_ID: 'acme',
        LICENSE_NODE_ID: 'node-b',
        LICENSE_ROLE: 'redundant',
        LICENSE_ADMIN_TOKEN: 'a-long-enough-admin-token',
        LICENSE_FILE: 'license.json',
        LICENSE_VENDOR_PUBLIC_KEY: 'vendor-public.pem',
        LICENSE_PEER_ADDR: 'node-a:7400',
      });
    } catch (err) {
      message = (err as Error).message;
    }
    assert.match(message, /^LICENSE_CLUSTER_SECRET: /);
    assert.ok(readme.includes(`licensed: ${message}\n`), 'README.md "Configuration" shows the line a node prints');
  });

  it('spliceConfigTable refuses a document without the markers', () => {
    assert.throws(() => spliceConfigTable('# no table here\n'), /config table markers not found/);
  });
});
