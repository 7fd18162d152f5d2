import { type Fence, formatOwner } from './fence';
import type { ClusterKeys } from './keys';
import type { ScriptRunner } from './scripts';

export interface SessionInfo {
  readonly clientId: string;
  readonly user: string;
  readonly hostname: string;
  readonly pid: number;
}

export interface CheckoutArgs {
  readonly sessionId: string;
  readonly feature: string;
  readonly count: number;
  readonly seatsLicensed: number;
  readonly requestId: string;
  readonly newLeaseId: string;
  readonly nowMs: number;
  /** The feature's seat policy as the script reads it (policy/policy-script.ts featurePolicyArg); '' or absent: no rules. */
  readonly policy?: string;
}

/** A checkout that waits in its feature's queue (CheckoutArgs.queueDeadlineMs). */
export interface Queued {
  /** `<session id>:<request id>`, or `<session id>:<lease id>` without a request id. */
  readonly waiterId: string;
  /** The lease id it will be granted under (chosen when it was first queued). */
  readonly leaseId: string;
  readonly count: number;
  /** 1-based place in the feature's queue. */
  readonly position: number;
  readonly seatsInUse: number;
}

/** A waiter that left a queue in serveQueue: granted (leaseId set) or dropped (reason). */
export interface QueueExit {
  readonly waiterId: string;
  /** '' unless granted. */
  readonly leaseId: string;
  readonly count: number;
  /** 0 unless granted. */
  readonly expiresAtMs: number;
  /** '' when granted; QUEUE_TIMEOUT or SESSION_GONE when dropped, or POLICY_LIMIT when a rule of the seat policy refuses it now. */
  readonly reason: '' | 'QUEUE_TIMEOUT' | 'SESSION_GONE' | 'POLICY_LIMIT';
  /** With POLICY_LIMIT: the refusal, `<deny|max>|<rule>|<message>` (policy/policy-script.ts parsePolicyRefusal). */
  readonly refusal?: string;
}

/** What leaveQueue found: the waiter left, had been granted meanwhile, or was gone already. */
export type LeaveOutcome =
  | { readonly kind: 'left' }
  | { readonly kind: 'granted'; readonly leaseId: string; readonly count: number; readonly expiresAtMs: number }
  | { readonly kind: 'gone'; readonly sessionGone: boolean };

/** The waiter id of a checkout: the request id makes a retry find its place; without one the new lease id stands in. */
export function waiterIdOf(sessionId: string, requestId: string, newLeaseId: string): string {
  return `${sessionId}:${requestId === '' ? newLeaseId : requestId}`;
}

export interface Grant {
  readonly leaseId: string;
  readonly count: number;
  readonly expiresAtMs: number;
  /** True when an earlier checkout with the same request id is returned. */
  readonly reused: boolean;
  readonly seatsInUse: number;
}

export interface SessionRenewal {
  readonly expiresAtMs: number;
  /** Every lease the session holds, so the client can compare with what it believes it holds. */
  readonly leaseIds: readonly string[];
}

export interface LeaseRow {
  readonly leaseId: string;
  readonly sessionId: string;
  readonly feature: string;
  readonly count: number;
  readonly clientId: string;
  readonly user: string;
  readonly hostname: string;
  readonly pid: number;
  readonly grantedAtMs: number;
  readonly expiresAtMs: number;
}

export interface SeatLimits {
  readonly maxSessionsPerClient: number;
  readonly maxSeatsPerSession: number;
}

/** One listing page: the leases of the page and the cursor after it. */
export interface LeasePage {
  readonly rows: LeaseRow[];
  /** The last lease-index entry the page covered (pass as `after` for the next page); undefined on the last page. */
  readonly next: string | undefined;
}

/** Expired sessions one sweep script call reaps at most: bounds each call's time in Redis (~2-4 ms). */
export const SWEEP_BATCH = 100;

/**
 * Expired sessions a checkout reaps, and only when the feature has too few free seats
 * (those seats may belong to expired sessions the sweep has not reached yet): small,
 * because it runs on the hot path; the sweep does the bulk.
 */
