// Original file: proto/license/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface LeaseInfo {
  'lease_id'?: (string);
  'session_id'?: (string);
  'feature'?: (string);
  'count'?: (number);
  'client_id'?: (string);
  'user'?: (string);
  'hostname'?: (string);
  'pid'?: (number);
  'granted_at_ms'?: (number | string | Long);
  'expires_at_ms'?: (number | string | Long);
}

export interface LeaseInfo__Output {
  'lease_id': (string);
  'session_id': (string);
  'feature': (string);
  'count': (number);
  'client_id': (string);
  'user': (string);
  'hostname': (string);
  'pid': (number);
  'granted_at_ms': (number);
  'expires_at_ms': (number);
}
