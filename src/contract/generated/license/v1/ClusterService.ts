// Original file: proto/license/v1/cluster.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { PeerHeartbeatRequest as _license_v1_PeerHeartbeatRequest, PeerHeartbeatRequest__Output as _license_v1_PeerHeartbeatRequest__Output } from '../../license/v1/PeerHeartbeatRequest';
import type { PeerHeartbeatResponse as _license_v1_PeerHeartbeatResponse, PeerHeartbeatResponse__Output as _license_v1_PeerHeartbeatResponse__Output } from '../../license/v1/PeerHeartbeatResponse';

export interface ClusterServiceClient extends grpc.Client {
  Heartbeat(argument: _license_v1_PeerHeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_PeerHeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _license_v1_PeerHeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_PeerHeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _license_v1_PeerHeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_PeerHeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _license_v1_PeerHeartbeatRequest, callback: grpc.requestCallback<_license_v1_PeerHeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _license_v1_PeerHeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_PeerHeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _license_v1_PeerHeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_license_v1_PeerHeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _license_v1_PeerHeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_license_v1_PeerHeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _license_v1_PeerHeartbeatRequest, callback: grpc.requestCallback<_license_v1_PeerHeartbeatResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface ClusterServiceHandlers extends grpc.UntypedServiceImplementation {
  Heartbeat: grpc.handleUnaryCall<_license_v1_PeerHeartbeatRequest__Output, _license_v1_PeerHeartbeatResponse>;
  
}

export interface ClusterServiceDefinition extends grpc.ServiceDefinition {
  Heartbeat: MethodDefinition<_license_v1_PeerHeartbeatRequest, _license_v1_PeerHeartbeatResponse, _license_v1_PeerHeartbeatRequest__Output, _license_v1_PeerHeartbeatResponse__Output>
}
