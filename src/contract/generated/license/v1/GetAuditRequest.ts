// Original file: proto/license/v1/admin.proto


export interface GetAuditRequest {
  'limit'?: (number);
}

export interface GetAuditRequest__Output {
  'limit': (number);
}
