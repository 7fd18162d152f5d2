import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../clock';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import type { Feature, License } from '../license/license-file';
import type { Logger } from '../log';
import type { Fence } from '../store/fence';
import { featurePolicyArg, parsePolicyRefusal, policyLimitError } from '../policy/policy-script';
import { EMPTY_SEAT_POLICY, type SeatPolicy } from '../policy/seat-policy';
import { type LeaseRow, type QueueExit, type Queued, type SeatStore, type SessionRenewal, SWEEP_BATCH } from '../store/seat-store';
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

/**
 * A checkout's outcome (metrics): queue_timeout and cancelled end a checkout that waited in its
 * queue; policy_limit and policy_denied are refusals by a max/reserve or a deny rule of the seat policy.
 */
export type CheckoutResult =
  'granted' | 'exhausted' | 'blocked' | 'invalid' | 'not_active' | 'error' | 'queue_timeout' | 'cancelled' | 'policy_limit' | 'policy_denied';

/** The longest CheckoutRequest.wait_ms honoured: a longer wait is cut to this (proto/license/v1/seat.proto). */
export const MAX_QUEUE_WAIT_MS = 3_600_000;

/** How a checkout that may wait (wait_ms > 0) talks to its caller while it is queued. */
export interface CheckoutWait {
  /** Called once, when the checkout is queued, with its 1-based place in the feature's queue. */
  readonly onQueued?: (position: number) => void;
  /** Aborted when the caller goes away (its call was cancelled): the checkout leaves the queue. */
  readonly signal?: AbortSignal;
}

export interface CheckoutGrant {
  readonly leaseId: string;
  readonly feature: string;
  readonly count: number;
  readonly expiresAtMs: number;
}

type Settlement = { readonly ok: true; readonly grant: CheckoutGrant } | { readonly ok: false; readonly err: unknown };

/** A queued checkout whose call waits on this node. */
interface Waiter {
  readonly waiterId: string;
  readonly feature: string;
  readonly sessionId: string;
  readonly requestId: string;
  readonly leaseId: string;
  settled: boolean;
  settle(s: Settlement): void;
}

/** serveQueue script calls one serve of a feature makes at most (QUEUE_SERVE_BATCH heads each); the sweep continues. */
const SERVE_MAX_CALLS = 16;

/**
 * Queue exits (grants, drops) that found no waiting call on this node, kept briefly: the call
 * may register a moment after its grant (the enqueue's answer and a concurrent serve's answer
 * race to this process), or wait on the other node (then nobody claims it and it ages out).
 */
const UNCLAIMED_EXIT_TTL_MS = 30_000;
const UNCLAIMED_EXITS_MAX = 10_000;

export interface SeatServiceDeps {
  readonly store: SeatStore;
  readonly license: License;
  readonly cluster: FenceSource;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: SeatSettings;
  /** Metrics hook, called once per checkout with its outcome. */
  readonly onCheckout?: (feature: string, result: CheckoutResult) => void;
  /** The seat policy in force (LICENSE_POLICY_FILE), read at each checkout and queue serve; none: no rules. */
  readonly policy?: () => SeatPolicy;
  /** Metrics hook, called when a per-client or per-session limit refuses a call. */
  readonly onLimit?: (limit: 'sessions_per_client' | 'seats_per_session') => void;
}

export interface FeatureUsage {
  readonly name: string;
  readonly seatsTotal: number;
  readonly seatsInUse: number;
  readonly expiresAtMs: number;
  /** Checkouts waiting in the feature's queue. */
  readonly queueLength: number;
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
  /** Queued checkouts waiting on this node, by waiter id (a retry of the same checkout adds a second call). */
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly waitersBySession = new Map<string, Set<Waiter>>();
  /** Feature -> the serve in progress; `again` asks it for one more round (seats freed meanwhile). */
  private readonly serving = new Map<string, { again: boolean; done: Promise<void> }>();
  /** Waiter id -> a queue exit nobody here was waiting for yet (see UNCLAIMED_EXIT_TTL_MS). */
  private readonly unclaimed = new Map<string, { exit: QueueExit; feature: string; atMs: number }>();

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

