// Original file: proto/license/v1/seat.proto

import type { Long } from '@grpc/proto-loader';

export interface OpenSessionResponse {
  'session_id'?: (string);
  'ttl_ms'?: (number | string | Long);
  'heartbeat_interval_ms'?: (number | string | Long);
  'expires_at_ms'?: (number | string | Long);
}

export interface OpenSessionResponse__Output {
  'session_id': (string);
  'ttl_ms': (number);
  'heartbeat_interval_ms': (number);
  'expires_at_ms': (number);
}
