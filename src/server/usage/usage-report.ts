import { ErrorCode, LicenseError } from '../errors';
import type { UsageEvent } from './usage-event';

/** What one row of a usage report stands for: a feature, or a feature's seats of one user or one host. */
export type UsageReportBy = 'feature' | 'user' | 'host';
export const USAGE_REPORT_BY: readonly UsageReportBy[] = ['feature', 'user', 'host'];

/** Users listed per feature row unless `topUsers` says otherwise. */
export const DEFAULT_TOP_USERS = 3;

const HOUR_MS = 3_600_000;

export interface UsageReportOptions {
  /** Start of the window, inclusive (ms since the epoch). */
  readonly fromMs: number;
  /** End of the window, exclusive: back-to-back windows count every event once. */
  readonly toMs: number;
  /** Only this feature; other events are ignored. */
  readonly feature?: string;
  readonly by: UsageReportBy;
  /** Users named per feature row (`by: 'feature'` only), by seat-hours. */
  readonly topUsers?: number;
}

export interface TopUser {
  readonly user: string;
  readonly seatHours: number;
}

export interface UsageReportRow {
  readonly feature: string;
  /** The user of the row (`by: 'user'`). */
  readonly user?: string;
  /** The host of the row (`by: 'host'`). */
  readonly host?: string;
  /** Most seats in use at any moment of the window. */
  readonly peakSeats: number;
  /** Seats in use, averaged over the whole window (time-weighted): seatHours / window hours. */
  readonly averageSeats: number;
  /** The integral of seats in use over the window, in hours. */
  readonly seatHours: number;
  /** Leases granted in the window. */
  readonly grants: number;
  /** Checkouts refused in the window, all reasons together. */
  readonly denials: number;
  /** Refusals per reason (SEATS_EXHAUSTED, LIMIT_EXCEEDED, ...). */
  readonly denialsByReason: Readonly<Record<string, number>>;
  /** Queued checkouts that ended in the window (granted, timed out or left). */
  readonly queued: number;
  /** Median queue wait (nearest rank); null when nothing queued. */
  readonly queueWaitP50Ms: number | null;
  /** 95th percentile queue wait (nearest rank); null when nothing queued. */
  readonly queueWaitP95Ms: number | null;
  /** The users with the most seat-hours, most first (`by: 'feature'` rows only). */
  readonly topUsers?: readonly TopUser[];
}

export interface UsageReportResult {
  readonly fromMs: number;
  readonly toMs: number;
  readonly by: UsageReportBy;
  readonly feature: string | null;
  /** Events given to add() that the report used (the feature filter applied), before the window included. */
  readonly events: number;
  /** Of those, events inside the window. */
  readonly eventsInWindow: number;
  /**
   * Seats freed in the window by leases whose grant the report never saw (granted before the
   * oldest event kept): they were in use until then but are not in the figures.
   */
  readonly untrackedFrees: number;
  /** Rows with anything to say (seats in use, grants, denials or queue waits), by feature, then most seat-hours first. */
  readonly rows: readonly UsageReportRow[];
}

export interface UsageReport {
  /** Feeds one event; events must come in stream order. */
  add(event: UsageEvent): void;
  /** The report so far; does not end it (add() may go on). */
  result(): UsageReportResult;
}

/** Seats in use over time for one group: the running integral, so memory stays one object per group. */
interface Tally {
  inUse: number;
  /** Time the integral has been taken to (never before the window's start). */
  lastMs: number;
  seatMs: number;
  peak: number;
}

interface Row extends Tally {
  readonly feature: string;
  readonly key: string;
  grants: number;
  denials: number;
  readonly reasons: Map<string, number>;
  queued: number;
  /**
   * Queue waits as value -> occurrences: exact percentiles with memory bounded by the distinct
   * waits (whole ms up to the queue timeout), not by the number of queued checkouts.
   */
  readonly waits: Map<number, number>;
  /** by feature: each user's seats of this feature, for topUsers. */
  readonly users: Map<string, Tally> | undefined;
}

interface OpenLease {
  readonly count: number;
  readonly row: Row;
  readonly user: Tally | undefined;
}

