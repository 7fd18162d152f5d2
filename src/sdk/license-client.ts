import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { CheckoutRequest } from '../contract/generated/license/v1/CheckoutRequest';
import type { CheckoutResponse__Output } from '../contract/generated/license/v1/CheckoutResponse';
import type { CloseSessionRequest } from '../contract/generated/license/v1/CloseSessionRequest';
import type { CloseSessionResponse__Output } from '../contract/generated/license/v1/CloseSessionResponse';
import type { HeartbeatRequest } from '../contract/generated/license/v1/HeartbeatRequest';
import type { HeartbeatResponse__Output } from '../contract/generated/license/v1/HeartbeatResponse';
import type { ListFeaturesRequest } from '../contract/generated/license/v1/ListFeaturesRequest';
import type { ListFeaturesResponse__Output } from '../contract/generated/license/v1/ListFeaturesResponse';
import type { OpenSessionRequest } from '../contract/generated/license/v1/OpenSessionRequest';
import type { OpenSessionResponse__Output } from '../contract/generated/license/v1/OpenSessionResponse';
import type { ReleaseRequest } from '../contract/generated/license/v1/ReleaseRequest';
import type { ReleaseResponse__Output } from '../contract/generated/license/v1/ReleaseResponse';
import type { SeatServiceClient } from '../contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../contract/proto';
import { backoffDelayMs } from './backoff';
import {
  ClientClosedError,
  ClientErrorCode,
  FeatureNotFoundError,
  InvalidRequestError,
  isRetryable,
  isServiceError,
  leaderHint,
  licenseErrorCode,
  LicenseClientError,
  NoActiveServerError,
  ServerBlockedError,
  SessionLostError,
  toClientError,
} from './errors';
import { CHANNEL_OPTIONS, isHostPort, type LicenseClientOptions, type ResolvedOptions, resolveOptions } from './options';
import { type Seat, SeatHandle } from './seat';
import { TypedEmitter } from './typed-emitter';

/** A licensed feature and its current use, as ListFeatures reports it. */
export interface FeatureInfo {
  readonly name: string;
  readonly seatsTotal: number;
  readonly seatsInUse: number;
  /** When the feature's license expires (server epoch ms); null when it never does. */
  readonly expiresAtMs: number | null;
}

/** Options of {@link LicenseClient.checkout}. */
export interface CheckoutOptions {
  /** Seats to lease at once. Default 1. */
  count?: number;
  /**
   * Idempotency key, scoped to the session: a checkout repeated with the same id returns
   * the same lease. Default: a fresh UUID per checkout() call, reused by its retries.
   */
  requestId?: string;
}

/** Why a seat was lost. */
export type SeatLostReason =
  /** The cluster no longer knows the session (it expired server-side, or the store lost it). */
  | 'session-not-found'
  /** No heartbeat succeeded before the session's expiry, so the server has freed the seats. */
  | 'session-expired';

/** Events of {@link LicenseClient}; it never emits 'error'. */
export interface LicenseClientEvents {
  /** Another endpoint now answers for the cluster (failover or handback). Session and seats carry over. */
  failover: { from: string; to: string };
  /** A held seat is gone with its session; the application must stop using the feature or check out again. */
  seatLost: { seat: Seat; reason: SeatLostReason; error: LicenseClientError };
  /** A server refused a new session or seat because its failover budget is spent (emitted on every refusal). */
  blocked: { endpoint: string; error: ServerBlockedError };
  /** A new session replaced one that was lost; its seats are being re-checked-out (`seatRecovered` / `seatLost`). */
  sessionReopened: { previousSessionId: string; sessionId: string; endpoint: string };
  /**
   * A seat whose session was lost (e.g. Redis lost its data) was checked out again in
   * the new session; the same Seat object now carries the new lease id.
   */
  seatRecovered: { seat: Seat; previousLeaseId: string };
  /** A heartbeat renewed the session and all its seats. */
  heartbeat: { sessionId: string; expiresAtMs: number; endpoint: string };
}

