import type { Clock } from '../../server/clock';
import type { LoadgenOptions } from './options';
import { type EmitEvent, SimulatedClient, StopSignal } from './simulated-client';
import { type LoadCounters, LoadStats } from './stats';

export interface Loadgen {
  /** Starts every simulated client (spread over rampMs) and the summary timer. */
  start(): void;
  /**
   * Stops the clients (each closes its session, which frees its seats), prints the final
   * summary and resolves with the run's totals. Idempotent.
   */
  stop(reason: string): Promise<LoadCounters>;
  /** Resolves when the run has stopped (by stop() or after durationMs). */
  readonly finished: Promise<LoadCounters>;
}

export interface LoadgenDeps {
  readonly clock: Clock;
  /** Receives every log line (the CLI writes them as JSON lines). */
  readonly emit: EmitEvent;
  /** Default Math.random. */
  readonly random?: () => number;
}

/**
 * A load client of the license cluster built on the SDK: `clients` concurrent
 * LicenseClients that check out, hold and release seats in a loop, logging what a user
 * would notice (failovers, lost seats, blocked servers, exhausted features) and a
 * summary every `summaryMs`.
 */
export function createLoadgen(options: LoadgenOptions, deps: LoadgenDeps): Loadgen {
  const { clock, emit } = deps;
  const random = deps.random ?? Math.random;
  const stats = new LoadStats();
  const signal = new StopSignal();
  const startedMono = clock.monotonic();
  const clients: SimulatedClient[] = [];
  const runs: Promise<void>[] = [];
  let summaryTimer: NodeJS.Timeout | undefined;
  let durationTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<LoadCounters> | undefined;
  let resolveFinished: (totals: LoadCounters) => void = () => undefined;
  const finished = new Promise<LoadCounters>((resolve) => {
    resolveFinished = resolve;
  });

  const summary = (final: boolean): void => {
    const byEndpoint: Record<string, number> = {};
    for (const c of clients) {
      const e = c.activeEndpoint;
      if (e !== undefined) byEndpoint[e] = (byEndpoint[e] ?? 0) + 1;
    }
    emit({
      event: final ? 'final_summary' : 'summary',
      elapsedS: Math.round((clock.monotonic() - startedMono) / 100) / 10,
      clients: clients.length,
      connected: clients.filter((c) => c.connected).length,
      seatsHeld: clients.reduce((n, c) => n + c.heldSeats, 0),
      activeEndpoints: byEndpoint,
      interval: stats.interval(),
      total: { ...stats.total },
    });
  };

  async function doStop(reason: string): Promise<LoadCounters> {
    clearInterval(summaryTimer);
    clearTimeout(durationTimer);
    emit({ event: 'stopping', reason, seatsHeld: clients.reduce((n, c) => n + c.heldSeats, 0) });
    signal.stop();
    // close() cancels in-flight calls, so every run loop ends promptly.
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(runs);
    summary(true);
    const totals = { ...stats.total };
    resolveFinished(totals);
    return totals;
  }

  return {
    finished,
    start() {
      if (clients.length > 0 || stopping) return;
      const o = options;
      emit({
        event: 'start',
        endpoints: o.endpoints,
        features: o.features,
        clients: o.clients,
        seatsPerClient: o.seatsPerClient,
        count: o.count,
        holdMs: o.holdMs,
        pauseMs: o.pauseMs,
        durationMs: o.durationMs,
      });
      for (let i = 0; i < o.clients; i++) {
        const c = new SimulatedClient(i, { options: o, clock, stats, emit, stop: signal, random });
        clients.push(c);
        runs.push(c.run(o.clients > 1 ? (o.rampMs * i) / (o.clients - 1) : 0));
      }
      summaryTimer = setInterval(() => summary(false), o.summaryMs);
      if (o.durationMs > 0) durationTimer = setTimeout(() => void this.stop(`duration ${o.durationMs} ms reached`), o.durationMs);
    },
    stop(reason) {
      stopping ??= doStop(reason);
      return stopping;
    },
  };
}
