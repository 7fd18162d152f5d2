// Original file: proto/license/v1/admin.proto


export interface SendActivationRequestRequest {
}

export interface SendActivationRequestRequest__Output {
}
