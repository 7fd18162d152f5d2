import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { NODE_STATES, type NodeState } from '../cluster/states';
import type { CheckoutResult } from '../seats/seat-service';

/** What the node exposes at scrape time; read in collect() so gauges are never stale. */
export interface MetricsSource {
  state(): NodeState;
  /** Epoch of the current leader as this node knows it (its own when it holds the lease). */
  leaderEpoch(): number;
  isLeaseHolder(): boolean;
  peer(): { lastHeartbeatMs: number; reachable: boolean; clockSkewMs: number } | undefined;
  budget(): { remainingMs: number; consumedMs: number; grantedMs: number; blocked: boolean };
  /** Seats licensed per feature (from the license file). */
  licensedSeats(): { name: string; total: number }[];
  /**
   * Seats in use and checkouts waiting in the queue, per feature (reads Redis; may fail
   * while it is away). Called once per scrape for both license_seats_in_use and
   * license_queue_length.
   */
  seatUsage(): Promise<SeatUsage[]>;
  /** Replica acknowledgements (LICENSE_REDIS_MIN_REPLICAS): required, and what the last WAIT got. */
  redisReplicas?(): { required: number; lastAcked: number | undefined; ok: boolean };
}

/** One feature's seats in use and queued checkouts, as read at scrape time. */
export interface SeatUsage {
  readonly name: string;
  readonly inUse: number;
  readonly queueLength: number;
}

export interface NodeMetrics {
  readonly registry: Registry;
  readonly failovers: Counter<never>;
  readonly activations: Counter<'result'>;
  readonly checkouts: Counter<'feature' | 'result'>;
  readonly rpcDuration: Histogram<'method' | 'code'>;
  readonly peerRtt: Histogram<never>;
  readonly redisErrors: Counter<never>;
  readonly leaseAcquisitions: Counter<never>;
  readonly earlyTakeovers: Counter<never>;
  readonly limitRejections: Counter<'limit'>;
  observeCheckout(feature: string, result: CheckoutResult): void;
}

export interface MetricsOptions {
  /** Node.js process metrics (prom-client's defaults); on unless false. */
  readonly defaultMetrics?: boolean;
}

/**
 * Every metric of one node, on its own Registry (never prom-client's global one, so
 * several nodes can live in one process, as in the tests). Names are contract:
 * `license_` prefix, base units, `_total` only on counters, timestamps as
 * `*_timestamp_seconds`.
 *
 * Two steps, so that the node can wire it without forward references:
 * `createNodeMetrics` makes the registry and the instruments (counters and histograms
 * that the node's parts update as things happen), before those parts exist;
 * `registerCollectors` adds the gauges read at scrape time, once their sources exist.
 * `createMetrics` does both at once.
 */
export function createMetrics(source: MetricsSource, opts: MetricsOptions = {}): NodeMetrics {
  const metrics = createNodeMetrics(opts);
  registerCollectors(metrics.registry, source);
  return metrics;
}

