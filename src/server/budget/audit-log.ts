import { appendFileSync, closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import type { BudgetStore } from '../store/budget-store';
import type { Fence } from '../store/fence';
import { type AuditEntry, type AuditFields, type AuditHead, EMPTY_HEAD, appendEntry, parseEntry } from './audit-chain';

/** Entries kept in memory for Redis while appends fail; older ones stay on disk only. */
const PENDING_KEPT = 10_000;

export interface AuditFileRead {
  readonly entries: AuditEntry[];
  /** Lines that are no audit entry, with their 1-based line number (a verify reports them). */
  readonly bad: { line: number; message: string }[];
}

/** Reads a JSON-lines audit file; a missing file is an empty trail. */
export function readAuditFile(file: string): AuditFileRead {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], bad: [] };
    throw err;
  }
  const entries: AuditEntry[] = [];
  const bad: { line: number; message: string }[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      entries.push(parseEntry(line));
    } catch (err) {
      bad.push({ line: i + 1, message: errorMessage(err) });
    }
  });
  return { entries, bad };
}

/**
 * The redundant's audit trail: every entry is appended (and fsync'd) to `<node>.audit.jsonl` in
 * the state dir at once, and to the Redis stream by the fenced append when the node holds the
 * lease. An append to Redis that fails does not stop the budget (the charge is what matters):
 * it is logged once and the entry stays pending, retried at the next flush, in order.
 */
export class AuditLog {
  readonly path: string;
  private current: AuditHead;
  private pending: AuditEntry[] = [];
  /** Compared with Redis since this process started (which entries Redis lacks). */
  private synced = false;
  private failing = false;

  constructor(
    dir: string,
    nodeId: string,
    private readonly logger: Logger,
    private readonly store: BudgetStore,
  ) {
    this.path = path.join(dir, `${nodeId}.audit.jsonl`);
    const { entries, bad } = readAuditFile(this.path);
    const last = entries[entries.length - 1];
    this.current = last ? { seq: last.seq, hash: last.hash } : EMPTY_HEAD;
    if (bad.length > 0) {
      logger.error('the audit trail in the state dir has lines that are no audit entry; new entries continue after the last good one', {
        path: this.path,
        lines: bad.slice(0, 10).map((b) => b.line),
      });
    }
  }

  get head(): AuditHead {
    return this.current;
  }

  /** Chains the event onto the head and writes it to disk now; Redis gets it at the next flush. */
  record(fields: AuditFields): AuditEntry {
    const e = appendEntry(this.current, fields);
    try {
      const fd = openSync(this.path, 'a', 0o600);
      try {
        appendFileSync(fd, `${JSON.stringify(e)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      this.logger.error('cannot append to the audit trail in the state dir', { path: this.path, err: errorMessage(err) });
    }
    this.current = { seq: e.seq, hash: e.hash };
    this.pending.push(e);
    if (this.pending.length > PENDING_KEPT) this.pending.splice(0, this.pending.length - PENDING_KEPT);
    return e;
  }

  /** Appends the pending entries to Redis, in order (holding the lease). Never throws. */
  async flush(fence: Fence): Promise<void> {
    try {
      if (!this.synced) await this.sync();
      while (this.pending.length > 0) {
        const e = this.pending[0] as AuditEntry;
        await this.store.auditAppend(fence, { seq: e.seq, prev: e.prev, hash: e.hash, json: JSON.stringify(e) });
        this.pending.shift();
      }
      if (this.failing) this.logger.info('audit trail: Redis has caught up with the entries it missed', { head: this.current.seq });
      this.failing = false;
    } catch (err) {
      if (!this.failing) {
        this.logger.error('cannot append to the audit trail in Redis; the entries are kept (state dir) and retried at the next budget event', {
          pending: this.pending.length,
          err: errorMessage(err),
        });
      }
      this.failing = true;
    }
  }

  /**
   * Once per process: what Redis lacks of this node's copy (after a restart, or a Redis that lost
   * its data). A stream that is ahead of or differs from the copy is logged: the appends will be
   * refused (AUDIT_CONFLICT) and `licensectl audit --verify` on both shows where they diverge.
   */
  private async sync(): Promise<void> {
    const [last] = await this.store.auditRead(1);
    const { entries } = readAuditFile(this.path);
    const streamSeq = last?.seq ?? 0;
    const mine = entries.find((e) => e.seq === streamSeq);
    if (last && (!mine || mine.hash !== last.hash)) {
      this.logger.error(
        "the audit trail in Redis does not match this node's copy in the state dir: someone edited one of them, or one was restored from a backup",
        {
          redisHead: streamSeq,
          localHead: this.current.seq,
          path: this.path,
        },
      );
    } else {
      this.pending = entries.filter((e) => e.seq > streamSeq).slice(-PENDING_KEPT);
    }
    this.synced = true;
  }
}
