import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type LocalCluster, startLocalCluster } from '../../src/tools/local/local-cluster';
import { LicenseClient, ServerBlockedError } from '../../src/sdk/index';
import { checkOnce } from '../helpers/health';
import { eventually } from '../helpers/redis';

const DIST = path.resolve(__dirname, '..', '..', 'dist', 'server', 'cli');
const BUDGET_MS = 3_000;
const RESET_MS = 3_000;
const EXTENSION_MS = 4_000;

function ctl(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(DIST, 'licensectl.js'), ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/**
 * The whole budget story on real processes: kill the primary with a 3-second budget,
 * watch the block, request a key, sign it with the vendor CLI, apply it, watch the
 * unblock, restart the redundant while blocked, bring the primary back, watch the
 * handback and, after the reset period, the full budget.
 */
describe('budget drill (real processes, 3-second budget)', () => {
  let c: LocalCluster;
  const clients: LicenseClient[] = [];
  after(async () => {
    await Promise.all(clients.map((x) => x.close().catch(() => undefined)));
    await c?.stop();
  });

  it('blocks at exhaustion, unblocks with a vendor-signed key, refunds nothing on restarts, refills after the reset period', async () => {
    c = await startLocalCluster({
      leaseTtlMs: 1_500,
      heartbeatIntervalMs: 300,
      handbackAfterMs: 1_500,
      // The failover terms are signed into the license with the throwaway vendor key (they are
      // license terms; a node started with LICENSE_FAILOVER_BUDGET_MS and the like refuses to start).
      failover: { budget_ms: BUDGET_MS, reset_after_ms: RESET_MS, max_extension_ms: EXTENSION_MS },
      env: { LICENSE_SESSION_TTL_MS: '60000' },
      logFiles: true,
    });
    const admin = ['--token', c.token, '--server'];
    const status = (role: 'primary' | 'redundant') => c.admin(role).getStatus();
    await c.primary.waitForState('ACTIVE');
    await eventually(async () => (await status('redundant')).peer?.reachable || undefined);

    // A client holds a seat before the failover; it must keep it through the block.
    const client = new LicenseClient({ endpoints: [c.addr.primary, c.addr.redundant], clientId: 'worker', callTimeoutMs: 1_000, retryTimeoutMs: 10_000 });
    clients.push(client);
    const blockedEvents: unknown[] = [];
    client.on('blocked', (e) => blockedEvents.push(e));
    const seat = await client.checkout('solver');

    // Before any failover: full budget, no episode.
    const b0 = (await status('redundant')).budget;
    assert.deepEqual(b0, { granted_ms: BUDGET_MS, consumed_ms: 0, remaining_ms: BUDGET_MS, blocked: false, activations: 0, episode_id: '' });

    await c.primary.kill();
    const failover = await c.redundant.waitForState('FAILOVER_ACTIVE', 20_000);
    const blocked = await c.redundant.waitForState('FAILOVER_BLOCKED', 20_000);
    const activeMs = Date.parse(String(blocked['timestamp'])) - Date.parse(String(failover['timestamp']));
    assert.ok(activeMs >= BUDGET_MS - 300, `blocked after ${activeMs} ms of a ${BUDGET_MS} ms budget`);

    const sb = await status('redundant');
    assert.equal(sb.state, 'NODE_STATE_FAILOVER_BLOCKED');
    assert.equal(sb.budget?.blocked, true);
    assert.equal(sb.budget?.remaining_ms, 0);
    assert.match(sb.budget?.episode_id ?? '', /^[0-9a-f]{12}$/);
    assert.equal(sb.epoch > 0, true, 'a blocked redundant still holds the lease');

    // New checkouts are refused with REDUNDANT_BLOCKED and a message naming the command; the held seat lives on.
    await assert.rejects(client.checkout('solver'), (err: unknown) => {
      assert.ok(err instanceof ServerBlockedError, String(err));
      assert.equal(err.code, 'REDUNDANT_BLOCKED');
      assert.match(err.message, /licensectl activation request/);
      return true;
    });
    assert.ok(blockedEvents.length > 0, 'SDK emitted blocked');
    const hb = client.lastHeartbeatAtMs ?? 0;
    await eventually(() => ((client.lastHeartbeatAtMs ?? 0) > hb ? true : undefined), 30_000, 'heartbeat honoured while blocked');
    assert.ok(seat.held);

    // Health: SeatService NOT_SERVING on the blocked node.
    const health = await checkOnce(c.addr.redundant, 'license.v1.SeatService');
    assert.equal(health, 'NOT_SERVING');

    // Status in the CLI says how much is left and that it is blocked.
    const st = ctl([...admin, c.addr.redundant, 'status']);
    assert.match(st.stdout, /^budget\s+0ms left of 3\.0s .*BLOCKED: apply an activation key/m);

    // Restart the redundant while blocked: it comes back blocked, never FAILOVER_ACTIVE.
    await c.redundant.kill();
    const rmark = c.redundant.lines.length;
    c.redundant.start();
    await c.redundant.waitForState('FAILOVER_BLOCKED', 30_000, rmark);
    assert.ok(!c.redundant.lines.slice(rmark).some((l) => l['to'] === 'FAILOVER_ACTIVE'), 'passed through FAILOVER_ACTIVE after restart');
    const afterRestart = (await status('redundant')).budget;
    assert.ok((afterRestart?.consumed_ms ?? 0) >= BUDGET_MS, 'restart refunded nothing');

    // Activation: request (operator), sign (vendor), apply (operator).
    const req = ctl([...admin, c.addr.redundant, 'activation', 'request']);
    assert.equal(req.code, 0, req.stderr);
    assert.match(req.stdout, /^LRQ1\.[A-Za-z0-9_-]+$/);
    // The vendor chooses the extension, up to what the license accepts (the request names it).
    const tooLong = ctl(['vendor', 'sign-activation', '--key', c.license.privateKeyFile, '--extension-ms', String(EXTENSION_MS + 1), req.stdout]);
    assert.equal(tooLong.code, 1);
    assert.match(
      tooLong.stderr,
      /^licensectl: extension 4001 ms is more than the 4000 ms this cluster's license accepts per activation key \(failover\.max_extension_ms/,
    );
    const signed = ctl(['vendor', 'sign-activation', '--key', c.license.privateKeyFile, '--extension-ms', String(EXTENSION_MS), req.stdout]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(signed.stdout.split('\n').length, 1, 'sign-activation prints only the key, on one line');
    // Wrong token first: refused, nothing changes.
    const before = (await status('redundant')).budget;
    const wrong = ctl(['--token', 'not-the-admin-token-at-all', '--server', c.addr.redundant, 'activation', 'apply', signed.stdout]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /PERMISSION_DENIED/);
    assert.deepEqual((await status('redundant')).budget, before);
    const applied = ctl([...admin, c.addr.redundant, 'activation', 'apply', signed.stdout]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /^activation applied: .* 1 activation\(s\), not blocked$/);
    await c.redundant.waitForState('FAILOVER_ACTIVE', 10_000, rmark);
    const replay = ctl([...admin, c.addr.redundant, 'activation', 'apply', signed.stdout]);
    assert.equal(replay.code, 1);
    assert.match(replay.stderr, /FAILED_PRECONDITION: this activation key was already applied/);

    // The audit trail, through GetAudit and the CLI: the episode, the block and the activation,
    // chained through the restart; the request key carried the head the vendor saw.
    assert.match(signed.stderr, /^audit head of node-b \(cluster [^)]+\) at request: \d+:[0-9a-f]{64}$/m);
    const audit = ctl([...admin, c.addr.redundant, 'audit', '--verify']);
    assert.equal(audit.code, 0, audit.stderr);
    assert.match(audit.stderr, /^audit chain verified from the first entry to #\d+/m);
    const events = audit.stdout
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[4]);
    assert.deepEqual(
      events.filter((e) => e !== undefined && e !== ''),
      ['episode_opened', 'blocked', 'activation_applied'],
    );
    await client.checkout('solver'); // grants again

    // The primary returns: handback; the episode stays open until the reset period passes.
    const pmark = c.primary.lines.length;
    c.primary.start();
    await c.primary.waitForState('ACTIVE', 30_000, pmark);
    const mid = (await status('primary')).budget;
    assert.notEqual(mid?.episode_id, '', 'episode still open right after the handback');
    const full = await eventually(
      async () => {
        const b = (await status('redundant')).budget;
        return b?.episode_id === '' ? b : undefined;
      },
      30_000,
      'budget refilled after the reset period',
    );
    assert.deepEqual(full, { granted_ms: BUDGET_MS, consumed_ms: 0, remaining_ms: BUDGET_MS, blocked: false, activations: 0, episode_id: '' });
  });
});

/**
 * A hostile customer with root, across restarts of the redundant while the budget is spent:
 * with the primary down and the redundant stopped, it inflates the grant and clears the block in
 * Redis, then in the redundant's state file, then in both at once (edits, never a roll-back of
 * both stores to one earlier snapshot, the documented limit). Every time the redundant comes
 * back FAILOVER_BLOCKED, never FAILOVER_ACTIVE, refuses checkouts and shows nothing left.
 */
describe('budget drill: tampering with Redis and the state file across a restart (real processes)', () => {
  let c: LocalCluster;
  let redis: Redis | undefined;
  const clients: LicenseClient[] = [];
  after(async () => {
    await Promise.all(clients.map((x) => x.close().catch(() => undefined)));
    redis?.disconnect();
    await c?.stop();
  });

  it('comes back blocked whatever a customer edits in Redis, in the state file or in both', async () => {
    c = await startLocalCluster({
      leaseTtlMs: 1_500,
      heartbeatIntervalMs: 300,
      handbackAfterMs: 1_500,
      failover: { budget_ms: BUDGET_MS, reset_after_ms: RESET_MS, max_extension_ms: EXTENSION_MS },
      env: { LICENSE_SESSION_TTL_MS: '60000' },
      logFiles: true,
    });
    redis = new Redis(c.redisUrl);
    const budgetKey = `{lic:${c.clusterId}}:budget`;
    const stateFile = path.join(c.dir, 'state-redundant', 'node-b.state.json');
    const status = () => c.admin('redundant').getStatus();
    await c.primary.waitForState('ACTIVE', 30_000);
    await eventually(async () => (await status()).peer?.reachable || undefined, 30_000, 'redundant sees the primary');

    // Fail over and spend the budget; the primary stays down for the rest of the test.
    await c.primary.kill();
    await c.redundant.waitForState('FAILOVER_ACTIVE', 30_000);
    await c.redundant.waitForState('FAILOVER_BLOCKED', 30_000);
    const episode = (await status()).budget?.episode_id ?? '';
    assert.match(episode, /^[0-9a-f]{12}$/);

    const tamperRedis = async (): Promise<void> => {
      await redis?.hset(budgetKey, { granted_ms: '999999999', consumed_ms: '0', blocked: '0', episode_id: 'feedfacecafe' });
    };
    const tamperDisk = (): void => {
      const s = JSON.parse(readFileSync(stateFile, 'utf8')) as { budget?: { grantedMs?: number; blocked?: boolean } };
      assert.ok(s.budget, `the redundant mirrors its budget in ${stateFile}`);
      s.budget.grantedMs = 999_999_999;
      s.budget.blocked = false;
      writeFileSync(stateFile, JSON.stringify(s));
    };

    const cases: [string, () => Promise<void> | void][] = [
      ['Redis', tamperRedis],
      ['state file', tamperDisk],
      [
        'Redis and state file',
        async () => {
          await tamperRedis();
          tamperDisk();
        },
      ],
    ];
    for (const [what, tamper] of cases) {
      c.redundant.signal('SIGTERM');
      await c.redundant.waitExit(20_000);
      await tamper();
      const mark = c.redundant.lines.length;
      c.redundant.start();
      await c.redundant.waitForState('FAILOVER_BLOCKED', 30_000, mark);
      // It reaches Redis again and writes its own episode back over the forged one.
      await eventually(
        async () => ((await redis?.hget(budgetKey, 'episode_id')) === episode ? true : undefined),
        30_000,
        `${what}: episode written back to Redis`,
      );
      await new Promise((r) => setTimeout(r, 1_500)); // a few heartbeats and charges
      assert.ok(!c.redundant.lines.slice(mark).some((l) => l['to'] === 'FAILOVER_ACTIVE'), `${what}: passed through FAILOVER_ACTIVE after restart`);

      const s = await status();
      assert.equal(s.state, 'NODE_STATE_FAILOVER_BLOCKED', what);
      assert.equal(s.budget?.blocked, true, what);
      assert.equal(s.budget?.remaining_ms, 0, what);
      assert.equal(s.budget?.granted_ms, BUDGET_MS, what);
      assert.equal(s.budget?.episode_id, episode, what);
      assert.equal(s.budget?.activations, 0, what);
      assert.equal(Number(await redis?.hget(budgetKey, 'granted_ms')), BUDGET_MS, `${what}: grant in Redis repaired`);

      const client = new LicenseClient({ endpoints: [c.addr.redundant], clientId: `tamper-${clients.length}`, callTimeoutMs: 2_000, retryTimeoutMs: 5_000 });
      clients.push(client);
      await assert.rejects(client.checkout('solver'), (err: unknown) => {
        assert.ok(err instanceof ServerBlockedError, `${what}: ${String(err)}`);
        assert.equal(err.code, 'REDUNDANT_BLOCKED');
        return true;
      });
    }
  });
});
