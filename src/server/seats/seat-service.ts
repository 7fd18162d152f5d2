import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../clock';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import type { Feature, License } from '../license/license-file';
import type { Logger } from '../log';
import type { Fence } from '../store/fence';
import { type LeaseRow, type SeatStore, type SessionRenewal, SWEEP_BATCH } from '../store/seat-store';
import { checkCount, checkFeatureName, checkId, checkPid, checkText, LIMITS } from './validate';

/**
 * What the seat service needs from the cluster (the node controller): who may write, for
 * which kind of call, and a nudge when a write found the lease gone. Each fence method
 * throws NOT_ACTIVE (with the leader's address when known) on a node without the lease.
 */
export interface FenceSource {
  /** For calls that hand out new seats: refused with REDUNDANT_BLOCKED while FAILOVER_BLOCKED. */
  fenceForNewGrant(): Fence;
  /** For calls that keep running work alive or wind it down: pass while FAILOVER_BLOCKED too. */
  fenceForRunningWork(): Fence;
  onStaleEpoch(): void;
}

/** The settings the seat service reads; the node picks them from its Config. */
export interface SeatSettings {
  /** While FAILOVER_BLOCKED, still renew sessions (LICENSE_BLOCKED_KEEPS_SESSIONS). */
  readonly blockedKeepsSessions: boolean;
}

export type CheckoutResult = 'granted' | 'exhausted' | 'blocked' | 'invalid' | 'not_active' | 'error';

export interface SeatServiceDeps {
  readonly store: SeatStore;
  readonly license: License;
  readonly cluster: FenceSource;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: SeatSettings;
  /** Metrics hook, called once per checkout with its outcome. */
  readonly onCheckout?: (feature: string, result: CheckoutResult) => void;
  /** Metrics hook, called when a per-client or per-session limit refuses a call. */
  readonly onLimit?: (limit: 'sessions_per_client' | 'seats_per_session') => void;
}

export interface FeatureUsage {
  readonly name: string;
  readonly seatsTotal: number;
  readonly seatsInUse: number;
  readonly expiresAtMs: number;
}

export interface LeasesPage {
  readonly leases: LeaseRow[];
  /** Pass as page_token for the next page; '' when this was the last one. */
  readonly nextPageToken: string;
}

/** ListLeases page_size: 0 asks for the default; more than the cap gets the cap (proto/license/v1/admin.proto). */
export const LEASE_PAGE_DEFAULT = 500;
export const LEASE_PAGE_MAX = 5_000;

/**
 * Sweep script calls in one sweep run at most (SWEEP_BATCH sessions each, so 5,000
 * sessions a run): a larger backlog is left for the next runs, one sweep interval apart,
 * so reaping never crowds out the calls being served.
 */
export const SWEEP_MAX_BATCHES = 50;

/** The longest pause between two sweep calls (the pause is as long as the call before it took). */
const SWEEP_PAUSE_MAX_MS = 50;

const newId = (): string => randomBytes(16).toString('base64url');

/**
 * ListLeases page tokens: base64url of `1|<feature filter>|<cursor>`, the cursor being the
 * last lease-index entry a page covered (`<feature>:<lease id>`). Opaque to clients; the
 * filter rides along so a token cannot continue another listing.
 */
const TOKEN_CURSOR = /^1\|([^|]*)\|([A-Za-z0-9][A-Za-z0-9._-]{0,63}:[A-Za-z0-9_-]{1,64})$/;

function encodePageToken(feature: string, cursor: string): string {
  return Buffer.from(`1|${feature}|${cursor}`).toString('base64url');
}

function decodePageToken(token: string, feature: string): string {
  const bad = (why: string): LicenseError =>
    new LicenseError(ErrorCode.INVALID_ARGUMENT, `page_token: ${why}; pass the next_page_token of the previous answer unchanged, or "" for the first page`, {
      field: 'page_token',
    });
  const m = /^[A-Za-z0-9_-]{1,400}$/.test(token) ? TOKEN_CURSOR.exec(Buffer.from(token, 'base64url').toString('utf8')) : null;
  const [, filter, cursor] = m ?? [];
  if (filter === undefined || cursor === undefined || encodePageToken(filter, cursor) !== token || (filter !== '' && !cursor.startsWith(`${filter}:`))) {
    throw bad('is not a page token this server issued');
  }
  if (filter !== feature) {
    const of = (f: string): string => (f === '' ? 'all features' : `feature ${f}`);
    throw bad(`was issued for the listing of ${of(filter)}, not of ${of(feature)} (keep the same feature filter for every page)`);
  }
  return cursor;
}

