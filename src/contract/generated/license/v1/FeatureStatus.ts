// Original file: proto/license/v1/common.proto

import type { Long } from '@grpc/proto-loader';

export interface FeatureStatus {
  'name'?: (string);
  'seats_total'?: (number);
  'seats_in_use'?: (number);
  'expires_at_ms'?: (number | string | Long);
  'queue_length'?: (number);
}

export interface FeatureStatus__Output {
  'name': (string);
  'seats_total': (number);
  'seats_in_use': (number);
  'expires_at_ms': (number);
  'queue_length': (number);
}