/** Request and response of each SeatService method, so one generic call path stays typed. */
interface SeatRpcs {
  OpenSession: { req: OpenSessionRequest; res: OpenSessionResponse__Output };
  Heartbeat: { req: HeartbeatRequest; res: HeartbeatResponse__Output };
  Checkout: { req: CheckoutRequest; res: CheckoutResponse__Output };
  Release: { req: ReleaseRequest; res: ReleaseResponse__Output };
  CloseSession: { req: CloseSessionRequest; res: CloseSessionResponse__Output };
  ListFeatures: { req: ListFeaturesRequest; res: ListFeaturesResponse__Output };
}
type SeatMethod = keyof SeatRpcs;
type UnaryFn<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

interface InvokeContext {
  /** Names the operation in errors. */
  op: string;
  /** Monotonic time after which the operation stops retrying. */
  deadline: number;
  /** close() runs CloseSession after the client is marked closed. */
  duringClose?: boolean;
  /** Stop retrying when this turns true (say, the seat being released was lost meanwhile). */
  moot?: () => boolean;
  /** Set by #invoke: monotonic send time of the attempt that succeeded (the server acted after it). */
  sentAt?: number;
}

interface SessionState {
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

/** Session TTL to assume when a server does not report one (DESIGN §6 default). */
const FALLBACK_TTL_MS = 60_000;

const monotonic = (): number => performance.now();

/**
 * Client of a redundant license cluster: one session, seats leased in it, a background
 * heartbeat that renews them, and failover between the cluster's endpoints.
 *
 * ```ts
 * const client = new LicenseClient({ endpoints: ['lic-a:7400', 'lic-b:7400'], clientId: 'cad-app' });
 * client.on('seatLost', ({ seat, reason }) => stopUsing(seat.feature, reason));
 * await client.connect();
 * const seat = await client.checkout('cad-pro');
 * // ... work ...
 * await seat.release();
 * await client.close();
 * ```
 *
 * An open client keeps the Node process alive (its heartbeat timer is deliberately not
 * unref'd: held seats must keep being renewed); call {@link close} to let it exit.
 */
export class LicenseClient extends TypedEmitter<LicenseClientEvents> {
  readonly #opts: ResolvedOptions;
  /** Configured endpoints plus any `license-leader` address learned later. */
  readonly #endpoints: string[];
  /** Index of the endpoint the next call goes to. */
  #current = 0;
  /** Endpoint that last answered as the active node. */
  #active: string | undefined;
  readonly #channels = new Map<string, SeatServiceClient>();
  readonly #inflight = new Set<grpc.ClientUnaryCall>();
  readonly #sleeps = new Set<() => void>();
  readonly #seats = new Map<string, SeatHandle>();
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
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Validates the options (a bad one throws naming it); opens no connection yet. */
  constructor(options: LicenseClientOptions) {
    super();
    this.#opts = resolveOptions(options);
    this.#endpoints = [...this.#opts.endpoints];
  }

  /** Id of the current session; undefined before connect() and while a lost session is being reopened. */
  get sessionId(): string | undefined {
    return this.#session?.id;
  }

  /** Endpoint (`host:port`) that last answered as the active server. */
  get activeEndpoint(): string | undefined {
    return this.#active;
  }

