// Original file: proto/license/v1/seat.proto


export interface ListFeaturesRequest {
}

export interface ListFeaturesRequest__Output {
}
