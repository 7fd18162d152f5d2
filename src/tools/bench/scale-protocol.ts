import type { HistogramSnapshot } from './histogram';

/**
 * The IPC contract between `npm run bench -- scale` and its load workers
 * (./scale-worker.ts). Unlike the checkout bench's workers, these keep every session
 * they opened heartbeating in the background, at the interval the server asked for,
 * from the moment it is opened until `stop`: the parent only opens windows in which the
 * workers record what they see. Plain JSON over the fork IPC channel, one command at a
 * time per worker.
 */
export type ScaleCommand =
  | { readonly cmd: 'connect'; readonly addr: string; readonly workerId: number }
  /**
   * Opens `sessions` more sessions (each heartbeats from then on) and checks out `seats`
   * single seats spread evenly over them, which they keep.
   */
  | { readonly cmd: 'grow'; readonly sessions: number; readonly seats: number; readonly feature: string; readonly concurrency: number }
  /**
   * Records the background heartbeats for `durationMs` after `warmupMs`; with
   * pairsPerSec > 0 also runs Checkout+Release pairs at that rate (open loop, from now to
   * the window's end) over this worker's sessions. With pauseHeartbeats no heartbeat is
   * sent until the window ends (the sessions stay open: the pause is far shorter than the
   * TTL), so what the pairs cost can be told apart from the heartbeat load.
   */
  | {
      readonly cmd: 'window';
      readonly warmupMs: number;
      readonly durationMs: number;
      readonly pairsPerSec: number;
      readonly pauseHeartbeats: boolean;
      readonly offsetMs: number;
      readonly feature: string;
    }
  /** Stops the heartbeats (sessions are left to expire with the cluster). */
  | { readonly cmd: 'stop' };

export type ScaleCommandName = ScaleCommand['cmd'];

/** Heartbeats since the worker started (setup included): an error here may be a session lost. */
export interface BeatTotals {
  readonly sessions: number;
  /** Attempts, retries included. */
  readonly sent: number;
  readonly ok: number;
  /** Failed attempts tried again with backoff (as the SDK does) while the session had more than one interval left, within a retry budget of 10% of the heartbeats. */
  readonly retries: number;
  /** Sessions the server answered NOT_FOUND for: expired before a heartbeat got through. */
  readonly lost: number;
  readonly errors: number;
  readonly firstError?: string;
  /** heartbeat_interval_ms and ttl_ms the server gave at OpenSession (0 before the first session). */
  readonly intervalMs: number;
  readonly ttlMs: number;
}

export interface GrowResult {
  readonly opened: number;
  readonly held: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly beats: BeatTotals;
}

export interface ScaleWindowResult {
  readonly windowMs: number;
  /** Heartbeats due inside the window that renewed their session; latency counts from the instant each was due, retries included. */
  readonly heartbeats: number;
  readonly heartbeat: HistogramSnapshot;
  /** Heartbeats due inside the window that never renewed their session (retries exhausted, or NOT_FOUND). */
  readonly heartbeatErrors: number;
  readonly firstHeartbeatError?: string;
  /** How late this worker sent heartbeats due in the window (timer and event-loop lag). */
  readonly sendLag: HistogramSnapshot;
  /** Pairs completed inside the window, and the latencies of those due in it. */
  readonly pairs: number;
  readonly pairsScheduled: number;
  readonly checkout: HistogramSnapshot;
  readonly release: HistogramSnapshot;
  readonly pairErrors: number;
  readonly firstPairError?: string;
  /** Most calls (heartbeats and pairs) in flight at once during the window. */
  readonly maxInFlight: number;
  /** CPU seconds of this worker inside the window, and its event-loop utilization (0..1). */
  readonly cpuSeconds: number;
  readonly eventLoopUtilization: number;
  readonly beats: BeatTotals;
}

export interface ScaleResults {
  connect: { readonly pid: number };
  grow: GrowResult;
  window: ScaleWindowResult;
  stop: { readonly beats: BeatTotals };
}

export interface ParentToScaleWorker {
  readonly id: number;
  readonly command: ScaleCommand;
}

export type ScaleWorkerToParent =
  | { readonly type: 'ready' }
  | { readonly type: 'reply'; readonly id: number; readonly ok: true; readonly result: ScaleResults[ScaleCommandName] }
  | { readonly type: 'reply'; readonly id: number; readonly ok: false; readonly error: string };

export function isParentToScaleWorker(m: unknown): m is ParentToScaleWorker {
  return typeof m === 'object' && m !== null && typeof (m as { id?: unknown }).id === 'number' && typeof (m as { command?: unknown }).command === 'object';
}

export function isScaleWorkerToParent(m: unknown): m is ScaleWorkerToParent {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'ready' || t === 'reply';
}
