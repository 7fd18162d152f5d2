// Over ~300 lines: opening, renewing, losing and recovering the session, and comparing its seats with the server's, all read and write one state (#session, #pending, seats); split, they would pass it around.
import { randomUUID } from 'node:crypto';
import type { CheckoutRequest } from '../contract/generated/license/v1/CheckoutRequest';
import { backoffDelayMs } from './backoff';
import {
  ClientClosedError,
  ClientErrorCode,
  FeatureNotFoundError,
  LicenseClientError,
  NoActiveServerError,
  ServerBlockedError,
  SessionLostError,
} from './errors';
import type { ResolvedOptions } from './options';
import { monotonic } from './retry-policy';
import type { SeatHandle } from './seat';
import type { InvokeContext, Transport } from './transport';
import type { Emit } from './typed-emitter';
import type { LicenseClientEvents, SeatLostReason } from './types';
import { MAX_UNRESOLVED_CHECKOUTS, type UnresolvedCheckout, UnresolvedCheckouts } from './unresolved-checkouts';

export interface SessionState {
  readonly id: string;
  readonly ttlMs: number;
  readonly heartbeatIntervalMs: number;
  /** Server clock; only reported, never compared with ours. */
  expiresAtMs: number;
  /**
   * Our own, conservative view of the expiry on the monotonic clock: the send time of the
   * last successful renewal plus the TTL. The server renewed at or after that send, so
   * the session lives at least this long, whatever the skew between the two wall clocks.
   */
  localExpiresAt: number;
}

/** What one successful heartbeat told about the server's side of the session. */
interface ServerView {
  /** Every lease the session holds on the server (HeartbeatResponse.lease_ids). */
  readonly leaseIds: ReadonlySet<string>;
  /** Monotonic send time of the heartbeat: a seat known before it must be listed. */
  readonly sentAt: number;
  /** No checkout of the application was in flight from the send to the answer, so a listed lease nobody knows is an orphan. */
  readonly quiet: boolean;
}

/** A seat to check out again: its session was lost, or the server no longer held its lease. */
interface Pending {
  readonly reason: SeatLostReason;
  readonly error: LicenseClientError;
  /** While the seat is still reported held (not yet `seatLost`): the monotonic time after which it must not be. */
  readonly heldUntil?: number;
  /** Request id of the re-checkout in a session: every retry there sends the same one, so it is never granted twice. */
  attempt?: { readonly sessionId: string; readonly requestId: string };
}

type Outcome = 'settled' | 'unsure';

/** Session TTL to assume when a server does not report one (the server's default; docs/ARCHITECTURE.md, Seats). */
const FALLBACK_TTL_MS = 60_000;

/**
 * The session behind a LicenseClient: opens it (single flight), renews it and its seats
 * with a heartbeat loop, and keeps the client's seats true to the server's:
 *
 * - every successful heartbeat lists the leases the server holds for the session; a seat
 *   missing there is checked out again with its own request id (`seatRecovered` when that
 *   gave it a new lease, `seatLost` 'not-held-by-server' when it failed), and a listed
 *   lease nobody knows (a checkout whose answer was lost) is released;
 * - when the session's local expiry passes without a successful heartbeat, a timer
 *   reports every seat lost ('session-expired') at that moment;
 * - a lost session is replaced by a new one, where the seats are checked out again;
 * - checkouts whose answer was lost are remembered and settled (re-sent, then released)
 *   once the cluster answers again.
 *
 * Raises `heartbeat`, `seatLost`, `seatRecovered` and `sessionReopened` on the client.
 */