const newTally = (fromMs: number): Tally => ({ inUse: 0, lastMs: fromMs, seatMs: 0, peak: 0 });

/**
 * Moves a tally's seats by `delta` at time `t`: closes the integral up to `t` first (a time
 * before the integral's, from before the window or a clock behind, adds nothing). The peak
 * counts only states in effect inside the window, and the count never goes below 0 (a free
 * the report cannot match to a grant).
 */
function move(tally: Tally, t: number, delta: number, inWindow: boolean): void {
  if (t > tally.lastMs) {
    tally.seatMs += tally.inUse * (t - tally.lastMs);
    tally.lastMs = t;
  }
  // The state just before an in-window event was in effect inside the window (since the event
  // before, or since the window opened), so it is a candidate for the peak too.
  if (inWindow && tally.inUse > tally.peak) tally.peak = tally.inUse;
  tally.inUse = Math.max(0, tally.inUse + delta);
  if (inWindow && tally.inUse > tally.peak) tally.peak = tally.inUse;
}

/** seat-ms of a tally with its present state carried to the end of the window. */
const closedSeatMs = (t: Tally, toMs: number): number => t.seatMs + t.inUse * Math.max(0, toMs - t.lastMs);

/** Nearest-rank percentile (the smallest value with at least p% of values at or below it) of a value -> count map. */
function percentile(sorted: readonly (readonly [number, number])[], total: number, p: number): number | null {
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const [value, count] of sorted) {
    seen += count;
    if (seen >= rank) return value;
  }
  return sorted[sorted.length - 1]?.[0] ?? null;
}

/**
 * A usage report computed as the events stream past, in one pass, with memory bounded by the
 * groups (features, users, hosts) and the leases open at one time, never by the number of
 * events: a year of events is read once and forgotten.
 *
 * Seats in use are rebuilt from the events: a grant adds its seats, a release, revoke or expiry
 * takes away what that lease was granted. Events before `fromMs` only set the seats in use when
 * the window opens; leases still held at `toMs` count to the end. A free whose grant the report
 * never saw (trimmed by the retention) changes nothing and is counted in `untrackedFrees`.
 * Event times (`atMs`, the node's clock) that run backwards, as two nodes' clocks may across a
 * failover, are taken as the time of the event before.
 */
