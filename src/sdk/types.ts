/** The public shapes of LicenseClient that its parts share: options, results, events. */
import type { LicenseClientError, ServerBlockedError } from './errors';
import type { Seat } from './seat';

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
  /**
   * Aborts the checkout: the call in flight is cancelled, no retry follows, and checkout()
   * rejects with OperationAbortedError (`name` 'AbortError', `code` 'ABORTED', `cause` the
   * signal's reason). An answer that arrived before the abort still resolves with its seat.
   * A Checkout that was sent may have been granted unseen; the client then asks again with
   * the same request id and releases that lease in the background, so an abort leaves no
   * seat behind. An OpenSession the checkout was waiting for is shared and goes on.
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