export class SessionKeeper {
  /** Seats held, by lease id. A seat leaves when it is lost (or its session is), and comes back under its new lease when recovered. */
  readonly seats = new Map<string, SeatHandle>();
  /** Checkouts whose answer was lost, to be settled when the cluster answers again. */
  readonly unresolved: UnresolvedCheckouts;
  readonly #opts: ResolvedOptions;
  readonly #transport: Transport;
  readonly #emit: Emit<LicenseClientEvents>;
  #session: SessionState | undefined;
  #opening: Promise<SessionState> | undefined;
  /** Seats to check out again, in the current session or (for a lost one) the next. */
  readonly #pending = new Map<SeatHandle, Pending>();
  /** Set when a session was lost, until a new one is open (for `sessionReopened`, and close()). */
  #lostSession: { id: string; reason: SeatLostReason } | undefined;
  /** Checkouts of the application: in flight now, and started ever (a heartbeat compares them before and after). */
  readonly #checkouts = { inFlight: 0, started: 0 };
  #reconciling = false;
  #reconcileNext: { session: SessionState; view: ServerView | undefined } | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  /** Fires at the current session's local expiry. */
  #expiryTimer: NodeJS.Timeout | undefined;
  /** Fires when a seat of a lost session, still reported held while it is being recovered, must no longer be. */
  #heldUntilTimer: NodeJS.Timeout | undefined;
  #heartbeatRunning = false;
  #heartbeatFailures = 0;
  #lastHeartbeatError: unknown;
  #lastIntervalMs: number | undefined;
  #lastHeartbeatAtMs: number | undefined;

  constructor(opts: ResolvedOptions, transport: Transport, emit: Emit<LicenseClientEvents>, warn: (message: string) => void) {
    this.#opts = opts;
    this.#transport = transport;
    this.#emit = emit;
    this.unresolved = new UnresolvedCheckouts(MAX_UNRESOLVED_CHECKOUTS, warn);
  }

  /** The open session; undefined before the first open and while a lost one is being replaced. */
  get current(): SessionState | undefined {
    return this.#session;
  }

  /** Wall-clock time (epoch ms) of the last successful heartbeat. */
  get lastHeartbeatAtMs(): number | undefined {
    return this.#lastHeartbeatAtMs;
  }

