import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Redis } from 'ioredis';
import { createAdminClient, type AdminClient } from '../../src/server/admin/admin-client';
import type { GetStatusResponse__Output } from '../../src/contract/generated/license/v1/GetStatusResponse';
import { FAST_RECONNECT_OPTIONS } from '../../src/server/grpc/server';
import { freePort } from '../../src/tools/local/ports';
import { loadLicenseProto } from '../../src/contract/proto';
import { clusterKeys } from '../../src/server/store/keys';
import { newClusterSecret, type StartedNode, startTestNode, TEST_TOKEN, testConfig } from './node';
import { connect, eventually, type RedisProcess, startRedis } from './redis';

/**
 * The cluster the fuzz test (test/fuzz) runs against: a real redis-server, a primary
 * and a redundant in process with short timings, raw gRPC clients that never throw
 * (every call resolves to an Outcome), and the background monitors that check the
 * invariants while the fuzzer and the failover loop run.
 */

export const FUZZ_FEATURES = [
  { name: 'cad-pro', seats: 5 },
  { name: 'solver', seats: 20 },
] as const;
export const SEATS: ReadonlyMap<string, number> = new Map(FUZZ_FEATURES.map((f) => [f.name, f.seats]));

/**
 * Short timings, so failovers, handbacks, session expiry, budget blocks and episode
 * ends all happen in a minute; low per-client and per-session limits, so they bite.
 */
export const FUZZ_ENV = Object.freeze({
  LICENSE_LEASE_TTL_MS: '1500',
  LICENSE_HEARTBEAT_INTERVAL_MS: '300',
  LICENSE_HANDBACK_AFTER_MS: '1000',
  LICENSE_SESSION_TTL_MS: '4000',
  LICENSE_MAX_SESSIONS_PER_CLIENT: '12',
  LICENSE_MAX_SEATS_PER_SESSION: '8',
});
/** The short failover terms of the fuzz cluster's license: budget blocks and episode ends happen within a minute. */
export const FUZZ_FAILOVER = Object.freeze({ budget_ms: 5_000, max_extension_ms: 2_000, reset_after_ms: 3_000 });
const MAX_SESSIONS_PER_CLIENT = Number(FUZZ_ENV.LICENSE_MAX_SESSIONS_PER_CLIENT);
const MAX_SEATS_PER_SESSION = Number(FUZZ_ENV.LICENSE_MAX_SEATS_PER_SESSION);

export interface Outcome {
  readonly code: grpc.status;
  readonly details: string;
  /** Trailing `license-error`, when the server sent one. */
  readonly licenseError: string | undefined;
  /** Trailing `license-leader`, when the server sent one. */
  readonly leader: string | undefined;
  readonly res: unknown;
}

export const codeName = (c: grpc.status): string => grpc.status[c] ?? `CODE_${c}`;

/** Unary calls by method name over any service definition; resolves with the status, never rejects. */
export class RawClient {
  private readonly client: grpc.Client;

  constructor(
    addr: string,
    private readonly service: grpc.ServiceDefinition,
  ) {
    this.client = new grpc.Client(addr, grpc.credentials.createInsecure(), FAST_RECONNECT_OPTIONS);
  }

