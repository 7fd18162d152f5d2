import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
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

/**
 * A small JSON file in LICENSE_STATE_DIR, replaced atomically (write temp, fsync,
 * rename, fsync dir) so a crash leaves either the old or the new contents.
 * Writes are synchronous and rare (on a new epoch), never on a request path.
 */
export class StateFile {
  readonly path: string;
  private current: NodeDiskState;

  constructor(dir: string, nodeId: string) {
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

  /** Merges and persists; a no-op when nothing changes. Refuses (throws) a highestEpoch that is not an epoch, a licenseSerial that is no serial. */
  update(patch: Partial<NodeDiskState>): void {
    if (patch.highestEpoch !== undefined && !isEpoch(patch.highestEpoch)) {
      throw new RangeError(`highestEpoch ${String(patch.highestEpoch)} is not a whole number below 2^48; not written to ${this.path}`);
    }
    if (patch.licenseSerial !== undefined && !isLicenseSerial(patch.licenseSerial)) {
      throw new RangeError(`licenseSerial ${String(patch.licenseSerial)} is not a whole number of at least 1; not written to ${this.path}`);
    }
    const next = { ...this.current, ...patch };
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
    const dfd = openSync(path.dirname(this.path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    this.current = next;
  }
}
