import calculateSlot from 'cluster-key-slot';
import { Cluster, type Redis } from 'ioredis';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import type { FailoverSignal } from './failover-watch';

/** What a node asks of its Redis before it tells anyone a write succeeded. */
export interface ReplicaAckSettings {
  /** Replicas that must hold a write (LICENSE_REDIS_MIN_REPLICAS); 0 turns the wait off. */
  readonly minReplicas: number;
  /** How long one WAIT may block; past it the write counts as not acknowledged. */
  readonly timeoutMs: number;
  /** Any key of the license cluster: on Redis Cluster it names the shard whose replicas must answer. */
  readonly slotKey: string;
}

/** What the last WAIT found, for metrics, GetStatus and the health check. */
export interface ReplicaAckState {
  /** Replicas a write must reach now: every replica in sync with the master, and never fewer than LICENSE_REDIS_MIN_REPLICAS. */
  readonly required: number;
  /** Replicas that acknowledged the last WAIT; undefined before the first. */
  readonly lastAcked: number | undefined;
  /** False after a WAIT that came back short or failed, until one succeeds. */
  readonly ok: boolean;
}

/** A replica the master heard from within this many seconds (INFO `lag`; replicas report every second) is in sync, and must acknowledge. */
const IN_SYNC_MAX_LAG_S = 2;
/** A confirm reads the master's replica list again when the last reading is older than this. */
const REPLICA_LIST_MAX_AGE_MS = 1_000;
/** A replica that leaves the in-sync set is still required this long (see #refresh). */
const SHRINK_SETTLE_MS = 1_000;

/**
 * Makes "acknowledged" mean "survives a master failover": after a write script returns,
 * the caller awaits confirm(), which runs Redis `WAIT` on the same connection (WAIT covers
 * every write that connection made before it) and throws REPLICAS_UNAVAILABLE when too few
 * replicas acknowledged in time.
 *
 * How many: every replica in sync with the master, never fewer than
 * LICENSE_REDIS_MIN_REPLICAS. Waiting for only that minimum lost acknowledged writes: the
 * sentinels promote the replica whose replication offset looked highest in an INFO reply
 * up to 10 s old, which under load can be one that had not yet received writes another
 * replica acknowledged (seen once in CI: sessions opened a second before a SENTINEL
 * FAILOVER were gone afterwards). With every in-sync replica holding every confirmed
 * write, whichever one is promoted has them. A replica that is down or far behind (its
 * `lag` over IN_SYNC_MAX_LAG_S) is not waited for, so losing a data server costs a few
 * seconds of refused writes, not availability; LICENSE_REDIS_MIN_REPLICAS stays the floor.
 * The in-sync set is read from the master (`INFO replication`) at most once a second.
 *
 * Group commit: WAIT blocks the connection it runs on, so one per write would serialise
 * every call behind a replica round trip. Instead at most one WAIT is in flight; writes
 * that finish meanwhile share the next one, which is sent only after they were answered
 * and so covers them all. Under load one WAIT confirms a whole batch.
 */
export class ReplicaAck {
  #inflight: Promise<number> | undefined;
  /** The WAIT queued behind the one in flight; not sent yet, so it covers every write answered before it goes. */
  #next: Promise<number> | undefined;
  #lastAcked: number | undefined;
  #ok = true;
  /** Replicas in sync at the last reading of the master's list (0 before the first). */
  #inSync = 0;
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | undefined;
  /** After the in-sync set shrank: the larger count, still required until settleUntil. */
  #shrunkFrom = 0;
  #settleUntil = 0;

  constructor(
    private readonly redis: Redis | Cluster,
    readonly settings: ReplicaAckSettings,
    /** Sentinel: a write confirmed while the master is being switched may still be lost (failover-watch.ts). */
    private readonly failover?: FailoverSignal,
  ) {}

  get enabled(): boolean {
    return this.settings.minReplicas > 0;
  }

