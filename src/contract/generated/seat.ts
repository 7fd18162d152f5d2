import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Budget as _license_v1_Budget, Budget__Output as _license_v1_Budget__Output } from './license/v1/Budget';
import type { CheckoutRequest as _license_v1_CheckoutRequest, CheckoutRequest__Output as _license_v1_CheckoutRequest__Output } from './license/v1/CheckoutRequest';
import type { CheckoutResponse as _license_v1_CheckoutResponse, CheckoutResponse__Output as _license_v1_CheckoutResponse__Output } from './license/v1/CheckoutResponse';
import type { CloseSessionRequest as _license_v1_CloseSessionRequest, CloseSessionRequest__Output as _license_v1_CloseSessionRequest__Output } from './license/v1/CloseSessionRequest';
import type { CloseSessionResponse as _license_v1_CloseSessionResponse, CloseSessionResponse__Output as _license_v1_CloseSessionResponse__Output } from './license/v1/CloseSessionResponse';
import type { FeatureStatus as _license_v1_FeatureStatus, FeatureStatus__Output as _license_v1_FeatureStatus__Output } from './license/v1/FeatureStatus';
import type { HeartbeatRequest as _license_v1_HeartbeatRequest, HeartbeatRequest__Output as _license_v1_HeartbeatRequest__Output } from './license/v1/HeartbeatRequest';
import type { HeartbeatResponse as _license_v1_HeartbeatResponse, HeartbeatResponse__Output as _license_v1_HeartbeatResponse__Output } from './license/v1/HeartbeatResponse';
import type { ListFeaturesRequest as _license_v1_ListFeaturesRequest, ListFeaturesRequest__Output as _license_v1_ListFeaturesRequest__Output } from './license/v1/ListFeaturesRequest';
import type { ListFeaturesResponse as _license_v1_ListFeaturesResponse, ListFeaturesResponse__Output as _license_v1_ListFeaturesResponse__Output } from './license/v1/ListFeaturesResponse';
import type { OpenSessionRequest as _license_v1_OpenSessionRequest, OpenSessionRequest__Output as _license_v1_OpenSessionRequest__Output } from './license/v1/OpenSessionRequest';
import type { OpenSessionResponse as _license_v1_OpenSessionResponse, OpenSessionResponse__Output as _license_v1_OpenSessionResponse__Output } from './license/v1/OpenSessionResponse';
import type { ReleaseRequest as _license_v1_ReleaseRequest, ReleaseRequest__Output as _license_v1_ReleaseRequest__Output } from './license/v1/ReleaseRequest';
import type { ReleaseResponse as _license_v1_ReleaseResponse, ReleaseResponse__Output as _license_v1_ReleaseResponse__Output } from './license/v1/ReleaseResponse';
import type { SeatServiceClient as _license_v1_SeatServiceClient, SeatServiceDefinition as _license_v1_SeatServiceDefinition } from './license/v1/SeatService';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  license: {
    v1: {
      Budget: MessageTypeDefinition<_license_v1_Budget, _license_v1_Budget__Output>
      CheckoutRequest: MessageTypeDefinition<_license_v1_CheckoutRequest, _license_v1_CheckoutRequest__Output>
      CheckoutResponse: MessageTypeDefinition<_license_v1_CheckoutResponse, _license_v1_CheckoutResponse__Output>
      CloseSessionRequest: MessageTypeDefinition<_license_v1_CloseSessionRequest, _license_v1_CloseSessionRequest__Output>
      CloseSessionResponse: MessageTypeDefinition<_license_v1_CloseSessionResponse, _license_v1_CloseSessionResponse__Output>
      FeatureStatus: MessageTypeDefinition<_license_v1_FeatureStatus, _license_v1_FeatureStatus__Output>
      HeartbeatRequest: MessageTypeDefinition<_license_v1_HeartbeatRequest, _license_v1_HeartbeatRequest__Output>
      HeartbeatResponse: MessageTypeDefinition<_license_v1_HeartbeatResponse, _license_v1_HeartbeatResponse__Output>
      ListFeaturesRequest: MessageTypeDefinition<_license_v1_ListFeaturesRequest, _license_v1_ListFeaturesRequest__Output>
      ListFeaturesResponse: MessageTypeDefinition<_license_v1_ListFeaturesResponse, _license_v1_ListFeaturesResponse__Output>
      NodeState: EnumTypeDefinition
      OpenSessionRequest: MessageTypeDefinition<_license_v1_OpenSessionRequest, _license_v1_OpenSessionRequest__Output>
      OpenSessionResponse: MessageTypeDefinition<_license_v1_OpenSessionResponse, _license_v1_OpenSessionResponse__Output>
      ReleaseRequest: MessageTypeDefinition<_license_v1_ReleaseRequest, _license_v1_ReleaseRequest__Output>
      ReleaseResponse: MessageTypeDefinition<_license_v1_ReleaseResponse, _license_v1_ReleaseResponse__Output>
      Role: EnumTypeDefinition
      SeatService: SubtypeConstructor<typeof grpc.Client, _license_v1_SeatServiceClient> & { service: _license_v1_SeatServiceDefinition }
    }
  }
}

