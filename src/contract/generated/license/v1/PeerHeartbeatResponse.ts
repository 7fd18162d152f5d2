// Original file: proto/license/v1/cluster.proto

import type { Role as _license_v1_Role, Role__Output as _license_v1_Role__Output } from '../../license/v1/Role';
import type { NodeState as _license_v1_NodeState, NodeState__Output as _license_v1_NodeState__Output } from '../../license/v1/NodeState';
import type { Long } from '@grpc/proto-loader';

export interface PeerHeartbeatResponse {
  'cluster_id'?: (string);
  'node_id'?: (string);
  'role'?: (_license_v1_Role);
  'state'?: (_license_v1_NodeState);
  'epoch'?: (number | string | Long);
  'lease_holder'?: (string);
  'sent_at_ms'?: (number | string | Long);
  'stepping_down'?: (boolean);
  'wants_lease'?: (boolean);
  'license_digest'?: (string);
  'advertise_addr'?: (string);
  'store_ok'?: (boolean);
  'highest_epoch'?: (number | string | Long);
  'auth_tag'?: (string);
  'license_serial'?: (number | string | Long);
  'console_url'?: (string);
  'policy_digest'?: (string);
}

export interface PeerHeartbeatResponse__Output {
  'cluster_id': (string);
  'node_id': (string);
  'role': (_license_v1_Role__Output);
  'state': (_license_v1_NodeState__Output);
  'epoch': (number);
  'lease_holder': (string);
  'sent_at_ms': (number);
  'stepping_down': (boolean);
  'wants_lease': (boolean);
  'license_digest': (string);
  'advertise_addr': (string);
  'store_ok': (boolean);
  'highest_epoch': (number);
  'auth_tag': (string);
  'license_serial': (number);
  'console_url': (string);
  'policy_digest': (string);
}