  /** Every seat whose `held` is true: the seats of the session, and those of a lost session still being recovered. */
  heldSeats(): SeatHandle[] {
    // A seat being checked again in its own session is in both.
    return [...new Set([...this.seats.values(), ...this.#pending.keys()])].filter((s) => s.held);
  }

  /** The open session, opening one first when there is none. */
  ensure(op: string): Promise<SessionState> {
    if (this.#transport.closed) return Promise.reject(new ClientClosedError(op));
    if (this.#session) return Promise.resolve(this.#session);
    // Single flight: connect(), concurrent checkouts and the heartbeat loop share one OpenSession.
    this.#opening ??= this.#openSession(op).finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  /**
   * An application checkout goes out; call the returned function once its outcome is
   * registered (the seat known, or the request remembered as unresolved). While one is in
   * flight, a lease the server lists that the client does not know may simply be its
   * answer on the way, so it is not released.
   */
  checkoutStarted(): () => void {
    this.#checkouts.inFlight++;
    this.#checkouts.started++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#checkouts.inFlight--;
    };
  }

  /**
   * A Checkout of the current session that may have been granted unseen (its answer lost,
   * or aborted after it was sent), and that the application has given up on: remembered,
   * and settled (re-sent with the same request id, and the lease that comes back released)
   * after the next successful heartbeat, or at once with `settleNow` (an abort: the
   * cluster itself may be fine).
   */
  unresolvedCheckout(request: UnresolvedCheckout['request'], settleNow: boolean): void {
    const session = this.#session;
    // A lost session took its leases with it.
    if (!session || session.id !== request.session_id || this.#transport.closed) return;
    this.unresolved.add(request);
    if (settleNow) this.#reconcileSoon(session, undefined);
  }

  /**
   * After a failed Checkout in `session`: does the error mean the session is gone? If so,
   * the session is declared lost (its seats go to recovery or `seatLost`) and the error to
   * report is returned; otherwise undefined and the Checkout's own error stands.
   */
  async lostByCheckout(err: unknown, session: SessionState, op: string, signal?: AbortSignal): Promise<SessionLostError | undefined> {
    // SESSION_NOT_FOUND says so directly; a bare NOT_FOUND could also mean the feature.
    if (!(err instanceof SessionLostError || err instanceof FeatureNotFoundError)) return undefined;
    if (err instanceof FeatureNotFoundError && (await this.#stillAlive(session, op, signal))) return undefined;
    const lost = asSessionLost(err, session);
    this.#sessionLost(session, 'session-not-found', lost);
    return lost;
  }

  /**
   * Stops the heartbeat and closes the session, which frees its seats on the server (and
   * a session given up as expired that the server may still keep). Best effort, tried for
   * up to `callTimeoutMs`: if it fails, the session's TTL frees them. Either way no seat
   * is held afterwards. Runs after transport.close(), which has already ended every other call.
   */
  async close(): Promise<void> {
    clearTimeout(this.#heartbeatTimer);
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#heldUntilTimer);
    this.#heartbeatTimer = this.#expiryTimer = this.#heldUntilTimer = undefined;
    const ids = [this.#session?.id, this.#lostSession?.reason === 'session-expired' ? this.#lostSession.id : undefined];
    this.#session = undefined;
    this.#lostSession = undefined;
    await Promise.all(
      ids.map(async (id) => {
        if (id === undefined) return;
        try {
          const ctx: InvokeContext = { op: 'close', deadline: monotonic() + this.#opts.callTimeoutMs, duringClose: true };
          await this.#transport.invoke('CloseSession', { session_id: id }, ctx);
        } catch {
          // Best effort: the session's TTL frees the seats anyway.
        }
      }),
    );
    for (const seat of [...this.seats.values(), ...this.#pending.keys()]) seat.markReleased();
    this.seats.clear();
    this.#pending.clear();
    this.unresolved.keepOnly(undefined);
  }

  // ---------------------------------------------------------------- session

  async #openSession(op: string): Promise<SessionState> {
    const ctx: InvokeContext = { op, deadline: monotonic() + this.#opts.retryTimeoutMs };
    const res = await this.#transport.invoke(
      'OpenSession',
      { client_id: this.#opts.clientId, user: this.#opts.user, hostname: this.#opts.hostname, pid: this.#opts.pid },
      ctx,
    );
    const ttlMs = res.ttl_ms > 0 ? res.ttl_ms : FALLBACK_TTL_MS;
    const serverInterval = res.heartbeat_interval_ms > 0 ? res.heartbeat_interval_ms : Math.floor(ttlMs / 3);
    const session: SessionState = {
      id: res.session_id,
      ttlMs,
      // An override past half the TTL would lose the seats to a single late heartbeat.
      heartbeatIntervalMs: Math.max(1, Math.min(this.#opts.heartbeatIntervalMs ?? serverInterval, Math.floor(ttlMs / 2))),
      expiresAtMs: res.expires_at_ms,
      localExpiresAt: (ctx.sentAt ?? monotonic()) + ttlMs,
    };
    this.#session = session;
    this.#lastIntervalMs = session.heartbeatIntervalMs;
    this.#armExpiry(session);
    // Entries of an older session went with it.
    this.unresolved.keepOnly(session.id);
    const lost = this.#lostSession;
    this.#lostSession = undefined;
    if (lost) {
      if (lost.reason === 'session-expired') {
        // We only guessed it expired (no heartbeat got through in time); if the server still
        // has it, its seats stay counted until its TTL. They are reported lost, so free them now.
        this.#transport.fireAndForget('CloseSession', { session_id: lost.id });
      }
      this.#emit('sessionReopened', { previousSessionId: lost.id, sessionId: session.id, endpoint: this.#transport.activeEndpoint ?? '' });
    }
    if (this.#pending.size > 0) this.#reconcileSoon(session, undefined);
    this.#scheduleHeartbeat(session.heartbeatIntervalMs);
    return session;
  }

  /**
   * Forgets a lost session; a no-op if it was already replaced. Its seats are checked out
   * again in the next session (`recoverSeats`, the default). A session that expired locally
   * reports every seat lost at once; one the server no longer knows keeps them held while
   * they are recovered, but no longer than it would have lived. Without `recoverSeats`
   * every seat is reported lost at once.
   */
  #sessionLost(session: SessionState, reason: SeatLostReason, error: LicenseClientError): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    this.#lostSession = { id: session.id, reason };
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    // The server freed (or, for a guessed expiry, is told to free) every lease of the session.
    this.unresolved.keepOnly(undefined);
    const quietly = reason === 'session-not-found' && this.#opts.recoverSeats;
    for (const seat of [...this.seats.values()]) {
      if (seat.sessionId !== session.id) continue;
      this.seats.delete(seat.leaseId);
      if (this.#opts.recoverSeats) this.#pending.set(seat, { reason, error, ...(quietly ? { heldUntil: session.localExpiresAt } : {}) });
      if (!quietly) this.#lose(seat, reason, error);
    }
    // Seats already reported lost and waiting to be checked out again: only with recoverSeats.
    if (!this.#opts.recoverSeats) this.#pending.clear();
    this.#armHeldUntil();
    // Reopen at once; a round in flight ends by the expiry and schedules the reopen itself.
    this.#scheduleHeartbeat(0);
  }

  /** Reports a held seat lost (`seatLost`); it is no longer among the seats of the session. */
  #lose(seat: SeatHandle, reason: SeatLostReason, error: LicenseClientError): void {
    if (this.seats.get(seat.leaseId) === seat) this.seats.delete(seat.leaseId);
    if (!seat.held) return;
    seat.markLost();
    this.#emit('seatLost', { seat, reason, error });
  }

  /** Arms the timer that reports the session's seats lost when its local expiry passes without a renewal. */
  #armExpiry(session: SessionState): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = setTimeout(
      () => {
        this.#expiryTimer = undefined;
        if (this.#session !== session || this.#transport.closed) return;
        // Renewed meanwhile (a heartbeat re-arms this timer), or the timer fired a little early.
        if (monotonic() < session.localExpiresAt) return this.#armExpiry(session);
        this.#sessionLost(session, 'session-expired', expiredError(session, this.#lastHeartbeatError));
      },
      Math.max(1, Math.ceil(session.localExpiresAt - monotonic())),
    );
  }

  /** Arms the timer that reports a seat of a lost session lost once it would have expired with it. */
  #armHeldUntil(): void {
    clearTimeout(this.#heldUntilTimer);
    this.#heldUntilTimer = undefined;
    let next = Infinity;
    for (const [seat, p] of this.#pending) if (seat.held && p.heldUntil !== undefined) next = Math.min(next, p.heldUntil);
    if (next === Infinity || this.#transport.closed) return;
    this.#heldUntilTimer = setTimeout(
      () => {
        const now = monotonic();
        for (const [seat, p] of this.#pending) if (p.heldUntil !== undefined && p.heldUntil <= now) this.#lose(seat, p.reason, p.error);
        this.#armHeldUntil();
      },
      Math.max(1, Math.ceil(next - monotonic())),
    );
  }

  // -------------------------------------------------------------- the server's view

  /**
   * Brings the client's seats in line with the server's after a successful heartbeat
   * (`view`) or a new session. Single flight: a request made while one runs waits for it;
   * a newer one replaces it, keeping its heartbeat's view.
   */
  #reconcileSoon(session: SessionState, view: ServerView | undefined): void {
    const queued = this.#reconcileNext;
    this.#reconcileNext = { session, view: view ?? (queued?.session === session ? queued.view : undefined) };
    if (this.#reconciling) return;
    this.#reconciling = true;
    void (async () => {
      try {
        for (let next = this.#reconcileNext; next; next = this.#reconcileNext) {
          this.#reconcileNext = undefined;
          if (this.#session !== next.session || this.#transport.closed) continue;
          await this.#reconcile(next.session, next.view);
        }
      } catch {
        // Every call inside handles its own failures; this is a last guard for the loop.
        this.#reconcileNext = undefined;
      } finally {
        this.#reconciling = false;
      }
    })();
  }

  async #reconcile(session: SessionState, view: ServerView | undefined): Promise<void> {
    if (view) {
      // A seat known before the heartbeat went out that the server did not list: it no longer holds the lease.
      for (const seat of this.seats.values()) {
        if (seat.sessionId !== session.id || seat.releasing || seat.boundAt >= view.sentAt || view.leaseIds.has(seat.leaseId)) continue;
        if (this.#pending.has(seat)) continue;
        this.#pending.set(seat, {
          reason: 'not-held-by-server',
          error: notHeldError(seat),
          attempt: { sessionId: session.id, requestId: seat.requestId },
        });
      }
    }
    let unsure = false;
    for (const [seat, p] of [...this.#pending]) {
      if (this.#session !== session) return;
      if ((await this.#checkOutAgain(seat, p, session)) === 'unsure') unsure = true;
    }
    for (const entry of this.unresolved.ofSession(session.id)) {
      if (this.#session !== session) return;
      if ((await this.#settle(entry, session)) === 'unsure') unsure = true;
    }
    // A listed lease nobody knows is an orphan: a checkout whose answer was lost and that the
    // application gave up on. Released only when no checkout could still be waiting for it:
    // none of the application in flight around the heartbeat, and none of ours left unsure.
    if (!view?.quiet || unsure || this.#session !== session) return;
    const known = new Set<string>();
    for (const seat of this.seats.values()) if (seat.sessionId === session.id) known.add(seat.leaseId);
    for (const leaseId of view.leaseIds) {
      if (known.has(leaseId) || this.#session !== session) continue;
      try {
        await this.#transport.invoke('Release', { session_id: session.id, lease_id: leaseId }, this.#ctx(`release orphaned lease ${leaseId}`, session));
      } catch {
        // The next heartbeat lists it again.
      }
    }
  }

  /**
   * Checks a seat out again in `session`: with its own request id in its own session (so
   * the server returns the lease it still has, or grants it once), with a new one (kept
   * for the retries) in a new session.
   */
  async #checkOutAgain(seat: SeatHandle, p: Pending, session: SessionState): Promise<Outcome> {
    if (seat.released || seat.abandoned) {
      this.#pending.delete(seat);
      return 'settled';
    }
    if (p.attempt?.sessionId !== session.id) p.attempt = { sessionId: session.id, requestId: randomUUID() };
    const request: CheckoutRequest = { session_id: session.id, feature: seat.feature, count: seat.count, request_id: p.attempt.requestId };
    const op = `check out ${seat.feature} again (lease ${seat.leaseId})`;
    const previousLeaseId = seat.leaseId;
    try {
      const res = await this.#transport.invoke('Checkout', request, this.#ctx(op, session));
      // The lease belongs to a session lost meanwhile: the seat waits for the next one.
      if (this.#session !== session) return 'unsure';
      this.#pending.delete(seat);
      if (seat.released || seat.abandoned || seat.releasing) {
        // Given up meanwhile: a release() in flight frees the lease it knows, this frees any other.
        if (res.lease_id !== seat.leaseId) await this.#releaseQuietly(session, res.lease_id, op);
        return 'settled';
      }
      // The server had the lease after all (it was granted after the heartbeat read the list).
      if (seat.held && res.lease_id === previousLeaseId && seat.sessionId === session.id) return 'settled';
      if (this.seats.get(previousLeaseId) === seat) this.seats.delete(previousLeaseId);
      seat.rebind(res.lease_id, session.id, res.expires_at_ms, request.request_id ?? '');
      this.seats.set(seat.leaseId, seat);
      this.#emit('seatRecovered', { seat, previousLeaseId });
      return 'settled';
    } catch (err) {
      if (this.#transport.closed || this.#session !== session) return 'unsure';
      if (await this.lostByCheckout(err, session, op)) return 'unsure';
      const error = err instanceof LicenseClientError ? err : p.error;
      // No server to ask, or one that refuses new grants for now: reported lost, and asked again later.
      const again = err instanceof NoActiveServerError || err instanceof ServerBlockedError;
      if (!again) this.#pending.delete(seat);
      this.#lose(seat, p.reason, error);
      this.#armHeldUntil();
      return again ? 'unsure' : 'settled';
    }
  }

  /** Re-sends an unresolved checkout and releases the lease it returns. */
  async #settle(entry: UnresolvedCheckout, session: SessionState): Promise<Outcome> {
    const op = `settle the unanswered checkout of ${entry.request.feature} (request ${entry.request.request_id})`;
    let leaseId: string;
    try {
      leaseId = (await this.#transport.invoke('Checkout', entry.request, this.#ctx(op, session))).lease_id;
    } catch (err) {
      if (this.#transport.closed || this.#session !== session) return 'unsure';
      if (err instanceof SessionLostError) {
        this.#sessionLost(session, 'session-not-found', asSessionLost(err, session));
        return 'unsure';
      }
      if (err instanceof NoActiveServerError || err instanceof ServerBlockedError) return 'unsure';
      // Refused: nothing was granted under this request id, or it was released since.
      this.unresolved.delete(entry);
      return 'settled';
    }
    // The application holds it after all (it asked again with the same request id).
    if (!this.unresolved.has(entry) || this.seats.has(leaseId)) {
      this.unresolved.delete(entry);
      return 'settled';
    }
    if (!(await this.#releaseQuietly(session, leaseId, op))) return 'unsure';
    this.unresolved.delete(entry);
    return 'settled';
  }

  /** Releases a lease nobody holds; false when no server answered. */
  async #releaseQuietly(session: SessionState, leaseId: string, op: string): Promise<boolean> {
    try {
      await this.#transport.invoke('Release', { session_id: session.id, lease_id: leaseId }, this.#ctx(`${op}: release ${leaseId}`, session));
      return true;
    } catch (err) {
      // A lost session took the lease with it.
      return err instanceof SessionLostError;
    }
  }

  /** Context of a background call in `session`: retried through a failover, never past the session's end. */
  #ctx(op: string, session: SessionState): InvokeContext {
    return {
      op,
      deadline: Math.min(monotonic() + this.#opts.retryTimeoutMs, session.localExpiresAt),
      moot: () => this.#session !== session,
    };
  }

  /**
   * After a NOT_FOUND on Checkout: is it the session (gone) or the feature (unknown)? A
   * heartbeat tells, and renews the session as a side effect. Anything but a clear
   * "session unknown" keeps the feature reading.
   */
  async #stillAlive(session: SessionState, op: string, signal: AbortSignal | undefined): Promise<boolean> {
    if (this.#session !== session) return false;
    try {
      await this.#heartbeat(session, { op, deadline: monotonic() + this.#opts.callTimeoutMs, signal });
      return true;
    } catch (err) {
      return !(err instanceof SessionLostError);
    }
  }

  // -------------------------------------------------------------- heartbeat

  #scheduleHeartbeat(delayMs: number): void {
    // A running round schedules its successor when it ends; two loops must never overlap.
    if (this.#transport.closed || this.#heartbeatRunning) return;
    clearTimeout(this.#heartbeatTimer);
    // Not unref'd on purpose: while seats are held the process must stay up to renew them.
    this.#heartbeatTimer = setTimeout(() => {
      this.#heartbeatTimer = undefined;
      void this.#heartbeatRound();
    }, delayMs);
  }

  async #heartbeatRound(): Promise<void> {
    if (this.#transport.closed) return;
    this.#heartbeatRunning = true;
    let next: number;
    try {
      next = await this.#heartbeatStep();
    } catch {
      // #heartbeatStep handles every failure it knows; this is a last guard for the loop.
      next = this.#opts.backoffMaxMs;
    } finally {
      this.#heartbeatRunning = false;
    }
    this.#scheduleHeartbeat(next);
  }

  /** One heartbeat (or reopen) attempt; returns the delay until the next one. */
  async #heartbeatStep(): Promise<number> {
    const session = this.#session;
    if (!session) return this.#reopenStep();
    if (monotonic() >= session.localExpiresAt) {
      this.#sessionLost(session, 'session-expired', expiredError(session, this.#lastHeartbeatError));
      return 0;
    }
    try {
      // Retry through a failover, but never past the point where the seats are gone anyway.
      await this.#heartbeat(session, { op: 'heartbeat', deadline: Math.min(monotonic() + this.#opts.retryTimeoutMs, session.localExpiresAt) });
      this.#heartbeatFailures = 0;
      this.#lastHeartbeatError = undefined;
      return session.heartbeatIntervalMs;
    } catch (err) {
      this.#lastHeartbeatError = err;
      if (this.#transport.closed || this.#session !== session) return 0;
      if (err instanceof SessionLostError) {
        this.#sessionLost(session, 'session-not-found', err);
        return 0; // reopen at once
      }
      const left = session.localExpiresAt - monotonic();
      if (left <= 0) {
        this.#sessionLost(session, 'session-expired', expiredError(session, err));
        return 0;
      }
      const wait = backoffDelayMs(this.#heartbeatFailures++, this.#opts.backoffInitialMs, this.#opts.backoffMaxMs);
      // A blocked server still renews; anything else (all down, a bug) is worth another try soon.
      return err instanceof ServerBlockedError ? Math.min(session.heartbeatIntervalMs, left) : Math.min(wait, left);
    }
  }

  /** Heartbeat loop step while there is no session: try to reopen one. */
  async #reopenStep(): Promise<number> {
    try {
      const s = await this.ensure('reopen session');
      this.#heartbeatFailures = 0;
      return s.heartbeatIntervalMs;
    } catch (err) {
      if (this.#transport.closed) return 0;
      const interval = this.#lastIntervalMs ?? this.#opts.backoffMaxMs;
      // Blocked lasts until an operator acts: ask again once per interval, not per backoff step.
      if (err instanceof ServerBlockedError) return interval;
      return backoffDelayMs(this.#heartbeatFailures++, this.#opts.backoffInitialMs, Math.max(this.#opts.backoffMaxMs, interval));
    }
  }

  /** Sends one Heartbeat (with retries), applies its result and compares the leases it lists with the seats. */
  async #heartbeat(session: SessionState, ctx: InvokeContext): Promise<void> {
    const inFlightAtSend = this.#checkouts.inFlight;
    const startedAtSend = this.#checkouts.started;
    const res = await this.#transport.invoke('Heartbeat', { session_id: session.id }, ctx);
    if (this.#session !== session) return;
    const sentAt = ctx.sentAt ?? monotonic();
    session.localExpiresAt = Math.max(session.localExpiresAt, sentAt + session.ttlMs);
    session.expiresAtMs = res.expires_at_ms;
    this.#armExpiry(session);
    // One heartbeat renews the session and every seat in it: a lease has no expiry of its own (docs/ARCHITECTURE.md, Seats).
    for (const seat of this.seats.values()) if (seat.sessionId === session.id) seat.renewed(res.expires_at_ms);
    this.#lastHeartbeatAtMs = Date.now();
    this.#emit('heartbeat', { sessionId: session.id, expiresAtMs: res.expires_at_ms, endpoint: this.#transport.activeEndpoint ?? '' });
    const quiet = inFlightAtSend === 0 && this.#checkouts.started === startedAtSend;
    this.#reconcileSoon(session, { leaseIds: new Set(res.lease_ids), sentAt, quiet });
  }
}

function asSessionLost(err: LicenseClientError, session: SessionState): SessionLostError {
  return new SessionLostError(err.code, `session ${session.id} is unknown to the license server (expired or lost): ${err.message}`, {
    grpcCode: err.grpcCode,
    endpoint: err.endpoint,
    cause: err,
  });
}

function expiredError(session: SessionState, cause: unknown): SessionLostError {
  return new SessionLostError(
    ClientErrorCode.SESSION_LOST,
    `session ${session.id}: no heartbeat reached an active license server within its ${session.ttlMs} ms TTL, so its seats are freed` +
      (cause instanceof Error ? ` (last error: ${cause.message})` : ''),
    { cause },
  );
}

function notHeldError(seat: SeatHandle): LicenseClientError {
  return new LicenseClientError(
    ClientErrorCode.SEAT_NOT_HELD,
    `seat ${seat.leaseId} (${seat.count} of ${seat.feature}): the license server no longer holds this lease for session ${seat.sessionId}, and checking it out again did not succeed`,
  );
}