  /**
   * Checkout: grants now, or with `wait_ms` > 0 waits in the feature's FIFO queue (kept in Redis)
   * until seats free up for it in turn (resolves), its wait runs out (QUEUE_TIMEOUT), its session
   * ends (SESSION_NOT_FOUND) or `wait.signal` aborts; `wait.onQueued` hears its place first.
   */
  async checkout(
    req: { session_id: string; feature: string; count: number; request_id: string; wait_ms?: number },
    wait: CheckoutWait = {},
  ): Promise<CheckoutGrant> {
    const feature = req.feature;
    let fence: Fence;
    try {
      fence = this.deps.cluster.fenceForNewGrant();
    } catch (err) {
      this.observe(feature, err instanceof LicenseError && err.code === ErrorCode.REDUNDANT_BLOCKED ? 'blocked' : 'not_active');
      throw err;
    }
    let f: Feature;
    let waitMs: number;
    try {
      checkId('session_id', req.session_id);
      waitMs = checkWait(req.wait_ms ?? 0);
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
      const args = {
        sessionId: req.session_id,
        feature,
        count: req.count,
        seatsLicensed: f.seats,
        requestId: req.request_id,
        newLeaseId: newId(),
        nowMs: now,
        policy: featurePolicyArg(this.policy(), feature),
      };
      const g = await this.write(() => (waitMs > 0 ? this.deps.store.checkoutOrQueue(fence, args, now + waitMs) : this.deps.store.checkout(fence, args)));
      if ('waiterId' in g) return await this.waitInQueue(g, { feature, sessionId: req.session_id, requestId: req.request_id, waitMs }, wait);
      this.observe(feature, 'granted');
      return { leaseId: g.leaseId, feature, count: g.count, expiresAtMs: g.expiresAtMs };
    } catch (err) {
      if (err instanceof QueuedCheckoutEnded) throw err.cause; // observed when it ended
      if (err instanceof LicenseError && err.code === ErrorCode.POLICY_LIMIT) {
        const e = policyError(err.message);
        this.observe(feature, resultOf(e));
        throw e;
      }
      if (err instanceof LicenseError && err.code === ErrorCode.LIMIT_EXCEEDED) {
        this.deps.onLimit?.('seats_per_session');
        this.observe(feature, 'invalid');
        throw err;
      }
      if (err instanceof LicenseError && err.code === ErrorCode.SEATS_EXHAUSTED) {
        this.observe(feature, 'exhausted');
        const [used, queued] = err.message.split(' ');
        throw new LicenseError(
          ErrorCode.SEATS_EXHAUSTED,
          queued === undefined
            ? `not enough free seats of ${feature}: ${used} of ${f.seats} in use, ${req.count} requested; retry later or release a seat`
            : `no seat of ${feature} for this checkout: ${used} of ${f.seats} in use and ${queued} checkout(s) queued ahead (seats go to the queue first); retry with wait_ms to queue behind them, or later`,
        );
      }
      this.observe(feature, resultOf(err));
      throw err;
    }
  }

  /**
   * Serves one feature's queue on the lease holder: grants the head(s) that fit, oldest first,
   * and answers the calls waiting here. Run after every call that frees seats and by the sweep
   * (so waiters whose call went to a node that died are granted too). Concurrent requests for
   * one feature coalesce into one more round. Never rejects (a failure is logged; the sweep retries).
   */
  serveQueue(feature: string): Promise<void> {
    const running = this.serving.get(feature);
    if (running) {
      running.again = true;
      return running.done;
    }
    const state = { again: true, done: Promise.resolve() };
    this.serving.set(feature, state);
    state.done = (async () => {
      try {
        while (state.again) {
          state.again = false;
          await this.serveOnce(feature);
        }
      } catch (err) {
        this.deps.logger.warn('serving a checkout queue failed; the sweep retries', { feature, err: errorMessage(err) });
      } finally {
        this.serving.delete(feature);
      }
    })();
    return state.done;
  }