export const CHECKOUT_RECLAIM_BATCH = 16;

/** Queue heads one serveQueue call looks at, at most (grants and drops): bounds each call's time in Redis. */
export const QUEUE_SERVE_BATCH = 64;

/**
 * Request ids of released leases each session remembers (the last ones), so a late retry
 * of a released checkout is refused (FAILED_PRECONDITION) instead of taking a second seat.
 * Past it a request id is forgotten: a retry that arrives more than this many releases
 * later in the same session counts as a new request.
 */
export const RELEASED_REQUEST_IDS_KEPT = 256;

/**
 * Typed wrappers over the seat scripts. Every write is fenced by the caller's epoch;
 * script refusals arrive as LicenseErrors (STALE_EPOCH, NOT_FOUND, SEATS_EXHAUSTED, ...).
 */
/**
 * A lease from a script's flat reply: the 9 fields after its id, in the order listLeases-1.lua
 * and revokeLease-3.lua both return them (session_id, feature, count, client_id, user,
 * hostname, pid, granted_ms, expires_ms), starting at `at`.
 */
function leaseRow(leaseId: string, flat: readonly unknown[], at: number): LeaseRow {
  const f = (k: number): string => String(flat[at + k]);
  return {
    leaseId,
    sessionId: f(0),
    feature: f(1),
    count: Number(f(2)),
    clientId: f(3),
    user: f(4),
    hostname: f(5),
    pid: Number(f(6)),
    grantedAtMs: Number(f(7)),
    expiresAtMs: Number(f(8)),
  };
}

export class SeatStore {
  constructor(
    private readonly scripts: ScriptRunner,
    private readonly keys: ClusterKeys,
    private readonly sessionTtlMs: number,
    private readonly limits: SeatLimits = { maxSessionsPerClient: 64, maxSeatsPerSession: 1_024 },
  ) {}

  async openSession(fence: Fence, sessionId: string, info: SessionInfo, nowMs: number): Promise<number> {
    const r = await this.scripts.run(
      'openSession',
      [this.keys.leader, this.keys.sessions],
      [
        formatOwner(fence),
        this.keys.prefix,
        sessionId,
        nowMs,
        this.sessionTtlMs,
        info.clientId,
        info.user,
        info.hostname,
        info.pid,
        this.limits.maxSessionsPerClient,
      ],
    );
    return Number(r);
  }

  /** Renews the session; answers its new expiry and the leases it holds now. */
  async heartbeat(fence: Fence, sessionId: string, nowMs: number): Promise<SessionRenewal> {
    const r = (await this.scripts.run(
      'heartbeatSession',
      [this.keys.leader, this.keys.sessions, this.keys.used],
      [formatOwner(fence), this.keys.prefix, sessionId, nowMs, this.sessionTtlMs],
    )) as [number, string[]];
    return { expiresAtMs: Number(r[0]), leaseIds: r[1].map(String) };
  }

  /** Grants now or refuses (SEATS_EXHAUSTED, also while a queue waits ahead); refusals are LicenseErrors. */
  async checkout(fence: Fence, a: CheckoutArgs): Promise<Grant> {
    const r = await this.checkoutOrQueue(fence, a, 0);
    if ('waiterId' in r) throw new Error('checkout without a queue deadline was queued'); // the script never does
    return r;
  }

  /**
   * Grants now, or, when no seat is free or a queue waits ahead, queues the checkout until
   * `queueDeadlineMs` (0: refuses instead, as checkout does). A retry with the same request
   * id answers its place in the queue (and moves its deadline), or the lease once granted.
   */
  async checkoutOrQueue(fence: Fence, a: CheckoutArgs, queueDeadlineMs: number): Promise<Grant | Queued> {
    const waiterId = waiterIdOf(a.sessionId, a.requestId, a.newLeaseId);
    const r = (await this.scripts.run(
      'checkout',
      [this.keys.leader, this.keys.sessions, this.keys.used],
      [
        formatOwner(fence),
        this.keys.prefix,
        a.sessionId,
        a.nowMs,
        this.sessionTtlMs,
        a.feature,
        a.count,
        a.seatsLicensed,
        a.requestId,
        a.newLeaseId,
        CHECKOUT_RECLAIM_BATCH,
        this.limits.maxSeatsPerSession,
        Math.max(0, Math.floor(queueDeadlineMs)),
        waiterId,
        a.policy ?? '',
      ],
    )) as [string, number, number, number, number, number?];
    if (r[5] !== undefined && Number(r[5]) > 0) {
      return { waiterId, leaseId: String(r[0]), count: Number(r[1]), position: Number(r[5]), seatsInUse: Number(r[4]) };
    }
    return { leaseId: String(r[0]), count: Number(r[1]), expiresAtMs: Number(r[2]), reused: r[3] === 1, seatsInUse: Number(r[4]) };
  }

