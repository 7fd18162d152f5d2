import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Role } from '../../server/config';
import type { UnsignedLicense } from '../../server/license/license-file';
import { type FaultProxy, startFaultProxy } from '../local/fault-proxy';
import { type LocalCluster, startLocalCluster } from '../local/local-cluster';
import type { LogLine } from '../local/node-process';
import { freePort } from '../local/ports';
import { type RedisProcess, startRedis } from '../local/redis-process';
import { LicenseClient, ServerBlockedError, SeatsExhaustedError } from '../../sdk/index';

export interface DrillTimings {
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly handbackAfterMs: number;
  readonly sessionTtlMs: number;
}

export const DRILL_FEATURE = 'cad-pro';
export const DRILL_SEATS = 6;
const PROBE_FEATURE = 'probe';

/** Timestamped events of one drill, printed as its timeline. */
export class Timeline {
  readonly t0 = Date.now();
  readonly events: { at: number; what: string }[] = [];

  mark(what: string, at = Date.now()): void {
    this.events.push({ at, what });
  }

  /** Adds the nodes' state transitions from their logs. */
  addTransitions(role: Role, lines: readonly LogLine[]): void {
    for (const l of lines) {
      if (typeof l['to'] === 'string' && typeof l['from'] === 'string') {
        this.mark(
          `${role}: ${String(l['from'])} -> ${String(l['to'])} (epoch ${typeof l['newEpoch'] === 'number' ? l['newEpoch'] : 0})`,
          Date.parse(String(l['timestamp'])),
        );
      }
    }
  }

  render(): string {
    return [...this.events]
      .filter((e) => e.at >= this.t0 - 1)
      .sort((a, b) => a.at - b.at)
      .map((e) => `  +${String(((e.at - this.t0) / 1000).toFixed(3)).padStart(8)}s  ${e.what}`)
      .join('\n');
  }
}

export interface WorkloadStats {
  /** Longest time between two successful probe checkouts: what a client sees as unavailability. */
  readonly maxGapMs: number;
  readonly probeOps: number;
  /** Highest seats-in-use of the drill feature sampled from Redis. */
  readonly maxUsed: number;
  readonly samples: number;
  /** Seats the holders lost (their sessions were dropped). */
  readonly seatsLost: number;
  readonly failoverEvents: number;
  readonly blockedRefusals: number;
}

/**
 * What clients do during a drill: holders keep seats (and must keep them), a greedy
 * client keeps trying to take every free seat (so a double grant would show), a probe
 * checks out and releases in a loop (its gaps are the unavailability), and a sampler
 * reads seats in use straight from Redis.
 */