  state(): ReplicaAckState {
    return { required: this.enabled ? this.#required() : 0, lastAcked: this.#lastAcked, ok: this.#ok };
  }

  /** Resolves once the writes this caller saw answered are on every replica required; throws REPLICAS_UNAVAILABLE otherwise. */
  async confirm(): Promise<void> {
    if (!this.enabled) return;
    const generation = this.failover?.generation();
    if (Date.now() - this.#readAt > REPLICA_LIST_MAX_AGE_MS) await this.#refresh();
    let required = this.#required();
    let acked = await this.#join();
    if (acked < required) {
      // A replica that was descheduled or busy for a moment gets a second WAIT (it covers
      // the same writes) before the write is called unconfirmed; one that left the master
      // is seen by the fresh reading and, once settled, no longer waited for.
      await this.#refresh();
      required = this.#required();
      acked = await this.#join();
    }
    if (this.failover && (this.failover.inProgress() || this.failover.generation() !== generation)) {
      throw new LicenseError(
        ErrorCode.REPLICAS_UNAVAILABLE,
        'a Redis master failover is under way: a replica that acknowledged the write may be about to follow the new master without it; not confirmed, retry shortly',
      );
    }
    if (acked < required) {
      throw new LicenseError(
        ErrorCode.REPLICAS_UNAVAILABLE,
        `the write reached the Redis master but only ${acked} of the ${required} replica(s) required (every replica in sync, at least ${this.settings.minReplicas} by LICENSE_REDIS_MIN_REPLICAS) acknowledged it within 2 x ${this.settings.timeoutMs} ms, so it could be lost in a master failover; not confirmed (a replica is down or lagging; see the runbook, "Redis replicas")`,
      );
    }
  }

  /** Replicas a write must reach now. */
  #required(): number {
    const settling = Date.now() < this.#settleUntil ? this.#shrunkFrom : 0;
    return Math.max(this.settings.minReplicas, this.#inSync, settling);
  }

  /**
   * Reads which replicas are in sync. When one has left, the old count is kept for
   * SHRINK_SETTLE_MS: a replica leaves the old master the moment the sentinels promote it,
   * and until the failover watch hears of the promotion a write acknowledged only by the
   * others must not be confirmed; the settle time lets that news arrive first.
   */
  #refresh(): Promise<void> {
    this.#reading ??= (async () => {
      try {
        const info = await this.#connection().info('replication');
        const inSync = countInSync(info);
        const now = Date.now();
        if (inSync < this.#inSync) {
          this.#shrunkFrom = Math.max(this.#inSync, now < this.#settleUntil ? this.#shrunkFrom : 0);
          this.#settleUntil = now + SHRINK_SETTLE_MS;
        }
        this.#inSync = inSync;
        this.#readAt = now;
      } catch (err) {
        this.#ok = false;
        throw new LicenseError(
          ErrorCode.REPLICAS_UNAVAILABLE,
          `could not learn which Redis replicas are in sync (INFO replication failed: ${errorMessage(err)}); not confirmed`,
        );
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  #join(): Promise<number> {
    if (this.#next) return this.#next;
    const previous = this.#inflight;
    const start = (): Promise<number> => {
      this.#next = undefined;
      const p = this.#wait().finally(() => {
        if (this.#inflight === p) this.#inflight = undefined;
      });
      this.#inflight = p;
      return p;
    };
    if (!previous) return start();
    this.#next = previous.then(start, start);
    return this.#next;
  }

  async #wait(): Promise<number> {
    // The count as it is when the WAIT goes out: it returns as soon as that many acknowledged.
    const required = this.#required();
    try {
      const reply = await this.#connection().call('WAIT', required, this.settings.timeoutMs);
      const acked = Number(reply);
      this.#lastAcked = acked;
      this.#ok = acked >= required;
      return acked;
    } catch (err) {
      this.#ok = false;
      throw new LicenseError(
        ErrorCode.REPLICAS_UNAVAILABLE,
        `could not learn whether Redis replicas hold the write (WAIT failed: ${errorMessage(err)}); not confirmed`,
      );
    }
  }

  /** The connection the writes went through: on Redis Cluster, the master of the license cluster's slot. */
  #connection(): Redis {
    if (!(this.redis instanceof Cluster)) return this.redis;
    const owner = this.redis.slots[calculateSlot(this.settings.slotKey)]?.[0];
    const node = owner === undefined ? undefined : this.redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
    if (!node) throw new Error(`no connection to the Redis Cluster master of slot ${calculateSlot(this.settings.slotKey)} yet`);
    return node;
  }
}

/**
 * Replicas of `INFO replication` (a master's) that are online and were heard from within
 * IN_SYNC_MAX_LAG_S: lines `slave0:ip=10.0.0.2,port=6379,state=online,offset=123,lag=0`.
 */
export function countInSync(info: string): number {
  let n = 0;
  for (const line of info.split(/\r?\n/)) {
    if (!/^slave\d+:/.test(line)) continue;
    const fields = new Map(
      line
        .slice(line.indexOf(':') + 1)
        .split(',')
        .map((kv) => kv.split('=') as [string, string]),
    );
    const lag = Number(fields.get('lag'));
    if (fields.get('state') === 'online' && Number.isFinite(lag) && lag <= IN_SYNC_MAX_LAG_S) n++;
  }
  return n;
}

/**
 * A Redis refusal that means "not enough replicas" (`min-replicas-to-write` on the master:
 * NOREPLICAS), as a LicenseError; anything else unchanged.
 */
export function fromReplicaRefusal(err: unknown): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (/NOREPLICAS/.test(message)) {
    return new LicenseError(
      ErrorCode.REPLICAS_UNAVAILABLE,
      `the Redis master refused the write: not enough good replicas (its min-replicas-to-write); nothing was written (see the runbook, "Redis replicas")`,
    );
  }
  return err;
}