  /**
   * Grants the head(s) of a feature's queue while they fit, oldest first, dropping dead heads
   * on the way; at most QUEUE_SERVE_BATCH heads per call (`more` when that stopped it).
   */
  async serveQueue(fence: Fence, feature: string, seatsLicensed: number, nowMs: number, policy = ''): Promise<{ exits: QueueExit[]; more: boolean }> {
    const r = (await this.scripts.run(
      'serveQueue',
      [this.keys.leader, this.keys.sessions, this.keys.used],
      [formatOwner(fence), this.keys.prefix, feature, seatsLicensed, nowMs, this.sessionTtlMs, QUEUE_SERVE_BATCH, CHECKOUT_RECLAIM_BATCH, policy],
    )) as (string | number)[];
    const exits: QueueExit[] = [];
    for (let i = 1; i + 4 < r.length; i += 5) {
      const reason = String(r[i + 4]);
      const policyRefusal = reason.startsWith('POLICY_LIMIT ') ? reason.slice('POLICY_LIMIT '.length) : undefined;
      exits.push({
        waiterId: String(r[i]),
        leaseId: String(r[i + 1]),
        count: Number(r[i + 2]),
        expiresAtMs: Number(r[i + 3]),
        ...(policyRefusal === undefined ? { reason: reason as QueueExit['reason'] } : { reason: 'POLICY_LIMIT' as const, refusal: policyRefusal }),
      });
    }
    return { exits, more: Number(r[0]) === 1 };
  }

  /** A queued checkout leaves its queue (`reason` goes into its usage event); see LeaveOutcome. */
  async leaveQueue(
    fence: Fence,
    w: { waiterId: string; sessionId: string; requestId: string; leaseId: string },
    nowMs: number,
    reason: 'QUEUE_TIMEOUT' | 'CANCELLED',
  ): Promise<LeaveOutcome> {
    const r = (await this.scripts.run(
      'leaveQueue',
      [this.keys.leader, this.keys.sessions],
      [formatOwner(fence), this.keys.prefix, w.waiterId, w.sessionId, w.requestId, w.leaseId, nowMs, reason],
    )) as (string | number)[];
    const kind = Number(r[0]);
    if (kind === 1) return { kind: 'left' };
    if (kind === 2) return { kind: 'granted', leaseId: String(r[1]), count: Number(r[2]), expiresAtMs: Number(r[3]) };
    return { kind: 'gone', sessionGone: String(r[1] ?? '') === 'SESSION_GONE' };
  }

  /** Checkouts waiting per feature, for features with a queue (read-only, any node): O(features with a queue). */
  async queueLengths(): Promise<Map<string, number>> {
    return this.positiveCounts(this.keys.queued);
  }

  /** True when the lease existed in this session and is now freed. */
  async release(fence: Fence, sessionId: string, leaseId: string, nowMs: number): Promise<boolean> {
    return (await this.releaseLease(fence, sessionId, leaseId, nowMs)).released;
  }

  /** release(), also saying the freed lease's feature and whether checkouts queue for it (then serve its queue). */
  async releaseLease(fence: Fence, sessionId: string, leaseId: string, nowMs: number): Promise<{ released: boolean; feature: string; queued: boolean }> {
    const r = (await this.scripts.run(
      'releaseSeat',
      [this.keys.leader, this.keys.sessions, this.keys.used],
      [formatOwner(fence), this.keys.prefix, sessionId, leaseId, nowMs, RELEASED_REQUEST_IDS_KEPT],
    )) as [number, string?, number?];
    return { released: Number(r[0]) === 1, feature: String(r[1] ?? ''), queued: Number(r[2] ?? 0) > 0 };
  }

