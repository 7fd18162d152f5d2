// Over 300 lines on purpose: background heartbeats, setup and recording windows share the worker's state (sessions, the open recording) and read best side by side.
/**
 * A load worker of `npm run bench -- scale` (child process): one HTTP/2 connection and
 * raw gRPC calls (./raw-grpc.ts; no SDK, no grpc-js client: tens of thousands of SDK
 * clients, or even grpc-js calls, would cost the load generator more CPU than the server
 * spends). Heartbeat requests are encoded once per session. Every session it opens heartbeats in the background
 * at the interval the server gave, evenly spread over the interval, until `stop`; the
 * parent opens recording windows (./scale-protocol.ts).
 */
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { loadLicenseProto } from '../../contract/proto';
import { errorMessage } from '../../server/errors';
import { Histogram } from './histogram';
import { grpcFrame, RawCallError, RawGrpcClient } from './raw-grpc';
import {
  type BeatTotals,
  type GrowResult,
  isParentToScaleWorker,
  type ScaleCommand,
  type ScaleCommandName,
  type ScaleResults,
  type ScaleWindowResult,
  type ScaleWorkerToParent,
} from './scale-protocol';

type Cmd<K extends ScaleCommandName> = Extract<ScaleCommand, { cmd: K }>;

const base = process.hrtime.bigint();
/** Monotonic milliseconds since this worker started. */
const nowMs = (): number => Number(process.hrtime.bigint() - base) / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Setup calls get a deadline; heartbeats and pairs do not, so no timer per call. */
const SETUP_DEADLINE_MS = 30_000;

const seat = loadLicenseProto().SeatService.service;
let client: RawGrpcClient | undefined;
let workerId = 0;
const ids: string[] = [];
/** The encoded HeartbeatRequest of each session (same index as `ids`). */
const heartbeatBodies: Buffer[] = [];
let intervalMs = 0;
let ttlMs = 0;

class Errors {
  count = 0;
  first: string | undefined;
  add(err: unknown): void {
    this.count++;
    this.first ??= errorMessage(err);
  }
}

const totals = { sent: 0, ok: 0, retries: 0, errors: new Errors() };
let inFlight = 0;
let maxInFlight = 0;

/** The recording window, if one is open: heartbeats due in [start, end] are recorded. */
interface Recording {
  readonly start: number;
  readonly end: number;
  readonly heartbeat: Histogram;
  readonly sendLag: Histogram;
  readonly errors: Errors;
  completed: number;
  /** Heartbeats due in the window still in flight. */
  pending: number;
}
let recording: Recording | undefined;

function rawClient(): RawGrpcClient {
  if (!client) throw new Error('worker not connected');
  return client;
}

function checkout(sessionId: string, feature: string, timeoutMs?: number): Promise<string> {
  const body = grpcFrame(seat.Checkout.requestSerialize({ session_id: sessionId, feature, count: 1 }));
  return rawClient()
    .unary(seat.Checkout.path, body, timeoutMs)
    .then((m) => seat.Checkout.responseDeserialize(m).lease_id);
}

function release(sessionId: string, leaseId: string): Promise<void> {
  return rawClient()
    .unary(seat.Release.path, grpcFrame(seat.Release.requestSerialize({ session_id: sessionId, lease_id: leaseId })))
    .then(() => undefined);
}

function beatTotals(): BeatTotals {
  return {
    sessions: ids.length,
    sent: totals.sent,
    ok: totals.ok,
    retries: totals.retries,
    lost: lost.size,
    errors: totals.errors.count,
    ...(totals.errors.first ? { firstError: totals.errors.first } : {}),
    intervalMs,
    ttlMs,
  };
}

const enter = (): void => {
  inFlight++;
  if (inFlight > maxInFlight) maxInFlight = inFlight;
};

