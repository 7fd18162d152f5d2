// Over 300 lines on purpose: the worker's loops for each bench operation differ in what they time and must stay side by side.
/**
 * A load worker (child process of `npm run bench`): one grpc-js SeatService client
 * and N async loops. Runs the commands of ./protocol.ts and answers each with a
 * compact histogram per call kind; the parent merges them and computes percentiles.
 */
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { errorMessage } from '../../server/errors';
import type { SeatServiceClient } from '../../contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../../contract/proto';
import { Histogram } from './histogram';
import { type CommandResults, type CommandName, isParentToWorker, type LoadResult, type WorkerCommand, type WorkerToParent } from './protocol';

type Cmd<K extends CommandName> = Extract<WorkerCommand, { cmd: K }>;

const base = process.hrtime.bigint();
/** Monotonic milliseconds since this worker started, sub-microsecond resolution. */
const nowMs = (): number => Number(process.hrtime.bigint() - base) / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Setup calls (sessions, hold, close) get a deadline; load calls do not, so the timer does not cost. */
const SETUP_DEADLINE_MS = 15_000;

let client: SeatServiceClient | undefined;
let workerId = 0;
const sessions = new Map<string, string[]>();

function send(m: WorkerToParent): void {
  process.send?.(m);
}

function seatClient(): SeatServiceClient {
  if (!client) throw new Error('worker not connected');
  return client;
}

function call<Res>(start: (cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => start((err, res) => (err || res === undefined ? reject(err ?? new Error('empty reply')) : resolve(res))));
}

const setup = (): grpc.CallOptions => ({ deadline: Date.now() + SETUP_DEADLINE_MS });

function checkout(sessionId: string, feature: string): Promise<string> {
  const c = seatClient();
  return call<{ lease_id: string }>((cb) => c.Checkout({ session_id: sessionId, feature, count: 1 }, cb)).then((r) => r.lease_id);
}

function release(sessionId: string, leaseId: string): Promise<boolean> {
  const c = seatClient();
  return call<{ released: boolean }>((cb) => c.Release({ session_id: sessionId, lease_id: leaseId }, cb)).then((r) => r.released);
}

function tagged(tag: string): readonly string[] {
  const s = sessions.get(tag);
  if (!s || s.length === 0) throw new Error(`no open sessions tagged ${tag}`);
  return s;
}

class Errors {
  count = 0;
  first: string | undefined;
  add(err: unknown): void {
    this.count++;
    this.first ??= errorMessage(err);
  }
}

interface Usage {
  readonly cpuSeconds: number;
  readonly eventLoopUtilization: number;
}

/**
 * CPU seconds and event-loop utilization of this process between two instants
 * (sampled by timers, so a few ms coarse). Utilization near 1 means this worker,
 * not the server, was the limit.
 */
