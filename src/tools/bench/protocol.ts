import type { HistogramSnapshot } from './histogram';

/**
 * The IPC contract between the bench parent and its child processes (load workers
 * and the baseline server). Every message is plain JSON (the default `fork`
 * serialization); the parent sends one command at a time per worker and waits for
 * the matching reply.
 */

/** Windows of a measured phase: warm up first, then record for `durationMs`. */
export interface Window {
  readonly warmupMs: number;
  readonly durationMs: number;
}

export type WorkerCommand =
  | { readonly cmd: 'connect'; readonly addr: string; readonly workerId: number; /** PEM of the CA, for a TLS run. */ readonly caPem?: string }
  /** Opens `count` sessions kept under `tag` (load loops use 'load', the memory probe 'hold'). */
  | { readonly cmd: 'openSessions'; readonly tag: string; readonly count: number }
  /** Closed loop: `concurrency` loops, each Checkout then Release, back to back. */
  | ({ readonly cmd: 'pairs'; readonly tag: string; readonly concurrency: number; readonly feature: string } & Window)
  /**
   * Open loop: a Checkout (then its Release) starts every 1000/ratePerSec ms whatever
   * is still in flight; latency counts from the intended start, so queueing shows.
   */
  | ({ readonly cmd: 'rate'; readonly tag: string; readonly ratePerSec: number; readonly offsetMs: number; readonly feature: string } & Window)
  /** Closed loop of Heartbeat calls over the tagged sessions. */
  | ({ readonly cmd: 'heartbeat'; readonly tag: string; readonly concurrency: number } & Window)
  /** Checks out `seats` single seats over the tagged sessions and keeps them. */
  | { readonly cmd: 'hold'; readonly tag: string; readonly seats: number; readonly concurrency: number; readonly feature: string }
  /** CloseSession on every tagged session (frees their seats). */
  | { readonly cmd: 'closeSessions'; readonly tag: string };

export type CommandName = WorkerCommand['cmd'];

export type OpName = 'checkout' | 'release' | 'heartbeat' | 'sendLag';

/** What one worker measured in one phase's recording window. */
export interface LoadResult {
  /** Units completed inside the window: pairs for pairs/rate, calls for heartbeat. */
  readonly completed: number;
  /** Length of the recording window as the worker saw it. */
  readonly windowMs: number;
  readonly ops: Partial<Record<OpName, HistogramSnapshot>>;
  readonly errors: number;
  readonly firstError?: string;
  /** Open loop only: the most calls in flight at once. */
  readonly maxInFlight?: number;
  /** Open loop only: starts that were due inside the window. */
  readonly scheduled?: number;
  /** CPU seconds (user + system) this worker used inside the window. */
  readonly cpuSeconds: number;
  /** Share of the window this worker's event loop was busy (0..1). */
  readonly eventLoopUtilization: number;
}

export interface CommandResults {
  connect: { readonly pid: number };
  openSessions: { readonly opened: number };
  pairs: LoadResult;
  rate: LoadResult;
  heartbeat: LoadResult;
  hold: { readonly held: number; readonly errors: number; readonly firstError?: string };
  closeSessions: { readonly closed: number; readonly leasesReleased: number };
}

export interface ParentToWorker {
  readonly id: number;
  readonly command: WorkerCommand;
}

export type WorkerToParent =
  | { readonly type: 'ready' }
  | { readonly type: 'reply'; readonly id: number; readonly ok: true; readonly result: CommandResults[CommandName] }
  | { readonly type: 'reply'; readonly id: number; readonly ok: false; readonly error: string };

/** Baseline server child -> parent. */
export type BaselineToParent = { readonly type: 'listening'; readonly port: number } | { readonly type: 'error'; readonly error: string };

/** Parent -> baseline server child (the environment carries the Redis URL). */
export const BASELINE_REDIS_URL_ENV = 'BENCH_BASELINE_REDIS_URL';

export function isParentToWorker(m: unknown): m is ParentToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { id?: unknown }).id === 'number' && typeof (m as { command?: unknown }).command === 'object';
}

export function isWorkerToParent(m: unknown): m is WorkerToParent {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'ready' || t === 'reply';
}

export function isBaselineToParent(m: unknown): m is BaselineToParent {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'listening' || t === 'error';
}
