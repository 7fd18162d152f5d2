import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { LICENSE_ERROR_KEY, LICENSE_POLICY_RULE_KEY } from '../../src/contract/metadata';
import { parseSeatPolicy, policyDigest } from '../../src/server/policy/seat-policy';
import { type LocalCluster, startLocalCluster } from '../../src/tools/local/local-cluster';
import { NodeProcess } from '../../src/tools/local/node-process';
import { eventually } from '../helpers/redis';
import { type RawSeatClient, rawSeatClient } from '../helpers/seat-client';

const POLICY = `# the site's seat policy
groups:
  cad-team: [alice, bob]
features:
  designer:
    reserve:
      - { seats: 2, group: cad-team }
    max:
      - { seats: 1, per: user }
    deny: [ { user: mallory } ]
`;
/** The same policy without the per-user limit. */
const RELAXED = POLICY.replace('    max:\n      - { seats: 1, per: user }\n', '');
/** A bad edit: `per: person` is not a kind. Line 9 of the file. */
const BROKEN = POLICY.replace('per: user', 'per: person');

function refusal(err: unknown, code: grpc.status): { message: string; rule: string } {
  const e = err as grpc.ServiceError;
  assert.equal(e.code, code, e.message);
  assert.equal(e.metadata.get(LICENSE_ERROR_KEY)[0], 'POLICY_LIMIT');
  return { message: e.details, rule: String(e.metadata.get(LICENSE_POLICY_RULE_KEY)[0] ?? '') };
}

