import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AuditEntry, EMPTY_HEAD, appendEntry, headOf, parseEntry, verifyChain } from '../../src/server/budget/audit-chain';

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      appendEntry(headOf(out), {
        at_ms: 1_000 + i,
        node_id: 'node-b',
        episode_id: 'ep1',
        event: i === 0 ? 'episode_opened' : 'charged',
        detail: { consumed_ms: i * 3_600_000 },
      }),
    );
  }
  return out;
}

describe('audit chain', () => {
  it('a good chain verifies, from genesis, and round-trips through JSON', () => {
    const c = chain(5);
    assert.equal(c[0]?.prev, '');
    assert.equal(c[0]?.seq, 1);
    const r = verifyChain(c.map((e) => parseEntry(JSON.stringify(e))));
    assert.equal(r.ok, true);
    assert.equal(r.startsAt, 1);
    assert.deepEqual(r.head, headOf(c));
    assert.equal(verifyChain([]).ok, true);
    assert.deepEqual(verifyChain([]).head, EMPTY_HEAD);
  });

  it('a tail (trimmed start) verifies, and says where it starts', () => {
    const r = verifyChain(chain(5).slice(2));
    assert.equal(r.ok, true);
    assert.equal(r.startsAt, 3);
  });

  it('an edited entry breaks at that entry', () => {
    const c = chain(5);
    const e = c[2] as AuditEntry;
    c[2] = { ...e, detail: { consumed_ms: 1 } };
    const r = verifyChain(c);
    assert.equal(r.ok, false);
    assert.equal(r.break?.seq, 3);
    assert.match(r.break?.message ?? '', /entry #3 .*edited/);
  });

  it('an edited entry with its hash recomputed breaks at the next link', () => {
    const c = chain(5);
    c[2] = appendEntry(
      { seq: 2, hash: (c[1] as AuditEntry).hash },
      { at_ms: 1, node_id: 'node-b', episode_id: 'ep1', event: 'charged', detail: { consumed_ms: 1 } },
    );
    const r = verifyChain(c);
    assert.equal(r.ok, false);
    assert.equal(r.break?.seq, 4);
    assert.match(r.break?.message ?? '', /prev does not match the hash of entry #3/);
  });

  it('a deleted entry breaks at the entry after it', () => {
    const c = chain(5);
    c.splice(1, 1);
    const r = verifyChain(c);
    assert.equal(r.break?.seq, 3);
    assert.match(r.break?.message ?? '', /follows entry #1: entries were deleted/);
  });

  it('reordered entries break where the order changes', () => {
    const c = chain(5);
    const [a, b] = [c[1] as AuditEntry, c[2] as AuditEntry];
    c[1] = b;
    c[2] = a;
    const r = verifyChain(c);
    assert.equal(r.break?.index, 1);
    assert.equal(r.break?.seq, 3);
  });

  it('an inserted entry breaks at the insertion', () => {
    const c = chain(5);
    const forged = appendEntry(headOf(c.slice(0, 2)), {
      at_ms: 5,
      node_id: 'node-b',
      episode_id: 'ep1',
      event: 'activation_applied',
      detail: { extension_ms: 1 },
    });
    c.splice(2, 0, forged);
    const r = verifyChain(c);
    assert.equal(r.ok, false);
    assert.equal(r.break?.index, 3);
  });

  it('a first entry with a prev is refused; malformed lines are refused', () => {
    const c = chain(2);
    c[0] = { ...(c[0] as AuditEntry), prev: 'x' };
    assert.equal(verifyChain(c).ok, false);
    assert.throws(() => parseEntry('{'), /not JSON/);
    assert.throws(() => parseEntry('{"seq":1}'), /not an audit entry/);
  });
});