export function createUsageReport(opts: UsageReportOptions): UsageReport {
  const { fromMs, toMs, by } = opts;
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) throw new LicenseError(ErrorCode.INVALID_ARGUMENT, 'usage report: the window needs finite times');
  if (fromMs >= toMs) {
    throw new LicenseError(
      ErrorCode.INVALID_ARGUMENT,
      `usage report: the window is empty (from ${new Date(fromMs).toISOString()} is not before to ${new Date(toMs).toISOString()})`,
    );
  }
  const topUsers = opts.topUsers ?? DEFAULT_TOP_USERS;
  const only = opts.feature;
  const trackUsers = by === 'feature' && topUsers > 0;
  // feature -> (user | host | '') -> row: nested maps, so no key string is built per event.
  const rows = new Map<string, Map<string, Row>>();
  const leases = new Map<string, OpenLease>();
  let events = 0;
  let eventsInWindow = 0;
  let untrackedFrees = 0;

  const rowFor = (e: UsageEvent): Row => {
    let byKey = rows.get(e.feature);
    if (byKey === undefined) rows.set(e.feature, (byKey = new Map<string, Row>()));
    const key = by === 'user' ? e.user : by === 'host' ? e.host : '';
    let row = byKey.get(key);
    if (row === undefined) {
      row = {
        ...newTally(fromMs),
        feature: e.feature,
        key,
        grants: 0,
        denials: 0,
        reasons: new Map(),
        queued: 0,
        waits: new Map(),
        users: trackUsers ? new Map() : undefined,
      };
      byKey.set(key, row);
    }
    return row;
  };

  const userFor = (row: Row, user: string): Tally | undefined => {
    if (row.users === undefined) return undefined;
    let t = row.users.get(user);
    if (t === undefined) row.users.set(user, (t = newTally(fromMs)));
    return t;
  };

  return {
    add(e: UsageEvent): void {
      // Not fed by the reader; a caller's stray event after the window changes nothing in it.
      if (e.atMs >= toMs) return;
      if (only !== undefined && e.feature !== only) return;
      events++;
      const inWindow = e.atMs >= fromMs;
      if (inWindow) eventsInWindow++;
      // Before the window a tally's integral does not move (it starts at fromMs): only its seats do.
      const t = e.atMs;
      switch (e.kind) {
        case 'grant': {
          const row = rowFor(e);
          const user = userFor(row, e.user);
          move(row, t, e.count, inWindow);
          if (user) move(user, t, e.count, inWindow);
          if (inWindow) row.grants++;
          if (e.leaseId !== '') leases.set(e.leaseId, { count: e.count, row, user });
          return;
        }
        case 'release':
        case 'revoke':
        case 'expire': {
          if (e.leaseId !== '') {
            const lease = leases.get(e.leaseId);
            if (lease === undefined) {
              if (inWindow) untrackedFrees += e.count;
              return;
            }
            leases.delete(e.leaseId);
            // What the grant added, so the books balance even if the event's own count disagreed.
            move(lease.row, t, -lease.count, inWindow);
            if (lease.user) move(lease.user, t, -lease.count, inWindow);
            return;
          }
          // No lease id to match: take the seats off the event's own group, never below 0.
          const row = rowFor(e);
          move(row, t, -e.count, inWindow);
          const user = row.users?.get(e.user);
          if (user) move(user, t, -e.count, inWindow);
          return;
        }
        case 'deny': {
          if (!inWindow) return;
          const row = rowFor(e);
          row.denials++;
          row.reasons.set(e.reason, (row.reasons.get(e.reason) ?? 0) + 1);
          return;
        }
        case 'queue': {
          if (!inWindow) return;
          const row = rowFor(e);
          row.queued++;
          row.waits.set(e.waitMs, (row.waits.get(e.waitMs) ?? 0) + 1);
          return;
        }
      }
    },

    result(): UsageReportResult {
      const windowMs = toMs - fromMs;
      const out: UsageReportRow[] = [];
      for (const byKey of rows.values()) {
        for (const row of byKey.values()) {
          const seatMs = closedSeatMs(row, toMs);
          const peakSeats = Math.max(row.peak, row.inUse);
          if (peakSeats === 0 && seatMs === 0 && row.grants === 0 && row.denials === 0 && row.queued === 0) continue;
          const waits = [...row.waits].sort((a, b) => a[0] - b[0]);
          const denialsByReason: Record<string, number> = {};
          for (const [reason, n] of [...row.reasons].sort((a, b) => (a[0] < b[0] ? -1 : 1))) denialsByReason[reason || 'UNKNOWN'] = n;
          out.push({
            feature: row.feature,
            ...(by === 'user' ? { user: row.key } : by === 'host' ? { host: row.key } : {}),
            peakSeats,
            averageSeats: seatMs / windowMs,
            seatHours: seatMs / HOUR_MS,
            grants: row.grants,
            denials: row.denials,
            denialsByReason,
            queued: row.queued,
            queueWaitP50Ms: percentile(waits, row.queued, 50),
            queueWaitP95Ms: percentile(waits, row.queued, 95),
            ...(row.users === undefined ? {} : { topUsers: top(row.users, toMs, topUsers) }),
          });
        }
      }
      out.sort((a, b) => cmp(a.feature, b.feature) || b.seatHours - a.seatHours || cmp(a.user ?? a.host ?? '', b.user ?? b.host ?? ''));
      return { fromMs, toMs, by, feature: only ?? null, events, eventsInWindow, untrackedFrees, rows: out };
    },
  };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function top(users: ReadonlyMap<string, Tally>, toMs: number, n: number): TopUser[] {
  const all: { user: string; seatMs: number }[] = [];
  for (const [user, t] of users) {
    const seatMs = closedSeatMs(t, toMs);
    if (seatMs > 0) all.push({ user, seatMs });
  }
  all.sort((a, b) => b.seatMs - a.seatMs || cmp(a.user, b.user));
  return all.slice(0, n).map((u) => ({ user: u.user, seatHours: u.seatMs / HOUR_MS }));
}
