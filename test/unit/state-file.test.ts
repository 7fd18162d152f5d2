import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { StateFile } from '../../src/server/state-file';
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
