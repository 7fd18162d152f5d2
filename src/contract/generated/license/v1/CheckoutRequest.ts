// Original file: proto/license/v1/seat.proto


export interface CheckoutRequest {
  'session_id'?: (string);
  'feature'?: (string);
  'count'?: (number);
  'request_id'?: (string);
}

export interface CheckoutRequest__Output {
  'session_id': (string);
  'feature': (string);
  'count': (number);
  'request_id': (string);
}