// --- Background heartbeats: session after session, intervalMs / sessions apart, so each
// session beats once per interval whatever the count (a session added mid-round waits at
// most about one more interval: well inside the TTL, which is three intervals).
let beating = false;
/** While a window pauses them, no heartbeat is sent (the sessions outlive a pause of a few seconds). */
let paused = false;
let next = 0;
let cursor = 0;
let timer: NodeJS.Timeout | undefined;
/** Indexes of sessions the server no longer knows (NOT_FOUND): a real client would open a new one; these stay out of the rotation. */
const lost = new Set<number>();

/** grpc-status NOT_FOUND: the session expired or is unknown. */
const NOT_FOUND = 5;

/**
 * Retries the heartbeats may spend: refilled by a tenth of a token per scheduled
 * heartbeat, so retries stay within 10% of the nominal rate (gRPC's retry throttling, in
 * spirit). Without a budget, a stall that makes the node refuse calls ("busy") turns into
 * a retry storm that keeps it refusing: the bench would measure its own load generator.
 */
const RETRY_BUDGET_MAX = 100;
let retryTokens = RETRY_BUDGET_MAX;

/**
 * One heartbeat of session `i`, due at `due`. Like the SDK, a failed heartbeat is tried
 * again with exponential backoff (250 ms doubling, at most 4 s, jittered) while the
 * session still has more than one interval left and the retry budget allows; its latency
 * counts from `due` to the answer that renewed the session, retries included.
 */
function beat(i: number, due: number): void {
  const rec = recording !== undefined && due >= recording.start && due <= recording.end ? recording : undefined;
  if (rec) {
    rec.sendLag.recordMs(nowMs() - due);
    rec.pending++;
  }
  const done = (): void => {
    if (rec) rec.pending--;
  };
  const attempt = (n: number): void => {
    totals.sent++;
    enter();
    rawClient()
      .unary(seat.Heartbeat.path, heartbeatBodies[i] as Buffer)
      .then(
        () => {
          totals.ok++;
          if (rec) {
            rec.heartbeat.recordMs(nowMs() - due);
            rec.completed++;
          }
          done();
        },
        (err: unknown) => {
          totals.errors.add(err);
          const gone = err instanceof RawCallError && err.grpcStatus === NOT_FOUND;
          if (gone) lost.add(i);
          if (!gone && beating && nowMs() - due < ttlMs - intervalMs && retryTokens >= 1) {
            retryTokens--;
            totals.retries++;
            setTimeout(() => attempt(n + 1), Math.min(4_000, 250 * 2 ** n) * (0.5 + Math.random() / 2));
            return;
          }
          rec?.errors.add(err);
          done();
        },
      )
      .finally(() => inFlight--);
  };
  retryTokens = Math.min(RETRY_BUDGET_MAX, retryTokens + 0.1);
  attempt(0);
}

function tick(): void {
  timer = undefined;
  if (!beating || paused || ids.length === 0 || intervalMs <= 0) return;
  const now = nowMs();
  // A late tick sends everything that was due (open loop): the lag shows in sendLag.
  while (next <= now) {
    cursor %= ids.length;
    if (!lost.has(cursor)) beat(cursor, next);
    cursor++;
    next += intervalMs / ids.length;
  }
  timer = setTimeout(tick, Math.max(0, next - nowMs()));
}

/** (Re)starts the rotation at the next slot from now: after a pause, the slots missed are skipped, not sent in a burst. */
function restartTicks(): void {
  next = nowMs() + intervalMs / ids.length;
  if (timer) clearTimeout(timer);
  tick();
}

/** Called after each new session: starts the beats, or brings the next one closer now that they are more frequent. */
function sessionAdded(): void {
  const step = intervalMs / ids.length;
  if (!beating) {
    beating = true;
    restartTicks();
  } else if (next > nowMs() + step) {
    restartTicks();
  }
}

/** Busy refusals and unavailability during setup are tried again (as the SDK would), so every step reaches its size. */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await fn();
    } catch (err) {
      const transient = err instanceof RawCallError && (err.grpcStatus === 8 || err.grpcStatus === 14);
      if (!transient || n >= 8) throw err;
      await sleep(Math.min(4_000, 100 * 2 ** n));
    }
  }
}

