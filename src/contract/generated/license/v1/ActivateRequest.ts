// Original file: proto/license/v1/admin.proto


export interface ActivateRequest {
  'activation_key'?: (string);
}

export interface ActivateRequest__Output {
  'activation_key': (string);
}