  call(method: string, req: unknown, md: grpc.Metadata = new grpc.Metadata(), timeoutMs = 15_000): Promise<Outcome> {
    const def = this.service[method];
    if (!def) throw new Error(`no method ${method}`);
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        def.path,
        def.requestSerialize as (v: unknown) => Buffer,
        def.responseDeserialize as (b: Buffer) => unknown,
        req,
        md,
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: unknown) => {
          if (err) {
            const str = (key: string): string | undefined => {
              const v = err.metadata?.get(key)[0];
              return typeof v === 'string' ? v : undefined;
            };
            resolve({ code: err.code, details: err.details, licenseError: str('license-error'), leader: str('license-leader'), res: undefined });
          } else {
            resolve({ code: grpc.status.OK, details: '', licenseError: undefined, leader: undefined, res });
          }
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

export function tokenMetadata(value: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (value !== undefined) md.set('authorization', value);
  return md;
}

export interface FuzzCluster {
  readonly redis: RedisProcess;
  readonly nodes: readonly [StartedNode, StartedNode];
  readonly clusterId: string;
  readonly vendorPrivateKeyFile: string;
  readonly seat: readonly [RawClient, RawClient];
  readonly admin: readonly [RawClient, RawClient];
  /** Admin clients with the right token (the monitors and the failover loop). */
  readonly ops: readonly [AdminClient, AdminClient];
  /** A separate Redis connection for the seat sampler. */
  readonly probe: Redis;
}

/** Starts everything; `closers` gets a stop for each part as soon as it is up, so a failed start still cleans up. */
export async function startFuzzCluster(closers: (() => Promise<void> | void)[]): Promise<FuzzCluster> {
  const redis = await startRedis();
  closers.push(() => redis.stop());
  const [pPort, rPort] = [await freePort(), await freePort()];
  const pAddr = `127.0.0.1:${pPort}`;
  const rAddr = `127.0.0.1:${rPort}`;
  // Signed heartbeats, as every cluster with a peer must run (or say LICENSE_INSECURE_PEERS=true).
  const secret = newClusterSecret();
  const pc = testConfig(
    redis.url,
    { ...FUZZ_ENV, LICENSE_GRPC_ADDR: pAddr, LICENSE_PEER_ADDR: rAddr, LICENSE_CLUSTER_SECRET: secret },
    {
      features: [...FUZZ_FEATURES],
      failover: { ...FUZZ_FAILOVER },
    },
  );
  const primary = await startTestNode(pc);
  closers.push(() => primary.node.stop());
  const redundant = await startTestNode(
    testConfig(redis.url, {
      ...FUZZ_ENV,
      LICENSE_CLUSTER_ID: pc.clusterId,
      LICENSE_NODE_ID: 'node-b',
      LICENSE_GRPC_ADDR: rAddr,
      LICENSE_PEER_ADDR: pAddr,
      LICENSE_CLUSTER_SECRET: secret,
      LICENSE_FILE: pc.licenseFile,
      LICENSE_VENDOR_PUBLIC_KEY: pc.vendorPublicKeyFile,
    }),
  );
  closers.push(() => redundant.node.stop());
  const proto = loadLicenseProto();
  const seatDef = proto.SeatService.service as grpc.ServiceDefinition;
  const adminDef = proto.AdminService.service as grpc.ServiceDefinition;
  const seat = [new RawClient(primary.addr, seatDef), new RawClient(redundant.addr, seatDef)] as const;
  const admin = [new RawClient(primary.addr, adminDef), new RawClient(redundant.addr, adminDef)] as const;
  const ops = [
    createAdminClient(primary.addr, TEST_TOKEN, { timeoutMs: 15_000 }),
    createAdminClient(redundant.addr, TEST_TOKEN, { timeoutMs: 15_000 }),
  ] as const;
  closers.push(() => {
    for (const c of [...seat, ...admin, ...ops]) c.close();
  });
  const probe = connect(redis);
  closers.push(() => probe.disconnect());

  await eventually(async () => ((await ops[0].getStatus()).state === 'NODE_STATE_ACTIVE' ? true : undefined), 30_000, 'the primary to be ACTIVE');
  await eventually(
    async () => {
      const s = await ops[1].getStatus();
      return s.state === 'NODE_STATE_STANDBY' && s.peer?.reachable ? true : undefined;
    },
    30_000,
    'the redundant to be STANDBY and see the primary',
  );
  return {
    redis,
    nodes: [primary, redundant],
    clusterId: pc.clusterId,
    vendorPrivateKeyFile: path.join(path.dirname(pc.licenseFile), 'vendor-private.pem'),
    seat,
    admin,
    ops,
    probe,
  };
}

// ---- monitors -----------------------------------------------------------------------

/** Where every monitor reports: a broken invariant is a string that fails the run. */
export interface Findings {
  readonly violations: string[];
  violation(msg: string): void;
}

export function createFindings(): Findings {
  const violations: string[] = [];
  return {
    violations,
    violation(msg) {
      // Keep the first few; one broken invariant tends to repeat at every sample.
      if (violations.length < 20) violations.push(msg);
    },
  };
}

/** A loop that runs `tick` until stopped; `stop()` waits for the tick in progress. */
export class Loop {
  private running = true;
  private readonly done: Promise<void>;
  private wake: (() => void) | undefined;

  constructor(tick: () => Promise<number>, onError: (err: unknown) => void) {
    this.done = (async () => {
      while (this.running) {
        let waitMs = 50;
        try {
          waitMs = await tick();
        } catch (err) {
          onError(err);
        }
        if (!this.running) break;
        await new Promise<void>((r) => {
          const t = setTimeout(r, waitMs);
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.done;
  }
}

/**
 * Read-only and atomic (one script), over every session in the sessions zset: the
 * per-feature `used` counters against the leases that exist, lease ids whose lease is
 * gone, each session's `seats` counter against its leases, each session in its client
 * id's set, the largest client set, and the epoch counter.
 */
const SEAT_AUDIT_LUA = `
local p = ARGV[1]
local used = redis.call('HGETALL', KEYS[1])
local sids = redis.call('ZRANGE', KEYS[2], 0, -1)
local sum, dangling, badSeats, maxSeats, noClient, clients = {}, 0, {}, 0, 0, {}
for _, sid in ipairs(sids) do
  local own = 0
  for _, lid in ipairs(redis.call('SMEMBERS', p .. ':session:' .. sid .. ':leases')) do
    local l = redis.call('HMGET', p .. ':lease:' .. lid, 'feature', 'count')
    if l[1] then
      sum[l[1]] = (sum[l[1]] or 0) + tonumber(l[2])
      own = own + tonumber(l[2])
    else
      dangling = dangling + 1
    end
  end
  local h = redis.call('HMGET', p .. ':session:' .. sid, 'seats', 'client_id')
  local counted = tonumber(h[1] or '0')
  if counted ~= own and #badSeats < 10 then badSeats[#badSeats + 1] = sid .. ' counts ' .. counted .. ', holds ' .. own end
  if own > maxSeats then maxSeats = own end
  if not h[2] or redis.call('SISMEMBER', p .. ':client:' .. h[2], sid) == 0 then noClient = noClient + 1 end
  if h[2] then clients[h[2]] = true end
end
local maxClient = 0
for cid in pairs(clients) do
  local n = redis.call('SCARD', p .. ':client:' .. cid)
  if n > maxClient then maxClient = n end
end
local flat = {}
for f, n in pairs(sum) do flat[#flat + 1] = f; flat[#flat + 1] = n end
return {used, flat, dangling, #sids, redis.call('GET', KEYS[3]) or '0', badSeats, maxSeats, noClient, maxClient}
`;

export interface SeatAuditStats {
  samples: number;
  maxUsed: Map<string, number>;
  maxSessions: number;
  maxSeatsPerSession: number;
  maxSessionsPerClient: number;
}

/**
 * Samples Redis every ~20 ms: seats in use never above seats licensed, the `used`
 * counters equal to the leases that exist, no lease id without its lease, epochs
 * never going back.
 */
export function startSeatAudit(cluster: FuzzCluster, findings: Findings, stats: SeatAuditStats): Loop {
  const keys = clusterKeys(cluster.clusterId);
  let lastEpoch = 0;
  return new Loop(
    async () => {
      const r = (await cluster.probe.eval(SEAT_AUDIT_LUA, 3, keys.used, keys.sessions, keys.epoch, keys.prefix)) as [
        string[],
        (string | number)[],
        number,
        number,
        string,
        string[],
        number,
        number,
        number,
      ];
      stats.samples++;
      const [usedFlat, sumFlat, dangling, sessions, epochRaw, badSeats, maxSeats, noClient, maxClient] = r;
      stats.maxSeatsPerSession = Math.max(stats.maxSeatsPerSession, maxSeats);
      stats.maxSessionsPerClient = Math.max(stats.maxSessionsPerClient, maxClient);
      for (const b of badSeats) findings.violation(`redis: session ${b} seat(s) in its leases (the per-session seat counter drifted)`);
      if (maxSeats > MAX_SEATS_PER_SESSION) findings.violation(`redis: a session holds ${maxSeats} seats, the limit is ${MAX_SEATS_PER_SESSION}`);
      if (maxClient > MAX_SESSIONS_PER_CLIENT) findings.violation(`redis: a client id has ${maxClient} sessions, the limit is ${MAX_SESSIONS_PER_CLIENT}`);
      if (noClient > 0) findings.violation(`redis: ${noClient} session(s) missing from their client id's session set`);
      stats.maxSessions = Math.max(stats.maxSessions, sessions);
      const used = new Map<string, number>();
      for (let i = 0; i + 1 < usedFlat.length; i += 2) used.set(String(usedFlat[i]), Number(usedFlat[i + 1]));
      const held = new Map<string, number>();
      for (let i = 0; i + 1 < sumFlat.length; i += 2) held.set(String(sumFlat[i]), Number(sumFlat[i + 1]));
      for (const [f, n] of used) {
        const seats = SEATS.get(f);
        if (seats === undefined) findings.violation(`redis: seats in use for a feature that is not licensed: ${JSON.stringify(f)} = ${n}`);
        else if (n > seats) findings.violation(`redis: ${f} has ${n} seats in use, only ${seats} licensed (over-granted)`);
        if (n < 0) findings.violation(`redis: ${f} has a negative seat count ${n}`);
        stats.maxUsed.set(f, Math.max(stats.maxUsed.get(f) ?? 0, n));
      }
      for (const f of new Set([...used.keys(), ...held.keys()])) {
        if ((used.get(f) ?? 0) !== (held.get(f) ?? 0)) {
          findings.violation(`redis: used counter of ${JSON.stringify(f)} is ${used.get(f) ?? 0} but the sessions' leases hold ${held.get(f) ?? 0}`);
        }
      }
      if (dangling > 0) findings.violation(`redis: ${dangling} lease id(s) listed in a session whose lease hash is gone`);
      const epoch = Number(epochRaw);
      if (epoch < lastEpoch) findings.violation(`redis: the epoch counter went back from ${lastEpoch} to ${epoch}`);
      lastEpoch = epoch;
      return 20;
    },
    (err) => findings.violation(`seat audit failed: ${String(err)}`),
  );
}

const HOLDING = new Set(['NODE_STATE_ACTIVE', 'NODE_STATE_FAILOVER_ACTIVE', 'NODE_STATE_FAILOVER_BLOCKED']);

export interface StatusStats {
  samples: number;
  states: Map<string, number>;
  episodes: Map<string, { consumedMs: number; grantedMs: number }>;
  blockedSeen: number;
  listFeatures: Map<string, number>;
  /** The node last seen holding the lease (0 primary, 1 redundant). */
  lastHolder: 0 | 1;
}

/** Checks one GetStatus answer on its own and against what was seen before. */
function checkStatus(s: GetStatusResponse__Output, who: string, stats: StatusStats, lastHighest: number[], ix: number, findings: Findings): void {
  stats.states.set(`${who}:${s.state}`, (stats.states.get(`${who}:${s.state}`) ?? 0) + 1);
  if (HOLDING.has(s.state)) stats.lastHolder = ix === 0 ? 0 : 1;
  const b = s.budget;
  if (!b) {
    findings.violation(`${who} GetStatus without a budget`);
    return;
  }
  if (b.remaining_ms !== Math.max(0, b.granted_ms - b.consumed_ms)) findings.violation(`${who} budget arithmetic: ${JSON.stringify(b)}`);
  if (b.episode_id === '') {
    if (b.consumed_ms !== 0 || b.blocked) findings.violation(`${who} budget outside an episode must read consumed 0, not blocked: ${JSON.stringify(b)}`);
  } else {
    if (b.blocked) stats.blockedSeen++;
    const seen = stats.episodes.get(b.episode_id);
    if (seen && b.consumed_ms < seen.consumedMs) {
      findings.violation(
        `budget refunded: episode ${b.episode_id} consumed_ms went from ${seen.consumedMs} to ${b.consumed_ms} (${who} GetStatus: ${JSON.stringify(b)})`,
      );
    }
    if (seen && b.granted_ms < seen.grantedMs) {
      findings.violation(`budget shrank: episode ${b.episode_id} granted_ms went from ${seen.grantedMs} to ${b.granted_ms} (${who})`);
    }
    stats.episodes.set(b.episode_id, {
      consumedMs: Math.max(seen?.consumedMs ?? 0, b.consumed_ms),
      grantedMs: Math.max(seen?.grantedMs ?? 0, b.granted_ms),
    });
  }
  for (const f of s.features) {
    if (f.seats_total !== SEATS.get(f.name)) findings.violation(`${who} GetStatus shows ${f.name} with ${f.seats_total} seats`);
    if (f.seats_in_use < 0 || f.seats_in_use > f.seats_total)
      findings.violation(`${who} GetStatus: ${f.name} ${f.seats_in_use} of ${f.seats_total} seats in use`);
  }
  if (s.highest_epoch < (lastHighest[ix] ?? 0)) findings.violation(`${who} highest_epoch went back from ${lastHighest[ix]} to ${s.highest_epoch}`);
  lastHighest[ix] = s.highest_epoch;
}

/** Checks a ListFeatures answer (from the fuzzer or the monitor). Returns the problem, if any. */
export function listFeaturesProblem(res: unknown): string | undefined {
  const features = (res as { features?: { name: string; seats_total: number; seats_in_use: number }[] }).features ?? [];
  const names = features.map((f) => f.name).sort();
  if (JSON.stringify(names) !== JSON.stringify([...SEATS.keys()].sort())) return `ListFeatures lists ${JSON.stringify(names)}`;
  for (const f of features) {
    if (f.seats_total !== SEATS.get(f.name)) return `ListFeatures: ${f.name} has seats_total ${f.seats_total}`;
    if (f.seats_in_use < 0 || f.seats_in_use > f.seats_total)
      return `ListFeatures: ${f.name} ${f.seats_in_use} of ${f.seats_total} seats in use (over-granted)`;
  }
  return undefined;
}

/**
 * Asks both nodes, one call at a time (so each answer was read after the previous
 * one), for GetStatus and ListFeatures: the budget of an episode never goes back,
 * seats in use stay within the license, both nodes keep answering.
 */
export function startStatusMonitor(cluster: FuzzCluster, findings: Findings, stats: StatusStats): Loop {
  const lastHighest = [0, 0];
  const good = (): grpc.Metadata => tokenMetadata(`Bearer ${TEST_TOKEN}`);
  return new Loop(
    async () => {
      for (const ix of [0, 1] as const) {
        const who = ix === 0 ? 'primary' : 'redundant';
        const st = await cluster.admin[ix].call('GetStatus', {}, good());
        if (st.code !== grpc.status.OK) {
          findings.violation(`${who} GetStatus (right token) failed: ${codeName(st.code)} ${st.details}`);
          continue;
        }
        stats.samples++;
        checkStatus(st.res as GetStatusResponse__Output, who, stats, lastHighest, ix, findings);
        const lf = await cluster.seat[ix].call('ListFeatures', {});
        stats.listFeatures.set(`${who}:${codeName(lf.code)}`, (stats.listFeatures.get(`${who}:${codeName(lf.code)}`) ?? 0) + 1);
        if (lf.code === grpc.status.OK) {
          const p = listFeaturesProblem(lf.res);
          if (p) findings.violation(`${who} ${p}`);
        } else if (lf.code !== grpc.status.UNAVAILABLE) {
          findings.violation(`${who} ListFeatures answered ${codeName(lf.code)} ${lf.details}`);
        }
      }
      return 60;
    },
    (err) => findings.violation(`status monitor failed: ${String(err)}`),
  );
}

export interface FailoverStats {
  stepDowns: [number, number];
  skipped: number;
  noHolder: number;
}

/** A small seeded PRNG (mulberry32), so the failover rhythm follows the fuzz seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Every 1.5-3 s steps down whichever node holds the lease (AdminService.StepDown with
 * the token). About one time in three it lets the holder be, so the primary sometimes holds
 * long enough to end the failover episode.
 */
export function startFailoverLoop(cluster: FuzzCluster, findings: Findings, stats: FailoverStats, seed: number): Loop {
  const rnd = prng(seed);
  return new Loop(
    async () => {
      const wait = 1_500 + Math.floor(rnd() * 1_500);
      if (rnd() < 0.3) {
        stats.skipped++;
        return wait;
      }
      for (const ix of [0, 1] as const) {
        const s = await cluster.ops[ix].getStatus();
        if (!HOLDING.has(s.state)) continue;
        const r = await cluster.ops[ix].stepDown();
        if (r.stepped_down) stats.stepDowns[ix]++;
        return wait;
      }
      stats.noHolder++;
      return wait;
    },
    (err) => findings.violation(`failover loop: GetStatus/StepDown with the right token failed: ${String(err)}`),
  );
}
