// Original file: proto/license/v1/admin.proto

import type { LeaseInfo as _license_v1_LeaseInfo, LeaseInfo__Output as _license_v1_LeaseInfo__Output } from '../../license/v1/LeaseInfo';

export interface ListLeasesResponse {
  'leases'?: (_license_v1_LeaseInfo)[];
  'next_page_token'?: (string);
}

export interface ListLeasesResponse__Output {
  'leases': (_license_v1_LeaseInfo__Output)[];
  'next_page_token': (string);
}
