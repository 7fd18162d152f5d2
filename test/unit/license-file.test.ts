import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { canonicalJson } from '../../src/server/license/canonical-json';
import { HOST_ID_PATTERN, hostIdFromMachineId, readHostId } from '../../src/server/license/host-id';
import { bindLicense, DEFAULT_FAILOVER, loadLicenseFile, parseUnsignedLicense, signLicense, type UnsignedLicense } from '../../src/server/license/license-file';
import { generateVendorKeys } from '../../src/server/license/vendor-keys';

const vendor = generateVendorKeys();
const other = generateVendorKeys();
const priv = createPrivateKey(vendor.privateKeyPem);
const pub = createPublicKey(vendor.publicKeyPem);
const UNSIGNED: UnsignedLicense = {
  licensee: 'ACME Corp',
  cluster_id: 'acme',
  serial: 3,
  servers: [
    { node_id: 'lic-a', role: 'primary' },
    { node_id: 'lic-b', role: 'redundant' },
  ],
  features: [
    { name: 'cad-pro', seats: 10 },
    { name: 'viewer', seats: 3, expires_at: '2030-01-01' },
  ],
};

function writeTmp(content: unknown): string {
  const f = path.join(mkdtempSync(path.join(tmpdir(), 'lic-')), 'license.json');
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return f;
}

function licenseError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LicenseError);
    assert.equal(err.code, ErrorCode.LICENSE_INVALID);
    return err.message;
  }
  assert.fail('expected LICENSE_INVALID');
}

describe('license files', () => {
  it('canonical JSON sorts keys at every level and ignores formatting', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
  });

  it('a signed license verifies with the vendor key and yields features and a digest', () => {
    const f = writeTmp(signLicense(UNSIGNED, priv));
    const lic = loadLicenseFile(f, pub, 'acme');
    assert.equal(lic.licensee, 'ACME Corp');
    assert.deepEqual(lic.features.get('cad-pro'), { name: 'cad-pro', seats: 10 });
    assert.equal(lic.features.get('viewer')?.expiresAtMs, Date.UTC(2030, 0, 1));
    assert.match(lic.digest, /^[0-9a-f]{64}$/);
    // Re-indenting does not change the signature check nor the digest.
    const f2 = writeTmp(JSON.stringify(JSON.parse(readFileSync(f, 'utf8'))));
    assert.equal(loadLicenseFile(f2, pub, 'acme').digest, lic.digest);
  });

  it('refuses a missing file, naming it', () => {
    assert.match(
      licenseError(() => loadLicenseFile('/nonexistent/license.json', pub, 'acme')),
      /license file \/nonexistent\/license\.json: cannot read \(ENOENT\)/,
    );
  });

  it('refuses an unsigned file', () => {
    assert.match(
      licenseError(() => loadLicenseFile(writeTmp(UNSIGNED), pub, 'acme')),
      /not signed/,
    );
  });

  it('refuses a tampered file (more seats)', () => {
    const signed = signLicense(UNSIGNED, priv);
    const tampered = { ...signed, features: [{ name: 'cad-pro', seats: 1000 }, signed.features[1]] };
    assert.match(
      licenseError(() => loadLicenseFile(writeTmp(tampered), pub, 'acme')),
      /signature does not verify/,
    );
  });

  it('refuses a file signed by another key (only the configured vendor key is trusted)', () => {
    const f = writeTmp(signLicense(UNSIGNED, createPrivateKey(other.privateKeyPem)));
    assert.match(
      licenseError(() => loadLicenseFile(f, pub, 'acme')),
      /signature does not verify/,
    );
  });

  it('refuses a license for another cluster id', () => {
    const f = writeTmp(signLicense(UNSIGNED, priv));
    assert.match(
      licenseError(() => loadLicenseFile(f, pub, 'other')),
      /issued for cluster "acme", this node is in cluster "other"/,
    );
  });

  it('refuses non-JSON', () => {
    assert.match(
      licenseError(() => loadLicenseFile(writeTmp('{nope'), pub, 'acme')),
      /not valid JSON/,
    );
  });

  for (const [what, bad, fragment] of [
    ['a bad feature name', { ...UNSIGNED, features: [{ name: 'bad name', seats: 1 }] }, 'features.0.name'],
    ['zero seats', { ...UNSIGNED, features: [{ name: 'x', seats: 0 }] }, 'features.0.seats'],
    ['fractional seats', { ...UNSIGNED, features: [{ name: 'x', seats: 1.5 }] }, 'features.0.seats'],
    ['a bad expiry', { ...UNSIGNED, features: [{ name: 'x', seats: 1, expires_at: 'tomorrow' }] }, 'features.0.expires_at'],
    [
      'duplicate features',
      {
        ...UNSIGNED,
        features: [
          { name: 'x', seats: 1 },
          { name: 'x', seats: 2 },
        ],
      },
      'duplicate feature "x"',
    ],
    ['no features', { ...UNSIGNED, features: [] }, 'at least one feature'],
    ['an unknown field', { ...UNSIGNED, seats: 5 }, 'seats'],
    ['a bad cluster id', { ...UNSIGNED, cluster_id: '{x}' }, 'cluster_id'],
    ['no serial', { ...UNSIGNED, serial: undefined }, 'serial'],
    ['serial 0', { ...UNSIGNED, serial: 0 }, 'serial'],
    ['a fractional serial', { ...UNSIGNED, serial: 2.5 }, 'serial'],
    ['a serial beyond 2^53', { ...UNSIGNED, serial: 2 ** 53 }, 'serial'],
    ['no servers', { ...UNSIGNED, servers: undefined }, 'servers'],
    ['an empty server list', { ...UNSIGNED, servers: [] }, 'servers'],
    ['no primary', { ...UNSIGNED, servers: [{ node_id: 'a', role: 'redundant' }] }, 'servers: must name exactly one primary, found 0'],
    [
      'two primaries',
      {
        ...UNSIGNED,
        servers: [
          { node_id: 'a', role: 'primary' },
          { node_id: 'b', role: 'primary' },
        ],
      },
      'servers: must name exactly one primary, found 2',
    ],
    [
      'two redundants',
      {
        ...UNSIGNED,
        servers: [
          { node_id: 'a', role: 'primary' },
          { node_id: 'b', role: 'redundant' },
          { node_id: 'c', role: 'redundant' },
        ],
      },
      'servers: must name at most one redundant, found 2',
    ],
    [
      'a duplicate node id',
      {
        ...UNSIGNED,
        servers: [
          { node_id: 'a', role: 'primary' },
          { node_id: 'a', role: 'redundant' },
        ],
      },
      'servers.1.node_id: duplicate node id "a"',
    ],
    ['a bad node id', { ...UNSIGNED, servers: [{ node_id: 'a:b', role: 'primary' }] }, 'servers.0.node_id'],
    ['a bad role', { ...UNSIGNED, servers: [{ node_id: 'a', role: 'leader' }] }, 'servers.0.role'],
    ['a bad host id', { ...UNSIGNED, servers: [{ node_id: 'a', role: 'primary', host_id: 'my-laptop' }] }, 'servers.0.host_id'],
    ['an unknown server field', { ...UNSIGNED, servers: [{ node_id: 'a', role: 'primary', seats: 1 }] }, 'seats'],
    ['a zero budget', { ...UNSIGNED, failover: { budget_ms: 0 } }, 'failover.budget_ms'],
    ['a budget beyond 2^53', { ...UNSIGNED, failover: { budget_ms: 2 ** 53 } }, 'failover.budget_ms'],
    ['a fractional reset period', { ...UNSIGNED, failover: { reset_after_ms: 1.5 } }, 'failover.reset_after_ms'],
    ['a negative extension cap', { ...UNSIGNED, failover: { max_extension_ms: -1 } }, 'failover.max_extension_ms'],
    ['a budget as text', { ...UNSIGNED, failover: { budget_ms: '259200000' } }, 'failover.budget_ms'],
    ['an unknown failover term', { ...UNSIGNED, failover: { budget_hours: 72 } }, 'budget_hours'],
  ] as const) {
    it(`an unsigned license with ${what} is rejected naming the field`, () => {
      assert.throws(
        () => parseUnsignedLicense(bad),
        (err: Error) => err.message.includes(fragment),
      );
    });
  }
});

