import { monotonic } from './retry-policy';

/** A leased seat (or `count` seats) of one feature, renewed by the client's session heartbeat. */
export interface Seat {
  /**
   * Server-made id of the lease; stays valid across failovers. Changes only when the
   * client checked the seat out again, because its session was lost or the server no
   * longer held the lease (`seatRecovered` tells the previous id).
   */
  readonly leaseId: string;
  readonly feature: string;
  /** Seats this lease holds. */
  readonly count: number;
  /** Session the lease belongs to. */
  readonly sessionId: string;
  /**
   * When the lease expires unless renewed, in the server's epoch milliseconds; moved
   * forward by every successful heartbeat.
   */
  readonly expiresAtMs: number;
  /** True once release() (or the client's close()) gave the seat back. */
  readonly released: boolean;
  /**
   * True after a `seatLost` event for this seat, until it is recovered (`seatRecovered`,
   * which only follows for a seat lost with reason 'session-expired', or one whose
   * re-checkout found no server to answer).
   */
  readonly lost: boolean;
  /**
   * True while the client knows the server holds the seat for it: since the checkout,
   * and again after `seatRecovered`. False once released, once reported lost
   * (`seatLost`: the server said it no longer holds it, or no heartbeat got through
   * before the session's expiry), and after the client's close().
   */
  readonly held: boolean;
  /**
   * Gives the seat back; retried through a failover. Idempotent: a second call resolves
   * with the first. On a lost seat it resolves at once, sends nothing, and stops the
   * client from recovering the seat.
   */
  release(): Promise<void>;
}

/** The client's side of a seat; internal. */
export class SeatHandle implements Seat {
  /** held -> released (final); held -> lost -> held again when recovered, or -> abandoned by release(). */
  #state: 'held' | 'released' | 'lost' = 'held';
  #abandoned = false;
  #expiresAtMs: number;
  #releasing: Promise<void> | undefined;

  #leaseId: string;
  #sessionId: string;
  #requestId: string;
  #boundAt: number;

  constructor(
    leaseId: string,
    readonly feature: string,
    readonly count: number,
    sessionId: string,
    expiresAtMs: number,
    requestId: string,
    private readonly doRelease: (seat: SeatHandle) => Promise<void>,
  ) {
    this.#leaseId = leaseId;
    this.#sessionId = sessionId;
    this.#expiresAtMs = expiresAtMs;
    this.#requestId = requestId;
    this.#boundAt = monotonic();
  }

  get leaseId(): string {
    return this.#leaseId;
  }

  get sessionId(): string {
    return this.#sessionId;
  }

  /** @internal Request id of the Checkout that gave the current lease: re-sent to ask the server for it again. */
  get requestId(): string {
    return this.#requestId;
  }

  /** @internal Monotonic time the current lease became known: a heartbeat sent after it must list the lease. */
  get boundAt(): number {
    return this.#boundAt;
  }

  /** @internal A release() is in flight. */
  get releasing(): boolean {
    return this.#releasing !== undefined;
  }

  /** @internal release() was called on the lost seat: it must not be recovered. */
  get abandoned(): boolean {
    return this.#abandoned;
  }

  /** @internal The seat was checked out again (new session, or the server had lost the lease): held under this lease. */
  rebind(leaseId: string, sessionId: string, expiresAtMs: number, requestId: string): void {
    if (this.#state === 'released' || this.#abandoned) return;
    this.#leaseId = leaseId;
    this.#sessionId = sessionId;
    this.#expiresAtMs = expiresAtMs;
    this.#requestId = requestId;
    this.#boundAt = monotonic();
    this.#state = 'held';
  }

  get expiresAtMs(): number {
    return this.#expiresAtMs;
  }

  get released(): boolean {
    return this.#state === 'released';
  }

  get lost(): boolean {
    return this.#state === 'lost';
  }

  get held(): boolean {
    return this.#state === 'held';
  }

  release(): Promise<void> {
    if (this.#state === 'lost') this.#abandoned = true;
    if (this.#state !== 'held') return Promise.resolve();
    // Single flight: concurrent calls share one Release RPC (and its retries).
    this.#releasing ??= this.doRelease(this).finally(() => {
      this.#releasing = undefined;
    });
    return this.#releasing;
  }

  /** @internal */
  renewed(expiresAtMs: number): void {
    if (this.#state === 'held') this.#expiresAtMs = expiresAtMs;
  }

  /** @internal */
  markReleased(): void {
    if (this.#state === 'held') this.#state = 'released';
  }

  /** @internal */
  markLost(): void {
    if (this.#state === 'held') this.#state = 'lost';
  }

  toJSON(): object {
    return { leaseId: this.leaseId, feature: this.feature, count: this.count, sessionId: this.sessionId, expiresAtMs: this.#expiresAtMs, state: this.#state };
  }
}
