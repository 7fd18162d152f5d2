/** The public shapes of LicenseClient that its parts share: options, results, events. */
import type { LicenseClientError, ServerBlockedError } from './errors';
import type { Seat } from './seat';

/** A licensed feature and its current use, as ListFeatures reports it. */
export interface FeatureInfo {
  readonly name: string;
  readonly seatsTotal: number;
  readonly seatsInUse: number;
  /** Checkouts waiting in the feature's queue (CheckoutOptions.wait); 0 from a server without queueing. */
  readonly queueLength: number;
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
  /**
   * How long to wait for a seat, in milliseconds, when none is free (or other checkouts
   * already queue for the feature): the checkout waits in the feature's first-come,
   * first-served queue on the cluster and resolves once a seat is granted to it. Default 0:
   * no wait, a full feature fails at once with SeatsExhaustedError. At most 3,600,000 (one
   * hour, the server's cap; more is cut to it).
   *
   * The wait counts from the checkout() call and is one budget for the whole checkout. A
   * failover while it waits is followed like any call, with the same request id (so it
   * keeps its place in the queue and is never granted twice) and the wait it has left, not
   * the whole wait again; `queued` then reports its place again. Each call's deadline is
   * the wait left plus `callTimeoutMs`, so gRPC does not cut the wait short, and retries
   * go on while wait is left (and at least for `retryTimeoutMs`). When the wait is used
   * up the checkout rejects with QueueTimeoutError and is not retried: the server said so,
   * or the wait ran out while the checkout was being retried (then a seat granted to it
   * unseen is given back in the background, as after NoActiveServerError).
   */
  wait?: number;
  /**
   * Called with the checkout's 1-based place in the feature's queue when a server queues it
   * (at most once per try; again with the new place after a failover). The client emits
   * `queued` with the same news.
   */
  onQueued?: (position: number) => void;
  /**
   * Aborts the checkout: the call in flight is cancelled, no retry follows, and checkout()
   * rejects with OperationAbortedError (`name` 'AbortError', `code` 'ABORTED', `cause` the
   * signal's reason). An answer that arrived before the abort still resolves with its seat.
   * A Checkout that was sent may have been granted unseen; the client then asks again with
   * the same request id and releases that lease in the background (now, and whenever the
   * cluster answers again), so an abort leaves no seat behind. An OpenSession the checkout
   * was waiting for is shared and goes on. Aborting a checkout that waits in the queue
   * (`wait`) cancels its call, and the server takes it out of the queue.
   */
  signal?: AbortSignal;
}

/** Options of {@link LicenseClient.features}. */
export interface FeaturesOptions {
  /** Aborts the call and its retries; features() rejects with OperationAbortedError. */
  signal?: AbortSignal;
}

/** Why a seat was lost. */
export type SeatLostReason =
  /** The cluster no longer knows the session (it expired server-side, or the store lost it), and the seat could not be had again in a new one. */
  | 'session-not-found'
  /**
   * No heartbeat succeeded before the session's local expiry, so the server has freed (or
   * is about to free) the seats. Reported at that moment, for every seat of the session;
   * each is checked out again when a new session opens (`seatRecovered`).
   */
  | 'session-expired'
  /**
   * The session lives, but a heartbeat showed that the server no longer holds the seat's
   * lease (say, a Redis failover lost the grant), and checking it out again with its request
   * id failed: no seat free, the request id already used for a released lease, or no
   * server answered (then it is tried again at later heartbeats).
   */
  | 'not-held-by-server';

/** Payload of the client's `queued` event. */
export interface CheckoutQueuedEvent {
  readonly feature: string;
  /** 1-based place in the feature's queue: 1 is next when a seat frees up. */
  readonly position: number;
  /** The checkout's request id (CheckoutOptions.requestId, or the one the client made up): tells concurrent checkouts apart. */
  readonly requestId: string;
  /** The server (`host:port`) that queued it. */
  readonly endpoint: string;
}

/** Events of {@link LicenseClient}; it never emits 'error'. */
export interface LicenseClientEvents {
  /**
   * A checkout with `wait` found no free seat and a server queued it: emitted when the
   * server says its place (once per try; after a failover the checkout is queued again,
   * keeping its place, and this comes again). The checkout's promise settles later: a
   * seat, or QueueTimeoutError when the wait runs out.
   */
  queued: CheckoutQueuedEvent;
  /** Another endpoint now answers for the cluster (failover or handback). Session and seats carry over. */
  failover: { from: string; to: string };
  /**
   * A held seat is no longer held (`seat.held` is now false): the application must stop
   * using the feature, or check out again. Emitted the moment the client knows: when the
   * session's local expiry passes without a successful heartbeat ('session-expired'),
   * when a heartbeat shows the server no longer holds the lease and it cannot be had
   * again ('not-held-by-server'), or when a lost session's seat cannot be had in the new
   * one ('session-not-found'). A seat lost for 'session-expired' (or because no server
   * answered) is still checked out again later, and `seatRecovered` then says it is held
   * again; `seat.release()` on a lost seat stops that.
   */
  seatLost: { seat: Seat; reason: SeatLostReason; error: LicenseClientError };
  /** A server refused a new session or seat because its failover budget is spent (emitted on every refusal). */
  blocked: { endpoint: string; error: ServerBlockedError };
  /**
   * A new session replaced one that was lost; its seats are being re-checked-out
   * (`seatRecovered` / `seatLost`). Checkouts of the old session whose answer was lost
   * went with it.
   */
  sessionReopened: { previousSessionId: string; sessionId: string; endpoint: string };
  /**
   * A seat was checked out again and is held (`seat.held` true) under a new lease: its
   * session was lost (e.g. Redis lost its data, or no heartbeat got through before the
   * session's expiry) and a new one opened, or the server no longer held its lease. The
   * same Seat object now carries the new lease id (and session id). Follows `seatLost`
   * when the seat had been reported lost; comes alone when it was recovered before that.
   */
  seatRecovered: { seat: Seat; previousLeaseId: string };
  /**
   * A heartbeat renewed the session and all its seats. Each heartbeat also lists the
   * leases the server holds for the session: a seat missing there is checked out again
   * (`seatRecovered` or `seatLost`), and a listed lease the client does not know (a
   * checkout whose answer was lost) is released.
   */
  heartbeat: { sessionId: string; expiresAtMs: number; endpoint: string };
}
