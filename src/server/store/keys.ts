/**
 * Redis key layout. Every key of one license cluster carries the hash tag
 * `{lic:<cluster>}`, so each script touches a single slot and runs unchanged on
 * Redis Cluster.
 */
export interface ClusterKeys {
  readonly prefix: string;
  /** `<node_id>:<epoch>` of the lease holder, with the lease TTL. */
  readonly leader: string;
  /** Last epoch handed out (INCR); never reused. */
  readonly epoch: string;
  /** Hash: node_id, epoch, addr, role, acquired_at_ms of the current holder. */
  readonly leaderInfo: string;
  /** ZSET session id -> expires_at_ms (see scripts/includes/sessions.lua for the rest). */
  readonly sessions: string;
  /** HASH feature -> seats held by leases not yet freed. */
  readonly used: string;
  /**
   * HASH feature -> checkouts waiting in its queue (`<prefix>:queue:<feature>`, a ZSET of waiter
   * ids by arrival); kept by the seat scripts, read by ListFeatures and the sweep.
   */
  readonly queued: string;
  /** HASH: the failover budget (episode_id, granted_ms, consumed_ms, activations, blocked, ...). */
  readonly budget: string;
  /** HASH nonce -> activation seq of request keys not yet answered. */
  readonly activationPending: string;
  /** SET of nonces of applied activation keys (replay guard). */
  readonly activationUsed: string;
  /**
   * HASH nonce -> the applied activation key itself (LAK1...), for the open episode: the grant
   * is derived from these (re-verified on every read), never from a stored number.
   */
  readonly activationApplied: string;
  /** Highest license serial any node of the cluster has run with (a whole number, only ever raised). */
  readonly licenseSerial: string;
  /** STREAM of the budget's audit trail (id `<seq>-0`, fields hash, entry): a hash chain, appended by auditAppend-2.lua. */
  readonly audit: string;
  /**
   * STREAM of usage events (grants, releases, denials, expiries, queue waits), appended by the
   * seat scripts in the same atomic step as the change they record; fields in src/server/usage/usage-event.ts.
   */
  readonly usage: string;
}

export function clusterKeys(clusterId: string): ClusterKeys {
  const prefix = `{lic:${clusterId}}`;
  return Object.freeze({
    prefix,
    leader: `${prefix}:leader`,
    epoch: `${prefix}:epoch`,
    leaderInfo: `${prefix}:leader_info`,
    sessions: `${prefix}:sessions`,
    used: `${prefix}:used`,
    queued: `${prefix}:queued`,
    budget: `${prefix}:budget`,
    activationPending: `${prefix}:activation:pending`,
    activationUsed: `${prefix}:activation:used`,
    activationApplied: `${prefix}:activation:applied`,
    licenseSerial: `${prefix}:license_serial`,
    audit: `${prefix}:audit`,
    usage: `${prefix}:usage`,
  });
}
