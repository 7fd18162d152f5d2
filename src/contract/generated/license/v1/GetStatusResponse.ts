// Original file: proto/license/v1/admin.proto

import type { Role as _license_v1_Role, Role__Output as _license_v1_Role__Output } from '../../license/v1/Role';
import type { NodeState as _license_v1_NodeState, NodeState__Output as _license_v1_NodeState__Output } from '../../license/v1/NodeState';
import type { Budget as _license_v1_Budget, Budget__Output as _license_v1_Budget__Output } from '../../license/v1/Budget';
import type { FeatureStatus as _license_v1_FeatureStatus, FeatureStatus__Output as _license_v1_FeatureStatus__Output } from '../../license/v1/FeatureStatus';
import type { PeerStatus as _license_v1_PeerStatus, PeerStatus__Output as _license_v1_PeerStatus__Output } from '../../license/v1/PeerStatus';
import type { Long } from '@grpc/proto-loader';

export interface GetStatusResponse {
  'cluster_id'?: (string);
  'node_id'?: (string);
  'role'?: (_license_v1_Role);
  'state'?: (_license_v1_NodeState);
  'epoch'?: (number | string | Long);
  'leader_node_id'?: (string);
  'budget'?: (_license_v1_Budget | null);
  'features'?: (_license_v1_FeatureStatus)[];
  'leader_addr'?: (string);
  'advertise_addr'?: (string);
  'peer'?: (_license_v1_PeerStatus | null);
  'license_digest'?: (string);
  'store_ok'?: (boolean);
  'highest_epoch'?: (number | string | Long);
  'lease_valid_for_ms'?: (number | string | Long);
  'version'?: (string);
  'license_serial'?: (number | string | Long);
  'license_error'?: (string);
  'console_url'?: (string);
  'redis_topology'?: (string);
  'policy_digest'?: (string);
  'policy_error'?: (string);
}

export interface GetStatusResponse__Output {
  'cluster_id': (string);
  'node_id': (string);
  'role': (_license_v1_Role__Output);
  'state': (_license_v1_NodeState__Output);
  'epoch': (number);
  'leader_node_id': (string);
  'budget': (_license_v1_Budget__Output | null);
  'features': (_license_v1_FeatureStatus__Output)[];
  'leader_addr': (string);
  'advertise_addr': (string);
  'peer': (_license_v1_PeerStatus__Output | null);
  'license_digest': (string);
  'store_ok': (boolean);
  'highest_epoch': (number);
  'lease_valid_for_ms': (number);
  'version': (string);
  'license_serial': (number);
  'license_error': (string);
  'console_url': (string);
  'redis_topology': (string);
  'policy_digest': (string);
  'policy_error': (string);
}
