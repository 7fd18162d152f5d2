// Original file: proto/license/v1/seat.proto


export interface ReleaseResponse {
  'released'?: (boolean);
}

export interface ReleaseResponse__Output {
  'released': (boolean);
}