async function grow(cmd: Cmd<'grow'>): Promise<GrowResult> {
  const c = rawClient();
  const errors = new Errors();
  let opened = 0;
  let held = 0;
  let started = 0;
  const first = ids.length;
  await Promise.all(
    Array.from({ length: Math.min(cmd.concurrency, cmd.sessions) }, async () => {
      while (started < cmd.sessions) {
        const j = started++;
        try {
          const req = { client_id: `bench-scale-w${workerId}-${first + j}`, user: 'bench', hostname: 'localhost', pid: process.pid };
          const body = grpcFrame(seat.OpenSession.requestSerialize(req));
          const s = seat.OpenSession.responseDeserialize(await retrying(() => c.unary(seat.OpenSession.path, body, SETUP_DEADLINE_MS)));
          if (intervalMs === 0) {
            intervalMs = s.heartbeat_interval_ms;
            ttlMs = s.ttl_ms;
          }
          ids.push(s.session_id);
          heartbeatBodies.push(grpcFrame(seat.Heartbeat.requestSerialize({ session_id: s.session_id })));
          opened++;
          sessionAdded();
          // Session j of this batch gets its even share of the batch's seats.
          const seats = Math.floor((cmd.seats * (j + 1)) / cmd.sessions) - Math.floor((cmd.seats * j) / cmd.sessions);
          for (let k = 0; k < seats; k++) {
            await retrying(() => checkout(s.session_id, cmd.feature, SETUP_DEADLINE_MS));
            held++;
          }
        } catch (err) {
          errors.add(err);
        }
      }
    }),
  );
  return { opened, held, errors: errors.count, ...(errors.first ? { firstError: errors.first } : {}), beats: beatTotals() };
}

