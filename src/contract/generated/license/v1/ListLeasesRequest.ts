// Original file: proto/license/v1/admin.proto


export interface ListLeasesRequest {
  'feature'?: (string);
}

export interface ListLeasesRequest__Output {
  'feature': (string);
}
