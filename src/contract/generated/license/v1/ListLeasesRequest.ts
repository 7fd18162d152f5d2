// Original file: proto/license/v1/admin.proto


export interface ListLeasesRequest {
  'feature'?: (string);
  'page_size'?: (number);
  'page_token'?: (string);
  'user'?: (string);
  'hostname'?: (string);
}

export interface ListLeasesRequest__Output {
  'feature': (string);
  'page_size': (number);
  'page_token': (string);
  'user': (string);
  'hostname': (string);
}