/** CPU seconds and event-loop utilization of this process between two instants (timer-sampled). */
function usageBetween(startMs: number, endMs: number): Promise<{ cpuSeconds: number; eventLoopUtilization: number }> {
  type Sample = { cpu: NodeJS.CpuUsage; elu: EventLoopUtilization };
  const at = (t: number): Promise<Sample> =>
    new Promise((r) => setTimeout(() => r({ cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() }), Math.max(0, t - nowMs())));
  return Promise.all([at(startMs), at(endMs)]).then(([a, b]) => ({
    cpuSeconds: (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1e6,
    eventLoopUtilization: performance.eventLoopUtilization(b.elu, a.elu).utilization,
  }));
}

/**
 * Open-loop pairs, as worker.ts's `rate`: a Checkout starts every 1000/rate ms whatever
 * is in flight, its latency counted from the instant it was due (no coordinated
 * omission); its Release follows its answer.
 */
type PairFigures = Pick<ScaleWindowResult, 'pairs' | 'pairsScheduled' | 'checkout' | 'release' | 'pairErrors' | 'firstPairError'>;

async function pairs(cmd: Cmd<'window'>, start: number, end: number): Promise<PairFigures> {
  const checkoutMs = new Histogram();
  const releaseMs = new Histogram();
  const errors = new Errors();
  let completed = 0;
  let scheduled = 0;
  if (cmd.pairsPerSec <= 0 || ids.length === 0) {
    return { pairs: 0, pairsScheduled: 0, checkout: checkoutMs.snapshot(), release: releaseMs.snapshot(), pairErrors: 0 };
  }
  const step = 1_000 / cmd.pairsPerSec;
  let due = nowMs() + cmd.offsetMs;
  let k = workerId * 7_919; // another first session per worker
  let open = 0;
  let done: () => void = () => {};
  const drained = new Promise<void>((r) => (done = r));
  let scheduling = true;
  const fire = (at: number): void => {
    const record = at >= start;
    if (record) scheduled++;
    // Sessions the server lost would only measure NOT_FOUND answers: take the next live one.
    for (let tries = 0; tries < ids.length && lost.has(k % ids.length); tries++) k++;
    const sid = ids[k++ % ids.length] as string;
    open++;
    enter();
    checkout(sid, cmd.feature)
      .then((leaseId) => {
        const b = nowMs();
        if (record) checkoutMs.recordMs(b - at);
        return release(sid, leaseId).then(() => {
          const e = nowMs();
          if (record) releaseMs.recordMs(e - b);
          if (e >= start && e <= end) completed++;
        });
      })
      .catch((err: unknown) => errors.add(err))
      .finally(() => {
        inFlight--;
        open--;
        if (!scheduling && open === 0) done();
      });
  };
  const run = (): void => {
    const now = nowMs();
    while (due <= now && due < end) {
      fire(due);
      due += step;
    }
    if (due < end) setTimeout(run, Math.max(0, due - nowMs()));
    else {
      scheduling = false;
      if (open === 0) done();
    }
  };
  run();
  await Promise.race([drained, sleep(end - nowMs() + 30_000)]);
  if (open > 0) errors.add(new Error(`${open} pairs still in flight 30 s after the window`));
  return {
    pairs: completed,
    pairsScheduled: scheduled,
    checkout: checkoutMs.snapshot(),
    release: releaseMs.snapshot(),
    pairErrors: errors.count,
    ...(errors.first ? { firstPairError: errors.first } : {}),
  };
}

async function window(cmd: Cmd<'window'>): Promise<ScaleWindowResult> {
  const start = nowMs() + cmd.warmupMs;
  const end = start + cmd.durationMs;
  const rec: Recording = { start, end, heartbeat: new Histogram(), sendLag: new Histogram(), errors: new Errors(), completed: 0, pending: 0 };
  recording = rec;
  maxInFlight = inFlight;
  if (cmd.pauseHeartbeats) paused = true;
  const usage = usageBetween(start, end);
  let p: PairFigures;
  try {
    p = await pairs(cmd, start, end);
    // Wait for the window's end, then for the heartbeats due in it (at most 30 s more).
    await sleep(Math.max(0, end - nowMs()));
  } finally {
    if (paused) {
      paused = false;
      if (beating) restartTicks();
    }
  }
  const giveUp = nowMs() + 30_000;
  while (rec.pending > 0 && nowMs() < giveUp) await sleep(10);
  if (rec.pending > 0) rec.errors.add(new Error(`${rec.pending} heartbeats still in flight 30 s after the window`));
  if (recording === rec) recording = undefined;
  return {
    windowMs: cmd.durationMs,
    heartbeats: rec.completed,
    heartbeat: rec.heartbeat.snapshot(),
    heartbeatErrors: rec.errors.count,
    ...(rec.errors.first ? { firstHeartbeatError: rec.errors.first } : {}),
    sendLag: rec.sendLag.snapshot(),
    ...p,
    maxInFlight,
    ...(await usage),
    beats: beatTotals(),
  };
}

async function stop(): Promise<ScaleResults['stop']> {
  beating = false;
  if (timer) clearTimeout(timer);
  const giveUp = nowMs() + 10_000;
  while (inFlight > 0 && nowMs() < giveUp) await sleep(10);
  return { beats: beatTotals() };
}

async function handle(command: ScaleCommand): Promise<ScaleResults[ScaleCommandName]> {
  switch (command.cmd) {
    case 'connect': {
      workerId = command.workerId;
      client?.close();
      client = await RawGrpcClient.connect(command.addr, SETUP_DEADLINE_MS);
      return { pid: process.pid };
    }
    case 'grow':
      return grow(command);
    case 'window':
      return window(command);
    case 'stop':
      return stop();
  }
}

function send(m: ScaleWorkerToParent): void {
  process.send?.(m);
}

// Runs only as a forked child; the parent's going away (even SIGKILL) closes the IPC channel.
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the parent decides when workers stop.
process.on('SIGINT', () => {});
process.on('message', (m: unknown) => {
  if (!isParentToScaleWorker(m)) return;
  handle(m.command).then(
    (result) => send({ type: 'reply', id: m.id, ok: true, result }),
    (err: unknown) => send({ type: 'reply', id: m.id, ok: false, error: errorMessage(err) }),
  );
});
send({ type: 'ready' });
