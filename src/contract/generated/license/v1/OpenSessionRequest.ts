// Original file: proto/license/v1/seat.proto


export interface OpenSessionRequest {
  'client_id'?: (string);
  'user'?: (string);
  'hostname'?: (string);
  'pid'?: (number);
}

export interface OpenSessionRequest__Output {
  'client_id': (string);
  'user': (string);
  'hostname': (string);
  'pid': (number);
}
