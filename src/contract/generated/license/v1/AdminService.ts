// Original file: proto/license/v1/admin.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ActivateRequest as _license_v1_ActivateRequest, ActivateRequest__Output as _license_v1_ActivateRequest__Output } from '../../license/v1/ActivateRequest';
import type { ActivateResponse as _license_v1_ActivateResponse, ActivateResponse__Output as _license_v1_ActivateResponse__Output } from '../../license/v1/ActivateResponse';
import type { CheckActivationKeyRequest as _license_v1_CheckActivationKeyRequest, CheckActivationKeyRequest__Output as _license_v1_CheckActivationKeyRequest__Output } from '../../license/v1/CheckActivationKeyRequest';
import type { CheckActivationKeyResponse as _license_v1_CheckActivationKeyResponse, CheckActivationKeyResponse__Output as _license_v1_CheckActivationKeyResponse__Output } from '../../license/v1/CheckActivationKeyResponse';
import type { GetAuditRequest as _license_v1_GetAuditRequest, GetAuditRequest__Output as _license_v1_GetAuditRequest__Output } from '../../license/v1/GetAuditRequest';
import type { GetAuditResponse as _license_v1_GetAuditResponse, GetAuditResponse__Output as _license_v1_GetAuditResponse__Output } from '../../license/v1/GetAuditResponse';
import type { GetStatusRequest as _license_v1_GetStatusRequest, GetStatusRequest__Output as _license_v1_GetStatusRequest__Output } from '../../license/v1/GetStatusRequest';
import type { GetStatusResponse as _license_v1_GetStatusResponse, GetStatusResponse__Output as _license_v1_GetStatusResponse__Output } from '../../license/v1/GetStatusResponse';
import type { ListLeasesRequest as _license_v1_ListLeasesRequest, ListLeasesRequest__Output as _license_v1_ListLeasesRequest__Output } from '../../license/v1/ListLeasesRequest';
import type { ListLeasesResponse as _license_v1_ListLeasesResponse, ListLeasesResponse__Output as _license_v1_ListLeasesResponse__Output } from '../../license/v1/ListLeasesResponse';
import type { ReleaseLeaseRequest as _license_v1_ReleaseLeaseRequest, ReleaseLeaseRequest__Output as _license_v1_ReleaseLeaseRequest__Output } from '../../license/v1/ReleaseLeaseRequest';
import type { ReleaseLeaseResponse as _license_v1_ReleaseLeaseResponse, ReleaseLeaseResponse__Output as _license_v1_ReleaseLeaseResponse__Output } from '../../license/v1/ReleaseLeaseResponse';
import type { RequestActivationKeyRequest as _license_v1_RequestActivationKeyRequest, RequestActivationKeyRequest__Output as _license_v1_RequestActivationKeyRequest__Output } from '../../license/v1/RequestActivationKeyRequest';
import type { RequestActivationKeyResponse as _license_v1_RequestActivationKeyResponse, RequestActivationKeyResponse__Output as _license_v1_RequestActivationKeyResponse__Output } from '../../license/v1/RequestActivationKeyResponse';
import type { SendActivationRequestRequest as _license_v1_SendActivationRequestRequest, SendActivationRequestRequest__Output as _license_v1_SendActivationRequestRequest__Output } from '../../license/v1/SendActivationRequestRequest';
import type { SendActivationRequestResponse as _license_v1_SendActivationRequestResponse, SendActivationRequestResponse__Output as _license_v1_SendActivationRequestResponse__Output } from '../../license/v1/SendActivationRequestResponse';
import type { StepDownRequest as _license_v1_StepDownRequest, StepDownRequest__Output as _license_v1_StepDownRequest__Output } from '../../license/v1/StepDownRequest';
import type { StepDownResponse as _license_v1_StepDownResponse, StepDownResponse__Output as _license_v1_StepDownResponse__Output } from '../../license/v1/StepDownResponse';

