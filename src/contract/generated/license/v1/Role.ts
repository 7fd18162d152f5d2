// Original file: proto/license/v1/common.proto

export const Role = {
  ROLE_UNSPECIFIED: 'ROLE_UNSPECIFIED',
  ROLE_PRIMARY: 'ROLE_PRIMARY',
  ROLE_REDUNDANT: 'ROLE_REDUNDANT',
} as const;

export type Role =
  | 'ROLE_UNSPECIFIED'
  | 0
  | 'ROLE_PRIMARY'
  | 1
  | 'ROLE_REDUNDANT'
  | 2

export type Role__Output = typeof Role[keyof typeof Role]
