// Original file: proto/license/v1/seat.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CheckoutRequest as _license_v1_CheckoutRequest, CheckoutRequest__Output as _license_v1_CheckoutRequest__Output } from '../../license/v1/CheckoutRequest';
import type { CheckoutResponse as _license_v1_CheckoutResponse, CheckoutResponse__Output as _license_v1_CheckoutResponse__Output } from '../../license/v1/CheckoutResponse';
import type { CloseSessionRequest as _license_v1_CloseSessionRequest, CloseSessionRequest__Output as _license_v1_CloseSessionRequest__Output } from '../../license/v1/CloseSessionRequest';
import type { CloseSessionResponse as _license_v1_CloseSessionResponse, CloseSessionResponse__Output as _license_v1_CloseSessionResponse__Output } from '../../license/v1/CloseSessionResponse';
import type { HeartbeatRequest as _license_v1_HeartbeatRequest, HeartbeatRequest__Output as _license_v1_HeartbeatRequest__Output } from '../../license/v1/HeartbeatRequest';
import type { HeartbeatResponse as _license_v1_HeartbeatResponse, HeartbeatResponse__Output as _license_v1_HeartbeatResponse__Output } from '../../license/v1/HeartbeatResponse';
import type { ListFeaturesRequest as _license_v1_ListFeaturesRequest, ListFeaturesRequest__Output as _license_v1_ListFeaturesRequest__Output } from '../../license/v1/ListFeaturesRequest';
import type { ListFeaturesResponse as _license_v1_ListFeaturesResponse, ListFeaturesResponse__Output as _license_v1_ListFeaturesResponse__Output } from '../../license/v1/ListFeaturesResponse';
import type { OpenSessionRequest as _license_v1_OpenSessionRequest, OpenSessionRequest__Output as _license_v1_OpenSessionRequest__Output } from '../../license/v1/OpenSessionRequest';
import type { OpenSessionResponse as _license_v1_OpenSessionResponse, OpenSessionResponse__Output as _license_v1_OpenSessionResponse__Output } from '../../license/v1/OpenSessionResponse';
import type { ReleaseRequest as _license_v1_ReleaseRequest, ReleaseRequest__Output as _license_v1_ReleaseRequest__Output } from '../../license/v1/ReleaseRequest';
import type { ReleaseResponse as _license_v1_ReleaseResponse, ReleaseResponse__Output as _license_v1_ReleaseResponse__Output } from '../../license/v1/ReleaseResponse';

export interface SeatServiceClient extends grpc.Client {
  Checkout(argument: _license_v1_CheckoutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CheckoutResponse__Output>): grpc.ClientUnaryCall;
  Checkout(argument: _license_v1_CheckoutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_CheckoutResponse__Output>): grpc.ClientUnaryCall;
  Checkout(argument: _license_v1_CheckoutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CheckoutResponse__Output>): grpc.ClientUnaryCall;
  Checkout(argument: _license_v1_CheckoutRequest, callback: grpc.requestCallback<_license_v1_CheckoutResponse__Output>): grpc.ClientUnaryCall;
  checkout(argument: _license_v1_CheckoutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CheckoutResponse__Output>): grpc.ClientUnaryCall;
  checkout(argument: _license_v1_CheckoutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_CheckoutResponse__Output>): grpc.ClientUnaryCall;
  checkout(argument: _license_v1_CheckoutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CheckoutResponse__Output>): grpc.ClientUnaryCall;
  checkout(argument: _license_v1_CheckoutRequest, callback: grpc.requestCallback<_license_v1_CheckoutResponse__Output>): grpc.ClientUnaryCall;
  
  CloseSession(argument: _license_v1_CloseSessionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CloseSessionResponse__Output>): grpc.ClientUnaryCall;
  CloseSession(argument: _license_v1_CloseSessionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_CloseSessionResponse__Output>): grpc.ClientUnaryCall;
  CloseSession(argument: _license_v1_CloseSessionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CloseSessionResponse__Output>): grpc.ClientUnaryCall;
  CloseSession(argument: _license_v1_CloseSessionRequest, callback: grpc.requestCallback<_license_v1_CloseSessionResponse__Output>): grpc.ClientUnaryCall;
  closeSession(argument: _license_v1_CloseSessionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CloseSessionResponse__Output>): grpc.ClientUnaryCall;
  closeSession(argument: _license_v1_CloseSessionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_CloseSessionResponse__Output>): grpc.ClientUnaryCall;
  closeSession(argument: _license_v1_CloseSessionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_CloseSessionResponse__Output>): grpc.ClientUnaryCall;
  closeSession(argument: _license_v1_CloseSessionRequest, callback: grpc.requestCallback<_license_v1_CloseSessionResponse__Output>): grpc.ClientUnaryCall;
  
