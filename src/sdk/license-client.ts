import { randomUUID } from 'node:crypto';
import type { CheckoutRequest } from '../contract/generated/license/v1/CheckoutRequest';
import type { CheckoutResponse__Output } from '../contract/generated/license/v1/CheckoutResponse';
import type * as grpc from '@grpc/grpc-js';
import { raceAbort } from './abort';
import {
  ClientClosedError,
  ClientErrorCode,
  InvalidRequestError,
  type LicenseClientError,
  NoActiveServerError,
  OperationAbortedError,
  QueueTimeoutError,
  queuePosition,
  SessionLostError,
} from './errors';
import { type LicenseClientOptions, MAX_CHECKOUT_WAIT_MS, type ResolvedOptions, resolveOptions } from './options';
import { monotonic } from './retry-policy';
import { type Seat, SeatHandle } from './seat';
import { SessionKeeper } from './session-keeper';
import { type InvokeContext, Transport } from './transport';
import { type Emit, TypedEmitter } from './typed-emitter';
import type { CheckoutOptions, FeatureInfo, FeaturesOptions, LicenseClientEvents } from './types';
import type { UnresolvedCheckout } from './unresolved-checkouts';

export type { CheckoutOptions, CheckoutQueuedEvent, FeatureInfo, FeaturesOptions, LicenseClientEvents, SeatLostReason } from './types';

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
  /** Endpoints, channels, retries: one SeatService call with failover. */
  readonly #transport: Transport;
  /** The session, its heartbeat and its seats. */
  readonly #keeper: SessionKeeper;
  #closing: Promise<void> | undefined;

  /** Validates the options (a bad one throws naming it); opens no connection yet. */
  constructor(options: LicenseClientOptions) {
    super();
    this.#opts = resolveOptions(options);
    const emit: Emit<LicenseClientEvents> = (event, payload) => this.emit(event, payload);
    this.#transport = new Transport(this.#opts, emit);
    // Node's own channel for a library's warnings: printed to stderr unless the application listens to process 'warning'.
    const warn = (message: string): void => process.emitWarning(message, { code: 'LICENSE_CLIENT_UNRESOLVED_DROPPED' });
    this.#keeper = new SessionKeeper(this.#opts, this.#transport, emit, warn);
  }

  /** Id of the current session; undefined before connect() and while a lost session is being reopened. */
  get sessionId(): string | undefined {
    return this.#keeper.current?.id;
  }

  /** Endpoint (`host:port`) that last answered as the active server. */
  get activeEndpoint(): string | undefined {
    return this.#transport.activeEndpoint;
  }

  /** Seats held now (a snapshot): every seat whose `held` is true. */
  get heldSeats(): readonly Seat[] {
    return this.#keeper.heldSeats();
  }

  /** Endpoints in use: the configured ones plus any active-node address learned from a standby. */
  get endpoints(): readonly string[] {
    return this.#transport.endpoints;
  }

  /** Wall-clock time (epoch ms) of the last successful heartbeat. */
  get lastHeartbeatAtMs(): number | undefined {
    return this.#keeper.lastHeartbeatAtMs;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#transport.closed;
  }

  /**
   * Opens the session on the active node and starts the heartbeat. Follows `license-leader`
   * from a standby and moves past an unreachable endpoint at once, then rotates through the
   * endpoints with jittered backoff, for up to `retryTimeoutMs`. Calling it again while
   * connected does nothing.
   *
   * @throws NoActiveServerError no endpoint answered as the active node in time
   * @throws ServerBlockedError the active node is a redundant whose failover budget is spent
   */
  async connect(): Promise<void> {
    await this.#keeper.ensure('connect');
  }

  /**
   * Leases `count` seats of `feature`. Retries through a failover with the same request id,
   * so a checkout the server granted but could not answer is not granted twice. If the
   * session turns out to be lost, reopens it once (reporting its seats via `seatLost`)
   * and tries again. Connects first when needed. `options.signal` aborts it.
   *
   * With `options.wait` (ms) a checkout that finds no free seat waits in the feature's
   * queue on the cluster for up to that long, across failovers (see CheckoutOptions.wait);
   * `queued` events (and `options.onQueued`) report its place.
   *
   * When it rejects after a try may have reached a server (NoActiveServerError after lost
   * answers or timeouts, or an abort after sending), the client takes the request as given
   * up: it remembers it and, once the cluster answers again, asks with the same request id
   * and releases whatever lease comes back, so no orphaned seat stays counted. Calling
   * checkout() again with that `requestId` claims the lease instead.
   *
   * @throws SeatsExhaustedError, QueueTimeoutError (`options.wait` used up), PolicyLimitError,
   *   FeatureNotFoundError, FeatureExpiredError, InvalidRequestError, ServerBlockedError,
   *   SessionLostError, NoActiveServerError, ClientClosedError, OperationAbortedError
   *   (`options.signal` aborted)
   */
  async checkout(feature: string, options: CheckoutOptions = {}): Promise<Seat> {
    const op = `checkout ${feature}`;
    const { signal } = options;
    this.#assertOpen(op);
    const count = options.count ?? 1;
    // Checked here because protobuf would silently truncate 1.5 or wrap 2^31 into something else.
    if (!Number.isInteger(count) || count < -0x80000000 || count > 0x7fffffff) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `count: must be an integer seat count, got ${String(count)}`);
    }
    const waitMs = checkWait(options.wait);
    // One budget for the whole checkout: its retries and a reopened session get what is left of it.
    const waitUntil = monotonic() + waitMs;
    const aborted = (): OperationAbortedError => new OperationAbortedError(op, signal?.reason);
    let reopened = false;
    for (;;) {
      if (signal?.aborted) throw aborted();
      const session = await raceAbort(this.#keeper.ensure(op), signal, aborted);
      // One id per session: every retry of this request (inside invoke) sends it unchanged.
      const request: CheckoutRequest & UnresolvedCheckout['request'] = {
        session_id: session.id,
        feature,
        count,
        request_id: options.requestId ?? randomUUID(),
      };
      // Asked again with the id of a checkout given up earlier: the caller wants that lease after all.
      if (options.requestId !== undefined) this.#keeper.unresolved.forget(session.id, options.requestId);
      const ctx: InvokeContext = { op, deadline: monotonic() + this.#opts.retryTimeoutMs, signal };
      let send: CheckoutRequest | (() => CheckoutRequest) = request;
      let unresolved: UnresolvedCheckout['request'] = request;
      let waitRanOut = false;
      if (waitMs > 0) {
        // Each try sends the wait it has left: a retry after a failover must not start the whole
        // wait again. The first try in a session always goes (at least 1 ms: "grant it if a seat
        // is free, else QUEUE_TIMEOUT"), even when connecting or reopening used up the wait.
        send = () => ({ ...request, wait_ms: Math.max(1, Math.ceil(waitUntil - monotonic())) });
        // Tries go on while there is wait left; the deadline only bounds the last one, with its margin.
        ctx.deadline = Math.max(ctx.deadline, waitUntil + this.#opts.callTimeoutMs);
        ctx.hold = {
          until: waitUntil,
          expired: (lastError) => {
            waitRanOut = true;
            return queueWaitRanOut(op, waitMs, lastError);
          },
        };
        ctx.onMetadata = this.#queuedListener(feature, request.request_id, ctx, options.onQueued);
        // Settled (if given up on) with wait_ms 1: the lease if its turn came meanwhile, else out of the queue at once.
        unresolved = { ...request, wait_ms: 1 };
      }
      // Until the outcome is registered, a lease the server lists but the client does not know may be this one.
      const registered = this.#keeper.checkoutStarted();
      try {
        let res: CheckoutResponse__Output;
        try {
          res = await this.#transport.invoke('Checkout', send, ctx);
        } catch (err) {
          // Sent, but no answer seen: it may have been granted unseen. The caller gives up on it, so it is settled in the background.
          if (err instanceof OperationAbortedError && (ctx.attempts ?? 0) > 0) this.#keeper.unresolvedCheckout(unresolved, true);
          if ((err instanceof NoActiveServerError || waitRanOut) && ctx.mayHaveActed) this.#keeper.unresolvedCheckout(unresolved, false);
          if (err instanceof OperationAbortedError || err instanceof QueueTimeoutError) throw err;
          const lost = await this.#keeper.lostByCheckout(err, session, op, signal);
          // The probe that tells a lost session from an unknown feature can itself be cut short.
          if (signal?.aborted) throw aborted();
          if (!lost) throw err;
          if (reopened) throw lost;
          reopened = true;
          continue;
        }
        if (this.#keeper.current !== session) {
          // The session was declared lost while this call was in flight, so the lease
          // belongs to a dead session: take a seat in the new one instead.
          const lost = new SessionLostError(ClientErrorCode.SESSION_LOST, `${op}: session ${session.id} was lost during the checkout`);
          if (reopened) throw lost;
          reopened = true;
          continue;
        }
        const known = this.#keeper.seats.get(res.lease_id);
        if (known) return known; // same requestId used twice: the server returned the same lease
        const seat = new SeatHandle(res.lease_id, res.feature || feature, res.count || count, session.id, res.expires_at_ms, request.request_id, (s) =>
          this.#release(s),
        );
        this.#keeper.seats.set(seat.leaseId, seat);
        return seat;
      } finally {
        registered();
      }
    }
  }

  /**
   * Features of the license with seats in use.
   *
   * @throws NoActiveServerError, ClientClosedError, OperationAbortedError (`options.signal` aborted)
   */
  async features(options: FeaturesOptions = {}): Promise<FeatureInfo[]> {
    const op = 'features';
    this.#assertOpen(op);
    const res = await this.#transport.invoke('ListFeatures', {}, { op, deadline: monotonic() + this.#opts.retryTimeoutMs, signal: options.signal });
    return res.features.map((f) => ({
      name: f.name,
      seatsTotal: f.seats_total,
      seatsInUse: f.seats_in_use,
      queueLength: f.queue_length,
      expiresAtMs: f.expires_at_ms > 0 ? f.expires_at_ms : null,
    }));
  }

  /**
   * Closes the session (which frees its seats on the server), stops the heartbeat and
   * closes every channel. CloseSession is best effort, tried for up to `callTimeoutMs`
   * (also for a session given up as expired that the server may still keep): if it fails,
   * the seats still come free when the session's TTL runs out. Either way, once it
   * resolves no seat is held: each held one is `released`, a lost one stays `lost`, and
   * none is recovered any more. Idempotent; every later call on the client throws
   * ClientClosedError.
   */
  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  /**
   * The `onMetadata` of a waiting checkout: emits `queued` (and calls `onQueued`) when a
   * server says the checkout's place in the queue, once per try.
   */
  #queuedListener(
    feature: string,
    requestId: string,
    ctx: InvokeContext,
    onQueued: ((position: number) => void) | undefined,
  ): (md: grpc.Metadata, endpoint: string) => void {
    let reportedTry = 0;
    return (md, endpoint) => {
      const position = queuePosition(md);
      const attempt = ctx.attempts ?? 0;
      if (position === undefined || attempt === reportedTry) return;
      reportedTry = attempt;
      // Queued means written: a refusal of this try from here on (a node that loses its lease
      // answers its waiting calls NOT_ACTIVE) no longer proves that nothing was done.
      ctx.mayHaveActed = true;
      this.emit('queued', { feature, position, requestId, endpoint });
      if (!onQueued) return;
      try {
        onQueued(position);
      } catch (err) {
        // As with an event listener: surfaced, but without breaking the call that is waiting.
        process.nextTick(() => {
          throw err;
        });
      }
    };
  }

  #assertOpen(op: string): void {
    if (this.#transport.closed) throw new ClientClosedError(op);
  }

  async #doClose(): Promise<void> {
    // First end every retry loop and call in flight, then say goodbye on the still open channels.
    this.#transport.close();
    await this.#keeper.close();
    this.#transport.closeChannels();
  }

  async #release(seat: SeatHandle): Promise<void> {
    const op = `release ${seat.feature} lease ${seat.leaseId}`;
    try {
      // released=false only says the lease was already gone; either way it is not held.
      await this.#transport.invoke(
        'Release',
        { session_id: seat.sessionId, lease_id: seat.leaseId },
        // A seat lost with its session (say, the whole cluster was down past the TTL) has nothing left to give back.
        { op, deadline: monotonic() + this.#opts.retryTimeoutMs, moot: () => seat.lost },
      );
    } catch (err) {
      // close() gives every seat back with the session; a lost seat is gone already.
      if (this.#transport.closed || seat.lost) return;
      // Unknown session: the lease went with it. The heartbeat loop reports the session.
      if (!(err instanceof SessionLostError)) throw err;
    }
    seat.markReleased();
    this.#keeper.seats.delete(seat.leaseId);
  }
}

/** A waiting checkout's wait ran out between tries (the server's own QUEUE_TIMEOUT comes typed from toClientError). */
function queueWaitRanOut(op: string, waitMs: number, lastError: LicenseClientError): QueueTimeoutError {
  return new QueueTimeoutError(
    'QUEUE_TIMEOUT',
    `${op}: its wait of ${waitMs} ms for a seat ran out while the checkout was being retried ` +
      `(last failure: ${lastError.message}); check out again later, or with a longer wait`,
    { cause: lastError },
  );
}

/** CheckoutOptions.wait as whole milliseconds, cut to the server's cap; a bad value throws naming it. */
function checkWait(wait: number | undefined): number {
  if (wait === undefined) return 0;
  if (typeof wait !== 'number' || Number.isNaN(wait) || wait < 0) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `wait: must be 0 (do not wait) or a number of milliseconds to wait for a seat, got ${String(wait)}`);
  }
  return Math.min(Math.ceil(wait), MAX_CHECKOUT_WAIT_MS);
}
