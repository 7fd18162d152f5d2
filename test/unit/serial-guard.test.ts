import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { BudgetVerdict } from '../../src/server/budget/budget-keeper';
import type { LeaseHooks } from '../../src/server/cluster/node-controller';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { LicenseSerialGuard, withLicenseSerialCheck } from '../../src/server/license/serial-guard';
import type { Logger } from '../../src/server/log';
import { StateFile } from '../../src/server/state-file';
import type { Fence } from '../../src/server/store/fence';

function recordingLogger() {
  const lines: { level: string; msg: string; meta: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, meta: Record<string, unknown> = {}) =>
      lines.push({ level, msg, meta });
  return { lines, logger: { error: at('error'), warn: at('warn'), info: at('info') } as unknown as Logger };
}

function guard(serial: number, dir = mkdtempSync(path.join(tmpdir(), 'serial-'))) {
  const stateFile = new StateFile(dir, 'node-a');
  const { lines, logger } = recordingLogger();
  const g = new LicenseSerialGuard({ serial, licenseFile: '/etc/lic/license.json', clusterId: 'acme', stateFile, logger });
  return { g, stateFile, lines, logger, dir };
}

describe('LicenseSerialGuard', () => {
  it('remembers the serial a node starts with; a lower one later is refused at start (LICENSE_INVALID, one line, both serials)', () => {
    const { stateFile, dir } = guard(3);
    assert.equal(stateFile.value.licenseSerial, 3);
    assert.equal(guard(3, dir).g.problem, undefined, 'the same serial again is fine');
    assert.equal(guard(4, dir).stateFile.value.licenseSerial, 4, 'a newer one raises it');
    assert.throws(
      () => guard(3, dir),
      (err: unknown) =>
        err instanceof LicenseError &&
        err.code === ErrorCode.LICENSE_INVALID &&
        err.message.startsWith('license file /etc/lic/license.json: serial 3 is older than serial 4, which this node has run with or seen in cluster "acme"') &&
        !err.message.includes('\n'),
    );
  });

  it('a newer serial from Redis supersedes the license: one error naming both serials, listeners told once, remembered on disk', () => {
    const { g, stateFile, lines, dir } = guard(3);
    const told: string[] = [];
    g.onSuperseded((r) => told.push(r));
    g.observe(3, 'redis', true);
    g.observe(2, 'redis', true);
    assert.equal(g.problem, undefined, 'the same or an older serial changes nothing');
    g.observe(5, 'redis', true);
    g.observe(6, 'redis', true);
    assert.equal(told.length, 1);
    assert.match(
      g.problem ?? '',
      /^license superseded: license file \/etc\/lic\/license\.json has serial 3, but serial 5 is in use in cluster "acme" \(redis\)/,
    );
    assert.deepEqual(
      lines.filter((l) => l.level === 'error').map((l) => l.meta),
      [{ ownSerial: 3, newerSerial: 5, source: 'redis' }],
    );
    assert.equal(stateFile.value.licenseSerial, 6, 'the highest durable serial is remembered');
    assert.throws(() => guard(3, dir), /serial 3 is older than serial 6/);
  });

  it("a peer's claim stops the node but is not written down (only Redis, written by a node that loaded it, is durable)", () => {
    const { g, stateFile } = guard(3);
    g.observe(9, 'heartbeat of peer node-b', false);
    assert.match(g.problem ?? '', /serial 9 is in use .*\(heartbeat of peer node-b\)/);
    assert.equal(stateFile.value.licenseSerial, 3);
  });
});

describe('withLicenseSerialCheck (the lease hooks with the serial check riding along)', () => {
  const fence: Fence = { nodeId: 'node-a', epoch: 4 };

  function setup(answers: (number | Error)[]) {
    const { g } = guard(3);
    const { lines, logger } = recordingLogger();
    const calls: string[] = [];
    const inner: LeaseHooks = {
      holdOnlyWhileHooksSucceed: true,
      refresh: () => (calls.push('refresh'), Promise.resolve({ blocked: false })),
      afterAcquire: () => (calls.push('afterAcquire'), Promise.resolve({ blocked: false })),
      afterRenew: () => (calls.push('afterRenew'), Promise.resolve({ blocked: true })),
      beforeRelease: () => (calls.push('beforeRelease'), Promise.resolve(undefined)),
      onLeaseLost: () => void calls.push('onLeaseLost'),
    };
    const lease = {
      recordLicenseSerial: (): Promise<number> => {
        calls.push('serial');
        const a = answers.shift() ?? 3;
        return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
      },
    };
    return { g, hooks: withLicenseSerialCheck(inner, g, lease, logger), calls, lines };
  }

  it('checks the serial at every lease step and passes the budget verdicts through unchanged', async () => {
    const { hooks, calls } = setup([]);
    assert.equal(hooks.holdOnlyWhileHooksSucceed, true);
    assert.deepEqual(await hooks.refresh(), { blocked: false });
    assert.deepEqual(await hooks.afterRenew(fence), { blocked: true });
    assert.deepEqual(await hooks.afterAcquire(fence, 0), { blocked: false });
    await hooks.beforeRelease(fence);
    hooks.onLeaseLost();
    assert.deepEqual(calls, ['serial', 'refresh', 'afterRenew', 'serial', 'afterAcquire', 'beforeRelease', 'onLeaseLost']);
  });

  it('a failing serial call never fails the hook (nor a budget charge): logged once per streak, tried again', async () => {
    const { hooks, lines, g } = setup([new Error('READONLY'), new Error('READONLY'), 3, new Error('timeout')]);
    const verdicts: (BudgetVerdict | undefined)[] = [];
    verdicts.push(await hooks.afterRenew(fence), await hooks.afterRenew(fence), await hooks.afterRenew(fence), await hooks.refresh());
    assert.deepEqual(verdicts, [{ blocked: true }, { blocked: true }, { blocked: true }, { blocked: false }]);
    assert.equal(lines.filter((l) => l.level === 'warn').length, 2, 'once per streak of failures');
    assert.equal(g.problem, undefined);
  });

  it('a newer serial found at a step supersedes the license; an acquire landing after that is not charged', async () => {
    const { hooks, calls, g } = setup([7]);
    await hooks.refresh();
    assert.match(g.problem ?? '', /serial 7/);
    calls.length = 0;
    assert.equal(await hooks.afterAcquire(fence, 0), undefined);
    assert.deepEqual(calls, [], 'no episode opened, nothing charged for a lease the node will not serve');
  });
});