describe('license terms: serial, servers, failover', () => {
  const file = (terms: Partial<UnsignedLicense>): string => writeTmp(signLicense({ ...UNSIGNED, ...terms }, priv));
  const noHost = (): string => assert.fail('the host id was asked for although no server is bound to a host');

  it('a license carries its serial, its servers and the failover terms, with the defaults filled in', () => {
    const lic = loadLicenseFile(file({}), pub, 'acme');
    assert.equal(lic.serial, 3);
    assert.deepEqual(lic.servers, [
      { nodeId: 'lic-a', role: 'primary' },
      { nodeId: 'lic-b', role: 'redundant' },
    ]);
    assert.deepEqual(lic.failover, { budgetMs: 259_200_000, resetAfterMs: 3_600_000, maxExtensionMs: 259_200_000 });
    assert.deepEqual(lic.failover, DEFAULT_FAILOVER);
    const terms = loadLicenseFile(file({ failover: { budget_ms: 60_000, max_extension_ms: 30_000 } }), pub, 'acme').failover;
    assert.deepEqual(terms, { budgetMs: 60_000, resetAfterMs: 3_600_000, maxExtensionMs: 30_000 });
  });

  it('the failover terms, serial and servers are signed: raising the budget or the serial in the file breaks the signature', () => {
    const signed = signLicense({ ...UNSIGNED, failover: { budget_ms: 60_000 } }, priv);
    for (const tampered of [
      { ...signed, failover: { budget_ms: 9_007_199_254_740_991 } },
      { ...signed, serial: 99 },
      {
        ...signed,
        servers: [
          { node_id: 'lic-a', role: 'primary' },
          { node_id: 'lic-b', role: 'primary' },
        ],
      },
    ]) {
      assert.match(
        licenseError(() => loadLicenseFile(writeTmp(tampered), pub, 'acme')),
        /signature does not verify/,
      );
    }
  });

  it('a license signed before servers and serial existed verifies, and is refused saying to ask for a new one', () => {
    const { serial: _s, servers: _v, ...older } = UNSIGNED;
    const payload = { ...older, issued_at: '2026-01-01T00:00:00.000Z' };
    const signature = sign(null, Buffer.from(canonicalJson(payload)), priv).toString('base64');
    assert.match(
      licenseError(() => loadLicenseFile(writeTmp({ ...payload, signature }), pub, 'acme')),
      /signed but malformed: serial: .*ask the vendor for a new one/,
    );
  });

  it('bindLicense: the role comes from the license; LICENSE_ROLE, when set, must agree', () => {
    const lic = loadLicenseFile(file({}), pub, 'acme');
    assert.equal(bindLicense(lic, 'l.json', { nodeId: 'lic-b', hostId: noHost }).role, 'redundant');
    assert.equal(bindLicense(lic, 'l.json', { nodeId: 'lic-b', role: 'redundant', hostId: noHost }).role, 'redundant');
    assert.throws(
      () => bindLicense(lic, 'l.json', { nodeId: 'lic-b', role: 'primary', hostId: noHost }),
      (err: unknown) =>
        err instanceof LicenseError &&
        err.code === ErrorCode.CONFIG_INVALID &&
        /^LICENSE_ROLE: "primary" contradicts license file l\.json, which makes lic-b the redundant/.test(err.message),
    );
  });

  it('bindLicense: a node id the license does not list is refused, naming the key and the listed ids', () => {
    const lic = loadLicenseFile(file({}), pub, 'acme');
    assert.throws(
      () => bindLicense(lic, 'l.json', { nodeId: 'lic-c', hostId: noHost }),
      (err: unknown) =>
        err instanceof LicenseError &&
        err.code === ErrorCode.CONFIG_INVALID &&
        err.message.startsWith('LICENSE_NODE_ID: "lic-c" is not a server of license file l.json, which lists lic-a (primary), lic-b (redundant)') &&
        !err.message.includes('\n'),
    );
  });

  it('bindLicense: a server bound to a host runs only there', () => {
    const here = hostIdFromMachineId('0123456789abcdef0123456789abcdef');
    const elsewhere = hostIdFromMachineId('fedcba9876543210fedcba9876543210');
    const lic = loadLicenseFile(file({ servers: [{ node_id: 'lic-a', role: 'primary', host_id: here }] }), pub, 'acme');
    assert.equal(bindLicense(lic, 'l.json', { nodeId: 'lic-a', hostId: () => here }).hostId, here);
    assert.throws(
      () => bindLicense(lic, 'l.json', { nodeId: 'lic-a', hostId: () => elsewhere }),
      (err: unknown) =>
        err instanceof LicenseError &&
        err.code === ErrorCode.LICENSE_INVALID &&
        err.message ===
          `license file l.json: server lic-a is bound to host id ${here}, this machine is ${elsewhere} (licensectl hostid): run lic-a on the machine it is licensed for, or ask the vendor to bind this one`,
    );
    assert.throws(
      () =>
        bindLicense(lic, 'l.json', {
          nodeId: 'lic-a',
          hostId: () => {
            throw new Error("cannot tell this machine's host id: no machine id");
          },
        }),
      (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.LICENSE_INVALID && /bound to host id .*, but cannot tell/.test(err.message),
    );
  });
});

describe('host ids', () => {
  it('are derived from the machine id: stable, product-specific, not the machine id itself', () => {
    const mid = '3d1219c7c4c5404aaa1f6d2a48adfda4';
    const id = hostIdFromMachineId(mid);
    assert.match(id, HOST_ID_PATTERN);
    assert.equal(hostIdFromMachineId(`${mid.toUpperCase()}\n`), id, 'case and the trailing newline do not matter');
    assert.ok(!id.includes(mid.slice(0, 12)), 'the machine id is not revealed');
    assert.notEqual(hostIdFromMachineId('3d1219c7c4c5404aaa1f6d2a48adfda5'), id);
    assert.throws(() => hostIdFromMachineId('uninitialized'), /not a machine id/);
  });

  it('readHostId takes the first file holding a machine id, and says how to make one when none does', () => {
    const d = mkdtempSync(path.join(tmpdir(), 'mid-'));
    const empty = path.join(d, 'empty');
    const uninit = path.join(d, 'uninit');
    const good = path.join(d, 'good');
    writeFileSync(empty, '');
    writeFileSync(uninit, 'uninitialized\n');
    writeFileSync(good, '0123456789abcdef0123456789abcdef\n');
    assert.equal(readHostId([path.join(d, 'missing'), empty, uninit, good]), hostIdFromMachineId('0123456789abcdef0123456789abcdef'));
    assert.throws(
      () => readHostId([path.join(d, 'missing'), empty, uninit]),
      (err: unknown) => err instanceof Error && /none of .*missing.*holds a machine id/.test(err.message) && /systemd-machine-id-setup/.test(err.message),
    );
  });
});