export class Workload {
  private readonly clients: LicenseClient[] = [];
  private readonly holders: LicenseClient[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private lastProbeOk = 0;
  private maxGap = 0;
  private probeOps = 0;
  private maxUsed = 0;
  private samples = 0;
  private seatsLost = 0;
  private failovers = 0;
  private blocked = 0;
  private sampler: Redis | undefined;

  constructor(
    private readonly cluster: LocalCluster,
    private readonly timeline: Timeline,
  ) {}

  private client(id: string): LicenseClient {
    const c = new LicenseClient({
      endpoints: [this.cluster.addr.primary, this.cluster.addr.redundant],
      clientId: id,
      callTimeoutMs: 1_000,
      retryTimeoutMs: 60_000,
    });
    c.on('seatLost', (e) => {
      this.seatsLost++;
      this.timeline.mark(`client ${id}: lost seat ${e.seat.leaseId} (${e.reason})`);
    });
    c.on('failover', (e) => {
      this.failovers++;
      this.timeline.mark(`client ${id}: failover ${e.from} -> ${e.to}`);
    });
    this.clients.push(c);
    return c;
  }

  async start(): Promise<void> {
    this.running = true;
    for (const id of ['holder-1', 'holder-2']) {
      const c = this.client(id);
      this.holders.push(c);
      await c.checkout(DRILL_FEATURE, { count: 2 });
    }
    const greedy = this.client('greedy');
    const probe = this.client('probe');
    await probe.connect();
    this.lastProbeOk = Date.now();
    this.sampler = new Redis(this.cluster.redisUrl, { maxRetriesPerRequest: 0, retryStrategy: () => 100, enableOfflineQueue: false });
    this.sampler.on('error', () => {});
    const usedKey = `{lic:${this.cluster.clusterId}}:used`;
    this.loops = [
      (async () => {
        while (this.running) {
          try {
            await greedy.checkout(DRILL_FEATURE);
          } catch (err) {
            if (!(err instanceof SeatsExhaustedError) && !(err instanceof ServerBlockedError) && this.running) await sleep(100);
          }
          await sleep(30);
        }
      })(),
      (async () => {
        while (this.running) {
          try {
            const seat = await probe.checkout(PROBE_FEATURE);
            await seat.release();
            const now = Date.now();
            this.maxGap = Math.max(this.maxGap, now - this.lastProbeOk);
            this.lastProbeOk = now;
            this.probeOps++;
          } catch (err) {
            if (err instanceof ServerBlockedError) this.blocked++;
            await sleep(50);
          }
          await sleep(20);
        }
      })(),
      (async () => {
        while (this.running) {
          try {
            const used = Number((await this.sampler?.hget(usedKey, DRILL_FEATURE)) ?? 0);
            this.maxUsed = Math.max(this.maxUsed, used);
            this.samples++;
          } catch {
            // Redis away (the redis-restart drill): nothing to sample.
          }
          await sleep(20);
        }
      })(),
    ];
  }

  /** Seats the holders still hold (they start with 4). */
  held(): number {
    return this.holders.reduce((n, c) => n + c.heldSeats.reduce((k, s) => k + s.count, 0), 0);
  }

  async stop(): Promise<WorkloadStats> {
    this.running = false;
    await Promise.all(this.loops);
    this.maxGap = Math.max(this.maxGap, Date.now() - this.lastProbeOk);
    await Promise.all(this.clients.map((c) => c.close().catch(() => undefined)));
    this.sampler?.disconnect();
    return {
      maxGapMs: this.maxGap,
      probeOps: this.probeOps,
      maxUsed: this.maxUsed,
      samples: this.samples,
      seatsLost: this.seatsLost,
      failoverEvents: this.failovers,
      blockedRefusals: this.blocked,
    };
  }
}

/** A local cluster wired for faults: each node reaches Redis and its peer through its own proxy. */
export interface DrillCluster {
  readonly cluster: LocalCluster;
  readonly redis: RedisProcess;
  readonly redisProxy: Readonly<Record<Role, FaultProxy>>;
  /** peerProxy.primary carries the primary's heartbeats to the redundant, and the other way. */
  readonly peerProxy: Readonly<Record<Role, FaultProxy>>;
  restartRedis(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDrillCluster(t: DrillTimings, env: Record<string, string> = {}, failover?: UnsignedLicense['failover']): Promise<DrillCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'licensed-drill-'));
  const redisDir = path.join(dir, 'redis');
  mkdirSync(redisDir, { recursive: true });
  let redis = await startRedis({ appendOnly: true, dir: redisDir });
  const redisPort = redis.port;
  const ports = { primary: await freePort(), redundant: await freePort() };
  const redisProxy = { primary: await startFaultProxy('127.0.0.1', redisPort), redundant: await startFaultProxy('127.0.0.1', redisPort) };
  const peerProxy = { primary: await startFaultProxy('127.0.0.1', ports.redundant), redundant: await startFaultProxy('127.0.0.1', ports.primary) };
  const cluster = await startLocalCluster({
    dir,
    redisUrl: redis.url,
    ports,
    leaseTtlMs: t.leaseTtlMs,
    heartbeatIntervalMs: t.heartbeatIntervalMs,
    handbackAfterMs: t.handbackAfterMs,
    logFiles: true,
    ...(failover ? { failover } : {}),
    features: [
      { name: DRILL_FEATURE, seats: DRILL_SEATS },
      { name: PROBE_FEATURE, seats: 2 },
    ],
    env: { LICENSE_SESSION_TTL_MS: String(t.sessionTtlMs), ...env },
    roleEnv: {
      primary: { LICENSE_REDIS_URL: `redis://${redisProxy.primary.addr}`, LICENSE_PEER_ADDR: peerProxy.primary.addr },
      redundant: { LICENSE_REDIS_URL: `redis://${redisProxy.redundant.addr}`, LICENSE_PEER_ADDR: peerProxy.redundant.addr },
    },
  });
  return {
    cluster,
    get redis() {
      return redis;
    },
    redisProxy,
    peerProxy,
    async restartRedis() {
      await redis.stop();
      redis = await startRedis({ appendOnly: true, dir: redisDir, port: redisPort });
    },
    async stop() {
      await cluster.stop();
      for (const p of [...Object.values(redisProxy), ...Object.values(peerProxy)]) await p.close();
      await redis.stop();
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
