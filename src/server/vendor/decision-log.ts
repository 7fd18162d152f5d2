import { closeSync, fdatasyncSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { z } from 'zod';
import type { VendorDecision } from './vendor-service';

/**
 * The vendor activation service's decision log (`licensectl vendor serve --log FILE`): one
 * JSON line per decision, appended. At start the granted lines are read back, so the counts
 * per failover episode and the answers to repeated requests survive a restart.
 */

/** What a granted line must hold to be replayed; other lines (refusals, older or foreign lines) are read past. */
const grantedLine = z.looseObject({
  time: z.string(),
  at_ms: z.number(),
  decision: z.literal('granted'),
  reason: z.enum(['granted', 'repeat']),
  status: z.number(),
  customer: z.string(),
  cluster_id: z.string(),
  node_id: z.string(),
  episode_id: z.string(),
  seq: z.number(),
  nonce: z.string(),
  activation_key: z.string(),
  remote: z.string(),
});

export interface DecisionHistory {
  readonly granted: readonly VendorDecision[];
  /** Lines that are not JSON (a line torn by a crash mid-write: its key was never answered). */
  readonly unreadable: number;
}

/** The granted decisions of a log file; a missing file is an empty history. */
export function readDecisionLog(file: string): DecisionHistory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { granted: [], unreadable: 0 };
    throw new Error(`--log ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  const granted: VendorDecision[] = [];
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      unreadable++;
      continue;
    }
    const r = grantedLine.safeParse(value);
    if (r.success) granted.push(r.data);
  }
  return { granted, unreadable };
}

export interface DecisionLogFile {
  /** Appends one line; a grant is on disk (fdatasync) before it returns, so it is counted after a crash. */
  write(decision: VendorDecision): void;
  close(): void;
}

/**
 * Opens the log for appending. Synchronous on purpose: the service answers a grant only after
 * `write` returned, and a grant every few seconds at most makes the fsync cheap.
 */
export function openDecisionLog(file: string): DecisionLogFile {
  let fd: number;
  try {
    fd = openSync(file, 'a', 0o600);
  } catch (err) {
    throw new Error(`--log ${file}: cannot open for appending (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  // A line torn by a crash gets its own line end, so the next decision starts a line of its own.
  const existing = readTail(file);
  if (existing !== '' && !existing.endsWith('\n')) writeSync(fd, '\n');
  return {
    write(decision) {
      writeSync(fd, `${JSON.stringify(decision)}\n`);
      if (decision.decision === 'granted') fdatasyncSync(fd);
    },
    close() {
      closeSync(fd);
    },
  };
}

/** The file's last character ('' when empty or unreadable), without reading the whole file. */
function readTail(file: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    if (size === 0) return '';
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b.toString('latin1');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
