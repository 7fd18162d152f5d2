// Original file: proto/license/v1/admin.proto

import type { Budget as _license_v1_Budget, Budget__Output as _license_v1_Budget__Output } from '../../license/v1/Budget';
import type { Long } from '@grpc/proto-loader';

export interface CheckActivationKeyResponse {
  'cluster_id'?: (string);
  'node_id'?: (string);
  'episode_id'?: (string);
  'seq'?: (number);
  'granted_ms'?: (number | string | Long);
  'expires_at_ms'?: (number | string | Long);
  'budget_after'?: (_license_v1_Budget | null);
}

export interface CheckActivationKeyResponse__Output {
  'cluster_id': (string);
  'node_id': (string);
  'episode_id': (string);
  'seq': (number);
  'granted_ms': (number);
  'expires_at_ms': (number);
  'budget_after': (_license_v1_Budget__Output | null);
}
