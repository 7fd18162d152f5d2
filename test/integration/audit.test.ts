import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { decodeRequestKey, signActivation } from '../../src/server/budget/activation-keys';
import { type AuditEntry, formatHead, verifyStored } from '../../src/server/budget/audit-chain';
import { BudgetKeeper } from '../../src/server/budget/budget-keeper';
import { ManualClock } from '../../src/server/clock';
import { generateVendorKeys } from '../../src/server/license/vendor-keys';
import { createSilentLogger } from '../../src/server/log';
import { StateFile } from '../../src/server/state-file';
import { BudgetStore } from '../../src/server/store/budget-store';
import type { Fence } from '../../src/server/store/fence';
import { clusterKeys } from '../../src/server/store/keys';
import { LeaseStore } from '../../src/server/store/lease-store';
import { forEachTopology, uniqueClusterId, useScriptFixture } from '../helpers/redis';

const HOUR = 3_600_000;
const BUDGET = 3 * HOUR;
const TTL = 10 * 60_000;
const vendor = generateVendorKeys();

/** The budget's audit trail against a real Redis: a failover episode, an activation, and tampering. */
forEachTopology('audit trail (BudgetKeeper + Redis stream + state dir, manual clock)', (topology) => {
  const fx = useScriptFixture(topology);

  async function episode() {
    const clusterId = uniqueClusterId();
    const keys = clusterKeys(clusterId);
    const clock = new ManualClock(Date.UTC(2026, 10, 27));
    const dir = mkdtempSync(path.join(tmpdir(), 'audit-'));
    const store = new BudgetStore(fx.scripts, keys, BUDGET);
    const keeper = new BudgetKeeper({
      settings: { role: 'redundant', clusterId, nodeId: 'node-b', leaseTtlMs: TTL, budgetMs: BUDGET, resetAfterMs: HOUR, maxExtensionMs: BUDGET },
      clock,
      logger: createSilentLogger(),
      store,
      stateFile: new StateFile(dir, 'node-b'),
      vendorPublicKey: createPublicKey(vendor.publicKeyPem),
    });
    const lease = new LeaseStore(fx.scripts, keys, TTL, 1);
    const r = await lease.acquire({ nodeId: 'node-b', knownEpoch: 0, addr: 'x:1', role: 'redundant', nowMs: clock.now() });
    assert.ok(r.acquired);
    const fence: Fence = { nodeId: 'node-b', epoch: r.epoch };
    await keeper.afterAcquire(fence, clock.monotonic());
    // Serve the whole budget and a bit: opened, hourly charges, blocked.
    for (let t = 0; t < BUDGET + TTL; t += TTL) {
      clock.advance(TTL);
      await keeper.afterRenew(fence);
    }
    assert.equal(keeper.state.blocked, true);
    return { keys, clock, dir, keeper, fence, file: path.join(dir, 'node-b.audit.jsonl') };
  }

  /** What a forger with Redis access does: the stream rebuilt (XDEL never lowers a stream's last id). */
  async function rewrite(key: string, entries: readonly { seq: number; hash: string; json: string }[]): Promise<void> {
    await fx.redis.del(key);
    for (const e of entries) await fx.redis.xadd(key, `${e.seq}-0`, 'hash', e.hash, 'entry', e.json);
  }

  const streamLines = async (keeper: BudgetKeeper) => (await keeper.readAudit(0)).map((e) => e.json);
  const fileLines = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');

  describe('records', () => {
    it('a failover episode: opened, hourly charges, blocked; then an activation with the key id; the chain verifies in Redis and on disk', async () => {
      const { keeper, fence, file } = await episode();
      let { entries, check } = verifyStored(await streamLines(keeper));
      assert.equal(check.ok, true, JSON.stringify(check));
      assert.equal(check.startsAt, 1);
      assert.deepEqual(
        entries.map((e) => e.event),
        ['episode_opened', 'charged', 'charged', 'charged', 'blocked'],
      );
      assert.equal(entries[2]?.detail['consumed_ms'], 2 * HOUR);
      assert.equal(entries[4]?.detail['consumed_ms'], BUDGET);

      // The request key carries the chain head; the activation is recorded with the key's id.
      const request = await keeper.requestKey(fence);
      assert.equal(decodeRequestKey(request).audit_head, formatHead(check.head));
      assert.equal(keeper.auditHead, formatHead(check.head));
      const { key } = signActivation(request, createPrivateKey(vendor.privateKeyPem), { extensionMs: HOUR });
      await keeper.activate(fence, key);
      ({ entries, check } = verifyStored(await streamLines(keeper)));
      assert.equal(check.ok, true);
      const applied = entries.at(-1) as AuditEntry;
      assert.equal(applied.event, 'activation_applied');
      assert.equal(applied.detail['extension_ms'], HOUR);
      assert.match(String(applied.detail['key_id']), /^[0-9a-f]{16}$/);

      // The state dir holds the same chain.
      assert.deepEqual(verifyStored(fileLines(file)).entries, entries);
    });
  });

  describe('tampering', () => {
    it('a stream entry replaced (XDEL + XADD a forged one) breaks the chain at that entry', async () => {
      const { keys, keeper } = await episode();
      const stored = await keeper.readAudit(0);
      const victim = stored[2];
      assert.ok(victim);
      const forged = { ...(JSON.parse(victim.json) as AuditEntry), detail: { consumed_ms: 1, granted_ms: BUDGET } };
      await rewrite(
        keys.audit,
        stored.map((e) => (e.seq === victim.seq ? { ...e, json: JSON.stringify(forged) } : e)),
      );
      const { check } = verifyStored(await streamLines(keeper));
      assert.equal(check.ok, false);
      assert.equal(check.break?.seq, victim.seq);
      assert.match(check.break?.message ?? '', /edited/);
    });

    it('an edited or deleted line of audit.jsonl breaks the chain there', async () => {
      const { file } = await episode();
      const lines = fileLines(file);
      const edited = [...lines];
      edited[1] = (edited[1] as string).replace(/"consumed_ms":\d+/, '"consumed_ms":5');
      writeFileSync(file, `${edited.join('\n')}\n`);
      let { check } = verifyStored(fileLines(file));
      assert.equal(check.break?.seq, 2);
      const deleted = lines.filter((_, i) => i !== 1);
      ({ check } = verifyStored(deleted));
      assert.equal(check.break?.seq, 3);
      assert.match(check.break?.message ?? '', /deleted/);
    });

    it('a failing append does not stop charging, and the entries reach Redis later, in order', async () => {
      const { keys, clock, keeper, fence, file } = await episode();
      // Another writer's entry at the end of the stream: the node's next appends conflict.
      const before = await keeper.readAudit(0);
      await rewrite(keys.audit, [...before, { seq: 999, hash: 'x', json: '{}' }]);
      const request = await keeper.requestKey(fence);
      const { key } = signActivation(request, createPrivateKey(vendor.privateKeyPem), { extensionMs: HOUR });
      await keeper.activate(fence, key);
      clock.advance(TTL);
      await keeper.afterRenew(fence);
      assert.equal(keeper.state.consumedMs, BUDGET + TTL, 'charging went on');
      const onDisk = verifyStored(fileLines(file));
      assert.equal(onDisk.check.ok, true);
      // The conflicting entry goes; the next event flushes what Redis missed.
      await rewrite(keys.audit, before);
      assert.equal((await keeper.readAudit(0)).length, before.length, 'nothing reached Redis while it conflicted');
      clock.advance(HOUR);
      await keeper.afterRenew(fence);
      const { entries, check } = verifyStored(await streamLines(keeper));
      assert.equal(check.ok, true);
      assert.deepEqual(entries, verifyStored(fileLines(file)).entries);
    });
  });
});
