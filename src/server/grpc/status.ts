import type { GetStatusResponse } from '../../contract/generated/license/v1/GetStatusResponse';
import type { BudgetKeeper } from '../budget/budget-keeper';
import type { ClusterSnapshot, NodeController } from '../cluster/node-controller';
import { toProtoRole, toProtoState } from '../cluster/states';
import type { Role } from '../config';
import type { License } from '../license/license-file';
import type { FeatureUsage, SeatService } from '../seats/seat-service';
import type { BudgetState } from '../store/budget-store';
import { VERSION } from '../version';
import { toProtoBudget } from '../admin/admin-ops';

/** What GetStatus shows about the node itself, beyond the cluster snapshot. */
export interface StatusInfo {
  readonly clusterId: string;
  readonly nodeId: string;
  readonly role: Role;
  /** The address clients should use (final once the server is bound). */
  readonly advertiseAddr: string;
  readonly licenseDigest: string;
  readonly licenseSerial: number;
  /** Why the node does not serve with its license ('' when it does): a newer license is in use. */
  readonly licenseError: string;
  /** Serial of the peer's license from its last heartbeat, 0 when not known. */
  readonly peerLicenseSerial: number;
  /** This node's web console URL ('' when off). */
  readonly consoleUrl: string;
  /** How this node reaches Redis, without credentials (describeRedis). */
  readonly redisTopology: string;
  /** Digest of the seat policy in force. */
  readonly policyDigest: string;
  /** Why the policy file on disk is not in force ('' when it is). */
  readonly policyError: string;
}

/** Where a status comes from; only the parts named here are read. */
export interface StatusSources {
  readonly cluster: Pick<NodeController, 'snapshot' | 'applyBudget'>;
  readonly budget: Pick<BudgetKeeper, 'refresh' | 'state'>;
  readonly seats: Pick<SeatService, 'usage'>;
  readonly license: License;
  /** Read when the answer is built: the advertise address is final only once the server is bound. */
  readonly info: () => StatusInfo;
}

/**
 * GetStatus for this node. It answers even while Redis is away (store_ok says so): with
 * the last known budget and the features as licensed. A status refresh is also a budget
 * verdict, applied through the controller like every other one.
 */
export function statusReader(src: StatusSources): () => Promise<GetStatusResponse> {
  return async () => {
    const snapshot = src.cluster.snapshot();
    const budget = await src.budget
      .refresh()
      .then((verdict) => src.cluster.applyBudget(verdict))
      .then(
        () => src.budget.state,
        () => src.budget.state, // Redis away: the last known budget
      );
    const features = await src.seats.usage().catch(() => licensedFeatures(src.license));
    return toStatusResponse(src.info(), snapshot, budget, features);
  };
}

/**
 * The features as licensed, for a status taken while Redis is away (store_ok says so):
 * status must still answer, so seats in use are unknown and shown as 0.
 */
export function licensedFeatures(license: License): FeatureUsage[] {
  return [...license.features.values()].map((f) => ({ name: f.name, seatsTotal: f.seats, seatsInUse: 0, expiresAtMs: f.expiresAtMs ?? 0, queueLength: 0 }));
}

/** The GetStatus answer from what the node's parts report; a pure mapping, no I/O. */
export function toStatusResponse(info: StatusInfo, s: ClusterSnapshot, budget: BudgetState, features: readonly FeatureUsage[]): GetStatusResponse {
  return {
    cluster_id: info.clusterId,
    node_id: info.nodeId,
    role: toProtoRole(info.role),
    state: toProtoState(s.state),
    epoch: s.epoch,
    leader_node_id: s.leaderNodeId,
    budget: toProtoBudget(budget),
    features: features.map((f) => ({
      name: f.name,
      seats_total: f.seatsTotal,
      seats_in_use: f.seatsInUse,
      expires_at_ms: f.expiresAtMs,
      queue_length: f.queueLength,
    })),
    leader_addr: s.leaderAddr,
    advertise_addr: info.advertiseAddr,
    license_digest: info.licenseDigest,
    store_ok: s.storeOk,
    highest_epoch: s.highestEpoch,
    lease_valid_for_ms: s.leaseValidForMs,
    version: VERSION,
    license_serial: info.licenseSerial,
    license_error: info.licenseError,
    console_url: info.consoleUrl,
    redis_topology: info.redisTopology,
    policy_digest: info.policyDigest,
    policy_error: info.policyError,
    ...(s.peer
      ? {
          peer: {
            node_id: s.peer.nodeId,
            addr: s.peer.addr,
            role: s.peer.role ? toProtoRole(s.peer.role) : 'ROLE_UNSPECIFIED',
            state: s.peer.state ? toProtoState(s.peer.state) : 'NODE_STATE_UNSPECIFIED',
            epoch: s.peer.epoch,
            last_heartbeat_ms: s.peer.lastHeartbeatMs,
            reachable: s.peer.reachable,
            error: s.peer.error,
            license_digest: s.peer.licenseDigest,
            clock_skew_ms: s.peer.clockSkewMs,
            license_serial: info.peerLicenseSerial,
            console_url: s.peer.consoleUrl,
            store_ok: s.peer.storeOk,
            policy_digest: s.peer.policyDigest,
          },
        }
      : {}),
  };
}