  /** An operator frees a lease by id alone (AdminService.ReleaseLease); undefined when no such lease is held. */
  async revoke(fence: Fence, leaseId: string, nowMs: number): Promise<LeaseRow | undefined> {
    const r = (await this.scripts.run(
      'revokeLease',
      [this.keys.leader, this.keys.sessions, this.keys.used],
      [formatOwner(fence), this.keys.prefix, leaseId, RELEASED_REQUEST_IDS_KEPT, nowMs],
    )) as string[];
    return r.length === 0 ? undefined : leaseRow(leaseId, r, 0);
  }

  /**
   * Drops usage events older than `oldestMs` (LICENSE_USAGE_RETENTION). Returns the number trimmed.
   */
  async trimUsage(fence: Fence, oldestMs: number): Promise<number> {
    return Number(await this.scripts.run('trimUsage', [this.keys.leader, this.keys.usage], [formatOwner(fence), Math.max(0, Math.floor(oldestMs))]));
  }

  /** Number of leases freed (0 for an unknown session). */
  async closeSession(fence: Fence, sessionId: string, nowMs: number): Promise<number> {
    const r = await this.scripts.run(
      'closeSession',
      [this.keys.leader, this.keys.sessions, this.keys.used],
      [formatOwner(fence), this.keys.prefix, sessionId, nowMs],
    );
    return Number(r);
  }

  /** One sweep batch. Returns what it freed; more may be left while sessions === limit. */
  async reclaimExpired(fence: Fence, nowMs: number, limit = SWEEP_BATCH): Promise<{ sessions: number; leases: number }> {
    const r = (await this.scripts.run(
      'reclaimExpired',
      [this.keys.leader, this.keys.sessions, this.keys.used],
      [formatOwner(fence), this.keys.prefix, nowMs, limit],
    )) as [number, number];
    return { sessions: Number(r[0]), leases: Number(r[1]) };
  }

  /**
   * Seats in use per feature, from the counters the scripts keep (read-only, any node):
   * O(features), whatever the number of sessions. A seat of an expired session counts
   * until the session is reaped (the leader's sweep; see SeatService.sweep).
   */
  async usage(): Promise<Map<string, number>> {
    return this.positiveCounts(this.keys.used);
  }

  /** The per-feature counts above 0 of one of the counter hashes the seat scripts keep (positiveCounts-1.lua). */
  private async positiveCounts(key: string): Promise<Map<string, number>> {
    const flat = (await this.scripts.run('positiveCounts', [key], [])) as (string | number)[];
    const out = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(String(flat[i]), Number(flat[i + 1]));
    return out;
  }

  /**
   * One page of the leases held now (read-only, any node), in lease-index order
   * (feature, then lease id): `pageSize` index entries from after the cursor `after`.
   * Leases of expired, not yet reaped sessions are skipped, so a page may be short
   * while `next` still says there is more.
   */
  async listLeases(nowMs: number, page: { feature?: string; after?: string; pageSize: number }): Promise<LeasePage> {
    const flat = (await this.scripts.run(
      'listLeases',
      [this.leaseIndex],
      [this.keys.prefix, nowMs, page.feature ?? '', page.after ?? '', page.pageSize],
    )) as string[];
    const next = String(flat[0] ?? '');
    const rows: LeaseRow[] = [];
    for (let i = 1; i + 9 < flat.length; i += 10) rows.push(leaseRow(String(flat[i]), flat, i + 1));
    return { rows, next: next === '' ? undefined : next };
  }

  /** ZSET '<feature>:<lease id>' -> 0 of every lease not yet freed (kept by the scripts; see scripts/includes/sessions.lua). */
  private get leaseIndex(): string {
    return `${this.keys.prefix}:lease_index`;
  }
}