function usageBetween(startMs: number, endMs: number): Promise<Usage> {
  type Sample = { cpu: NodeJS.CpuUsage; elu: EventLoopUtilization };
  const at = (t: number): Promise<Sample> =>
    new Promise((r) => setTimeout(() => r({ cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() }), Math.max(0, t - nowMs())));
  return Promise.all([at(startMs), at(endMs)]).then(([a, b]) => ({
    cpuSeconds: (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1e6,
    eventLoopUtilization: performance.eventLoopUtilization(b.elu, a.elu).utilization,
  }));
}

/** Runs `concurrency` loops of `body` until the window ends; `body` records only what falls inside it. */
async function closedLoop(
  w: { warmupMs: number; durationMs: number; concurrency: number },
  body: (loop: number, inWindow: (t: number) => boolean) => Promise<void>,
): Promise<{ windowMs: number } & Usage> {
  const start = nowMs() + w.warmupMs;
  const end = start + w.durationMs;
  const usage = usageBetween(start, end);
  const inWindow = (t: number): boolean => t >= start && t <= end;
  await Promise.all(
    Array.from({ length: w.concurrency }, async (_v, i) => {
      while (nowMs() < end) await body(i, inWindow);
    }),
  );
  return { windowMs: w.durationMs, ...(await usage) };
}

async function runPairs(cmd: Cmd<'pairs'>): Promise<LoadResult> {
  const ids = tagged(cmd.tag);
  const ck = new Histogram();
  const rel = new Histogram();
  const errors = new Errors();
  let completed = 0;
  const { windowMs, cpuSeconds, eventLoopUtilization } = await closedLoop(cmd, async (i, inWindow) => {
    const sid = ids[i % ids.length] as string;
    const a = nowMs();
    try {
      const lease = await checkout(sid, cmd.feature);
      const b = nowMs();
      if (inWindow(b)) ck.recordMs(b - a);
      await release(sid, lease);
      const c = nowMs();
      if (inWindow(c)) {
        rel.recordMs(c - b);
        completed++;
      }
    } catch (err) {
      errors.add(err);
      await sleep(5);
    }
  });
  return {
    completed,
    windowMs,
    cpuSeconds,
    eventLoopUtilization,
    ops: { checkout: ck.snapshot(), release: rel.snapshot() },
    errors: errors.count,
    ...(errors.first ? { firstError: errors.first } : {}),
  };
}

async function runHeartbeat(cmd: Cmd<'heartbeat'>): Promise<LoadResult> {
  const ids = tagged(cmd.tag);
  const c = seatClient();
  const hb = new Histogram();
  const errors = new Errors();
  let completed = 0;
  const { windowMs, cpuSeconds, eventLoopUtilization } = await closedLoop(cmd, async (i, inWindow) => {
    const sid = ids[i % ids.length] as string;
    const a = nowMs();
    try {
      await call((cb) => c.Heartbeat({ session_id: sid }, cb));
      const b = nowMs();
      if (inWindow(b)) {
        hb.recordMs(b - a);
        completed++;
      }
    } catch (err) {
      errors.add(err);
      await sleep(5);
    }
  });
  return {
    completed,
    windowMs,
    cpuSeconds,
    eventLoopUtilization,
    ops: { heartbeat: hb.snapshot() },
    errors: errors.count,
    ...(errors.first ? { firstError: errors.first } : {}),
  };
}

/**
 * Open loop: starts are scheduled at fixed intended instants and never wait for
 * earlier calls, and latency counts from the intended instant, so a stalled server
 * shows up as latency instead of silently lowering the offered rate (no
 * coordinated omission). Timer lateness in this process counts too; `sendLag`
 * reports how much of it there was.
 */
async function runRate(cmd: Cmd<'rate'>): Promise<LoadResult> {
  const ids = tagged(cmd.tag);
  const ck = new Histogram();
  const rel = new Histogram();
  const lag = new Histogram();
  const errors = new Errors();
  const interval = 1_000 / cmd.ratePerSec;
  const t0 = nowMs();
  const start = t0 + cmd.warmupMs;
  const end = start + cmd.durationMs;
  const usage = usageBetween(start, end);
  let next = t0 + cmd.offsetMs;
  let k = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let scheduled = 0;
  let completed = 0;
  let schedulingDone = false;
  let drained: () => void = () => {};
  const allDone = new Promise<void>((r) => (drained = r));

  const fire = (intended: number): void => {
    const record = intended >= start;
    if (record) scheduled++;
    const sid = ids[k++ % ids.length] as string;
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    if (record) lag.recordMs(nowMs() - intended);
    checkout(sid, cmd.feature)
      .then((lease) => {
        const b = nowMs();
        if (record) ck.recordMs(b - intended);
        if (b >= start && b <= end) completed++;
        return release(sid, lease).then(() => {
          if (record) rel.recordMs(nowMs() - b);
        });
      })
      .catch((err: unknown) => errors.add(err))
      .finally(() => {
        inFlight--;
        if (schedulingDone && inFlight === 0) drained();
      });
  };
  const tick = (): void => {
    const now = nowMs();
    while (next <= now && next < end) {
      fire(next);
      next += interval;
    }
    if (next < end) {
      setTimeout(tick, Math.max(0, next - nowMs()));
    } else {
      schedulingDone = true;
      if (inFlight === 0) drained();
    }
  };
  tick();
  await Promise.race([allDone, sleep(cmd.warmupMs + cmd.durationMs + 30_000)]);
  if (inFlight > 0) errors.add(new Error(`${inFlight} calls still in flight 30 s after the window`));
  return {
    completed,
    windowMs: cmd.durationMs,
    ...(await usage),
    ops: { checkout: ck.snapshot(), release: rel.snapshot(), sendLag: lag.snapshot() },
    errors: errors.count,
    ...(errors.first ? { firstError: errors.first } : {}),
    maxInFlight,
    scheduled,
  };
}

async function openSessions(cmd: Cmd<'openSessions'>): Promise<CommandResults['openSessions']> {
  const c = seatClient();
  const ids = await Promise.all(
    Array.from({ length: cmd.count }, (_v, i) =>
      call<{ session_id: string }>((cb) =>
        c.OpenSession({ client_id: `bench-w${workerId}-${cmd.tag}-${i}`, user: 'bench', hostname: 'localhost', pid: process.pid }, setup(), cb),
      ).then((r) => r.session_id),
    ),
  );
  sessions.set(cmd.tag, [...(sessions.get(cmd.tag) ?? []), ...ids]);
  return { opened: ids.length };
}

async function hold(cmd: Cmd<'hold'>): Promise<CommandResults['hold']> {
  const ids = tagged(cmd.tag);
  const c = seatClient();
  const errors = new Errors();
  let taken = 0;
  let held = 0;
  await Promise.all(
    Array.from({ length: cmd.concurrency }, async () => {
      while (taken < cmd.seats) {
        const sid = ids[taken++ % ids.length] as string;
        try {
          await call((cb) => c.Checkout({ session_id: sid, feature: cmd.feature, count: 1 }, setup(), cb));
          held++;
        } catch (err) {
          errors.add(err);
        }
      }
    }),
  );
  return { held, errors: errors.count, ...(errors.first ? { firstError: errors.first } : {}) };
}

async function closeSessions(cmd: Cmd<'closeSessions'>): Promise<CommandResults['closeSessions']> {
  const c = seatClient();
  const ids = sessions.get(cmd.tag) ?? [];
  sessions.delete(cmd.tag);
  const released = await Promise.all(
    ids.map((sid) => call<{ leases_released: number }>((cb) => c.CloseSession({ session_id: sid }, setup(), cb)).then((r) => r.leases_released)),
  );
  return { closed: ids.length, leasesReleased: released.reduce((a, b) => a + b, 0) };
}

async function handle(command: WorkerCommand): Promise<CommandResults[CommandName]> {
  switch (command.cmd) {
    case 'connect': {
      workerId = command.workerId;
      const proto = loadLicenseProto();
      client?.close();
      const creds = command.caPem === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(Buffer.from(command.caPem));
      client = new proto.SeatService(command.addr, creds);
      const c = client;
      await new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + SETUP_DEADLINE_MS, (err) => (err ? reject(err) : resolve())));
      return { pid: process.pid };
    }
    case 'openSessions':
      return openSessions(command);
    case 'pairs':
      return runPairs(command);
    case 'rate':
      return runRate(command);
    case 'heartbeat':
      return runHeartbeat(command);
    case 'hold':
      return hold(command);
    case 'closeSessions':
      return closeSessions(command);
  }
}

// Runs only as a forked child; the parent's going away (even SIGKILL) closes the IPC channel.
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the parent decides when workers stop.
process.on('SIGINT', () => {});
process.on('message', (m: unknown) => {
  if (!isParentToWorker(m)) return;
  handle(m.command).then(
    (result) => send({ type: 'reply', id: m.id, ok: true, result }),
    (err: unknown) => send({ type: 'reply', id: m.id, ok: false, error: errorMessage(err) }),
  );
});
send({ type: 'ready' });
