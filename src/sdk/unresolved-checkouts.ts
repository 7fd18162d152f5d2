import type { CheckoutRequest } from '../contract/generated/license/v1/CheckoutRequest';

/** How many unresolved checkouts a client remembers before it drops the oldest. */
export const MAX_UNRESOLVED_CHECKOUTS = 1_000;

/** A Checkout that may have been granted unseen: its answer was lost, and the application has given up on it. */
export interface UnresolvedCheckout {
  /**
   * The request as sent, request id and session included: re-sent unchanged to learn its
   * lease. A checkout that waited in a queue is re-sent with `wait_ms` 1: the server then
   * answers the lease if its turn came meanwhile, and otherwise takes it out of the queue
   * within a millisecond (QUEUE_TIMEOUT); with 0 it would refuse while the checkout still
   * queues, and leave it there.
   */
  readonly request: Readonly<Required<Pick<CheckoutRequest, 'session_id' | 'feature' | 'count' | 'request_id'>> & { wait_ms?: number }>;
}

/**
 * Checkouts whose answer never arrived (retries ran out after a try may have reached a
 * server, or the caller aborted after sending), remembered by session and request id until
 * the cluster answers again: the session keeper then re-sends each with its request id and
 * releases the lease that comes back. Bounded: past `cap` the oldest is dropped with a
 * warning (its lease, if granted, stays counted until its session closes or expires).
 */
export class UnresolvedCheckouts {
  /** Oldest first. */
  #entries: UnresolvedCheckout[] = [];

  constructor(
    private readonly cap: number,
    private readonly warn: (message: string) => void,
  ) {}

  get size(): number {
    return this.#entries.length;
  }

  /** Remembers a request; the same session and request id once. */
  add(request: UnresolvedCheckout['request']): void {
    if (this.#entries.some((e) => same(e, request.session_id, request.request_id))) return;
    const { session_id, feature, count, request_id, wait_ms } = request;
    this.#entries.push({ request: { session_id, feature, count, request_id, ...(wait_ms === undefined ? {} : { wait_ms }) } });
    while (this.#entries.length > this.cap) {
      const dropped = this.#entries.shift();
      if (!dropped) break;
      const r = dropped.request;
      this.warn(
        `license client: more than ${this.cap} checkouts are waiting to be settled, so the oldest is forgotten: ` +
          `request ${r.request_id} (${r.count} seat(s) of ${r.feature}, session ${r.session_id}); ` +
          'if the server granted it, the seat stays counted until that session is closed or expires',
      );
    }
  }

  /** The entries of one session, oldest first (a snapshot). */
  ofSession(sessionId: string): UnresolvedCheckout[] {
    return this.#entries.filter((e) => e.request.session_id === sessionId);
  }

  /** Still waiting to be settled (not forgotten or dropped meanwhile). */
  has(entry: UnresolvedCheckout): boolean {
    return this.#entries.includes(entry);
  }

  /** Settled, or no longer ours to settle. */
  delete(entry: UnresolvedCheckout): void {
    this.#entries = this.#entries.filter((e) => e !== entry);
  }

  /** The application asks again with this request id: it has not given up on it. */
  forget(sessionId: string, requestId: string): void {
    this.#entries = this.#entries.filter((e) => !same(e, sessionId, requestId));
  }

  /** Drops the entries of every session but `sessionId` (a gone session took its leases with it). */
  keepOnly(sessionId: string | undefined): void {
    this.#entries = this.#entries.filter((e) => e.request.session_id === sessionId);
  }
}

function same(e: UnresolvedCheckout, sessionId: string, requestId: string): boolean {
  return e.request.session_id === sessionId && e.request.request_id === requestId;
}
