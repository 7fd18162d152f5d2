/** A leased seat (or `count` seats) of one feature, renewed by the client's session heartbeat. */
export interface Seat {
  /**
   * Server-made id of the lease; stays valid across failovers. Changes only when the
   * client re-checked the seat out after its session was lost (`seatRecovered`).
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
  /** True when the seat was lost with its session (a `seatLost` event was emitted). */
  readonly lost: boolean;
  /** True while the seat is neither released nor lost. */
  readonly held: boolean;
  /**
   * Gives the seat back; retried through a failover. Idempotent: a second call, or a call
   * on a lost seat, resolves at once.
   */
  release(): Promise<void>;
}

/** The client's side of a seat; internal. */
export class SeatHandle implements Seat {
  #state: 'held' | 'released' | 'lost' = 'held';
  #expiresAtMs: number;
  #releasing: Promise<void> | undefined;

  #leaseId: string;
  #sessionId: string;

  constructor(
    leaseId: string,
    readonly feature: string,
    readonly count: number,
    sessionId: string,
    expiresAtMs: number,
    private readonly doRelease: (seat: SeatHandle) => Promise<void>,
  ) {
    this.#leaseId = leaseId;
    this.#sessionId = sessionId;
    this.#expiresAtMs = expiresAtMs;
  }

  get leaseId(): string {
    return this.#leaseId;
  }

  get sessionId(): string {
    return this.#sessionId;
  }

  /** The seat was checked out again in a new session after the old one was lost. */
  rebind(leaseId: string, sessionId: string, expiresAtMs: number): void {
    this.#leaseId = leaseId;
    this.#sessionId = sessionId;
    this.#expiresAtMs = expiresAtMs;
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