/**
 * Sessions and seats: input rules, license rules (features, seat counts, expiry) and
 * the fenced store calls. Transport-free; the gRPC handlers are a thin layer on top.
 */
export class SeatService {
  constructor(private readonly deps: SeatServiceDeps) {}

  async openSession(req: { client_id: string; user: string; hostname: string; pid: number }): Promise<{ sessionId: string; expiresAtMs: number }> {
    const fence = this.deps.cluster.fenceForNewGrant();
    const info = {
      clientId: checkText('client_id', req.client_id, LIMITS.clientFieldMax, true),
      user: checkText('user', req.user, LIMITS.clientFieldMax, false),
      hostname: checkText('hostname', req.hostname, LIMITS.clientFieldMax, false),
      pid: checkPid(req.pid),
    };
    const sessionId = newId();
    try {
      const expiresAtMs = await this.write(() => this.deps.store.openSession(fence, sessionId, info, this.deps.clock.now()));
      return { sessionId, expiresAtMs };
    } catch (err) {
      if (err instanceof LicenseError && err.code === ErrorCode.LIMIT_EXCEEDED) this.deps.onLimit?.('sessions_per_client');
      throw err;
    }
  }

  async heartbeat(sessionId: string): Promise<SessionRenewal> {
    const fence = this.fenceForSessionHeartbeat();
    checkId('session_id', sessionId);
    return this.write(() => this.deps.store.heartbeat(fence, sessionId, this.deps.clock.now()));
  }

  async checkout(req: { session_id: string; feature: string; count: number; request_id: string }): Promise<{
    leaseId: string;
    feature: string;
    count: number;
    expiresAtMs: number;
  }> {
    const feature = req.feature;
    let fence: Fence;
    try {
      fence = this.deps.cluster.fenceForNewGrant();
    } catch (err) {
      this.observe(feature, err instanceof LicenseError && err.code === ErrorCode.REDUNDANT_BLOCKED ? 'blocked' : 'not_active');
      throw err;
    }
    let f: Feature;
    try {
      checkId('session_id', req.session_id);
      checkFeatureName(feature);
      if (req.request_id !== '') checkText('request_id', req.request_id, LIMITS.requestIdMax, false);
      f = this.feature(feature);
      checkCount(req.count, f.seats, feature);
    } catch (err) {
      this.observe(feature, 'invalid');
      throw err;
    }
    const now = this.deps.clock.now();
    if (f.expiresAtMs !== undefined && now >= f.expiresAtMs) {
      this.observe(feature, 'invalid');
      throw new LicenseError(
        ErrorCode.FEATURE_EXPIRED,
        `feature ${feature}: license expired at ${new Date(f.expiresAtMs).toISOString()}; ask your vendor for a renewed license file`,
      );
    }
    try {
      const g = await this.write(() =>
        this.deps.store.checkout(fence, {
          sessionId: req.session_id,
          feature,
          count: req.count,
          seatsLicensed: f.seats,
          requestId: req.request_id,
          newLeaseId: newId(),
          nowMs: now,
        }),
      );
      this.observe(feature, 'granted');
      return { leaseId: g.leaseId, feature, count: g.count, expiresAtMs: g.expiresAtMs };
    } catch (err) {
      if (err instanceof LicenseError && err.code === ErrorCode.LIMIT_EXCEEDED) {
        this.deps.onLimit?.('seats_per_session');
        this.observe(feature, 'invalid');
        throw err;
      }
      if (err instanceof LicenseError && err.code === ErrorCode.SEATS_EXHAUSTED) {
        this.observe(feature, 'exhausted');
        throw new LicenseError(
          ErrorCode.SEATS_EXHAUSTED,
          `not enough free seats of ${feature}: ${err.message} of ${f.seats} in use, ${req.count} requested; retry later or release a seat`,
        );
      }
      const r: CheckoutResult =
        err instanceof LicenseError &&
        (err.code === ErrorCode.INVALID_ARGUMENT || err.code === ErrorCode.SESSION_NOT_FOUND || err.code === ErrorCode.FAILED_PRECONDITION)
          ? 'invalid'
          : err instanceof LicenseError && err.code === ErrorCode.STALE_EPOCH
            ? 'not_active'
            : 'error';
      this.observe(feature, r);
      throw err;
    }
  }

