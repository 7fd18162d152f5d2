// Original file: proto/license/v1/admin.proto

import type { NodeState as _license_v1_NodeState, NodeState__Output as _license_v1_NodeState__Output } from '../../license/v1/NodeState';

export interface StepDownResponse {
  'stepped_down'?: (boolean);
  'state'?: (_license_v1_NodeState);
}

export interface StepDownResponse__Output {
  'stepped_down': (boolean);
  'state': (_license_v1_NodeState__Output);
}
