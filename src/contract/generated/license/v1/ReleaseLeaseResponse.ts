// Original file: proto/license/v1/admin.proto

import type { LeaseInfo as _license_v1_LeaseInfo, LeaseInfo__Output as _license_v1_LeaseInfo__Output } from '../../license/v1/LeaseInfo';

export interface ReleaseLeaseResponse {
  'released'?: (boolean);
  'lease'?: (_license_v1_LeaseInfo | null);
}

export interface ReleaseLeaseResponse__Output {
  'released': (boolean);
  'lease': (_license_v1_LeaseInfo__Output | null);
}
