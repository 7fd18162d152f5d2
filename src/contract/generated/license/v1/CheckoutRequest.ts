// Original file: proto/license/v1/seat.proto

import type { Long } from '@grpc/proto-loader';

export interface CheckoutRequest {
  'session_id'?: (string);
  'feature'?: (string);
  'count'?: (number);
  'request_id'?: (string);
  'wait_ms'?: (number | string | Long);
}

export interface CheckoutRequest__Output {
  'session_id': (string);
  'feature': (string);
  'count': (number);
  'request_id': (string);
  'wait_ms': (number);
}