  async release(sessionId: string, leaseId: string): Promise<boolean> {
    const fence = this.deps.cluster.fenceForRunningWork();
    checkId('session_id', sessionId);
    checkId('lease_id', leaseId);
    return this.write(() => this.deps.store.release(fence, sessionId, leaseId, this.deps.clock.now()));
  }

  /**
   * AdminService.ReleaseLease: an operator frees a lease by id (like FlexNet's lmremove). The
   * session stays open; its next heartbeat no longer lists the lease, so the SDK reports it lost.
   */
  async revoke(leaseId: string): Promise<LeaseRow | undefined> {
    const fence = this.deps.cluster.fenceForRunningWork();
    checkId('lease_id', leaseId);
    const freed = await this.write(() => this.deps.store.revoke(fence, leaseId, this.deps.clock.now()));
    if (freed) {
      this.deps.logger.warn('lease released by an operator', {
        leaseId,
        feature: freed.feature,
        count: freed.count,
        sessionId: freed.sessionId,
        clientId: freed.clientId,
        user: freed.user,
        hostname: freed.hostname,
      });
    }
    return freed;
  }

  async closeSession(sessionId: string): Promise<number> {
    const fence = this.deps.cluster.fenceForRunningWork();
    checkId('session_id', sessionId);
    return this.write(() => this.deps.store.closeSession(fence, sessionId, this.deps.clock.now()));
  }

  /**
   * ListFeatures: served only by the lease holder (also while blocked: it shows what running work holds).
   * Seats in use come from the counters the seat scripts keep, so a seat of a session that
   * expired still counts until the session is reaped: within one sweep interval (at most 1 s)
   * unless a backlog of more than SWEEP_BATCH x SWEEP_MAX_BATCHES (5,000) expired sessions takes several.
   */
  async listFeatures(): Promise<FeatureUsage[]> {
    this.deps.cluster.fenceForRunningWork(); // refuses on a node without the lease; nothing is written

    return this.usage();
  }

  /**
   * Seats licensed and in use per feature, readable on any node (status, /metrics): one read
   * of the counters, O(features) whatever the number of sessions (see listFeatures on expiry).
   */
  async usage(): Promise<FeatureUsage[]> {
    const used = await this.deps.store.usage();
    return [...this.deps.license.features.values()].map((f) => ({
      name: f.name,
      seatsTotal: f.seats,
      seatsInUse: used.get(f.name) ?? 0,
      expiresAtMs: f.expiresAtMs ?? 0,
    }));
  }

  /**
   * ListLeases, one page (readable on any node): at most `pageSize` leases (0 = 500, capped
   * at 5,000), in feature then lease id order. Paging follows a cursor, not expiry order, so
   * a lease held through the whole listing appears exactly once however the sessions
   * heartbeat. A page may be short (leases of expired, unreaped sessions are skipped): only
   * an empty nextPageToken ends the listing. Redis work per call is O(page size).
   */
  async listLeases(req: { feature: string; pageSize: number; pageToken: string; user?: string; hostname?: string }): Promise<LeasesPage> {
    const { feature, pageToken } = req;
    const user = req.user ?? '';
    const hostname = req.hostname ?? '';
    if (feature !== '') checkFeatureName(feature);
    if (user !== '') checkText('user', user, LIMITS.clientFieldMax, false);
    if (hostname !== '') checkText('hostname', hostname, LIMITS.clientFieldMax, false);
    if (!Number.isInteger(req.pageSize) || req.pageSize < 0) {
      throw new LicenseError(ErrorCode.INVALID_ARGUMENT, `page_size: must be 0 (the default, ${LEASE_PAGE_DEFAULT}) or more, got ${req.pageSize}`, {
        field: 'page_size',
      });
    }
    const pageSize = req.pageSize === 0 ? LEASE_PAGE_DEFAULT : Math.min(req.pageSize, LEASE_PAGE_MAX);
    const after = pageToken === '' ? undefined : decodePageToken(pageToken, feature);
    const page = await this.deps.store.listLeases(this.deps.clock.now(), { feature, pageSize, ...(after === undefined ? {} : { after }) });
    // The filters apply to the page the cursor covers, so a filtered page may be short: only the token ends the listing.
    const rows = page.rows.filter((r) => (user === '' || r.user === user) && (hostname === '' || r.hostname === hostname));
    return { leases: rows, nextPageToken: page.next === undefined ? '' : encodePageToken(feature, page.next) };
  }