/** The registry (with the process metrics unless turned off) and the instruments. */
export function createNodeMetrics(opts: MetricsOptions = {}): NodeMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // prom-client names these gauges *_total, which Prometheus reserves for counters
    // (promtool check metrics fails on them); the per-type nodejs_active_* gauges stay.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }
  const registers = [registry];

  const checkouts = new Counter({
    name: 'license_checkouts_total',
    help: 'Checkouts by feature and result (granted, exhausted, policy_limit (a max or reserve rule of the seat policy), policy_denied (a deny rule), blocked, invalid, not_active, error; queue_timeout, cancelled for checkouts that waited in the queue).',
    labelNames: ['feature', 'result'],
    registers,
  });
  return {
    registry,
    failovers: new Counter({ name: 'license_failovers_total', help: 'Times the redundant took over the lease (failover episodes served).', registers }),
    activations: new Counter({
      name: 'license_activations_total',
      help: 'Activation key attempts by result (ok or the error code).',
      labelNames: ['result'],
      registers,
    }),
    checkouts,
    rpcDuration: new Histogram({
      name: 'license_grpc_request_duration_seconds',
      help: 'gRPC request latency by method and status code.',
      labelNames: ['method', 'code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    peerRtt: new Histogram({
      name: 'license_peer_heartbeat_rtt_seconds',
      help: 'Round trip of heartbeats to the peer.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    redisErrors: new Counter({ name: 'license_redis_errors_total', help: 'Failed Redis calls of the lease loop.', registers }),
    earlyTakeovers: new Counter({
      name: 'license_early_takeovers_total',
      help: "Leases this node took over before their TTL because the holder's port refused connections and its renewals had stopped (a dead peer process).",
      registers,
    }),
    limitRejections: new Counter({
      name: 'license_limit_rejections_total',
      help: 'Calls refused by a configured limit (sessions_per_client, seats_per_session, concurrent_calls).',
      labelNames: ['limit'],
      registers,
    }),
    leaseAcquisitions: new Counter({ name: 'license_lease_acquisitions_total', help: 'Times this node acquired the leader lease.', registers }),
    observeCheckout: (feature, result) => checkouts.inc({ feature, result }),
  };
}

/** The gauges read at scrape time (state, epoch, peer, budget, seats, queues), from `source`; once per registry. */
export function registerCollectors(registry: Registry, source: MetricsSource): void {
  const registers = [registry];
  // prom-client starts every collect() of a scrape before awaiting any, so the second seat
  // gauge joins the read the first one started: one read of Redis per scrape for both.
  let usageRead: Promise<SeatUsage[]> | undefined;
  const readUsage = (): Promise<SeatUsage[]> =>
    (usageRead ??= source.seatUsage().finally(() => {
      usageRead = undefined;
    }));

  new Gauge({
    name: 'license_node_state',
    help: 'Node state: 1 for the current state, 0 for the others.',
    labelNames: ['state'],
    registers,
    collect() {
      const s = source.state();
      for (const st of NODE_STATES) this.set({ state: st }, st === s ? 1 : 0);
    },
  });
  new Gauge({
    name: 'license_leader_epoch',
    help: 'Fencing epoch of the current leader lease as this node knows it (0 unknown).',
    registers,
    collect() {
      this.set(source.leaderEpoch());
    },
  });
  new Gauge({
    name: 'license_is_active',
    help: '1 while this node holds the leader lease (also while blocked).',
    registers,
    collect() {
      this.set(source.isLeaseHolder() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'license_peer_last_heartbeat_timestamp_seconds',
    help: 'Wall-clock time of the last valid heartbeat exchanged with the peer (0 never).',
    registers,
    collect() {
      this.set((source.peer()?.lastHeartbeatMs ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'license_peer_reachable',
    help: '1 while the peer has been heard within one lease TTL.',
    registers,
    collect() {
      this.set(source.peer()?.reachable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'license_peer_clock_skew_seconds',
    help: "Peer's sent_at minus this node's receive time (includes one-way latency).",
    registers,
    collect() {
      this.set((source.peer()?.clockSkewMs ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'license_failover_budget_remaining_seconds',
    help: 'Failover budget left in the current episode (full when no episode is open).',
    registers,
    collect() {
      this.set(source.budget().remainingMs / 1000);
    },
  });
  new Gauge({
    name: 'license_failover_budget_consumed_seconds',
    help: 'Failover budget consumed in the current episode.',
    registers,
    collect() {
      this.set(source.budget().consumedMs / 1000);
    },
  });
  new Gauge({
    name: 'license_failover_budget_granted_seconds',
    help: 'Failover budget granted in the current episode (budget plus activations).',
    registers,
    collect() {
      this.set(source.budget().grantedMs / 1000);
    },
  });
  new Gauge({
    name: 'license_failover_blocked',
    help: '1 while the failover budget is spent and new grants are blocked.',
    registers,
    collect() {
      this.set(source.budget().blocked ? 1 : 0);
    },
  });
  new Gauge({
    name: 'license_redis_replicas_required',
    help: 'Replicas that must acknowledge every write now: every replica in sync with the master, never fewer than LICENSE_REDIS_MIN_REPLICAS; 0 = writes are not waited on.',
    registers,
    collect() {
      this.set(source.redisReplicas?.().required ?? 0);
    },
  });
  new Gauge({
    name: 'license_redis_replicas_acked',
    help: 'Replicas that acknowledged the last write (Redis WAIT); -1 before the first.',
    registers,
    collect() {
      this.set(source.redisReplicas?.().lastAcked ?? -1);
    },
  });
  new Gauge({
    name: 'license_redis_replicas_ok',
    help: '0 while writes are not acknowledged by enough replicas: the active node then grants nothing (REPLICAS_UNAVAILABLE).',
    registers,
    collect() {
      this.set(source.redisReplicas?.().ok === false ? 0 : 1);
    },
  });
  new Gauge({
    name: 'license_seats_licensed',
    help: 'Seats licensed per feature.',
    labelNames: ['feature'],
    registers,
    collect() {
      for (const f of source.licensedSeats()) this.set({ feature: f.name }, f.total);
    },
  });
  new Gauge({
    name: 'license_seats_in_use',
    help: 'Seats held by unexpired leases per feature.',
    labelNames: ['feature'],
    registers,
    async collect() {
      try {
        for (const f of await readUsage()) this.set({ feature: f.name }, f.inUse);
      } catch {
        // Redis away: keep the last values; license_is_active and the logs tell the story.
      }
    },
  });
  new Gauge({
    name: 'license_queue_length',
    help: 'Checkouts waiting in the feature queue for a seat (CheckoutRequest.wait_ms > 0), per feature.',
    labelNames: ['feature'],
    registers,
    async collect() {
      try {
        for (const f of await readUsage()) this.set({ feature: f.name }, f.queueLength);
      } catch {
        // Redis away: keep the last values, as license_seats_in_use does.
      }
    },
  });
}
