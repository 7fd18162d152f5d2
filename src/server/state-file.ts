import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { BudgetMirror } from './store/budget-store';
import { isEpoch } from './store/fence';

/** What a node keeps on its own disk, so losing Redis data alone cannot roll it back. */
export interface NodeDiskState {
  /** Highest fencing epoch this node has seen: the acquire script never hands out one at or below it. */
  highestEpoch: number;
  /** The redundant's mirror of the failover budget (so losing Redis data never refunds budget). */
  budget?: BudgetMirror;
  /**
   * Highest license serial this node has run with or seen for its cluster (its own license,
   * Redis): a license with a lower serial is refused at start, so an older license cannot be
   * swapped back in even if Redis lost its data.
   */
  licenseSerial?: number;
}

/** A license serial: a whole number of at least 1. */
export function isLicenseSerial(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

const EMPTY: NodeDiskState = { highestEpoch: 0 };

/** The file operations of a background write (fs/promises); tests pass slow or failing ones. */
export interface StateFileIo {
  /** Creates or truncates `file` (mode 0600), writes `data` and fsyncs it. */
  writeDurably(file: string, data: string): Promise<void>;
  /** Fsyncs directory `dir`, so that a rename in it survives a crash. */
  syncDir(dir: string): Promise<void>;
}

/** The real file operations (fs/promises), the default of every StateFile. */
export const nodeStateFileIo: StateFileIo = {
  async writeDurably(file, data) {
    const fh = await open(file, 'w', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  async syncDir(dir) {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

/**
 * A small JSON file in LICENSE_STATE_DIR, replaced atomically (write temp, fsync,
 * rename, fsync dir) so a crash leaves either the old or the new contents.
 *
 * Two ways in. `update` is synchronous and durable on return: for the rare values a node
 * must not act on before they are on disk (a new epoch, a newer license serial).
 * `updateInBackground` is for the budget mirror, which changes every heartbeat: the new
 * state is the value at once, and one background write at a time (fs/promises: the event
 * loop never waits for the disk) puts the latest state on disk; updates that arrive while
 * a write is in flight collapse into one follow-up write. `flush` waits for it.
 *
 * Order: every write carries the whole state as it was when the write began, and a
 * background write is never placed over a newer file (a synchronous update that ran while
 * it was in flight), so the file only ever moves forward. A crash loses at most the
 * background write in flight; it never puts an older state back.
 */
export class StateFile {
  readonly path: string;
  private current: NodeDiskState;
  /** Generation of `current`, raised by every change. */
  private gen = 0;
  /** Generation of the contents at `path`. */
  private placedGen = 0;
  /** Generation of the last contents known durable at `path` (directory synced). */
  private durableGen = 0;
  /** Whether the background writer runs, and its run (which never rejects). */
  private busy = false;
  private run: Promise<void> = Promise.resolve();
  private failures = 0;
  /** The error of the last background write, while they fail. */
  private lastError: Error | undefined;
  private readonly problemListeners: ((problem: Error | undefined) => void)[] = [];

  constructor(
    dir: string,
    nodeId: string,
    private readonly io: StateFileIo = nodeStateFileIo,
  ) {
    mkdirSync(dir, { recursive: true });
    this.path = path.join(dir, `${nodeId}.state.json`);
    this.current = StateFile.read(this.path);
  }

  private static read(file: string): NodeDiskState {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...EMPTY };
      throw new Error(`cannot read state file ${file}: ${(err as Error).message}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`state file ${file} is not valid JSON; restore it or remove it (a removed file forgets the highest epoch seen)`);
    }
    const p = parsed as Partial<NodeDiskState>;
    const b = p.budget as Partial<BudgetMirror> | undefined;
    const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
    const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    // A number that is no epoch was never handed out: it came from a hostile or corrupt peer
    // heartbeat that an older version adopted. Using it would make every acquire fail;
    // dropping it silently would hide that the cluster's epochs were tampered with (Redis
    // likely holds the same value). So the node does not start, and says how to repair it.
    if (typeof p.highestEpoch === 'number' && !isEpoch(p.highestEpoch)) {
      throw new Error(
        `state file ${file} holds highestEpoch ${String(p.highestEpoch)}, not a whole number below 2^48; set highestEpoch to the last epoch the cluster really used (the last newEpoch the nodes logged), and repair {lic:<cluster>}:epoch in Redis the same way`,
      );
    }
    // Same reasoning as the epoch: a value that is no serial was written by hand; guessing
    // (dropping it would let an older license back in) is worse than saying so.
    if (p.licenseSerial !== undefined && !isLicenseSerial(p.licenseSerial)) {
      throw new Error(
        `state file ${file} holds licenseSerial ${JSON.stringify(p.licenseSerial)}, not a whole number of at least 1; set it to the serial of the newest license file the cluster has run with`,
      );
    }
    return {
      highestEpoch: typeof p.highestEpoch === 'number' ? p.highestEpoch : 0,
      ...(p.licenseSerial === undefined ? {} : { licenseSerial: p.licenseSerial }),
      ...(b && typeof b === 'object'
        ? {
            budget: {
              episodeId: typeof b.episodeId === 'string' ? b.episodeId : '',
              grantedMs: num(b.grantedMs),
              consumedMs: num(b.consumedMs),
              activations: num(b.activations),
              blocked: b.blocked === true,
              endedEpisodeId: typeof b.endedEpisodeId === 'string' ? b.endedEpisodeId : '',
              endedEpisodeIds: strings(b.endedEpisodeIds),
              // Kept as written: the budget keeper re-verifies every key, so a forged one counts for nothing.
              keys: strings(b.keys),
            },
          }
        : {}),
    };
  }

  get value(): Readonly<NodeDiskState> {
    return this.current;
  }

  /**
   * Merges and persists before it returns (synchronous: fsync of the file and the directory),
   * for what the node must not act on before it is on disk: a new epoch (the acquire script
   * never mints one at or below the highest this node saw, so a crash plus lost Redis data
   * cannot hand the same epoch out twice) and a newer license serial (the license guard
   * relies on it at start). Rare: only when the value changes. The write carries any
   * background change not yet on disk. Throws when the write fails, and refuses a
   * highestEpoch that is not an epoch, a licenseSerial that is no serial; the value then
   * stays as it was. A no-op when nothing changes.
   */
  update(patch: Partial<NodeDiskState>): void {
    const next = this.merge(patch);
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(next));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    this.current = next;
    this.placedGen = ++this.gen;
    const dfd = openSync(path.dirname(this.path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    this.durableGen = this.gen;
  }

  /**
   * Merges at once (the value shows it) and leaves the write to the background writer;
   * never waits for the disk and never throws for it (onWriteProblem reports, flush waits).
   * Refuses (throws) a highestEpoch that is not an epoch, a licenseSerial that is no serial.
   */
  updateInBackground(patch: Partial<NodeDiskState>): void {
    const next = this.merge(patch);
    if (JSON.stringify(next) !== JSON.stringify(this.current)) {
      this.current = next;
      this.gen++;
    }
    // Also when nothing changed: a state whose write failed is tried again.
    void this.startWriter();
  }

  /** Resolves once everything updated so far is on disk; rejects when a write it waited for failed. */
  async flush(): Promise<void> {
    const target = this.gen;
    while (this.durableGen < target) {
      const failures = this.failures;
      await this.startWriter();
      if (this.durableGen < target && this.failures !== failures) {
        throw new Error(`cannot write state file ${this.path}: ${this.lastError?.message ?? 'unknown error'}`, { cause: this.lastError });
      }
    }
  }

  /**
   * `listener` is called with the error when background writes start failing, and with
   * undefined when one succeeds again: once per change, not for every failed write.
   */
  onWriteProblem(listener: (problem: Error | undefined) => void): void {
    this.problemListeners.push(listener);
  }

  private merge(patch: Partial<NodeDiskState>): NodeDiskState {
    if (patch.highestEpoch !== undefined && !isEpoch(patch.highestEpoch)) {
      throw new RangeError(`highestEpoch ${String(patch.highestEpoch)} is not a whole number below 2^48; not written to ${this.path}`);
    }
    if (patch.licenseSerial !== undefined && !isLicenseSerial(patch.licenseSerial)) {
      throw new RangeError(`licenseSerial ${String(patch.licenseSerial)} is not a whole number of at least 1; not written to ${this.path}`);
    }
    return { ...this.current, ...patch };
  }

  /** Starts the background writer unless it runs already or the disk is current; returns its run. */
  private startWriter(): Promise<void> {
    if (!this.busy && this.durableGen < this.gen) this.run = this.writeBehind();
    return this.run;
  }

  /** One write at a time, each of the latest state, until the disk has caught up or a write fails. */
  private async writeBehind(): Promise<void> {
    this.busy = true;
    // Not update's temp file: a synchronous update may run between the awaits below.
    const tmp = `${this.path}.bg.tmp`;
    try {
      while (this.durableGen < this.gen) {
        const gen = this.gen;
        await this.io.writeDurably(tmp, JSON.stringify(this.current));
        // A synchronous update that ran meanwhile placed a state at least this new: keep it.
        // Only the rename is synchronous: a metadata change with no data left to flush (the
        // temp file is synced). Done on the event loop, nothing can run between the check
        // and it, so an older state never lands over a newer one.
        if (this.placedGen < gen) {
          renameSync(tmp, this.path);
          this.placedGen = gen;
        }
        const placed = this.placedGen;
        await this.io.syncDir(path.dirname(this.path));
        this.durableGen = Math.max(this.durableGen, placed);
      }
      if (this.lastError) {
        this.lastError = undefined;
        for (const l of this.problemListeners) l(undefined);
      }
    } catch (err) {
      const first = this.lastError === undefined;
      this.failures++;
      this.lastError = err instanceof Error ? err : new Error(String(err));
      if (first) for (const l of this.problemListeners) l(this.lastError);
    } finally {
      this.busy = false;
    }
  }
}