  /**
   * One sweep run on the lease holder: reaps expired sessions, SWEEP_BATCH per script call,
   * at most SWEEP_MAX_BATCHES calls; a larger backlog is left to the next run (`complete`
   * false). Between calls it pauses as long as the last call took, so while a backlog is
   * reaped the sweep holds Redis at most about half the time, and
   * each call only a few milliseconds. Keeps the seat counters truthful: an expired
   * session's seats count until it is reaped here.
   */
  async sweep(): Promise<{ sessions: number; leases: number; complete: boolean }> {
    let fence: Fence;
    try {
      fence = this.deps.cluster.fenceForRunningWork();
    } catch {
      return { sessions: 0, leases: 0, complete: true };
    }
    const total = { sessions: 0, leases: 0, complete: false };
    let lastMs = 0;
    for (let batch = 0; batch < SWEEP_MAX_BATCHES && !total.complete; batch++) {
      if (batch > 0) await delay(Math.min(lastMs, SWEEP_PAUSE_MAX_MS)); // calls waiting on Redis and the event loop go first
      const started = this.deps.clock.monotonic();
      const r = await this.write(() => this.deps.store.reclaimExpired(fence, this.deps.clock.now(), SWEEP_BATCH));
      lastMs = this.deps.clock.monotonic() - started;
      total.sessions += r.sessions;
      total.leases += r.leases;
      total.complete = r.sessions < SWEEP_BATCH;
    }
    if (total.sessions > 0) this.deps.logger.info(total.complete ? 'expired sessions freed' : 'expired sessions freed; more left for the next sweep', total);
    return total;
  }

  /**
   * Drops usage events older than `retentionMs` (LICENSE_USAGE_RETENTION); run by the lease
   * holder about once a minute, a no-op elsewhere. Returns the number of events dropped.
   */
  async trimUsage(retentionMs: number): Promise<number> {
    let fence: Fence;
    try {
      fence = this.deps.cluster.fenceForRunningWork();
    } catch {
      return 0;
    }
    return this.write(() => this.deps.store.trimUsage(fence, this.deps.clock.now() - retentionMs));
  }

  /**
   * A session heartbeat while FAILOVER_BLOCKED: running work that is kept alive when
   * LICENSE_BLOCKED_KEEPS_SESSIONS is on (the default), refused like a new grant when off.
   */
  private fenceForSessionHeartbeat(): Fence {
    return this.deps.settings.blockedKeepsSessions ? this.deps.cluster.fenceForRunningWork() : this.deps.cluster.fenceForNewGrant();
  }

  private feature(name: string): Feature {
    const f = this.deps.license.features.get(name);
    if (!f) {
      const known = [...this.deps.license.features.keys()].join(', ');
      throw new LicenseError(ErrorCode.NOT_FOUND, `feature ${name} is not in the license (licensed: ${known})`, { field: 'feature' });
    }
    return f;
  }

  /** Runs a fenced write; a STALE_EPOCH refusal means the lease is gone, so the cluster re-checks at once. */
  private async write<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof LicenseError) {
        if (err.code === ErrorCode.STALE_EPOCH) this.deps.cluster.onStaleEpoch();
        throw err;
      }
      throw new LicenseError(ErrorCode.STORE_UNAVAILABLE, `license store (Redis) call failed: ${errorMessage(err)}; retry shortly`);
    }
  }

  private observe(feature: string, result: CheckoutResult): void {
    // Label only licensed feature names so a client cannot blow up metric cardinality.
    this.deps.onCheckout?.(this.deps.license.features.has(feature) ? feature : '(unknown)', result);
  }
}
