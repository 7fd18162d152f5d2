// Original file: proto/license/v1/seat.proto


export interface CloseSessionRequest {
  'session_id'?: (string);
}

export interface CloseSessionRequest__Output {
  'session_id': (string);
}