/** Writes the policy the way configuration management does: a new file renamed over the old one. */
function install(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/**
 * The seat policy on real licensed processes: a reservation honoured while others are refused,
 * a per-user max, deny, reload on SIGHUP and on change (a bad edit refused, the last good policy
 * kept, the process alive), both nodes' digests compared, and the redundant enforcing the same
 * rules after the primary is killed.
 */
describe('seat policy drill (real processes)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'policy-drill-'));
  const file = path.join(dir, 'policy.yaml');
  let c: LocalCluster;
  let seats: RawSeatClient;
  const sessions = new Map<string, string>();

  before(async () => {
    writeFileSync(file, POLICY);
    c = await startLocalCluster({
      features: [{ name: 'designer', seats: 4 }],
      leaseTtlMs: 1_500,
      heartbeatIntervalMs: 250,
      redundantStartupGraceMs: 2_000,
      // Nobody heartbeats the sessions here: they must outlive the test.
      env: { LICENSE_POLICY_FILE: file, LICENSE_SESSION_TTL_MS: '600000' },
      logFiles: true,
    });
    await c.primary.waitForState('ACTIVE');
    await c.redundant.waitForState('STANDBY');
    seats = rawSeatClient(c.addr.primary, 10_000);
  });
  after(async () => {
    seats.close();
    await c.stop();
  });

  const session = async (user: string, client = seats): Promise<string> => {
    const known = sessions.get(user);
    if (known) return known;
    const sid = (await client.open({ client_id: `app-${user}`, user, hostname: `ws-${user}`, pid: 1 })).session_id;
    sessions.set(user, sid);
    return sid;
  };
  const checkout = async (user: string, client = seats) =>
    client.checkout({ session_id: await session(user, client), feature: 'designer', count: 1, request_id: '' });

  it('both nodes load the policy and show the same digest in status and in each other’s heartbeats', async () => {
    const want = policyDigest(parseSeatPolicy(POLICY, 'p'));
    for (const role of ['primary', 'redundant'] as const) {
      const s = await eventually(async () => {
        const st = await c.admin(role).getStatus();
        return st.peer?.policy_digest ? st : undefined;
      });
      assert.equal(s.policy_digest, want);
      assert.equal(s.peer?.policy_digest, want);
      assert.equal(s.policy_error, '');
    }
  });

  it('honours the reservation while other users are refused, caps each user at one seat, and denies mallory', async () => {
    // 4 seats, 2 kept for cad-team: carol and dave get the two others.
    await checkout('carol');
    await checkout('dave');
    const erin = refusal(await checkout('erin').catch((e: unknown) => e), grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(
      erin.message,
      'feature designer: 2 free seats, 2 reserved for others (policy rule features.designer.reserve[0]: 2 seats for group cad-team, 2 unused); erin can take 0 and asks for 1',
    );
    assert.equal(erin.rule, 'features.designer.reserve[0]');
    await checkout('alice');
    const again = refusal(await checkout('alice').catch((e: unknown) => e), grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(again.message, 'feature designer: max 1 seat per user (policy rule features.designer.max[0]); alice holds 1');
    assert.equal(again.rule, 'features.designer.max[0]');
    const mallory = refusal(await checkout('mallory').catch((e: unknown) => e), grpc.status.PERMISSION_DENIED);
    assert.equal(mallory.message, 'feature designer: denied to mallory (policy rule features.designer.deny[0])');
    await checkout('bob');
    const f = (await seats.features({})).features.find((x) => x.name === 'designer');
    assert.equal(f?.seats_in_use, 4);
  });

  it('SIGHUP reloads the file: a bad edit is refused naming the line and the last good policy stays; the fix applies; the node keeps running', async () => {
    const pid = c.primary.pid;
    install(file, BROKEN);
    c.primary.signal('SIGHUP');
    const st = await eventually(async () => {
      const s = await c.admin('primary').getStatus();
      return s.policy_error !== '' ? s : undefined;
    });
    assert.match(st.policy_error, /policy .*policy\.yaml: line 9: features\.designer\.max\.0\.per: must be one of user, host, group/);
    assert.equal(st.policy_digest, policyDigest(parseSeatPolicy(POLICY, 'p')), 'the last good policy stays in force');
    // The signal itself was handled (a file watch may have seen the edit first): a reload logged with reason SIGHUP.
    await c.primary.waitForLog((l) => l['reason'] === 'SIGHUP', 10_000, 'a policy reload on SIGHUP');
    assert.ok(c.primary.running, 'SIGHUP did not end the process');
    const ctl = spawnSync(
      process.execPath,
      [path.resolve(__dirname, '../../dist/server/cli/licensectl.js'), '--server', c.addr.primary, '--token', c.token, 'status'],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assert.equal(ctl.status, 0, ctl.stderr);
    assert.match(ctl.stdout, /^policy +digest [0-9a-f]{16}; the file on disk is REFUSED \(the last good policy stays\): policy .*line 9: /m);
    assert.equal(c.primary.pid, pid);
    // Still enforced: carol releases nothing, alice is still at her limit.
    await assert.rejects(checkout('alice'), (e: unknown) => (e as grpc.ServiceError).code === grpc.status.RESOURCE_EXHAUSTED);

    install(file, RELAXED);
    c.primary.signal('SIGHUP');
    c.redundant.signal('SIGHUP');
    const relaxed = policyDigest(parseSeatPolicy(RELAXED, 'p'));
    for (const role of ['primary', 'redundant'] as const) {
      await eventually(async () => {
        const s = await c.admin(role).getStatus();
        return s.policy_digest === relaxed && s.policy_error === '' && s.peer?.policy_digest === relaxed ? true : undefined;
      });
    }
    assert.ok(c.primary.running && c.redundant.running);
    // No per-user limit now; the seats are all taken, so alice's second seat waits for one.
    const sid = await session('alice');
    const waiting = seats.checkoutWaiting({ session_id: sid, feature: 'designer', count: 1, request_id: 'alice-2', wait_ms: 30_000 }, 40_000);
    assert.equal(await waiting.position, 1);
    await seats.closeSession({ session_id: await session('carol') });
    sessions.delete('carol');
    const g = await waiting.result;
    assert.equal(g.feature, 'designer');
  });

  it('a policy file edited in place is picked up without a signal', async () => {
    install(file, POLICY);
    const want = policyDigest(parseSeatPolicy(POLICY, 'p'));
    for (const role of ['primary', 'redundant'] as const) {
      await eventually(async () => ((await c.admin(role).getStatus()).policy_digest === want ? true : undefined), 20_000);
    }
  });

  it('a node whose policy file is bad refuses to start, with one line naming the file and the line', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, BROKEN);
    const p = new NodeProcess({ name: 'bad-policy', env: { ...c.envOf('primary'), LICENSE_POLICY_FILE: bad, LICENSE_GRPC_ADDR: '127.0.0.1:0' } }).start();
    try {
      const exit = await p.waitExit(15_000);
      assert.equal(exit.code, 2);
      assert.equal(p.stderr.length, 1, p.stderr.join('\n'));
      assert.match(p.stderr[0] ?? '', /^licensed: policy .*bad\.yaml: line 9: features\.designer\.max\.0\.per: must be one of user, host, group$/);
    } finally {
      await p.kill();
    }
  });

  it('after the primary is killed, the redundant enforces the same rules', async () => {
    await c.primary.kill();
    await c.redundant.waitForState('FAILOVER_ACTIVE', 30_000);
    const r = rawSeatClient(c.addr.redundant, 10_000);
    try {
      sessions.clear();
      // mallory is still denied; alice (2 seats now, over the restored limit of 1) may take no more.
      refusal(await checkout('mallory', r).catch((e: unknown) => e), grpc.status.PERMISSION_DENIED);
      const alice = refusal(await checkout('alice', r).catch((e: unknown) => e), grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(alice.message, 'feature designer: max 1 seat per user (policy rule features.designer.max[0]); alice holds 2');
    } finally {
      r.close();
    }
  });
});