  Heartbeat(argument: _license_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _license_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _license_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _license_v1_HeartbeatRequest, callback: grpc.requestCallback<_license_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _license_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _license_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _license_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _license_v1_HeartbeatRequest, callback: grpc.requestCallback<_license_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  
  ListFeatures(argument: _license_v1_ListFeaturesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ListFeaturesResponse__Output>): grpc.ClientUnaryCall;
  ListFeatures(argument: _license_v1_ListFeaturesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ListFeaturesResponse__Output>): grpc.ClientUnaryCall;
  ListFeatures(argument: _license_v1_ListFeaturesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ListFeaturesResponse__Output>): grpc.ClientUnaryCall;
  ListFeatures(argument: _license_v1_ListFeaturesRequest, callback: grpc.requestCallback<_license_v1_ListFeaturesResponse__Output>): grpc.ClientUnaryCall;
  listFeatures(argument: _license_v1_ListFeaturesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ListFeaturesResponse__Output>): grpc.ClientUnaryCall;
  listFeatures(argument: _license_v1_ListFeaturesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ListFeaturesResponse__Output>): grpc.ClientUnaryCall;
  listFeatures(argument: _license_v1_ListFeaturesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ListFeaturesResponse__Output>): grpc.ClientUnaryCall;
  listFeatures(argument: _license_v1_ListFeaturesRequest, callback: grpc.requestCallback<_license_v1_ListFeaturesResponse__Output>): grpc.ClientUnaryCall;
  
  OpenSession(argument: _license_v1_OpenSessionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_OpenSessionResponse__Output>): grpc.ClientUnaryCall;
  OpenSession(argument: _license_v1_OpenSessionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_OpenSessionResponse__Output>): grpc.ClientUnaryCall;
  OpenSession(argument: _license_v1_OpenSessionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_OpenSessionResponse__Output>): grpc.ClientUnaryCall;
  OpenSession(argument: _license_v1_OpenSessionRequest, callback: grpc.requestCallback<_license_v1_OpenSessionResponse__Output>): grpc.ClientUnaryCall;
  openSession(argument: _license_v1_OpenSessionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_OpenSessionResponse__Output>): grpc.ClientUnaryCall;
  openSession(argument: _license_v1_OpenSessionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_OpenSessionResponse__Output>): grpc.ClientUnaryCall;
  openSession(argument: _license_v1_OpenSessionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_OpenSessionResponse__Output>): grpc.ClientUnaryCall;
  openSession(argument: _license_v1_OpenSessionRequest, callback: grpc.requestCallback<_license_v1_OpenSessionResponse__Output>): grpc.ClientUnaryCall;
  
  Release(argument: _license_v1_ReleaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  Release(argument: _license_v1_ReleaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  Release(argument: _license_v1_ReleaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  Release(argument: _license_v1_ReleaseRequest, callback: grpc.requestCallback<_license_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _license_v1_ReleaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _license_v1_ReleaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _license_v1_ReleaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _license_v1_ReleaseRequest, callback: grpc.requestCallback<_license_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface SeatServiceHandlers extends grpc.UntypedServiceImplementation {
  Checkout: grpc.handleUnaryCall<_license_v1_CheckoutRequest__Output, _license_v1_CheckoutResponse>;
  
  CloseSession: grpc.handleUnaryCall<_license_v1_CloseSessionRequest__Output, _license_v1_CloseSessionResponse>;
  
  Heartbeat: grpc.handleUnaryCall<_license_v1_HeartbeatRequest__Output, _license_v1_HeartbeatResponse>;
  
  ListFeatures: grpc.handleUnaryCall<_license_v1_ListFeaturesRequest__Output, _license_v1_ListFeaturesResponse>;
  
  OpenSession: grpc.handleUnaryCall<_license_v1_OpenSessionRequest__Output, _license_v1_OpenSessionResponse>;
  
  Release: grpc.handleUnaryCall<_license_v1_ReleaseRequest__Output, _license_v1_ReleaseResponse>;
  
}

export interface SeatServiceDefinition extends grpc.ServiceDefinition {
  Checkout: MethodDefinition<_license_v1_CheckoutRequest, _license_v1_CheckoutResponse, _license_v1_CheckoutRequest__Output, _license_v1_CheckoutResponse__Output>
  CloseSession: MethodDefinition<_license_v1_CloseSessionRequest, _license_v1_CloseSessionResponse, _license_v1_CloseSessionRequest__Output, _license_v1_CloseSessionResponse__Output>
  Heartbeat: MethodDefinition<_license_v1_HeartbeatRequest, _license_v1_HeartbeatResponse, _license_v1_HeartbeatRequest__Output, _license_v1_HeartbeatResponse__Output>
  ListFeatures: MethodDefinition<_license_v1_ListFeaturesRequest, _license_v1_ListFeaturesResponse, _license_v1_ListFeaturesRequest__Output, _license_v1_ListFeaturesResponse__Output>
  OpenSession: MethodDefinition<_license_v1_OpenSessionRequest, _license_v1_OpenSessionResponse, _license_v1_OpenSessionRequest__Output, _license_v1_OpenSessionResponse__Output>
  Release: MethodDefinition<_license_v1_ReleaseRequest, _license_v1_ReleaseResponse, _license_v1_ReleaseRequest__Output, _license_v1_ReleaseResponse__Output>
}
