// Original file: proto/license/v1/admin.proto


export interface ReleaseLeaseRequest {
  'lease_id'?: (string);
}

export interface ReleaseLeaseRequest__Output {
  'lease_id': (string);
}