export interface AdminServiceClient extends grpc.Client {
  Activate(argument: _license_v1_ActivateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ActivateResponse__Output>): grpc.ClientUnaryCall;
  Activate(argument: _license_v1_ActivateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ActivateResponse__Output>): grpc.ClientUnaryCall;
  Activate(argument: _license_v1_ActivateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ActivateResponse__Output>): grpc.ClientUnaryCall;
  Activate(argument: _license_v1_ActivateRequest, callback: grpc.requestCallback<_license_v1_ActivateResponse__Output>): grpc.ClientUnaryCall;
  activate(argument: _license_v1_ActivateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ActivateResponse__Output>): grpc.ClientUnaryCall;
  activate(argument: _license_v1_ActivateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ActivateResponse__Output>): grpc.ClientUnaryCall;
  activate(argument: _license_v1_ActivateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ActivateResponse__Output>): grpc.ClientUnaryCall;
  activate(argument: _license_v1_ActivateRequest, callback: grpc.requestCallback<_license_v1_ActivateResponse__Output>): grpc.ClientUnaryCall;
  
  CheckActivationKey(argument: _license_v1_CheckActivationKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CheckActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  CheckActivationKey(argument: _license_v1_CheckActivationKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_CheckActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  CheckActivationKey(argument: _license_v1_CheckActivationKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CheckActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  CheckActivationKey(argument: _license_v1_CheckActivationKeyRequest, callback: grpc.requestCallback<_license_v1_CheckActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  checkActivationKey(argument: _license_v1_CheckActivationKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CheckActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  checkActivationKey(argument: _license_v1_CheckActivationKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_CheckActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  checkActivationKey(argument: _license_v1_CheckActivationKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CheckActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  checkActivationKey(argument: _license_v1_CheckActivationKeyRequest, callback: grpc.requestCallback<_license_v1_CheckActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  
  GetAudit(argument: _license_v1_GetAuditRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_GetAuditResponse__Output>): grpc.ClientUnaryCall;
  GetAudit(argument: _license_v1_GetAuditRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_GetAuditResponse__Output>): grpc.ClientUnaryCall;
  GetAudit(argument: _license_v1_GetAuditRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_GetAuditResponse__Output>): grpc.ClientUnaryCall;
  GetAudit(argument: _license_v1_GetAuditRequest, callback: grpc.requestCallback<_license_v1_GetAuditResponse__Output>): grpc.ClientUnaryCall;
  getAudit(argument: _license_v1_GetAuditRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_GetAuditResponse__Output>): grpc.ClientUnaryCall;
  getAudit(argument: _license_v1_GetAuditRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_GetAuditResponse__Output>): grpc.ClientUnaryCall;
  getAudit(argument: _license_v1_GetAuditRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_GetAuditResponse__Output>): grpc.ClientUnaryCall;
  getAudit(argument: _license_v1_GetAuditRequest, callback: grpc.requestCallback<_license_v1_GetAuditResponse__Output>): grpc.ClientUnaryCall;
  
  GetStatus(argument: _license_v1_GetStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  GetStatus(argument: _license_v1_GetStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  GetStatus(argument: _license_v1_GetStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  GetStatus(argument: _license_v1_GetStatusRequest, callback: grpc.requestCallback<_license_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _license_v1_GetStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _license_v1_GetStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _license_v1_GetStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _license_v1_GetStatusRequest, callback: grpc.requestCallback<_license_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  
  ListLeases(argument: _license_v1_ListLeasesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ListLeasesResponse__Output>): grpc.ClientUnaryCall;
  ListLeases(argument: _license_v1_ListLeasesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ListLeasesResponse__Output>): grpc.ClientUnaryCall;
  ListLeases(argument: _license_v1_ListLeasesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ListLeasesResponse__Output>): grpc.ClientUnaryCall;
  ListLeases(argument: _license_v1_ListLeasesRequest, callback: grpc.requestCallback<_license_v1_ListLeasesResponse__Output>): grpc.ClientUnaryCall;
  listLeases(argument: _license_v1_ListLeasesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ListLeasesResponse__Output>): grpc.ClientUnaryCall;
  listLeases(argument: _license_v1_ListLeasesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ListLeasesResponse__Output>): grpc.ClientUnaryCall;
  listLeases(argument: _license_v1_ListLeasesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ListLeasesResponse__Output>): grpc.ClientUnaryCall;
  listLeases(argument: _license_v1_ListLeasesRequest, callback: grpc.requestCallback<_license_v1_ListLeasesResponse__Output>): grpc.ClientUnaryCall;
  
  ReleaseLease(argument: _license_v1_ReleaseLeaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ReleaseLeaseResponse__Output>): grpc.ClientUnaryCall;
  ReleaseLease(argument: _license_v1_ReleaseLeaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ReleaseLeaseResponse__Output>): grpc.ClientUnaryCall;
  ReleaseLease(argument: _license_v1_ReleaseLeaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ReleaseLeaseResponse__Output>): grpc.ClientUnaryCall;
  ReleaseLease(argument: _license_v1_ReleaseLeaseRequest, callback: grpc.requestCallback<_license_v1_ReleaseLeaseResponse__Output>): grpc.ClientUnaryCall;
  releaseLease(argument: _license_v1_ReleaseLeaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ReleaseLeaseResponse__Output>): grpc.ClientUnaryCall;
  releaseLease(argument: _license_v1_ReleaseLeaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ReleaseLeaseResponse__Output>): grpc.ClientUnaryCall;
  releaseLease(argument: _license_v1_ReleaseLeaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ReleaseLeaseResponse__Output>): grpc.ClientUnaryCall;
  releaseLease(argument: _license_v1_ReleaseLeaseRequest, callback: grpc.requestCallback<_license_v1_ReleaseLeaseResponse__Output>): grpc.ClientUnaryCall;
  
  RequestActivationKey(argument: _license_v1_RequestActivationKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_RequestActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  RequestActivationKey(argument: _license_v1_RequestActivationKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_RequestActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  RequestActivationKey(argument: _license_v1_RequestActivationKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_RequestActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  RequestActivationKey(argument: _license_v1_RequestActivationKeyRequest, callback: grpc.requestCallback<_license_v1_RequestActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  requestActivationKey(argument: _license_v1_RequestActivationKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_RequestActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  requestActivationKey(argument: _license_v1_RequestActivationKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_RequestActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  requestActivationKey(argument: _license_v1_RequestActivationKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_RequestActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  requestActivationKey(argument: _license_v1_RequestActivationKeyRequest, callback: grpc.requestCallback<_license_v1_RequestActivationKeyResponse__Output>): grpc.ClientUnaryCall;
  
  SendActivationRequest(argument: _license_v1_SendActivationRequestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_SendActivationRequestResponse__Output>): grpc.ClientUnaryCall;
  SendActivationRequest(argument: _license_v1_SendActivationRequestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_SendActivationRequestResponse__Output>): grpc.ClientUnaryCall;
  SendActivationRequest(argument: _license_v1_SendActivationRequestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_SendActivationRequestResponse__Output>): grpc.ClientUnaryCall;
  SendActivationRequest(argument: _license_v1_SendActivationRequestRequest, callback: grpc.requestCallback<_license_v1_SendActivationRequestResponse__Output>): grpc.ClientUnaryCall;
  sendActivationRequest(argument: _license_v1_SendActivationRequestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_SendActivationRequestResponse__Output>): grpc.ClientUnaryCall;
  sendActivationRequest(argument: _license_v1_SendActivationRequestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_SendActivationRequestResponse__Output>): grpc.ClientUnaryCall;
  sendActivationRequest(argument: _license_v1_SendActivationRequestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_SendActivationRequestResponse__Output>): grpc.ClientUnaryCall;
  sendActivationRequest(argument: _license_v1_SendActivationRequestRequest, callback: grpc.requestCallback<_license_v1_SendActivationRequestResponse__Output>): grpc.ClientUnaryCall;
  
  StepDown(argument: _license_v1_StepDownRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_StepDownResponse__Output>): grpc.ClientUnaryCall;
  StepDown(argument: _license_v1_StepDownRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_StepDownResponse__Output>): grpc.ClientUnaryCall;
  StepDown(argument: _license_v1_StepDownRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_StepDownResponse__Output>): grpc.ClientUnaryCall;
  StepDown(argument: _license_v1_StepDownRequest, callback: grpc.requestCallback<_license_v1_StepDownResponse__Output>): grpc.ClientUnaryCall;
  stepDown(argument: _license_v1_StepDownRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_StepDownResponse__Output>): grpc.ClientUnaryCall;
  stepDown(argument: _license_v1_StepDownRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_StepDownResponse__Output>): grpc.ClientUnaryCall;
  stepDown(argument: _license_v1_StepDownRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_StepDownResponse__Output>): grpc.ClientUnaryCall;
  stepDown(argument: _license_v1_StepDownRequest, callback: grpc.requestCallback<_license_v1_StepDownResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface AdminServiceHandlers extends grpc.UntypedServiceImplementation {
  Activate: grpc.handleUnaryCall<_license_v1_ActivateRequest__Output, _license_v1_ActivateResponse>;
  
  CheckActivationKey: grpc.handleUnaryCall<_license_v1_CheckActivationKeyRequest__Output, _license_v1_CheckActivationKeyResponse>;
  
  GetAudit: grpc.handleUnaryCall<_license_v1_GetAuditRequest__Output, _license_v1_GetAuditResponse>;
  
  GetStatus: grpc.handleUnaryCall<_license_v1_GetStatusRequest__Output, _license_v1_GetStatusResponse>;
  
  ListLeases: grpc.handleUnaryCall<_license_v1_ListLeasesRequest__Output, _license_v1_ListLeasesResponse>;
  
  ReleaseLease: grpc.handleUnaryCall<_license_v1_ReleaseLeaseRequest__Output, _license_v1_ReleaseLeaseResponse>;
  
  RequestActivationKey: grpc.handleUnaryCall<_license_v1_RequestActivationKeyRequest__Output, _license_v1_RequestActivationKeyResponse>;
  
  SendActivationRequest: grpc.handleUnaryCall<_license_v1_SendActivationRequestRequest__Output, _license_v1_SendActivationRequestResponse>;
  
  StepDown: grpc.handleUnaryCall<_license_v1_StepDownRequest__Output, _license_v1_StepDownResponse>;
  
}

export interface AdminServiceDefinition extends grpc.ServiceDefinition {
  Activate: MethodDefinition<_license_v1_ActivateRequest, _license_v1_ActivateResponse, _license_v1_ActivateRequest__Output, _license_v1_ActivateResponse__Output>
  CheckActivationKey: MethodDefinition<_license_v1_CheckActivationKeyRequest, _license_v1_CheckActivationKeyResponse, _license_v1_CheckActivationKeyRequest__Output, _license_v1_CheckActivationKeyResponse__Output>
  GetAudit: MethodDefinition<_license_v1_GetAuditRequest, _license_v1_GetAuditResponse, _license_v1_GetAuditRequest__Output, _license_v1_GetAuditResponse__Output>
  GetStatus: MethodDefinition<_license_v1_GetStatusRequest, _license_v1_GetStatusResponse, _license_v1_GetStatusRequest__Output, _license_v1_GetStatusResponse__Output>
  ListLeases: MethodDefinition<_license_v1_ListLeasesRequest, _license_v1_ListLeasesResponse, _license_v1_ListLeasesRequest__Output, _license_v1_ListLeasesResponse__Output>
  ReleaseLease: MethodDefinition<_license_v1_ReleaseLeaseRequest, _license_v1_ReleaseLeaseResponse, _license_v1_ReleaseLeaseRequest__Output, _license_v1_ReleaseLeaseResponse__Output>
  RequestActivationKey: MethodDefinition<_license_v1_RequestActivationKeyRequest, _license_v1_RequestActivationKeyResponse, _license_v1_RequestActivationKeyRequest__Output, _license_v1_RequestActivationKeyResponse__Output>
  SendActivationRequest: MethodDefinition<_license_v1_SendActivationRequestRequest, _license_v1_SendActivationRequestResponse, _license_v1_SendActivationRequestRequest__Output, _license_v1_SendActivationRequestResponse__Output>
  StepDown: MethodDefinition<_license_v1_StepDownRequest, _license_v1_StepDownResponse, _license_v1_StepDownRequest__Output, _license_v1_StepDownResponse__Output>
}
