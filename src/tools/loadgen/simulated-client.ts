import type { Clock } from '../../server/clock';
import { ClientClosedError, LicenseClient, LicenseClientError, type Seat, SeatsExhaustedError, ServerBlockedError } from '../../sdk/index';
import type { LoadgenOptions } from './options';
import type { LoadStats } from './stats';

/** One line of the load client's log: `event` plus fields; the writer adds the time. */
export type LoadgenEvent = { event: string } & Record<string, unknown>;
export type EmitEvent = (e: LoadgenEvent) => void;

/** Shared stop switch: sleeps resolve early once it is thrown. */
export class StopSignal {
  #stopped = false;
  readonly #wakers = new Set<() => void>();

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    for (const wake of [...this.#wakers]) wake();
  }

  /** Resolves after `ms`, or at once when stopped. */
  sleep(ms: number): Promise<void> {
    if (this.#stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }
}

export interface SimulatedClientDeps {
  readonly options: LoadgenOptions;
  readonly clock: Clock;
  readonly stats: LoadStats;
  readonly emit: EmitEvent;
  readonly stop: StopSignal;
  readonly random: () => number;
}

/**
 * One simulated license user: a LicenseClient that connects, checks out
 * `seatsPerClient` seats of random features, holds them a random time, releases them,
 * pauses, and repeats until stopped. SDK events (failover, seatLost, blocked) become log
 * lines; refusals and errors are counted and retried after `retryMs`.
 */
export class SimulatedClient {
  readonly id: string;
  readonly #client: LicenseClient;
  readonly #deps: SimulatedClientDeps;
  #connected = false;
  /** Seats of the current cycle (held, released or lost). */
  #seats: Seat[] = [];

  constructor(index: number, deps: SimulatedClientDeps) {
    this.#deps = deps;
    const o = deps.options;
    this.id = `${o.clientIdPrefix}-${index}`;
    this.#client = new LicenseClient({
      endpoints: o.endpoints,
      clientId: this.id,
      callTimeoutMs: o.callTimeoutMs,
      retryTimeoutMs: o.retryTimeoutMs,
    });
    const { emit, stats } = deps;
    this.#client.on('failover', ({ from, to }) => {
      stats.count('failovers');
      emit({ event: 'failover', client: this.id, from, to, session: this.#client.sessionId ?? null, seatsHeld: this.heldSeats });
    });
    this.#client.on('seatLost', ({ seat, reason, error }) => {
      stats.count('seatsLost');
      emit({ event: 'seat_lost', client: this.id, feature: seat.feature, lease: seat.leaseId, reason, code: error.code, message: error.message });
    });
    this.#client.on('blocked', ({ endpoint, error }) => {
      emit({ event: 'blocked', client: this.id, endpoint, code: error.code, message: error.message });
    });
    this.#client.on('sessionReopened', ({ previousSessionId, sessionId, endpoint }) => {
      stats.count('sessionsReopened');
      emit({ event: 'session_reopened', client: this.id, previousSession: previousSessionId, session: sessionId, endpoint });
    });
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Seats this client holds right now. */
  get heldSeats(): number {
    return this.#seats.reduce((n, s) => n + (s.held ? s.count : 0), 0);
  }

  /** The endpoint that last answered as the active node. */
  get activeEndpoint(): string | undefined {
    return this.#client.activeEndpoint;
  }

  /** Runs cycles until the stop signal; never rejects. */
  async run(startDelayMs: number): Promise<void> {
    const { stop } = this.#deps;
    await stop.sleep(startDelayMs);
    while (!stop.stopped && !(await this.#connect())) await stop.sleep(this.#deps.options.retryMs);
    while (!stop.stopped) await this.#cycle();
  }

  /** Closes the client: CloseSession frees every seat it holds. */
  async close(): Promise<void> {
    await this.#client.close();
    this.#seats = [];
  }

  async #connect(): Promise<boolean> {
    try {
      await this.#client.connect();
      this.#connected = true;
      this.#deps.emit({ event: 'connected', client: this.id, endpoint: this.#client.activeEndpoint ?? null, session: this.#client.sessionId ?? null });
      return true;
    } catch (err) {
      this.#failed('connect', undefined, err);
      return false;
    }
  }

  async #cycle(): Promise<void> {
    const { options: o, stop, stats, clock, random } = this.#deps;
    this.#seats = [];
    for (let k = 0; k < o.seatsPerClient && !stop.stopped; k++) {
      const feature = o.features[Math.floor(random() * o.features.length)] ?? o.features[0] ?? '';
      const started = clock.monotonic();
      stats.count('checkouts');
      try {
        this.#seats.push(await this.#client.checkout(feature, { count: o.count }));
        stats.grantedIn(clock.monotonic() - started);
      } catch (err) {
        if (this.#failed('checkout', feature, err)) return;
        await stop.sleep(o.retryMs * (0.5 + random()));
      }
    }
    if (this.#seats.length > 0) await stop.sleep(o.holdMs * (0.5 + random()));
    if (stop.stopped) return; // close() gives the seats back with the session
    for (const seat of this.#seats) {
      if (!seat.held) continue; // lost with its session: reported by seatLost
      try {
        await seat.release();
        stats.count('released');
      } catch (err) {
        if (err instanceof ClientClosedError) return;
        stats.count('releaseErrors');
        this.#failed('release', seat.feature, err, false);
      }
    }
    this.#seats = [];
    await stop.sleep(o.pauseMs * 2 * random());
  }

  /**
   * Counts and logs a failed call. Returns true when the client is closed (stop). `count`
   * false: already counted by the caller.
   */
  #failed(op: string, feature: string | undefined, err: unknown, count = true): boolean {
    if (err instanceof ClientClosedError || this.#deps.stop.stopped) return true;
    const { stats, emit } = this.#deps;
    const f = feature === undefined ? {} : { feature };
    if (err instanceof SeatsExhaustedError) {
      stats.count('exhausted');
      emit({ event: 'exhausted', client: this.id, ...f, message: err.message });
    } else if (err instanceof ServerBlockedError) {
      stats.count('blocked'); // the SDK's `blocked` event logged it
    } else {
      if (count) stats.count('errors');
      const e = err instanceof LicenseClientError ? { code: err.code, endpoint: err.endpoint ?? null } : { code: 'UNEXPECTED' };
      emit({ event: 'error', client: this.id, op, ...f, ...e, message: err instanceof Error ? err.message : String(err) });
    }
    return false;
  }
}
