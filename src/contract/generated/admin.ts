import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { ActivateRequest as _license_v1_ActivateRequest, ActivateRequest__Output as _license_v1_ActivateRequest__Output } from './license/v1/ActivateRequest';
import type { ActivateResponse as _license_v1_ActivateResponse, ActivateResponse__Output as _license_v1_ActivateResponse__Output } from './license/v1/ActivateResponse';
import type { AdminServiceClient as _license_v1_AdminServiceClient, AdminServiceDefinition as _license_v1_AdminServiceDefinition } from './license/v1/AdminService';
import type { Budget as _license_v1_Budget, Budget__Output as _license_v1_Budget__Output } from './license/v1/Budget';
import type { CheckActivationKeyRequest as _license_v1_CheckActivationKeyRequest, CheckActivationKeyRequest__Output as _license_v1_CheckActivationKeyRequest__Output } from './license/v1/CheckActivationKeyRequest';
import type { CheckActivationKeyResponse as _license_v1_CheckActivationKeyResponse, CheckActivationKeyResponse__Output as _license_v1_CheckActivationKeyResponse__Output } from './license/v1/CheckActivationKeyResponse';
import type { FeatureStatus as _license_v1_FeatureStatus, FeatureStatus__Output as _license_v1_FeatureStatus__Output } from './license/v1/FeatureStatus';
import type { GetAuditRequest as _license_v1_GetAuditRequest, GetAuditRequest__Output as _license_v1_GetAuditRequest__Output } from './license/v1/GetAuditRequest';
import type { GetAuditResponse as _license_v1_GetAuditResponse, GetAuditResponse__Output as _license_v1_GetAuditResponse__Output } from './license/v1/GetAuditResponse';
import type { GetStatusRequest as _license_v1_GetStatusRequest, GetStatusRequest__Output as _license_v1_GetStatusRequest__Output } from './license/v1/GetStatusRequest';
import type { GetStatusResponse as _license_v1_GetStatusResponse, GetStatusResponse__Output as _license_v1_GetStatusResponse__Output } from './license/v1/GetStatusResponse';
import type { LeaseInfo as _license_v1_LeaseInfo, LeaseInfo__Output as _license_v1_LeaseInfo__Output } from './license/v1/LeaseInfo';
import type { ListLeasesRequest as _license_v1_ListLeasesRequest, ListLeasesRequest__Output as _license_v1_ListLeasesRequest__Output } from './license/v1/ListLeasesRequest';
import type { ListLeasesResponse as _license_v1_ListLeasesResponse, ListLeasesResponse__Output as _license_v1_ListLeasesResponse__Output } from './license/v1/ListLeasesResponse';
import type { PeerStatus as _license_v1_PeerStatus, PeerStatus__Output as _license_v1_PeerStatus__Output } from './license/v1/PeerStatus';
import type { ReleaseLeaseRequest as _license_v1_ReleaseLeaseRequest, ReleaseLeaseRequest__Output as _license_v1_ReleaseLeaseRequest__Output } from './license/v1/ReleaseLeaseRequest';
import type { ReleaseLeaseResponse as _license_v1_ReleaseLeaseResponse, ReleaseLeaseResponse__Output as _license_v1_ReleaseLeaseResponse__Output } from './license/v1/ReleaseLeaseResponse';
import type { RequestActivationKeyRequest as _license_v1_RequestActivationKeyRequest, RequestActivationKeyRequest__Output as _license_v1_RequestActivationKeyRequest__Output } from './license/v1/RequestActivationKeyRequest';
import type { RequestActivationKeyResponse as _license_v1_RequestActivationKeyResponse, RequestActivationKeyResponse__Output as _license_v1_RequestActivationKeyResponse__Output } from './license/v1/RequestActivationKeyResponse';
import type { SendActivationRequestRequest as _license_v1_SendActivationRequestRequest, SendActivationRequestRequest__Output as _license_v1_SendActivationRequestRequest__Output } from './license/v1/SendActivationRequestRequest';
import type { SendActivationRequestResponse as _license_v1_SendActivationRequestResponse, SendActivationRequestResponse__Output as _license_v1_SendActivationRequestResponse__Output } from './license/v1/SendActivationRequestResponse';
import type { StepDownRequest as _license_v1_StepDownRequest, StepDownRequest__Output as _license_v1_StepDownRequest__Output } from './license/v1/StepDownRequest';
import type { StepDownResponse as _license_v1_StepDownResponse, StepDownResponse__Output as _license_v1_StepDownResponse__Output } from './license/v1/StepDownResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  license: {
    v1: {
      ActivateRequest: MessageTypeDefinition<_license_v1_ActivateRequest, _license_v1_ActivateRequest__Output>
      ActivateResponse: MessageTypeDefinition<_license_v1_ActivateResponse, _license_v1_ActivateResponse__Output>
      AdminService: SubtypeConstructor<typeof grpc.Client, _license_v1_AdminServiceClient> & { service: _license_v1_AdminServiceDefinition }
      Budget: MessageTypeDefinition<_license_v1_Budget, _license_v1_Budget__Output>
      CheckActivationKeyRequest: MessageTypeDefinition<_license_v1_CheckActivationKeyRequest, _license_v1_CheckActivationKeyRequest__Output>
      CheckActivationKeyResponse: MessageTypeDefinition<_license_v1_CheckActivationKeyResponse, _license_v1_CheckActivationKeyResponse__Output>
      FeatureStatus: MessageTypeDefinition<_license_v1_FeatureStatus, _license_v1_FeatureStatus__Output>
      GetAuditRequest: MessageTypeDefinition<_license_v1_GetAuditRequest, _license_v1_GetAuditRequest__Output>
      GetAuditResponse: MessageTypeDefinition<_license_v1_GetAuditResponse, _license_v1_GetAuditResponse__Output>
      GetStatusRequest: MessageTypeDefinition<_license_v1_GetStatusRequest, _license_v1_GetStatusRequest__Output>
      GetStatusResponse: MessageTypeDefinition<_license_v1_GetStatusResponse, _license_v1_GetStatusResponse__Output>
      LeaseInfo: MessageTypeDefinition<_license_v1_LeaseInfo, _license_v1_LeaseInfo__Output>
      ListLeasesRequest: MessageTypeDefinition<_license_v1_ListLeasesRequest, _license_v1_ListLeasesRequest__Output>
      ListLeasesResponse: MessageTypeDefinition<_license_v1_ListLeasesResponse, _license_v1_ListLeasesResponse__Output>
      NodeState: EnumTypeDefinition
      PeerStatus: MessageTypeDefinition<_license_v1_PeerStatus, _license_v1_PeerStatus__Output>
      ReleaseLeaseRequest: MessageTypeDefinition<_license_v1_ReleaseLeaseRequest, _license_v1_ReleaseLeaseRequest__Output>
      ReleaseLeaseResponse: MessageTypeDefinition<_license_v1_ReleaseLeaseResponse, _license_v1_ReleaseLeaseResponse__Output>
      RequestActivationKeyRequest: MessageTypeDefinition<_license_v1_RequestActivationKeyRequest, _license_v1_RequestActivationKeyRequest__Output>
      RequestActivationKeyResponse: MessageTypeDefinition<_license_v1_RequestActivationKeyResponse, _license_v1_RequestActivationKeyResponse__Output>
      Role: EnumTypeDefinition
      SendActivationRequestRequest: MessageTypeDefinition<_license_v1_SendActivationRequestRequest, _license_v1_SendActivationRequestRequest__Output>
      SendActivationRequestResponse: MessageTypeDefinition<_license_v1_SendActivationRequestResponse, _license_v1_SendActivationRequestResponse__Output>
      StepDownRequest: MessageTypeDefinition<_license_v1_StepDownRequest, _license_v1_StepDownRequest__Output>
      StepDownResponse: MessageTypeDefinition<_license_v1_StepDownResponse, _license_v1_StepDownResponse__Output>
    }
  }
}

