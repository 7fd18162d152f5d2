import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Budget as _license_v1_Budget, Budget__Output as _license_v1_Budget__Output } from './license/v1/Budget';
import type { ClusterServiceClient as _license_v1_ClusterServiceClient, ClusterServiceDefinition as _license_v1_ClusterServiceDefinition } from './license/v1/ClusterService';
import type { FeatureStatus as _license_v1_FeatureStatus, FeatureStatus__Output as _license_v1_FeatureStatus__Output } from './license/v1/FeatureStatus';
import type { PeerHeartbeatRequest as _license_v1_PeerHeartbeatRequest, PeerHeartbeatRequest__Output as _license_v1_PeerHeartbeatRequest__Output } from './license/v1/PeerHeartbeatRequest';
import type { PeerHeartbeatResponse as _license_v1_PeerHeartbeatResponse, PeerHeartbeatResponse__Output as _license_v1_PeerHeartbeatResponse__Output } from './license/v1/PeerHeartbeatResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  license: {
    v1: {
      Budget: MessageTypeDefinition<_license_v1_Budget, _license_v1_Budget__Output>
      ClusterService: SubtypeConstructor<typeof grpc.Client, _license_v1_ClusterServiceClient> & { service: _license_v1_ClusterServiceDefinition }
      FeatureStatus: MessageTypeDefinition<_license_v1_FeatureStatus, _license_v1_FeatureStatus__Output>
      NodeState: EnumTypeDefinition
      PeerHeartbeatRequest: MessageTypeDefinition<_license_v1_PeerHeartbeatRequest, _license_v1_PeerHeartbeatRequest__Output>
      PeerHeartbeatResponse: MessageTypeDefinition<_license_v1_PeerHeartbeatResponse, _license_v1_PeerHeartbeatResponse__Output>
      Role: EnumTypeDefinition
    }
  }
}

