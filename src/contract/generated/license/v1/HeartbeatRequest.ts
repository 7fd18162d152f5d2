// Original file: proto/license/v1/seat.proto


export interface HeartbeatRequest {
  'session_id'?: (string);
}

export interface HeartbeatRequest__Output {
  'session_id': (string);
}
