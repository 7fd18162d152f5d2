import { timingSafeEqual } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { ErrorCode, LicenseError } from '../errors';

/**
 * Checks `authorization: Bearer <token>`. Missing → UNAUTHENTICATED, wrong →
 * PERMISSION_DENIED; compared in constant time so the token cannot be guessed
 * byte by byte from response times.
 */
export function checkAdminToken(metadata: grpc.Metadata, expected: string): void {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new LicenseError(
      ErrorCode.UNAUTHENTICATED,
      'admin call without a token: send metadata "authorization: Bearer <LICENSE_ADMIN_TOKEN>" (licensectl --token)',
    );
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  const given = Buffer.from(m?.[1] ?? '');
  const want = Buffer.from(expected);
  if (!m || given.length !== want.length || !timingSafeEqual(given, want)) {
    throw new LicenseError(ErrorCode.PERMISSION_DENIED, 'admin token rejected: use the LICENSE_ADMIN_TOKEN this node was started with');
  }
}
