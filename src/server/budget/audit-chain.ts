import { createHash } from 'node:crypto';
import { canonicalJson } from '../license/canonical-json';

/**
 * The budget's audit trail: a hash chain of events. Each entry carries the hash of the one
 * before it, so editing, deleting, reordering or inserting an entry breaks every link after
 * it; someone who rewrites the whole tail must also match the head a vendor saw (the
 * activation request key carries it). Pure: no I/O.
 */
export const AUDIT_EVENTS = ['episode_opened', 'charged', 'blocked', 'activation_applied', 'episode_ended', 'record_refused'] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

export type AuditDetail = Readonly<Record<string, string | number | boolean>>;

export interface AuditEntry {
  readonly seq: number;
  readonly at_ms: number;
  readonly node_id: string;
  readonly episode_id: string;
  readonly event: AuditEvent;
  readonly detail: AuditDetail;
  /** Hash of the previous entry; "" for the first entry of a chain. */
  readonly prev: string;
  /** sha256 hex of the canonical JSON of every other field. */
  readonly hash: string;
}

/** The last entry's seq and hash; {0, ""} before the first entry. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export const EMPTY_HEAD: AuditHead = Object.freeze({ seq: 0, hash: '' });

export type AuditFields = Pick<AuditEntry, 'at_ms' | 'node_id' | 'episode_id' | 'event' | 'detail'>;

export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  const { seq, at_ms, node_id, episode_id, event, detail, prev } = e;
  return createHash('sha256').update(canonicalJson({ seq, at_ms, node_id, episode_id, event, detail, prev })).digest('hex');
}

/** The next entry after `head`. */
export function appendEntry(head: AuditHead, fields: AuditFields): AuditEntry {
  const body = { seq: head.seq + 1, ...fields, detail: { ...fields.detail }, prev: head.hash };
  return { ...body, hash: entryHash(body) };
}

export function headOf(entries: readonly AuditEntry[]): AuditHead {
  const last = entries[entries.length - 1];
  return last ? { seq: last.seq, hash: last.hash } : EMPTY_HEAD;
}

/** "<seq>:<hash>", as the activation request key carries it. */
export function formatHead(h: AuditHead): string {
  return `${h.seq}:${h.hash}`;
}

/** Parses one stored entry (a JSON line or stream field); throws with what is wrong. */
export function parseEntry(text: string): AuditEntry {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('not JSON');
  }
  const o = v as Partial<Record<keyof AuditEntry, unknown>>;
  const detailOk =
    typeof o.detail === 'object' &&
    o.detail !== null &&
    !Array.isArray(o.detail) &&
    Object.values(o.detail).every((x) => ['string', 'number', 'boolean'].includes(typeof x));
  if (
    typeof v !== 'object' ||
    v === null ||
    !Number.isSafeInteger(o.seq) ||
    typeof o.at_ms !== 'number' ||
    typeof o.node_id !== 'string' ||
    typeof o.episode_id !== 'string' ||
    typeof o.event !== 'string' ||
    !(AUDIT_EVENTS as readonly string[]).includes(o.event) ||
    !detailOk ||
    typeof o.prev !== 'string' ||
    typeof o.hash !== 'string'
  ) {
    throw new Error('not an audit entry (seq, at_ms, node_id, episode_id, event, detail, prev, hash)');
  }
  return v as AuditEntry;
}

export interface ChainBreak {
  /** Index in the list given, and the seq the entry claims. */
  readonly index: number;
  readonly seq: number;
  readonly message: string;
}

export interface ChainCheck {
  readonly ok: boolean;
  /** The first break, when not ok. */
  readonly break?: ChainBreak;
  /** The chain does not start at seq 1 (trimmed, a limit, or Redis lost the start): its first link is unchecked. */
  readonly startsAt: number;
  readonly head: AuditHead;
}

/**
 * Checks every entry's hash and every link: seq one more than the entry before, prev equal
 * to its hash. A chain starting at seq 1 must have prev "". Returns the first break.
 */
export function verifyChain(entries: readonly AuditEntry[]): ChainCheck {
  const startsAt = entries[0]?.seq ?? 0;
  const broken = (index: number, message: string): ChainCheck => ({
    ok: false,
    break: { index, seq: entries[index]?.seq ?? 0, message: `entry #${entries[index]?.seq ?? '?'} (position ${index + 1}): ${message}` },
    startsAt,
    head: headOf(entries),
  });
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as AuditEntry;
    const { hash, ...body } = e;
    if (entryHash(body) !== hash) return broken(i, 'its hash does not match its content: the entry was edited');
    const before = entries[i - 1];
    if (before === undefined) {
      if (e.seq === 1 && e.prev !== '') return broken(i, 'the first entry names a previous entry');
      continue;
    }
    if (e.seq !== before.seq + 1) {
      return broken(i, `follows entry #${before.seq}: ${e.seq > before.seq + 1 ? 'entries were deleted' : 'entries were reordered or inserted'}`);
    }
    if (e.prev !== before.hash) return broken(i, `its prev does not match the hash of entry #${before.seq}: an entry was replaced or inserted`);
  }
  return { ok: true, startsAt, head: headOf(entries) };
}

/** Parses stored entries (JSON each) and verifies them; an entry that does not parse is the break. */
export function verifyStored(lines: readonly string[]): { entries: AuditEntry[]; check: ChainCheck } {
  const entries: AuditEntry[] = [];
  for (const [i, line] of lines.entries()) {
    try {
      entries.push(parseEntry(line));
    } catch (err) {
      const check = verifyChain(entries);
      if (!check.ok) return { entries, check };
      const seq = (entries[i - 1]?.seq ?? 0) + 1;
      return {
        entries,
        check: {
          ok: false,
          break: { index: i, seq, message: `position ${i + 1}: ${err instanceof Error ? err.message : String(err)}` },
          startsAt: check.startsAt,
          head: check.head,
        },
      };
    }
  }
  return { entries, check: verifyChain(entries) };
}
