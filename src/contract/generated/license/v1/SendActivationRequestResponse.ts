// Original file: proto/license/v1/admin.proto

import type { Budget as _license_v1_Budget, Budget__Output as _license_v1_Budget__Output } from '../../license/v1/Budget';

export interface SendActivationRequestResponse {
  'request_key'?: (string);
  'activation_key'?: (string);
  'budget'?: (_license_v1_Budget | null);
}

export interface SendActivationRequestResponse__Output {
  'request_key': (string);
  'activation_key': (string);
  'budget': (_license_v1_Budget__Output | null);
}
