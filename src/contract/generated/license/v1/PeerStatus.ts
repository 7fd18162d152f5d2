// Original file: proto/license/v1/admin.proto

import type { Role as _license_v1_Role, Role__Output as _license_v1_Role__Output } from '../../license/v1/Role';
import type { NodeState as _license_v1_NodeState, NodeState__Output as _license_v1_NodeState__Output } from '../../license/v1/NodeState';
import type { Long } from '@grpc/proto-loader';

export interface PeerStatus {
  'node_id'?: (string);
  'addr'?: (string);
  'role'?: (_license_v1_Role);
  'state'?: (_license_v1_NodeState);
  'epoch'?: (number | string | Long);
  'last_heartbeat_ms'?: (number | string | Long);
  'reachable'?: (boolean);
  'error'?: (string);
  'license_digest'?: (string);
  'clock_skew_ms'?: (number | string | Long);
  'license_serial'?: (number | string | Long);
  'console_url'?: (string);
  'store_ok'?: (boolean);
  'policy_digest'?: (string);
}

export interface PeerStatus__Output {
  'node_id': (string);
  'addr': (string);
  'role': (_license_v1_Role__Output);
  'state': (_license_v1_NodeState__Output);
  'epoch': (number);
  'last_heartbeat_ms': (number);
  'reachable': (boolean);
  'error': (string);
  'license_digest': (string);
  'clock_skew_ms': (number);
  'license_serial': (number);
  'console_url': (string);
  'store_ok': (boolean);
  'policy_digest': (string);
}
