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

/** How many expired sessions one checkout or sweep call frees at most (bounds script time). */
export const RECLAIM_BATCH = 500;

/**
 * Typed wrappers over the seat scripts. Every write is fenced by the caller's epoch;
 * script refusals arrive as LicenseErrors (STALE_EPOCH, NOT_FOUND, SEATS_EXHAUSTED, ...).
 */
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
        RECLAIM_BATCH,
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

  async checkout(fence: Fence, a: CheckoutArgs): Promise<Grant> {
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
        RECLAIM_BATCH,
        this.limits.maxSeatsPerSession,
      ],
    )) as [string, number, number, number, number];
    return { leaseId: String(r[0]), count: Number(r[1]), expiresAtMs: Number(r[2]), reused: r[3] === 1, seatsInUse: Number(r[4]) };
  }

  /** True when the lease existed in this session and is now freed. */
  async release(fence: Fence, sessionId: string, leaseId: string, nowMs: number): Promise<boolean> {
    const r = await this.scripts.run(
      'releaseSeat',
      [this.keys.leader, this.keys.sessions, this.keys.used],
      [formatOwner(fence), this.keys.prefix, sessionId, leaseId, nowMs],
    );
    return r === 1;
  }

  /** Number of leases freed (0 for an unknown session). */
  async closeSession(fence: Fence, sessionId: string): Promise<number> {
    const r = await this.scripts.run('closeSession', [this.keys.leader, this.keys.sessions, this.keys.used], [formatOwner(fence), this.keys.prefix, sessionId]);
    return Number(r);
  }

  /** One sweep batch. Returns what it freed; call again while sessions === RECLAIM_BATCH. */
  async reclaimExpired(fence: Fence, nowMs: number, limit = RECLAIM_BATCH): Promise<{ sessions: number; leases: number }> {
    const r = (await this.scripts.run(
      'reclaimExpired',
      [this.keys.leader, this.keys.sessions, this.keys.used],
      [formatOwner(fence), this.keys.prefix, nowMs, limit],
    )) as [number, number];
    return { sessions: Number(r[0]), leases: Number(r[1]) };
  }

  /** Seats in use per feature, never counting leases of expired sessions (read-only, any node). */
  async usage(nowMs: number): Promise<Map<string, number>> {
    const flat = (await this.scripts.run('featureUsage', [this.keys.sessions, this.keys.used], [this.keys.prefix, nowMs])) as (string | number)[];
    const out = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(String(flat[i]), Number(flat[i + 1]));
    return out;
  }

  /** Unexpired leases (read-only, any node), at most `max`. */
  async listLeases(nowMs: number, feature = '', max = 10_000): Promise<LeaseRow[]> {
    const flat = (await this.scripts.run('listLeases', [this.keys.sessions], [this.keys.prefix, nowMs, feature, max])) as string[];
    const rows: LeaseRow[] = [];
    for (let i = 0; i + 9 < flat.length; i += 10) {
      const f = (k: number): string => String(flat[i + k]);
      rows.push({
        leaseId: f(0),
        sessionId: f(1),
        feature: f(2),
        count: Number(f(3)),
        clientId: f(4),
        user: f(5),
        hostname: f(6),
        pid: Number(f(7)),
        grantedAtMs: Number(f(8)),
        expiresAtMs: Number(f(9)),
      });
    }
    return rows;
  }
}