  /** Serves every feature that has a queue (after seats were freed without knowing of which feature, and on each sweep). */
  async serveAllQueues(): Promise<void> {
    const lengths = await this.deps.store.queueLengths();
    await Promise.all([...lengths.keys()].map((f) => this.serveQueue(f)));
  }

  /**
   * The node no longer grants seats (lease lost or handed over, stopping, or FAILOVER_BLOCKED):
   * every call waiting here is answered with the fence's refusal (NOT_ACTIVE naming the leader
   * when known, or REDUNDANT_BLOCKED). Their places stay in Redis, so a retry with the same
   * request id at the node that serves next keeps its place.
   */
  abandonWaiters(): void {
    if (this.waiters.size === 0) return;
    let err: unknown;
    try {
      this.deps.cluster.fenceForNewGrant();
      err = new LicenseError(ErrorCode.NOT_ACTIVE, 'this license server is stopping; retry the checkout with the same request_id at the active server');
    } catch (e) {
      err = e;
    }
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.settle({ ok: false, err });
  }

  /** Calls waiting in a queue on this node (tests, status). */
  get waiting(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  private async serveOnce(feature: string): Promise<void> {
    const f = this.deps.license.features.get(feature);
    if (!f) return;
    let fence: Fence;
    try {
      fence = this.deps.cluster.fenceForNewGrant(); // only the lease holder grants, and not while blocked
    } catch {
      return;
    }
    // An expired feature grants nothing more: its waiters run out their waits.
    if (f.expiresAtMs !== undefined && this.deps.clock.now() >= f.expiresAtMs) return;
    for (let call = 0; call < SERVE_MAX_CALLS; call++) {
      const policy = featurePolicyArg(this.policy(), feature);
      const r = await this.write(() => this.deps.store.serveQueue(fence, feature, f.seats, this.deps.clock.now(), policy));
      for (const exit of r.exits) this.answerExit(feature, exit);
      if (!r.more) return;
    }
  }

  /** Answers the calls waiting here for a waiter that left its queue in serveQueue; keeps it briefly when none does yet. */
  private answerExit(feature: string, exit: QueueExit): void {
    const set = this.waiters.get(exit.waiterId);
    if (!set || set.size === 0) {
      const now = this.deps.clock.monotonic();
      for (const [wid, u] of this.unclaimed) {
        if (now - u.atMs < UNCLAIMED_EXIT_TTL_MS && this.unclaimed.size < UNCLAIMED_EXITS_MAX) break; // oldest first
        this.unclaimed.delete(wid);
      }
      this.unclaimed.set(exit.waiterId, { exit, feature, atMs: now });
      return;
    }
    const s = this.settlementOf(feature, exit);
    for (const w of [...set]) w.settle(s);
  }

  private settlementOf(feature: string, exit: QueueExit): Settlement {
    if (exit.leaseId !== '') return { ok: true, grant: { leaseId: exit.leaseId, feature, count: exit.count, expiresAtMs: exit.expiresAtMs } };
    const sid = exit.waiterId.slice(0, exit.waiterId.indexOf(':'));
    if (exit.reason === 'SESSION_GONE') return { ok: false, err: sessionEndedWhileQueued(sid, feature) };
    if (exit.reason === 'POLICY_LIMIT') return { ok: false, err: policyError(exit.refusal ?? '') };
    return { ok: false, err: queueTimeout(feature, exit.count) };
  }

  /** Parks a queued checkout until it is granted, its wait runs out, its session ends or its caller goes away. */
  private waitInQueue(q: Queued, c: { feature: string; sessionId: string; requestId: string; waitMs: number }, wait: CheckoutWait): Promise<CheckoutGrant> {
    return new Promise<CheckoutGrant>((resolve, reject) => {
      const timer: { wait?: NodeJS.Timeout } = {};
      const onAbort = (): void => void this.leave(w, 'CANCELLED');
      const w: Waiter = {
        waiterId: q.waiterId,
        feature: c.feature,
        sessionId: c.sessionId,
        requestId: c.requestId,
        leaseId: q.leaseId,
        settled: false,
        settle: (s) => {
          if (w.settled) return;
          w.settled = true;
          clearTimeout(timer.wait);
          wait.signal?.removeEventListener('abort', onAbort);
          this.removeWaiter(w);
          this.observe(c.feature, s.ok ? 'granted' : resultOf(s.err));
          if (s.ok) resolve(s.grant);
          else reject(new QueuedCheckoutEnded(s.err));
        },
      };
      this.addWaiter(w);
      wait.onQueued?.(q.position);
      const early = this.unclaimed.get(q.waiterId);
      if (early) {
        this.unclaimed.delete(q.waiterId);
        w.settle(this.settlementOf(early.feature, early.exit));
        return;
      }
      timer.wait = setTimeout(() => void this.leave(w, 'QUEUE_TIMEOUT'), c.waitMs);
      wait.signal?.addEventListener('abort', onAbort, { once: true });
      if (wait.signal?.aborted) onAbort();
      // Seats may have freed between the enqueue and now, with nobody left to serve them.
      void this.serveQueue(c.feature);
    });
  }

  /**
   * A queued call gives up (its wait ran out, or it was cancelled): the waiter leaves the queue,
   * unless another call of the same checkout (a retry) still waits here. Granted meanwhile →
   * the call gets the lease after all. Never rejects.
   */
  private async leave(w: Waiter, reason: 'QUEUE_TIMEOUT' | 'CANCELLED'): Promise<void> {
    if (w.settled) return;
    const own = reason === 'CANCELLED' ? cancelledWhileQueued(w.feature) : queueTimeout(w.feature);
    const same = this.waiters.get(w.waiterId);
    if (same && [...same].some((o) => o !== w && !o.settled)) {
      w.settle({ ok: false, err: own });
      return;
    }
    let s: Settlement;
    try {
      const fence = this.deps.cluster.fenceForRunningWork();
      const r = await this.write(() => this.deps.store.leaveQueue(fence, w, this.deps.clock.now(), reason));
      if (r.kind === 'granted') s = { ok: true, grant: { leaseId: r.leaseId, feature: w.feature, count: r.count, expiresAtMs: r.expiresAtMs } };
      else if (r.kind === 'gone' && r.sessionGone) s = { ok: false, err: sessionEndedWhileQueued(w.sessionId, w.feature) };
      else s = { ok: false, err: own };
    } catch (err) {
      s = { ok: false, err };
    }
    for (const o of [...(this.waiters.get(w.waiterId) ?? [w])]) o.settle(s);
    w.settle(s);
  }

  private addWaiter(w: Waiter): void {
    for (const [map, key] of [
      [this.waiters, w.waiterId],
      [this.waitersBySession, w.sessionId],
    ] as const) {
      let set = map.get(key);
      if (!set) map.set(key, (set = new Set()));
      set.add(w);
    }
  }

  private removeWaiter(w: Waiter): void {
    for (const [map, key] of [
      [this.waiters, w.waiterId],
      [this.waitersBySession, w.sessionId],
    ] as const) {
      const set = map.get(key);
      set?.delete(w);
      if (set?.size === 0) map.delete(key);
    }
  }

  /** Seats were freed (of features this node cannot name): serve every queue, in the background. */
  private seatsFreed(): void {
    void this.serveAllQueues().catch((err: unknown) => this.deps.logger.warn('serving checkout queues failed; the sweep retries', { err: errorMessage(err) }));
  }

  async release(sessionId: string, leaseId: string): Promise<boolean> {
    const fence = this.deps.cluster.fenceForRunningWork();
    checkId('session_id', sessionId);
    checkId('lease_id', leaseId);
    const r = await this.write(() => this.deps.store.releaseLease(fence, sessionId, leaseId, this.deps.clock.now()));
    // Only a feature with a queue needs serving; the script says so, saving a round trip per release.
    if (r.queued) void this.serveQueue(r.feature);
    return r.released;
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
      void this.serveQueue(freed.feature);
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
    const freed = await this.write(() => this.deps.store.closeSession(fence, sessionId, this.deps.clock.now()));
    // Its queued checkouts left their queues with it: answer the calls still waiting here.
    for (const w of [...(this.waitersBySession.get(sessionId) ?? [])]) w.settle({ ok: false, err: sessionEndedWhileQueued(sessionId, w.feature) });
    if (freed > 0) this.seatsFreed();
    return freed;
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
    const [used, queued] = await Promise.all([this.deps.store.usage(), this.deps.store.queueLengths()]);
    return [...this.deps.license.features.values()].map((f) => ({
      name: f.name,
      seatsTotal: f.seats,
      seatsInUse: used.get(f.name) ?? 0,
      expiresAtMs: f.expiresAtMs ?? 0,
      queueLength: queued.get(f.name) ?? 0,
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
    // Every queue, each tick: grants seats freed above, drops waiters past their deadline, and
    // serves waiters whose call went to a node that died.
    await this.serveAllQueues();
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

  private policy(): SeatPolicy {
    return this.deps.policy?.() ?? EMPTY_SEAT_POLICY;
  }

  private observe(feature: string, result: CheckoutResult): void {
    // Label only licensed feature names so a client cannot blow up metric cardinality.
    this.deps.onCheckout?.(this.deps.license.features.has(feature) ? feature : '(unknown)', result);
  }
}

/** Validates CheckoutRequest.wait_ms: 0 (no wait) or more, cut to MAX_QUEUE_WAIT_MS. */
function checkWait(waitMs: number): number {
  if (!Number.isSafeInteger(waitMs) || waitMs < 0) {
    throw new LicenseError(ErrorCode.INVALID_ARGUMENT, `wait_ms: must be 0 (do not wait) or a number of milliseconds to wait in the queue, got ${waitMs}`, {
      field: 'wait_ms',
    });
  }
  return Math.min(waitMs, MAX_QUEUE_WAIT_MS);
}

/** The metrics result of a checkout that failed with `err`. */
function resultOf(err: unknown): CheckoutResult {
  if (!(err instanceof LicenseError)) return 'error';
  switch (err.code) {
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.SESSION_NOT_FOUND:
    case ErrorCode.FAILED_PRECONDITION:
      return 'invalid';
    case ErrorCode.STALE_EPOCH:
    case ErrorCode.NOT_ACTIVE:
      return 'not_active';
    case ErrorCode.QUEUE_TIMEOUT:
      return 'queue_timeout';
    case ErrorCode.CANCELLED:
      return 'cancelled';
    case ErrorCode.POLICY_LIMIT:
      return err.details.policyDenied === true ? 'policy_denied' : 'policy_limit';
    default:
      return 'error';
  }
}

/** The answer to a script's POLICY_LIMIT refusal (`<kind>|<rule>|<message>`). */
function policyError(scriptText: string): LicenseError {
  const r = parsePolicyRefusal(scriptText);
  // The scripts always send the three parts; a bare text still says what refused.
  return r ? policyLimitError(r) : new LicenseError(ErrorCode.POLICY_LIMIT, scriptText);
}

function queueTimeout(feature: string, count?: number): LicenseError {
  const what = count === undefined ? `seat(s) of ${feature}` : `${count} seat(s) of ${feature}`;
  return new LicenseError(
    ErrorCode.QUEUE_TIMEOUT,
    `checkout of ${what} waited its whole wait_ms in the queue without seats freeing up for it, and has left the queue; retry later or with a longer wait_ms`,
  );
}

function cancelledWhileQueued(feature: string): LicenseError {
  return new LicenseError(ErrorCode.CANCELLED, `checkout of ${feature} was cancelled by its caller while queued; it has left the queue`);
}

function sessionEndedWhileQueued(sessionId: string, feature: string): LicenseError {
  return new LicenseError(
    ErrorCode.SESSION_NOT_FOUND,
    `session ${sessionId} expired or was closed while its checkout of ${feature} waited in the queue; open a new session`,
  );
}

/** Carries the error a queued checkout ended with past checkout()'s own error handling (already observed). */
class QueuedCheckoutEnded extends Error {
  constructor(override readonly cause: unknown) {
    super('queued checkout ended');
  }
}
