// Original file: proto/license/v1/common.proto

import type { Long } from '@grpc/proto-loader';

export interface Budget {
  'granted_ms'?: (number | string | Long);
  'consumed_ms'?: (number | string | Long);
  'remaining_ms'?: (number | string | Long);
  'blocked'?: (boolean);
  'activations'?: (number);
  'episode_id'?: (string);
}

export interface Budget__Output {
  'granted_ms': (number);
  'consumed_ms': (number);
  'remaining_ms': (number);
  'blocked': (boolean);
  'activations': (number);
  'episode_id': (string);
}
