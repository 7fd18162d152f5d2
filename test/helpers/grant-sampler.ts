import * as grpc from '@grpc/grpc-js';
import type { CheckoutResponse__Output } from '../../src/contract/generated/license/v1/CheckoutResponse';
import type { CloseSessionResponse__Output } from '../../src/contract/generated/license/v1/CloseSessionResponse';
import type { OpenSessionResponse__Output } from '../../src/contract/generated/license/v1/OpenSessionResponse';
import type { SeatServiceClient } from '../../src/contract/generated/license/v1/SeatService';
import { LICENSE_ERROR_KEY } from '../../src/contract/metadata';
import { loadLicenseProto } from '../../src/contract/proto';

/** One round of probes: for each node (in the order of the targets), did it grant a checkout? */
export interface GrantSample {
  readonly atMs: number;
  readonly granted: readonly boolean[];
  /** Why a node did not grant (`<grpc status> <license-error>`), for the log. */
  readonly errors: readonly (string | undefined)[];
}

export interface GrantSampler {
  readonly samples: readonly GrantSample[];
  /** Stops after the round in flight; closes the gRPC clients. */
  stop(): Promise<readonly GrantSample[]>;
}

export interface GrantSummary {
  readonly samples: number;
  /** Samples in which node i granted. */
  readonly grantedBy: readonly number[];
  /** Samples in which more than one node granted. */
  readonly several: number;
  /** Samples in which no node granted. */
  readonly none: number;
}

/** One unary call with a deadline, as a promise: `unary((opts, cb) => client.Checkout(req, opts, cb), 1_000)`. */
export function unary<Res>(call: (opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => unknown, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    call({ deadline: Date.now() + timeoutMs }, (err, res) => (err || !res ? reject(err ?? new Error('empty response')) : resolve(res)));
  });
}

/** `<grpc status> <license-error>` of a failed call, or its message. */
export function describeError(err: unknown): string {
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e.code !== 'number') return err instanceof Error ? err.message : String(err);
  const code = e.metadata?.get(LICENSE_ERROR_KEY)[0];
  return `${grpc.status[e.code]}${code === undefined ? '' : ` ${String(code)}`}`;
}

/**
 * Asks one node, over raw gRPC (no SDK: its retries and leader redirects would hide who
 * granted), for a seat: OpenSession, Checkout, then CloseSession (which releases it).
 * "Granted" means that node answered the Checkout OK.
 */
export async function probeGrant(
  client: SeatServiceClient,
  feature: string,
  clientId: string,
  timeoutMs = 1_000,
): Promise<{ granted: boolean; error?: string }> {
  let session: string | undefined;
  try {
    const req = { client_id: clientId, user: 'grant-probe', hostname: 'localhost', pid: process.pid };
    const opened = await unary<OpenSessionResponse__Output>((o, cb) => client.OpenSession(req, o, cb), timeoutMs);
    const sid = opened.session_id;
    session = sid;
    await unary<CheckoutResponse__Output>((o, cb) => client.Checkout({ session_id: sid, feature, count: 1 }, o, cb), timeoutMs);
    return { granted: true };
  } catch (err) {
    return { granted: false, error: describeError(err) };
  } finally {
    const sid = session;
    if (sid !== undefined)
      await unary<CloseSessionResponse__Output>((o, cb) => client.CloseSession({ session_id: sid }, o, cb), timeoutMs).catch(() => undefined);
  }
}

/**
 * Every `everyMs` (or as soon as the last round ends, if later) probes every node named by
 * `targets()` at once, each with its own session, and records who granted. `targets` is
 * read at each round, so a node restarted on a new port is followed.
 */
export function startGrantSampler(targets: () => readonly string[], opts: { feature: string; everyMs?: number; timeoutMs?: number }): GrantSampler {
  const proto = loadLicenseProto();
  const clients = new Map<string, SeatServiceClient>();
  const clientFor = (addr: string): SeatServiceClient => {
    let c = clients.get(addr);
    if (!c) {
      c = new proto.SeatService(addr, grpc.credentials.createInsecure());
      clients.set(addr, c);
    }
    return c;
  };
  const samples: GrantSample[] = [];
  let running = true;
  let round = 0;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const n = round++;
      const results = await Promise.all(targets().map((addr, i) => probeGrant(clientFor(addr), opts.feature, `grant-probe-${i}-${n}`, opts.timeoutMs)));
      samples.push({ atMs: started, granted: results.map((r) => r.granted), errors: results.map((r) => r.error) });
      const wait = started + (opts.everyMs ?? 100) - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await loop;
      for (const c of clients.values()) c.close();
      return samples;
    },
  };
}

export function summarize(samples: readonly GrantSample[]): GrantSummary {
  const width = Math.max(0, ...samples.map((s) => s.granted.length));
  const grantedBy = Array.from({ length: width }, (_, i) => samples.filter((s) => s.granted[i] === true).length);
  return {
    samples: samples.length,
    grantedBy,
    several: samples.filter((s) => s.granted.filter(Boolean).length > 1).length,
    none: samples.filter((s) => !s.granted.some(Boolean)).length,
  };
}

/** Sample times (ms after `t0`) at which several nodes granted, for the failure message. */
export function severalAt(samples: readonly GrantSample[], t0: number): number[] {
  return samples.filter((s) => s.granted.filter(Boolean).length > 1).map((s) => s.atMs - t0);
}

/** Longest time from `t0` or a sample in which some node granted to the next such sample (or the last sample): what a client waited. */
export function longestGapMs(samples: readonly GrantSample[], t0: number): number {
  let last = t0;
  let longest = 0;
  for (const s of samples) {
    if (!s.granted.some(Boolean)) continue;
    longest = Math.max(longest, s.atMs - last);
    last = s.atMs;
  }
  const end = samples[samples.length - 1]?.atMs ?? t0;
  return Math.max(longest, end - last);
}
