import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { type NodeDiskState, nodeStateFileIo, StateFile, type StateFileIo } from '../../src/server/state-file';
import type { BudgetMirror } from '../../src/server/store/budget-store';
import { EPOCH_LIMIT } from '../../src/server/store/fence';

const dir = () => mkdtempSync(path.join(tmpdir(), 'state-file-'));

describe('StateFile: the highest epoch', () => {
  it('persists whole epochs below 2^48 and reads them back', () => {
    const d = dir();
    const f = new StateFile(d, 'n');
    assert.equal(f.value.highestEpoch, 0);
    f.update({ highestEpoch: EPOCH_LIMIT - 1 });
    assert.equal(new StateFile(d, 'n').value.highestEpoch, EPOCH_LIMIT - 1);
  });

  it('refuses to write an epoch that is not one, and keeps the file as it was', () => {
    const d = dir();
    const f = new StateFile(d, 'n');
    f.update({ highestEpoch: 12 });
    for (const bad of [1e15, EPOCH_LIMIT, -1, 2.5, NaN, Infinity]) {
      assert.throws(() => f.update({ highestEpoch: bad }), /highestEpoch/, String(bad));
    }
    assert.equal(f.value.highestEpoch, 12);
    assert.equal((JSON.parse(readFileSync(f.path, 'utf8')) as { highestEpoch: number }).highestEpoch, 12);
  });

  it('a file holding an epoch outside [0, 2^48) (written by a hostile heartbeat before the fix) stops the start with the way out', () => {
    for (const bad of [1e15, EPOCH_LIMIT, -3]) {
      const d = dir();
      writeFileSync(path.join(d, 'n.state.json'), JSON.stringify({ highestEpoch: bad }));
      assert.throws(
        () => new StateFile(d, 'n'),
        (err: unknown) => err instanceof Error && err.message.includes('n.state.json') && /2\^48/.test(err.message) && /set highestEpoch/.test(err.message),
        String(bad),
      );
    }
  });
});

describe('StateFile: the license serial', () => {
  it('persists whole serials of at least 1; absent until written', () => {
    const d = dir();
    const f = new StateFile(d, 'n');
    assert.equal(f.value.licenseSerial, undefined);
    f.update({ licenseSerial: 3 });
    assert.equal(new StateFile(d, 'n').value.licenseSerial, 3);
  });

  it('refuses to write a value that is no serial, and keeps the file as it was', () => {
    const d = dir();
    const f = new StateFile(d, 'n');
    f.update({ licenseSerial: 2 });
    for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) assert.throws(() => f.update({ licenseSerial: bad }), /licenseSerial/, String(bad));
    assert.equal(new StateFile(d, 'n').value.licenseSerial, 2);
  });

  it('a file holding something else stops the start, saying what to set', () => {
    for (const bad of [0, 'three', 2.5]) {
      const d = dir();
      writeFileSync(path.join(d, 'n.state.json'), JSON.stringify({ highestEpoch: 1, licenseSerial: bad }));
      assert.throws(
        () => new StateFile(d, 'n'),
        (err: unknown) => err instanceof Error && err.message.includes('n.state.json') && /licenseSerial/.test(err.message) && !err.message.includes('\n'),
        String(bad),
      );
    }
  });
});

/** A budget mirror whose consumption tells the states of a burst apart. */
const mirror = (consumedMs: number): BudgetMirror => ({
  episodeId: 'e1',
  grantedMs: 1_000_000,
  consumedMs,
  activations: 0,
  blocked: false,
  endedEpisodeId: '',
  endedEpisodeIds: [],
  keys: [],
});

/**
 * The real file operations behind a gate: a background write waits at the gate (held
 * shut until `open()`), as on a slow or busy disk. Records what each write carried.
 */
function gatedIo() {
  let release: () => void = () => {};
  let gate = new Promise<void>((r) => (release = r));
  const written: string[] = [];
  let inFlight = 0;
  let failWith: Error | undefined;
  const io: StateFileIo = {
    async writeDurably(file, data) {
      inFlight++;
      try {
        await gate;
        if (failWith) throw failWith;
        await nodeStateFileIo.writeDurably(file, data);
        written.push(data);
      } finally {
        inFlight--;
      }
    },
    syncDir: (d) => nodeStateFileIo.syncDir(d),
  };
  return {
    io,
    written,
    get inFlight() {
      return inFlight;
    },
    open() {
      release();
    },
    shut() {
      gate = new Promise<void>((r) => (release = r));
    },
    fail(err: Error | undefined) {
      failWith = err;
    },
  };
}

