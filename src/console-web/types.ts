/**
 * The JSON shapes of the console API (docs/CONSOLE.md): AdminService's messages in the
 * proto's own field names, 64-bit integers as numbers, enums as their names. Kept here,
 * not imported from src/contract, so the browser build needs nothing from the server.
 */

export type Role = 'ROLE_UNSPECIFIED' | 'ROLE_PRIMARY' | 'ROLE_REDUNDANT';

export type NodeState =
  | 'NODE_STATE_UNSPECIFIED'
  | 'NODE_STATE_STARTING'
  | 'NODE_STATE_STANDBY'
  | 'NODE_STATE_ACTIVE'
  | 'NODE_STATE_FAILOVER_ACTIVE'
  | 'NODE_STATE_FAILOVER_BLOCKED'
  | 'NODE_STATE_STOPPING';

export interface Budget {
  granted_ms: number;
  consumed_ms: number;
  remaining_ms: number;
  blocked: boolean;
  activations: number;
  episode_id: string;
}

export interface FeatureStatus {
  name: string;
  seats_total: number;
  seats_in_use: number;
  /** Checkouts waiting in the feature's queue. */
  queue_length: number;
  /** 0 when the feature never expires. */
  expires_at_ms: number;
}

export interface PeerStatus {
  node_id: string;
  addr: string;
  role: Role;
  state: NodeState;
  epoch: number;
  /** Wall-clock ms of the last valid heartbeat exchanged with the peer; 0 never. */
  last_heartbeat_ms: number;
  reachable: boolean;
  /** Why the peer is refused or unreachable ("" when healthy). */
  error: string;
  license_digest: string;
  clock_skew_ms: number;
  license_serial: number;
  /** The peer's web console ("" when off or not known). */
  console_url: string;
  /** The peer reaches Redis, by its last heartbeat (stale when the peer is unreachable). */
  store_ok: boolean;
  /** The peer's seat policy digest, from its heartbeats ("" when not known). */
  policy_digest: string;
}

export interface Status {
  cluster_id: string;
  node_id: string;
  role: Role;
  state: NodeState;
  epoch: number;
  leader_node_id: string;
  budget: Budget | null;
  features: FeatureStatus[];
  leader_addr: string;
  advertise_addr: string;
  peer: PeerStatus | null;
  license_digest: string;
  store_ok: boolean;
  highest_epoch: number;
  lease_valid_for_ms: number;
  version: string;
  license_serial: number;
  license_error: string;
  console_url: string;
  /** How this node reaches Redis, no credentials: "single redis://host:6379", "sentinel <master> via ...", "cluster ...". */
  redis_topology: string;
  /** sha256 of the seat policy this node enforces (LICENSE_POLICY_FILE; the empty policy's when none). */
  policy_digest: string;
  /** Why the policy file on disk is not in force ("" when it is): a refused edit, naming the line. */
  policy_error: string;
}

export interface LeaseInfo {
  lease_id: string;
  session_id: string;
  feature: string;
  count: number;
  client_id: string;
  user: string;
  hostname: string;
  pid: number;
  granted_at_ms: number;
  expires_at_ms: number;
}

export interface ListLeasesResponse {
  leases: LeaseInfo[];
  next_page_token: string;
}

export interface ReleaseLeaseResponse {
  released: boolean;
  lease: LeaseInfo | null;
}

export interface GetAuditResponse {
  /** Each entry as stored, JSON text, oldest first. */
  entries: string[];
  head: string;
  local_head: string;
}

/** One audit entry once parsed (src/server/budget/audit-chain.ts). */
export interface AuditEntry {
  seq: number;
  at_ms: number;
  node_id: string;
  episode_id: string;
  event: string;
  detail: Record<string, string | number | boolean>;
}

export interface CheckActivationKeyResponse {
  cluster_id: string;
  node_id: string;
  episode_id: string;
  seq: number;
  granted_ms: number;
  expires_at_ms: number;
  budget_after: Budget | null;
}

export interface SendActivationResponse {
  request_key: string;
  activation_key: string;
  budget: Budget | null;
}

export interface StepDownResponse {
  stepped_down: boolean;
  state: NodeState;
}

export interface SessionInfo {
  csrf_token: string;
  expires_at_ms: number;
}

export interface ConsoleInfo {
  node_id: string;
  cluster_id: string;
  vendor_contact: string;
  send_available: boolean;
  version: string;
}
