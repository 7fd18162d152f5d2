import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { canonicalJson } from '../../src/server/license/canonical-json';
import { loadLicenseFile, parseUnsignedLicense, signLicense, type UnsignedLicense } from '../../src/server/license/license-file';
import { generateVendorKeys } from '../../src/server/license/vendor-keys';

const vendor = generateVendorKeys();
const other = generateVendorKeys();
const priv = createPrivateKey(vendor.privateKeyPem);
const pub = createPublicKey(vendor.publicKeyPem);
const UNSIGNED: UnsignedLicense = {
  licensee: 'ACME Corp',
  cluster_id: 'acme',
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
  ] as const) {
    it(`an unsigned license with ${what} is rejected naming the field`, () => {
      assert.throws(
        () => parseUnsignedLicense(bad),
        (err: Error) => err.message.includes(fragment),
      );
    });
  }
});
