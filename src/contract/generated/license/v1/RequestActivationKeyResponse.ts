// Original file: proto/license/v1/admin.proto


export interface RequestActivationKeyResponse {
  'request_key'?: (string);
}

export interface RequestActivationKeyResponse__Output {
  'request_key': (string);
}
