// Over ~300 lines: opening, renewing, losing and recovering the session all read and write one state (#session, #recovering, seats); split, they would pass it around.
import { randomUUID } from 'node:crypto';
import { backoffDelayMs } from './backoff';
import { ClientClosedError, ClientErrorCode, FeatureNotFoundError, LicenseClientError, ServerBlockedError, SessionLostError } from './errors';
import type { ResolvedOptions } from './options';
import { monotonic } from './retry-policy';
import type { SeatHandle } from './seat';
import type { InvokeContext, Transport } from './transport';
import type { Emit } from './typed-emitter';
import type { LicenseClientEvents, SeatLostReason } from './types';

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

/** Session TTL to assume when a server does not report one (the server's default; docs/ARCHITECTURE.md, Seats). */
const FALLBACK_TTL_MS = 60_000;

/**
 * The session behind a LicenseClient: opens it (single flight), renews it and its seats
 * with a heartbeat loop, notices when it is lost (the server forgot it, or no heartbeat
 * got through within its TTL), opens a new one and checks the lost seats out again.
 * Raises `heartbeat`, `seatLost`, `seatRecovered` and `sessionReopened` on the client.
 */
export class SessionKeeper {
  /** Seats held, by lease id; a seat of a lost session leaves at once and comes back under its new lease when recovered. */
  readonly seats = new Map<string, SeatHandle>();
  readonly #opts: ResolvedOptions;
  readonly #transport: Transport;
  readonly #emit: Emit<LicenseClientEvents>;
  #session: SessionState | undefined;
  #opening: Promise<SessionState> | undefined;
  /** Seats of a lost session waiting to be checked out again in the next one. */
  readonly #recovering = new Map<SeatHandle, { reason: SeatLostReason; error: LicenseClientError }>();
  /** Set when a session was lost, until a new one is open (for `sessionReopened`). */
  #lostSession: { id: string; reason: SeatLostReason } | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #heartbeatRunning = false;
  #heartbeatFailures = 0;
  #lastIntervalMs: number | undefined;
  #lastHeartbeatAtMs: number | undefined;

  constructor(opts: ResolvedOptions, transport: Transport, emit: Emit<LicenseClientEvents>) {
    this.#opts = opts;
    this.#transport = transport;
    this.#emit = emit;
  }

  /** The open session; undefined before the first open and while a lost one is being replaced. */
  get current(): SessionState | undefined {
    return this.#session;
  }

  /** Wall-clock time (epoch ms) of the last successful heartbeat. */
  get lastHeartbeatAtMs(): number | undefined {
    return this.#lastHeartbeatAtMs;
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
   * Stops the heartbeat and closes the session, which frees its seats on the server. Best
   * effort, tried for up to `callTimeoutMs`: if it fails, the session's TTL frees them.
   * Runs after transport.close(), which has already ended every other call.
   */
  async close(): Promise<void> {
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    const session = this.#session;
    this.#session = undefined;
    if (session) {
      try {
        const ctx: InvokeContext = { op: 'close', deadline: monotonic() + this.#opts.callTimeoutMs, duringClose: true };
        await this.#transport.invoke('CloseSession', { session_id: session.id }, ctx);
      } catch {
        // Best effort: the session's TTL frees the seats anyway.
      }
    }
    for (const seat of this.seats.values()) seat.markReleased();
    this.seats.clear();
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
    const lost = this.#lostSession;
    this.#lostSession = undefined;
    if (lost) {
      if (lost.reason === 'session-expired') {
        // We only guessed it expired (no heartbeat got through in time); if the server still
        // has it, its seats stay counted until its TTL. They are reported lost, so free them now.
        this.#transport.fireAndForget('CloseSession', { session_id: lost.id });
      }
      this.#emit('sessionReopened', { previousSessionId: lost.id, sessionId: session.id, endpoint: this.#transport.activeEndpoint ?? '' });
      if (this.#recovering.size > 0) void this.#recoverSeats(session);
    }
    this.#scheduleHeartbeat(session.heartbeatIntervalMs);
    return session;
  }

  /**
   * Forgets a lost session; a no-op if it was already replaced. Its seats are checked out
   * again in the next session (`recoverSeats`, the default) or reported lost at once.
   */
  #sessionLost(session: SessionState, reason: SeatLostReason, error: LicenseClientError): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    this.#lostSession = { id: session.id, reason };
    for (const seat of [...this.seats.values()]) {
      if (seat.sessionId !== session.id) continue;
      this.seats.delete(seat.leaseId);
      if (this.#opts.recoverSeats) {
        this.#recovering.set(seat, { reason, error });
      } else {
        seat.markLost();
        this.#emit('seatLost', { seat, reason, error });
      }
    }
  }

  /** Re-checks-out the seats of a lost session in the new one; what cannot be had again is lost. */
  async #recoverSeats(session: SessionState): Promise<void> {
    const pending = [...this.#recovering.entries()];
    this.#recovering.clear();
    for (const [seat, lost] of pending) {
      if (!seat.held) continue; // released meanwhile
      const previousLeaseId = seat.leaseId;
      try {
        if (this.#session !== session) throw lost.error;
        const res = await this.#transport.invoke(
          'Checkout',
          { session_id: session.id, feature: seat.feature, count: seat.count, request_id: randomUUID() },
          { op: `recover ${seat.feature}`, deadline: monotonic() + this.#opts.retryTimeoutMs },
        );
        seat.rebind(res.lease_id, session.id, res.expires_at_ms);
        this.seats.set(seat.leaseId, seat);
        this.#emit('seatRecovered', { seat, previousLeaseId });
      } catch (err) {
        seat.markLost();
        this.#emit('seatLost', { seat, reason: lost.reason, error: err instanceof LicenseClientError ? err : lost.error });
      }
    }
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
      this.#sessionLost(session, 'session-expired', expiredError(session, undefined));
      return 0;
    }
    try {
      // Retry through a failover, but never past the point where the seats are gone anyway.
      await this.#heartbeat(session, { op: 'heartbeat', deadline: Math.min(monotonic() + this.#opts.retryTimeoutMs, session.localExpiresAt) });
      this.#heartbeatFailures = 0;
      return session.heartbeatIntervalMs;
    } catch (err) {
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

  /** Sends one Heartbeat (with retries) and applies its result. */
  async #heartbeat(session: SessionState, ctx: InvokeContext): Promise<void> {
    const res = await this.#transport.invoke('Heartbeat', { session_id: session.id }, ctx);
    if (this.#session !== session) return;
    session.localExpiresAt = Math.max(session.localExpiresAt, (ctx.sentAt ?? monotonic()) + session.ttlMs);
    session.expiresAtMs = res.expires_at_ms;
    // One heartbeat renews the session and every seat in it: a lease has no expiry of its own (docs/ARCHITECTURE.md, Seats).
    for (const seat of this.seats.values()) if (seat.sessionId === session.id) seat.renewed(res.expires_at_ms);
    this.#lastHeartbeatAtMs = Date.now();
    this.#emit('heartbeat', { sessionId: session.id, expiresAtMs: res.expires_at_ms, endpoint: this.#transport.activeEndpoint ?? '' });
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
