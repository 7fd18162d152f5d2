// Original file: proto/license/v1/seat.proto

import type { FeatureStatus as _license_v1_FeatureStatus, FeatureStatus__Output as _license_v1_FeatureStatus__Output } from '../../license/v1/FeatureStatus';

export interface ListFeaturesResponse {
  'features'?: (_license_v1_FeatureStatus)[];
}

export interface ListFeaturesResponse__Output {
  'features': (_license_v1_FeatureStatus__Output)[];
}
