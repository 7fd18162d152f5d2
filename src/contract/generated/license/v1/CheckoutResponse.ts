// Original file: proto/license/v1/seat.proto

import type { Long } from '@grpc/proto-loader';

export interface CheckoutResponse {
  'lease_id'?: (string);
  'feature'?: (string);
  'count'?: (number);
  'expires_at_ms'?: (number | string | Long);
}

export interface CheckoutResponse__Output {
  'lease_id': (string);
  'feature': (string);
  'count': (number);
  'expires_at_ms': (number);
}
