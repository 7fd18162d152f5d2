// Original file: proto/license/v1/seat.proto


export interface ReleaseRequest {
  'session_id'?: (string);
  'lease_id'?: (string);
}

export interface ReleaseRequest__Output {
  'session_id': (string);
  'lease_id': (string);
}
