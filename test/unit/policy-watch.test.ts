import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { createLogger } from '../../src/server/log';
import { createPolicyWatch, MAX_POLICY_BYTES, type PolicyWatch, type PolicyWatchOptions, reloadOnSighup } from '../../src/server/policy/policy-watch';
import { checkAgainstLicense, EMPTY_SEAT_POLICY, parseSeatPolicy, policyDigest, type SeatPolicy } from '../../src/server/policy/seat-policy';

const V1 = `groups:
  cad-team: [alice, bob]
features:
  designer:
    max: [ { seats: 1, per: user } ]
`;
const V2 = `groups:
  cad-team: [alice, bob]
features:
  designer:
    max: [ { seats: 2, per: user } ]
`;
/** V2 with a mistake on line 5. */
const BAD = `groups:
  cad-team: [alice, bob]
features:
  designer:
    max: [ { seats: 2, per: users } ]
`;

const digestOf = (text: string): string => policyDigest(parseSeatPolicy(text, 'x'));

interface LogLine {
  level: string;
  message: string;
  [k: string]: unknown;
}

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('policy watch', () => {
  let dir: string;
  let file: string;
  let logs: LogLine[];
  let changes: { policy: SeatPolicy; digest: string }[];
  let watch: PolicyWatch | undefined;

  const make = (extra: Partial<PolicyWatchOptions> = {}): PolicyWatch => {
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    watch = createPolicyWatch({
      file,
      logger: createLogger({ level: 'debug', context: { node: 'n1', cluster: 'c1' }, stream }),
      onChange: (policy, digest) => {
        changes.push({ policy, digest });
      },
      debounceMs: 30,
      pollMs: 100,
      ...extra,
    });
    return watch;
  };
  const errors = (): LogLine[] => logs.filter((l) => l.level === 'error');

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'policy-watch-'));
    file = path.join(dir, 'policy.yaml');
    logs = [];
    changes = [];
    watch = undefined;
  });
  afterEach(() => {
    watch?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('start() loads the file; onChange is for later changes only', () => {
    writeFileSync(file, V1);
    const w = make();
    w.start();
    assert.equal(w.digest, digestOf(V1));
    assert.deepEqual(w.current.features.get('designer')?.max, [{ seats: 1, per: 'user' }]);
    assert.equal(w.lastError, undefined);
    assert.deepEqual(changes, []);
    assert.ok(logs.some((l) => l.level === 'info' && l.message === 'seat policy loaded' && l['digest'] === digestOf(V1)));
  });

  it('start() refuses a bad file with one line naming the file and the line (the node does not start)', () => {
    writeFileSync(file, BAD);
    const w = make();
    assert.throws(
      () => w.start(),
      (err: unknown) =>
        err instanceof LicenseError &&
        err.code === ErrorCode.CONFIG_INVALID &&
        err.message === `policy ${file}: line 5: features.designer.max.0.per: must be one of user, host, group`,
    );
  });

  it('start() refuses an unreadable path (a directory) naming it', () => {
    file = dir;
    assert.throws(
      () => make().start(),
      (err: unknown) => err instanceof LicenseError && err.message === `policy ${dir}: cannot read (EISDIR)`,
    );
  });

  it('an edit in place is loaded (by the directory watch: the poll is off here): onChange gets the new policy and digest', async () => {
    writeFileSync(file, V1);
    const w = make({ pollMs: 60_000 });
    w.start();
    writeFileSync(file, V2);
    await until('the edit is loaded', () => changes.length === 1);
    assert.equal(changes[0]?.digest, digestOf(V2));
    assert.equal(w.digest, digestOf(V2));
    assert.deepEqual(w.current.features.get('designer')?.max, [{ seats: 2, per: 'user' }]);
  });

  it('a bad edit is refused with an error naming the line, and the last good policy stays; fixing it loads the fix', async () => {
    writeFileSync(file, V1);
    const w = make();
    w.start();
    writeFileSync(file, BAD);
    await until('the refusal is logged', () => errors().length > 0);
    const [err] = errors();
    assert.equal(err?.message, 'seat policy file refused; keeping the last good policy');
    assert.equal(err?.['err'], `policy ${file}: line 5: features.designer.max.0.per: must be one of user, host, group`);
    assert.equal(w.digest, digestOf(V1));
    assert.equal(w.lastError, `policy ${file}: line 5: features.designer.max.0.per: must be one of user, host, group`);
    assert.deepEqual(changes, []);
    // The same bad file seen again by the poll is not logged again.
    await sleep(300);
    assert.equal(errors().length, 1);

    writeFileSync(file, V2);
    await until('the fix is loaded', () => changes.length === 1);
    assert.equal(w.digest, digestOf(V2));
    assert.equal(w.lastError, undefined);
  });

  it('a file replaced by rename (as editors and config management do) is loaded by the directory watch', async () => {
    writeFileSync(file, V1);
    const w = make({ pollMs: 60_000 });
    w.start();
    const tmp = path.join(dir, '.policy.yaml.tmp');
    writeFileSync(tmp, V2);
    renameSync(tmp, file);
    await until('the replacement is loaded', () => changes.length === 1);
    assert.equal(w.digest, digestOf(V2));
    // And the watch still follows the new file (not the old inode).
    writeFileSync(file, V1);
    await until('the next edit is loaded', () => changes.length === 2);
    assert.equal(w.digest, digestOf(V1));
  });

  it('an edit that changes only comments and layout changes nothing', async () => {
    writeFileSync(file, V1);
    const w = make();
    w.start();
    writeFileSync(file, `# reviewed 2026-01-05\n${V1.replace('[ { seats: 1, per: user } ]', '\n      - per: user\n        seats: 1')}`);
    await until('the file is read again', () => logs.some((l) => l.message === 'seat policy unchanged'));
    assert.deepEqual(changes, []);
    assert.equal(w.digest, digestOf(V1));
  });

  it('reload() (what SIGHUP calls) reads the file now, without waiting for events', () => {
    writeFileSync(file, V1);
    const w = make({ fsWatch: false, pollMs: 60_000 });
    w.start();
    assert.deepEqual(w.reload('SIGHUP'), { status: 'unchanged', digest: digestOf(V1) });
    writeFileSync(file, V2);
    assert.deepEqual(w.reload('SIGHUP'), { status: 'changed', digest: digestOf(V2) });
    assert.equal(changes.length, 1);
    writeFileSync(file, BAD);
    assert.deepEqual(w.reload('SIGHUP'), {
      status: 'refused',
      digest: digestOf(V2),
      error: `policy ${file}: line 5: features.designer.max.0.per: must be one of user, host, group`,
    });
    // Asked by a person, a refusal is logged every time.
    assert.deepEqual(w.reload('SIGHUP'), { status: 'refused', digest: digestOf(V2), error: w.lastError });
    assert.equal(errors().length, 2);
    assert.equal(w.digest, digestOf(V2));
  });

  it('reloadOnSighup: a real SIGHUP reloads (and does not kill the process)', async () => {
    writeFileSync(file, V1);
    const w = make({ fsWatch: false, pollMs: 60_000 });
    w.start();
    const off = reloadOnSighup(w);
    try {
      writeFileSync(file, V2);
      process.kill(process.pid, 'SIGHUP');
      await until('SIGHUP reloads', () => changes.length === 1);
      assert.equal(w.digest, digestOf(V2));
      assert.ok(logs.some((l) => l.message === 'seat policy loaded' && l['reason'] === 'SIGHUP'));
    } finally {
      off();
    }
    assert.equal(process.listenerCount('SIGHUP'), 0);
  });

  it('polling alone (no change events) notices an edit within a few polls', async () => {
    writeFileSync(file, V1);
    const w = make({ fsWatch: false, pollMs: 50 });
    w.start();
    writeFileSync(file, V2);
    await until('the poll notices', () => changes.length === 1, 2_000);
    assert.equal(w.digest, digestOf(V2));
  });

  it('a file that does not exist is the empty policy until it appears; a file removed goes back to the empty policy', async () => {
    const w = make();
    w.start();
    assert.equal(w.digest, policyDigest(EMPTY_SEAT_POLICY));
    assert.ok(logs.some((l) => l.level === 'warn' && l.message === 'seat policy file does not exist: no seat policy until it is created'));
    writeFileSync(file, V1);
    await until('the new file is loaded', () => changes.length === 1);
    assert.equal(w.digest, digestOf(V1));
    unlinkSync(file);
    await until('the removal is noticed', () => changes.length === 2);
    assert.equal(w.digest, policyDigest(EMPTY_SEAT_POLICY));
    assert.ok(logs.some((l) => l.level === 'warn' && l.message === 'seat policy file is gone: no seat policy now'));
  });

  it('a file over 1 MiB is refused', () => {
    writeFileSync(file, V1);
    const w = make({ fsWatch: false, pollMs: 60_000 });
    w.start();
    writeFileSync(file, `# ${'x'.repeat(MAX_POLICY_BYTES)}\n`);
    const r = w.reload('test');
    assert.equal(r.status, 'refused');
    assert.match(w.lastError ?? '', /is \d+ bytes; a policy file may have at most 1048576$/);
    assert.equal(w.digest, digestOf(V1));
  });

  it('stop() ends watching: later edits are not loaded', async () => {
    writeFileSync(file, V1);
    const w = make({ pollMs: 50 });
    w.start();
    w.stop();
    writeFileSync(file, V2);
    await sleep(300);
    assert.deepEqual(changes, []);
    assert.equal(w.digest, digestOf(V1));
  });

  it('check(): its warnings are logged with each policy loaded', () => {
    writeFileSync(file, V1);
    const w = make({ fsWatch: false, pollMs: 60_000, check: (p) => checkAgainstLicense(p, new Map([['solver', 3]])) });
    w.start();
    const warned = logs.filter((l) => l.level === 'warn' && l.message === 'seat policy: check the policy').map((l) => l['warning']);
    assert.deepEqual(warned, ['policy: features.designer: the license has no feature "designer"; its rules have no effect']);
  });

  it('an onChange that fails is logged; the new policy is in force anyway', async () => {
    writeFileSync(file, V1);
    const w = make({
      fsWatch: false,
      pollMs: 60_000,
      onChange: () => Promise.reject(new Error('redis down')),
    });
    w.start();
    writeFileSync(file, V2);
    assert.equal(w.reload('SIGHUP').status, 'changed');
    await until('the failure is logged', () => errors().length === 1);
    assert.equal(errors()[0]?.['err'], 'redis down');
    assert.equal(w.digest, digestOf(V2));
  });
});
