import type { Redis } from 'ioredis';
import { type Fence, formatOwner } from './fence';
import type { ClusterKeys } from './keys';
import type { RedisClient, ScriptRunner } from './scripts';

/** The failover budget as shown (GetStatus, metrics) and as the charge script returns it. */
export interface BudgetState {
  readonly episodeId: string;
  /** Derived: the license's budget plus the valid activation keys of the episode. */
  readonly grantedMs: number;
  readonly consumedMs: number;
  readonly activations: number;
  readonly blocked: boolean;
}

/**
 * The redundant's disk mirror. grantedMs, activations and blocked are written for people
 * reading the file and never read back as truth: the grant is derived from `keys`.
 */
export interface BudgetMirror extends BudgetState {
  /** The last episode this redundant saw end (it watched the primary hold the lease for the reset period), "" none. */
  readonly endedEpisodeId: string;
  /** Episodes this redundant saw end, newest last (bounded): none of them is ever continued again. */
  readonly endedEpisodeIds: readonly string[];
  /** The activation keys applied in `episodeId`, as the vendor signed them (re-verified on every read). */
  readonly keys: readonly string[];
}

/** What Redis says about the budget; nothing in it is trusted as a grant. */
export interface RedisBudget {
  /** The leader key (`<node>:<epoch>`, "" none): a standby redundant watches the primary hold it. */
  readonly leader: string;
  readonly episodeId: string;
  readonly consumedMs: number;
  readonly lastEndedEpisodeId: string;
  /** The applied activation keys stored with the episode, unverified. */
  readonly keys: readonly string[];
}

/** A consumption as stored: anything that is no whole non-negative number reads as nothing (the other source decides). */
function ms(v: unknown): number {
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0;
}

function toState(r: unknown[]): BudgetState {
  return {
    episodeId: typeof r[0] === 'string' ? r[0] : '',
    grantedMs: Number(r[1]),
    consumedMs: Number(r[2]),
    activations: Number(r[3]),
    blocked: Number(r[4]) === 1,
  };
}

/** How many audit entries Redis keeps (approximately; XADD MAXLEN ~): years of hourly charges. */
export const AUDIT_STREAM_MAXLEN = 100_000;

/** An audit entry as Redis holds it: its seq (from the stream id) and the entry's JSON, unverified. */
export interface StoredAuditEntry {
  readonly seq: number;
  readonly hash: string;
  readonly json: string;
}

function toStoredAudit(rows: [string, string[]][]): StoredAuditEntry[] {
  return rows.map(([id, fields]) => {
    const get = (name: string): string => {
      const i = fields.indexOf(name);
      return i >= 0 && i % 2 === 0 ? (fields[i + 1] ?? '') : '';
    };
    return { seq: Number(id.split('-')[0]), hash: get('hash'), json: get('entry') };
  });
}

/** Typed wrappers over the budget and activation scripts. */
export class BudgetStore {
  constructor(
    private readonly scripts: ScriptRunner,
    private readonly keys: ClusterKeys,
    private readonly budgetMs: number,
  ) {}

  private get redis(): RedisClient {
    return this.scripts.redis;
  }

  /** The budget as Redis has it now, and the lease holder (read-only, any node, one atomic read). */
  async read(): Promise<RedisBudget> {
    const r = (await this.scripts.run('budgetRead', [this.keys.leader, this.keys.budget, this.keys.activationApplied], [])) as unknown[];
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const episodeId = str(r[1]);
    return {
      leader: str(r[0]),
      episodeId,
      consumedMs: episodeId ? ms(r[2]) : 0,
      lastEndedEpisodeId: str(r[4]),
      keys: r.slice(5).map(str).filter(Boolean),
    };
  }

  /** Charges `elapsedMs` to the episode the node chose, with the grant it derived; writes the valid keys back. */
  async tick(
    fence: Fence,
    a: {
      nowMs: number;
      elapsedMs: number;
      episodeId: string;
      opened: boolean;
      grantedMs: number;
      consumedMs: number;
      activations: number;
      keys: readonly { nonce: string; key: string }[];
    },
  ): Promise<BudgetState> {
    const r = (await this.scripts.run(
      'budgetTick',
      [this.keys.leader, this.keys.budget, this.keys.activationApplied],
      [
        formatOwner(fence),
        Math.round(a.nowMs),
        Math.max(0, Math.round(a.elapsedMs)),
        a.episodeId,
        a.grantedMs,
        a.consumedMs,
        a.activations,
        a.opened ? 1 : 0,
        ...a.keys.flatMap((k) => [k.nonce, k.key]),
      ],
    )) as unknown[];
    return toState(r);
  }

  /** Ends the open episode (primary, after the reset period). Returns its id, "" when none was open. */
  async reset(fence: Fence, nowMs: number): Promise<string> {
    return String(
      await this.scripts.run(
        'budgetReset',
        [this.keys.leader, this.keys.budget, this.keys.activationPending, this.keys.activationApplied],
        [formatOwner(fence), nowMs, this.budgetMs],
      ),
    );
  }

  async request(fence: Fence, nonce: string): Promise<{ episodeId: string; seq: number }> {
    const r = (await this.scripts.run('activationRequest', [this.keys.leader, this.keys.budget, this.keys.activationPending], [formatOwner(fence), nonce])) as [
      string,
      number,
    ];
    return { episodeId: String(r[0]), seq: Number(r[1]) };
  }

  /**
   * Consumes the pending nonce and keeps the key with the episode; the grant follows from the
   * next charge. With `checkOnly`, the same refusals and nothing written.
   */
  async activate(fence: Fence, a: { episodeId: string; seq: number; nonce: string; key: string; nowMs: number; checkOnly?: boolean }): Promise<void> {
    await this.scripts.run(
      'activate',
      [this.keys.leader, this.keys.budget, this.keys.activationPending, this.keys.activationUsed, this.keys.activationApplied],
      [formatOwner(fence), a.episodeId, a.seq, a.nonce, a.key, a.nowMs, a.checkOnly ? '1' : '0'],
    );
  }

  /**
   * Appends one audit entry (fenced; only onto the stream's last entry). Returns false when the
   * stream's last entry is this one already. Refuses AUDIT_CONFLICT when the stream's last entry
   * is not `prev`.
   */
  async auditAppend(fence: Fence, e: { seq: number; prev: string; hash: string; json: string }): Promise<boolean> {
    const r = await this.scripts.run(
      'auditAppend',
      [this.keys.leader, this.keys.audit],
      [formatOwner(fence), e.seq, e.prev, e.hash, e.json, AUDIT_STREAM_MAXLEN],
    );
    return Number(r) === 1;
  }

  /** The last `limit` audit entries (all Redis keeps when 0), oldest first; read-only, any node. */
  async auditRead(limit = 0): Promise<StoredAuditEntry[]> {
    const redis = this.redis as Redis;
    const rows = limit > 0 ? (await redis.xrevrange(this.keys.audit, '+', '-', 'COUNT', limit)).reverse() : await redis.xrange(this.keys.audit, '-', '+');
    return toStoredAudit(rows);
  }
}
