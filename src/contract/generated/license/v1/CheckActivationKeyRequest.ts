// Original file: proto/license/v1/admin.proto


export interface CheckActivationKeyRequest {
  'activation_key'?: (string);
}

export interface CheckActivationKeyRequest__Output {
  'activation_key': (string);
}
