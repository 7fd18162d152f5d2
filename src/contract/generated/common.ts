import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Budget as _license_v1_Budget, Budget__Output as _license_v1_Budget__Output } from './license/v1/Budget';
import type { FeatureStatus as _license_v1_FeatureStatus, FeatureStatus__Output as _license_v1_FeatureStatus__Output } from './license/v1/FeatureStatus';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  license: {
    v1: {
      Budget: MessageTypeDefinition<_license_v1_Budget, _license_v1_Budget__Output>
      FeatureStatus: MessageTypeDefinition<_license_v1_FeatureStatus, _license_v1_FeatureStatus__Output>
      NodeState: EnumTypeDefinition
      Role: EnumTypeDefinition
    }
  }
}