const onDisk = (f: StateFile): NodeDiskState => JSON.parse(readFileSync(f.path, 'utf8')) as NodeDiskState;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('StateFile: background writes (the budget mirror)', () => {
  it('returns at once and never holds up the event loop while the write is in flight; the value shows the new state meanwhile', async () => {
    const g = gatedIo();
    const f = new StateFile(dir(), 'n', g.io);
    f.updateInBackground({ budget: mirror(1) });
    assert.equal(f.value.budget?.consumedMs, 1, 'the node reads its new mirror at once');
    let ran = false;
    setImmediate(() => (ran = true));
    await turn();
    assert.equal(ran, true, 'a setImmediate callback ran');
    assert.equal(g.inFlight, 1, '... while the write was still in flight');
    assert.equal(new StateFile(path.dirname(f.path), 'n').value.budget, undefined, 'not on disk yet');
    g.open();
    await f.flush();
    assert.equal(onDisk(f).budget?.consumedMs, 1);
  });

  it('a burst of 1,000 updates is coalesced into at most two writes, the last state last', async () => {
    const g = gatedIo();
    const f = new StateFile(dir(), 'n', g.io);
    for (let i = 1; i <= 1_000; i++) {
      f.updateInBackground({ budget: mirror(i) });
      if (i % 10 === 0) await turn(); // the heartbeats of a busy node, with the event loop turning in between
    }
    g.open();
    await f.flush();
    assert.ok(g.written.length >= 1 && g.written.length <= 2, `${g.written.length} writes`);
    assert.equal((JSON.parse(g.written.at(-1) ?? '{}') as NodeDiskState).budget?.consumedMs, 1_000);
    assert.equal(onDisk(f).budget?.consumedMs, 1_000, 'the file ends with the last state');
    assert.equal(new StateFile(path.dirname(f.path), 'n').value.budget?.consumedMs, 1_000, 'and a restart reads it');
  });

  it('writes land in order: each one newer than the one before, whatever arrives while one is in flight', async () => {
    const g = gatedIo();
    const f = new StateFile(dir(), 'n', g.io);
    g.open();
    for (let i = 1; i <= 200; i++) {
      f.updateInBackground({ budget: mirror(i) });
      if (i % 7 === 0) await turn();
    }
    await f.flush();
    const seen = g.written.map((w) => (JSON.parse(w) as NodeDiskState).budget?.consumedMs ?? 0);
    assert.ok(seen.length < 200, `${seen.length} writes for 200 updates`);
    for (let i = 1; i < seen.length; i++) assert.ok((seen[i] ?? 0) > (seen[i - 1] ?? 0), `write ${i} (${seen[i]}) after ${seen[i - 1]}`);
    assert.equal(seen.at(-1), 200);
  });

  it('a synchronous update (a new epoch) during a background write is never overwritten by the older state in flight', async () => {
    const g = gatedIo();
    const f = new StateFile(dir(), 'n', g.io);
    f.updateInBackground({ budget: mirror(5) });
    assert.equal(g.inFlight, 1);
    f.update({ highestEpoch: 7 }); // durable on return, and carries the mirror too
    assert.deepEqual({ epoch: onDisk(f).highestEpoch, consumed: onDisk(f).budget?.consumedMs }, { epoch: 7, consumed: 5 });
    g.open();
    await f.flush();
    assert.equal(onDisk(f).highestEpoch, 7, 'the background write (epoch 0) was not put over the newer file');
    f.updateInBackground({ budget: mirror(6) });
    await f.flush();
    assert.deepEqual({ epoch: onDisk(f).highestEpoch, consumed: onDisk(f).budget?.consumedMs }, { epoch: 7, consumed: 6 });
  });

  it('a failed write keeps the old file, is reported once, fails flush, and the next update writes the latest state', async () => {
    const g = gatedIo();
    const f = new StateFile(dir(), 'n', g.io);
    const reports: (string | undefined)[] = [];
    f.onWriteProblem((err) => reports.push(err?.message));
    g.open();
    f.updateInBackground({ budget: mirror(1) });
    await f.flush();
    g.fail(new Error('ENOSPC: no space left on device'));
    f.updateInBackground({ budget: mirror(2) });
    await assert.rejects(f.flush(), /ENOSPC/);
    f.updateInBackground({ budget: mirror(3) });
    await assert.rejects(f.flush(), /ENOSPC/);
    assert.equal(onDisk(f).budget?.consumedMs, 1, 'the old file, whole');
    assert.deepEqual(reports, ['ENOSPC: no space left on device'], 'reported once while it keeps failing');
    g.fail(undefined);
    f.updateInBackground({ budget: mirror(4) });
    await f.flush();
    assert.equal(onDisk(f).budget?.consumedMs, 4);
    assert.deepEqual(reports, ['ENOSPC: no space left on device', undefined], 'and once when writes work again');
  });

  it('refuses a highestEpoch that is no epoch at once, writing nothing', () => {
    const f = new StateFile(dir(), 'n');
    assert.throws(() => f.updateInBackground({ highestEpoch: -1 }), /highestEpoch/);
    assert.equal(f.value.highestEpoch, 0);
  });

  it('flush with nothing pending resolves at once', async () => {
    const g = gatedIo();
    const f = new StateFile(dir(), 'n', g.io);
    await f.flush();
    assert.equal(g.written.length, 0);
  });
});
