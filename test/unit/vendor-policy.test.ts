import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_EXTENSION_MS, DEFAULT_KEY_VALIDITY_MS } from '../../src/server/budget/activation-keys';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { demoPolicy, loadPolicyFile, mayActivate, parsePolicy, tokenSha256 } from '../../src/server/vendor/vendor-policy';

const ACME_TOKEN = 'acme-token-0123456789abcdef';
const GLOBEX_TOKEN = 'globex-token-0123456789abcdef';

const GOOD = `# the vendor's customers
customers:
  acme:
    token_sha256: "${tokenSha256(ACME_TOKEN)}"
    clusters: [prod-eu, prod-us]
    max_activations_per_episode: 3
    extension_ms: 3600000
    rate_per_minute: 5
  globex:
    token: "${GLOBEX_TOKEN}"
    clusters:
      - globex-main
    max_activations_per_episode: 1
`;

/** The one-line CONFIG_INVALID refusal parsePolicy gives. */
function refusal(text: string): string {
  try {
    parsePolicy(text, 'policy p.yaml');
  } catch (err) {
    assert.ok(err instanceof LicenseError, String(err));
    assert.equal(err.code, ErrorCode.CONFIG_INVALID);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return err.message;
  }
  assert.fail('the policy was accepted');
}

describe('vendor policy file', () => {
  it('a good file: customers with their clusters, limits, defaults filled in, tokens by hash or plain', () => {
    const p = parsePolicy(GOOD);
    assert.equal(p.mode, 'policy');
    assert.deepEqual(
      p.customers.map((c) => ({ ...c, clusters: c.clusters === 'any' ? 'any' : [...c.clusters] })),
      [
        {
          name: 'acme',
          clusters: ['prod-eu', 'prod-us'],
          maxActivationsPerEpisode: 3,
          extensionMs: 3_600_000,
          ratePerMinute: 5,
          keyValidForMs: DEFAULT_KEY_VALIDITY_MS,
        },
        {
          name: 'globex',
          clusters: ['globex-main'],
          maxActivationsPerEpisode: 1,
          extensionMs: DEFAULT_EXTENSION_MS,
          ratePerMinute: 10,
          keyValidForMs: DEFAULT_KEY_VALIDITY_MS,
        },
      ],
    );
    assert.equal(p.authenticate(ACME_TOKEN)?.name, 'acme');
    assert.equal(p.authenticate(GLOBEX_TOKEN)?.name, 'globex');
    assert.equal(p.authenticate(`${ACME_TOKEN}x`), undefined);
    assert.equal(p.authenticate(''), undefined);
    // The hash of a token is not the token.
    assert.equal(p.authenticate(tokenSha256(ACME_TOKEN)), undefined);
    const acme = p.customers[0];
    assert.ok(acme);
    assert.ok(mayActivate(acme, 'prod-us'));
    assert.ok(!mayActivate(acme, 'globex-main'));
    // A plain token works, with a warning naming the customer.
    assert.equal(p.warnings.length, 1);
    assert.match(p.warnings[0] ?? '', /customers\.globex: a plain token in the file; store token_sha256 instead/);
  });

  it('bad YAML is refused naming the line', () => {
    const msg = refusal('customers:\n  acme:\n    clusters: [prod-eu\n    max_activations_per_episode: 3\n');
    assert.match(msg, /^policy p\.yaml: line \d+: not valid YAML: /);
    assert.match(refusal('customers:\n  acme:\n    clusters: [a]\n    clusters: [b]\n'), /^policy p\.yaml: line 4: not valid YAML: Map keys must be unique/);
  });

  it('an unknown key is refused with its line and path, and the keys that are allowed', () => {
    const msg = refusal(GOOD.replace('    rate_per_minute: 5\n', '    rate_per_minute: 5\n    max_activation_per_episode: 9\n'));
    assert.equal(
      msg,
      'policy p.yaml: line 9: customers.acme.max_activation_per_episode: unknown key (allowed: token_sha256, token, clusters, max_activations_per_episode, extension_ms, rate_per_minute, key_valid_for_ms)',
    );
    assert.match(refusal(`${GOOD}defaults: {}\n`), /^policy p\.yaml: line 14: defaults: unknown key \(allowed: customers\)$/);
  });

  it('bad values name the line and the key', () => {
    assert.equal(
      refusal(GOOD.replace('clusters: [prod-eu, prod-us]', 'clusters: []')),
      'policy p.yaml: line 5: customers.acme.clusters: must name at least one cluster',
    );
    assert.match(
      refusal(GOOD.replace('max_activations_per_episode: 3', 'max_activations_per_episode: "3"')),
      /^policy p\.yaml: line 6: customers\.acme\.max_activations_per_episode: /,
    );
    assert.match(refusal(GOOD.replace('- globex-main', '- "globex main"')), /^policy p\.yaml: line 12: customers\.globex\.clusters\.0: must be a cluster id/);
    assert.match(refusal(GOOD.replace(tokenSha256(ACME_TOKEN), 'abc')), /^policy p\.yaml: line 4: customers\.acme\.token_sha256: must be 64 hex digits/);
    assert.match(refusal(GOOD.replace(GLOBEX_TOKEN, 'short')), /^policy p\.yaml: line 10: customers\.globex\.token: must be at least 16 characters/);
    // Neither or both of token and token_sha256: the customer's line.
    assert.match(
      refusal(GOOD.replace(`    token: "${GLOBEX_TOKEN}"\n`, '')),
      /^policy p\.yaml: line 9: customers\.globex: give exactly one of token_sha256 \(recommended\) or token$/,
    );
    assert.match(refusal(GOOD.replace('  acme:\n', '  "acme corp":\n')), /^policy p\.yaml: line 3: customers\.acme corp: customer names are/);
    assert.match(refusal(''), /^policy p\.yaml: is empty/);
    assert.match(refusal('customers: {}\n'), /^policy p\.yaml: line 1: customers: names no customer/);
    assert.match(refusal('- acme\n'), /^policy p\.yaml: line 1: must be a mapping with a `customers:` key$/);
  });

  it('two customers with the same token are refused (whose clusters would apply?), by hash or plain, whatever the case of the hex', () => {
    const twice = GOOD.replace(`token: "${GLOBEX_TOKEN}"`, `token: "${ACME_TOKEN}"`);
    assert.equal(refusal(twice), 'policy p.yaml: line 9: customers.globex: has the same token as customers.acme; give each customer its own token');
    const upper = GOOD.replace(`token: "${GLOBEX_TOKEN}"`, `token_sha256: "${tokenSha256(ACME_TOKEN).toUpperCase()}"`);
    assert.match(refusal(upper), /customers\.globex: has the same token as customers\.acme/);
  });

  it('loadPolicyFile names the file; a missing file says so', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vendor-policy-'));
    const file = path.join(dir, 'policy.yaml');
    writeFileSync(file, GOOD.replace('rate_per_minute: 5', 'rate_per_minute: 0'));
    assert.throws(() => loadPolicyFile(file), { message: `policy ${file}: line 8: customers.acme.rate_per_minute: must be a whole number of at least 1` });
    assert.throws(() => loadPolicyFile(path.join(dir, 'nope.yaml')), { message: `policy ${path.join(dir, 'nope.yaml')}: cannot read (ENOENT)` });
  });

  it('deploy/vendor/policy.example.yaml parses, and its documented example token is acme’s', () => {
    const p = loadPolicyFile('deploy/vendor/policy.example.yaml');
    assert.deepEqual(
      p.customers.map((c) => c.name),
      ['acme', 'globex'],
    );
    assert.equal(p.authenticate('acme-example-token-do-not-use-0123456789')?.name, 'acme');
    assert.deepEqual(p.warnings, []);
  });

  it('demo mode: one token, any cluster, 3 activations per episode; a short demo token is refused', () => {
    const p = demoPolicy('demo-token-0123456789');
    assert.equal(p.mode, 'demo');
    const c = p.authenticate('demo-token-0123456789');
    assert.equal(c?.name, 'demo');
    assert.equal(c?.maxActivationsPerEpisode, 3);
    assert.ok(c && mayActivate(c, 'any-cluster-at-all'));
    assert.throws(() => demoPolicy('demo'), { message: /^--demo-token: must be at least 16 characters/ });
  });
});
