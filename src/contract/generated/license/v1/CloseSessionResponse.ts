// Original file: proto/license/v1/seat.proto


export interface CloseSessionResponse {
  'leases_released'?: (number);
}

export interface CloseSessionResponse__Output {
  'leases_released': (number);
}
