// Original file: proto/license/v1/admin.proto


export interface StepDownRequest {
}

export interface StepDownRequest__Output {
}
