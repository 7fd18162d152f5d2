// Original file: proto/license/v1/admin.proto


export interface GetAuditResponse {
  'entries'?: (string)[];
  'head'?: (string);
  'local_head'?: (string);
}

export interface GetAuditResponse__Output {
  'entries': (string)[];
  'head': (string);
  'local_head': (string);
}
