// Original file: proto/license/v1/admin.proto


export interface RequestActivationKeyRequest {
}

export interface RequestActivationKeyRequest__Output {
}
