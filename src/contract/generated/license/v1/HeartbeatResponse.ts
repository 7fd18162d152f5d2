// Original file: proto/license/v1/seat.proto

import type { Long } from '@grpc/proto-loader';

export interface HeartbeatResponse {
  'expires_at_ms'?: (number | string | Long);
  'lease_ids'?: (string)[];
}

export interface HeartbeatResponse__Output {
  'expires_at_ms': (number);
  'lease_ids': (string)[];
}
