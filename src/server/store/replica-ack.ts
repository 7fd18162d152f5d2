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
  readonly required: number;
  /** Replicas that acknowledged the last WAIT; undefined before the first. */
  readonly lastAcked: number | undefined;
  /** False after a WAIT that came back short or failed, until one succeeds. */
  readonly ok: boolean;
}

/**
 * Makes "acknowledged" mean "survives a master failover": after a write script returns,
 * the caller awaits confirm(), which runs Redis `WAIT <minReplicas> <timeoutMs>` on the
 * same connection (WAIT covers every write that connection made before it) and throws
 * REPLICAS_UNAVAILABLE when fewer replicas acknowledged in time.
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
    return { required: this.settings.minReplicas, lastAcked: this.#lastAcked, ok: this.#ok };
  }

  /** Resolves once the writes this caller saw answered are on enough replicas; throws REPLICAS_UNAVAILABLE otherwise. */
  async confirm(): Promise<void> {
    if (!this.enabled) return;
    const generation = this.failover?.generation();
    let acked = await this.#join();
    // A replica that was descheduled or busy for a moment gets a second WAIT (it covers the
    // same writes) before the write is called unconfirmed; a replica that is gone costs two.
    if (acked < this.settings.minReplicas) acked = await this.#join();
    if (this.failover && (this.failover.inProgress() || this.failover.generation() !== generation)) {
      throw new LicenseError(
        ErrorCode.REPLICAS_UNAVAILABLE,
        'a Redis master failover is under way: a replica that acknowledged the write may be about to follow the new master without it; not confirmed, retry shortly',
      );
    }
    if (acked < this.settings.minReplicas) {
      throw new LicenseError(
        ErrorCode.REPLICAS_UNAVAILABLE,
        `the write reached the Redis master but only ${acked} of the ${this.settings.minReplicas} replica(s) required by LICENSE_REDIS_MIN_REPLICAS acknowledged it within 2 x ${this.settings.timeoutMs} ms, so it could be lost in a master failover; not confirmed (a replica is down or lagging; see the runbook, "Redis replicas")`,
      );
    }
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
    try {
      const reply = await this.#connection().call('WAIT', this.settings.minReplicas, this.settings.timeoutMs);
      const acked = Number(reply);
      this.#lastAcked = acked;
      this.#ok = acked >= this.settings.minReplicas;
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