  /** Seats held now (a snapshot). */
  get heldSeats(): readonly Seat[] {
    return [...this.#seats.values()];
  }

  /** Endpoints in use: the configured ones plus any active-node address learned from a standby. */
  get endpoints(): readonly string[] {
    return [...this.#endpoints];
  }

  /** Wall-clock time (epoch ms) of the last successful heartbeat. */
  get lastHeartbeatAtMs(): number | undefined {
    return this.#lastHeartbeatAtMs;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Opens the session on the active node and starts the heartbeat. Follows `license-leader`
   * from a standby and rotates through the endpoints (with jittered backoff) for up to
   * `retryTimeoutMs`. Calling it again while connected does nothing.
   *
   * @throws NoActiveServerError no endpoint answered as the active node in time
   * @throws ServerBlockedError the active node is a redundant whose failover budget is spent
   */
  async connect(): Promise<void> {
    await this.#ensureSession('connect');
  }

  /**
   * Leases `count` seats of `feature`. Retries through a failover with the same request id,
   * so a checkout the server granted but could not answer is not granted twice. If the
   * session turns out to be lost, reopens it once (reporting its seats via `seatLost`)
   * and tries again. Connects first when needed.
   *
   * @throws SeatsExhaustedError, FeatureNotFoundError, FeatureExpiredError, InvalidRequestError,
   *   ServerBlockedError, SessionLostError, NoActiveServerError, ClientClosedError
   */
  async checkout(feature: string, options: CheckoutOptions = {}): Promise<Seat> {
    const op = `checkout ${feature}`;
    this.#assertOpen(op);
    const count = options.count ?? 1;
    // Checked here because protobuf would silently truncate 1.5 or wrap 2^31 into something else.
    if (!Number.isInteger(count) || count < -0x80000000 || count > 0x7fffffff) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `count: must be an integer seat count, got ${String(count)}`);
    }
    let reopened = false;
    for (;;) {
      const session = await this.#ensureSession(op);
      // One id per session: every retry of this request (inside #invoke) sends it unchanged.
      const request: CheckoutRequest = { session_id: session.id, feature, count, request_id: options.requestId ?? randomUUID() };
      let res: CheckoutResponse__Output;
      try {
        res = await this.#invoke('Checkout', request, { op, deadline: monotonic() + this.#opts.retryTimeoutMs });
      } catch (err) {
        // SESSION_NOT_FOUND says so directly; a bare NOT_FOUND could also mean the feature.
        if (err instanceof SessionLostError || (err instanceof FeatureNotFoundError && !(await this.#sessionStillAlive(session, op)))) {
          this.#sessionLost(session, 'session-not-found', this.#asSessionLost(err, session));
          if (reopened) throw this.#asSessionLost(err, session);
          reopened = true;
          continue;
        }
        throw err;
      }
      if (this.#session !== session) {
        // The session was declared lost while this call was in flight, so the lease
        // belongs to a dead session: take a seat in the new one instead.
        const lost = new SessionLostError(ClientErrorCode.SESSION_LOST, `${op}: session ${session.id} was lost during the checkout`);
        if (reopened) throw lost;
        reopened = true;
        continue;
      }
      const known = this.#seats.get(res.lease_id);
      if (known) return known; // same requestId used twice: the server returned the same lease
      const seat = new SeatHandle(res.lease_id, res.feature || feature, res.count || count, session.id, res.expires_at_ms, (s) =>
        this.#release(s),
      );
      this.#seats.set(seat.leaseId, seat);
      return seat;
    }
  }

  /**
   * Features of the license with seats in use.
   *
   * @throws NoActiveServerError, ClientClosedError
   */
  async features(): Promise<FeatureInfo[]> {
    const op = 'features';
    this.#assertOpen(op);
    const res = await this.#invoke('ListFeatures', {}, { op, deadline: monotonic() + this.#opts.retryTimeoutMs });
    return res.features.map((f) => ({
      name: f.name,
      seatsTotal: f.seats_total,
      seatsInUse: f.seats_in_use,
      expiresAtMs: f.expires_at_ms > 0 ? f.expires_at_ms : null,
    }));
  }

  /**
   * Closes the session (which frees its seats on the server), stops the heartbeat and
   * closes every channel. CloseSession is best effort, tried for up to `callTimeoutMs`:
   * if it fails, the seats still come free when the session's TTL runs out. Idempotent;
   * every later call on the client throws ClientClosedError.
   */
  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  // ---------------------------------------------------------------- session

  #assertOpen(op: string): void {
    if (this.#closed) throw new ClientClosedError(op);
  }

  #ensureSession(op: string): Promise<SessionState> {
    if (this.#closed) return Promise.reject(new ClientClosedError(op));
    if (this.#session) return Promise.resolve(this.#session);
    // Single flight: connect(), concurrent checkouts and the heartbeat loop share one OpenSession.
    this.#opening ??= this.#openSession(op).finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #openSession(op: string): Promise<SessionState> {
    const ctx: InvokeContext = { op, deadline: monotonic() + this.#opts.retryTimeoutMs };
    const res = await this.#invoke(
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
        this.#fireAndForget('CloseSession', { session_id: lost.id });
      }
      this.emit('sessionReopened', { previousSessionId: lost.id, sessionId: session.id, endpoint: this.#active ?? '' });
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
    for (const seat of [...this.#seats.values()]) {
      if (seat.sessionId !== session.id) continue;
      this.#seats.delete(seat.leaseId);
      if (this.#opts.recoverSeats) {
        this.#recovering.set(seat, { reason, error });
      } else {
        seat.markLost();
        this.emit('seatLost', { seat, reason, error });
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
        const res = await this.#invoke(
          'Checkout',
          { session_id: session.id, feature: seat.feature, count: seat.count, request_id: randomUUID() },
          { op: `recover ${seat.feature}`, deadline: monotonic() + this.#opts.retryTimeoutMs },
        );
        seat.rebind(res.lease_id, session.id, res.expires_at_ms);
        this.#seats.set(seat.leaseId, seat);
        this.emit('seatRecovered', { seat, previousLeaseId });
      } catch (err) {
        seat.markLost();
        this.emit('seatLost', { seat, reason: lost.reason, error: err instanceof LicenseClientError ? err : lost.error });
      }
    }
  }

  /**
   * After a NOT_FOUND on Checkout: is it the session (gone) or the feature (unknown)? A
   * heartbeat tells, and renews the session as a side effect. Anything but a clear
   * "session unknown" keeps the feature reading.
   */
  async #sessionStillAlive(session: SessionState, op: string): Promise<boolean> {
    if (this.#session !== session) return false;
    try {
      await this.#heartbeat(session, { op, deadline: monotonic() + this.#opts.callTimeoutMs });
      return true;
    } catch (err) {
      return !(err instanceof SessionLostError);
    }
  }

  #asSessionLost(err: LicenseClientError, session: SessionState): SessionLostError {
    return new SessionLostError(err.code, `session ${session.id} is unknown to the license server (expired or lost): ${err.message}`, {
      grpcCode: err.grpcCode,
      endpoint: err.endpoint,
      cause: err,
    });
  }

  // -------------------------------------------------------------- heartbeat

  #scheduleHeartbeat(delayMs: number): void {
    // A running round schedules its successor when it ends; two loops must never overlap.
    if (this.#closed || this.#heartbeatRunning) return;
    clearTimeout(this.#heartbeatTimer);
    // Not unref'd on purpose: while seats are held the process must stay up to renew them.
    this.#heartbeatTimer = setTimeout(() => {
      this.#heartbeatTimer = undefined;
      void this.#heartbeatRound();
    }, delayMs);
  }

  async #heartbeatRound(): Promise<void> {
    if (this.#closed) return;
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
      this.#sessionLost(session, 'session-expired', this.#expiredError(session, undefined));
      return 0;
    }
    try {
      // Retry through a failover, but never past the point where the seats are gone anyway.
      await this.#heartbeat(session, { op: 'heartbeat', deadline: Math.min(monotonic() + this.#opts.retryTimeoutMs, session.localExpiresAt) });
      this.#heartbeatFailures = 0;
      return session.heartbeatIntervalMs;
    } catch (err) {
      if (this.#closed || this.#session !== session) return 0;
      if (err instanceof SessionLostError) {
        this.#sessionLost(session, 'session-not-found', err);
        return 0; // reopen at once
      }
      const left = session.localExpiresAt - monotonic();
      if (left <= 0) {
        this.#sessionLost(session, 'session-expired', this.#expiredError(session, err));
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
      const s = await this.#ensureSession('reopen session');
      this.#heartbeatFailures = 0;
      return s.heartbeatIntervalMs;
    } catch (err) {
      if (this.#closed) return 0;
      const interval = this.#lastIntervalMs ?? this.#opts.backoffMaxMs;
      // Blocked lasts until an operator acts: ask again once per interval, not per backoff step.
      if (err instanceof ServerBlockedError) return interval;
      return backoffDelayMs(this.#heartbeatFailures++, this.#opts.backoffInitialMs, Math.max(this.#opts.backoffMaxMs, interval));
    }
  }

  /** Sends one Heartbeat (with retries) and applies its result. */
  async #heartbeat(session: SessionState, ctx: InvokeContext): Promise<void> {
    const res = await this.#invoke('Heartbeat', { session_id: session.id }, ctx);
    if (this.#session !== session) return;
    session.localExpiresAt = Math.max(session.localExpiresAt, (ctx.sentAt ?? monotonic()) + session.ttlMs);
    session.expiresAtMs = res.expires_at_ms;
    // One heartbeat renews the session and every seat in it (DESIGN §6).
    for (const seat of this.#seats.values()) if (seat.sessionId === session.id) seat.renewed(res.expires_at_ms);
    this.#lastHeartbeatAtMs = Date.now();
    this.emit('heartbeat', { sessionId: session.id, expiresAtMs: res.expires_at_ms, endpoint: this.#active ?? '' });
  }

  #expiredError(session: SessionState, cause: unknown): SessionLostError {
    return new SessionLostError(
      ClientErrorCode.SESSION_LOST,
      `session ${session.id}: no heartbeat reached an active license server within its ${session.ttlMs} ms TTL, so its seats are freed` +
        (cause instanceof Error ? ` (last error: ${cause.message})` : ''),
      { cause },
    );
  }

  // ---------------------------------------------------------------- release

  async #release(seat: SeatHandle): Promise<void> {
    const op = `release ${seat.feature} lease ${seat.leaseId}`;
    try {
      // released=false only says the lease was already gone; either way it is not held.
      await this.#invoke(
        'Release',
        { session_id: seat.sessionId, lease_id: seat.leaseId },
        // A seat lost with its session (say, the whole cluster was down past the TTL) has nothing left to give back.
        { op, deadline: monotonic() + this.#opts.retryTimeoutMs, moot: () => seat.lost },
      );
    } catch (err) {
      // close() gives every seat back with the session; a lost seat is gone already.
      if (this.#closed || seat.lost) return;
      // Unknown session: the lease went with it. The heartbeat loop reports the session.
      if (!(err instanceof SessionLostError)) throw err;
    }
    seat.markReleased();
    this.#seats.delete(seat.leaseId);
  }

  // ------------------------------------------------------------------ close

  async #doClose(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    for (const wake of [...this.#sleeps]) wake();
    for (const call of [...this.#inflight]) call.cancel();
    const session = this.#session;
    this.#session = undefined;
    if (session) {
      try {
        await this.#invoke('CloseSession', { session_id: session.id }, { op: 'close', deadline: monotonic() + this.#opts.callTimeoutMs, duringClose: true });
      } catch {
        // Best effort: the session's TTL frees the seats anyway.
      }
    }
    for (const seat of this.#seats.values()) seat.markReleased();
    this.#seats.clear();
    for (const ch of this.#channels.values()) ch.close();
    this.#channels.clear();
  }

  // ---------------------------------------------------------------- transport

  /**
   * One SeatService call with failover: follows `license-leader` from a standby, else
   * rotates to the next endpoint with jittered backoff, on UNAVAILABLE and
   * DEADLINE_EXCEEDED, until `ctx.deadline`. The request object is sent unchanged on
   * every try (that is what keeps a Checkout's request_id stable). Other errors are
   * final and come back typed.
   */
  async #invoke<M extends SeatMethod>(method: M, request: SeatRpcs[M]['req'], ctx: InvokeContext): Promise<SeatRpcs[M]['res']> {
    const started = monotonic();
    const tried: string[] = [];
    let lastError: LicenseClientError | undefined;
    let attempt = 0;
    let followedHint = false;
    for (;;) {
      if (this.#closed && !ctx.duringClose) throw new ClientClosedError(ctx.op);
      const endpoint = this.#endpoints[this.#current] ?? this.#endpoints[0] ?? '';
      if (!tried.includes(endpoint)) tried.push(endpoint);
      const timeoutMs = Math.min(this.#opts.callTimeoutMs, ctx.deadline - monotonic());
      if (timeoutMs <= 0) throw new NoActiveServerError(ctx.op, tried, lastError, monotonic() - started);
      let failure: grpc.ServiceError;
      const sentAt = monotonic();
      try {
        const res = await this.#call(endpoint, method, request, timeoutMs);
        ctx.sentAt = sentAt;
        if (this.#closed && !ctx.duringClose) throw new ClientClosedError(ctx.op);
        this.#answeredBy(endpoint);
        return res;
      } catch (err) {
        if (this.#closed && !ctx.duringClose) throw new ClientClosedError(ctx.op);
        if (!isServiceError(err)) throw err;
        failure = err;
      }
      const error = toClientError(failure, { endpoint, method });
      if (!isRetryable(failure)) {
        // Only the active node judges a request (a standby says UNAVAILABLE), so a coded
        // refusal still tells us who is active.
        if (licenseErrorCode(failure) !== undefined) this.#answeredBy(endpoint);
        if (error instanceof ServerBlockedError) this.emit('blocked', { endpoint, error });
        throw error;
      }
      lastError = error;
      const hint = leaderHint(failure);
      let delayMs: number;
      if (hint !== undefined && hint !== endpoint && isHostPort(hint)) {
        this.#current = this.#endpointIndex(hint);
        // The first redirect is free. Two in a row means the nodes disagree (mid-election):
        // back off so two standbys cannot bounce the client between them at full speed.
        delayMs = followedHint ? backoffDelayMs(attempt++, this.#opts.backoffInitialMs, this.#opts.backoffMaxMs) : 0;
        followedHint = true;
      } else {
        // Rotate from the endpoint that failed, not from #current, which a concurrent call may have moved.
        this.#current = (this.#endpointIndex(endpoint) + 1) % this.#endpoints.length;
        delayMs = backoffDelayMs(attempt++, this.#opts.backoffInitialMs, this.#opts.backoffMaxMs);
        followedHint = false;
      }
      if (monotonic() + delayMs >= ctx.deadline || ctx.moot?.()) throw new NoActiveServerError(ctx.op, tried, lastError, monotonic() - started);
      await this.#sleep(delayMs, !ctx.duringClose);
      if (ctx.moot?.()) throw new NoActiveServerError(ctx.op, tried, lastError, monotonic() - started);
    }
  }

  /** A single attempt, with the per-call deadline. Rejects with the grpc-js ServiceError. */
  #call<M extends SeatMethod>(endpoint: string, method: M, request: SeatRpcs[M]['req'], timeoutMs: number): Promise<SeatRpcs[M]['res']> {
    const client = this.#channel(endpoint);
    // The generated client overloads each method; pick the (req, md, opts, cb) form.
    const fn = client[method] as unknown as UnaryFn<SeatRpcs[M]['req'], SeatRpcs[M]['res']>;
    return new Promise((resolve, reject) => {
      // Held in an object so the callback can run (and find nothing to untrack) even before
      // fn.call() has returned the call.
      const tracked: { call?: grpc.ClientUnaryCall; done: boolean } = { done: false };
      const call = fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        tracked.done = true;
        if (tracked.call) this.#inflight.delete(tracked.call);
        if (err) reject(err);
        else if (res === undefined) reject(new Error(`${method}: empty response from ${endpoint}`));
        else resolve(res);
      });
      if (!tracked.done) {
        tracked.call = call;
        this.#inflight.add(call);
      }
    });
  }

  /** The endpoint's channel, created on first use. */
  #channel(endpoint: string): SeatServiceClient {
    let ch = this.#channels.get(endpoint);
    if (!ch) {
      const { SeatService } = loadLicenseProto();
      ch = new SeatService(endpoint, this.#opts.credentials, CHANNEL_OPTIONS);
      this.#channels.set(endpoint, ch);
    }
    return ch;
  }

  #endpointIndex(addr: string): number {
    let i = this.#endpoints.indexOf(addr);
    if (i < 0) {
      // A `license-leader` we were not told about (say, a node's advertised address): keep it.
      this.#endpoints.push(addr);
      i = this.#endpoints.length - 1;
    }
    return i;
  }

  #answeredBy(endpoint: string): void {
    this.#current = this.#endpointIndex(endpoint);
    const from = this.#active;
    this.#active = endpoint;
    if (from !== undefined && from !== endpoint && !this.#closed) this.emit('failover', { from, to: endpoint });
  }

  /** A call nobody waits for (its failure changes nothing); close() still cancels it. */
  #fireAndForget<M extends SeatMethod>(method: M, request: SeatRpcs[M]['req']): void {
    const endpoint = this.#active;
    if (endpoint === undefined || this.#closed) return;
    this.#call(endpoint, method, request, this.#opts.callTimeoutMs).catch(() => undefined);
  }

  /** A timer close() can cut short (when `abortable`), so no retry loop outlives the client. */
  #sleep(ms: number, abortable: boolean): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#sleeps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      if (abortable) this.#sleeps.add(wake);
    });
  }
}
