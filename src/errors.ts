/**
 * The one error model of the product. Every failure a caller can act on is a
 * LicenseError with a code; `grpc/to-status.ts` maps codes to gRPC status codes and
 * the SDK maps them back to typed errors.
 */
export const ErrorCode = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  NOT_FOUND: 'NOT_FOUND',
  /** The session is unknown or expired (gRPC NOT_FOUND); the client opens a new one. */
  SESSION_NOT_FOUND: 'SESSION_NOT_FOUND',
  NOT_ACTIVE: 'NOT_ACTIVE',
  STALE_EPOCH: 'STALE_EPOCH',
  SEATS_EXHAUSTED: 'SEATS_EXHAUSTED',
  /** A configured limit (sessions per client, seats per session, calls in flight) was hit. */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  FEATURE_EXPIRED: 'FEATURE_EXPIRED',
  REDUNDANT_BLOCKED: 'REDUNDANT_BLOCKED',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  PEER_REFUSED: 'PEER_REFUSED',
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  CONFIG_INVALID: 'CONFIG_INVALID',
  LICENSE_INVALID: 'LICENSE_INVALID',
  ACTIVATION_MALFORMED: 'ACTIVATION_MALFORMED',
  ACTIVATION_BAD_SIGNATURE: 'ACTIVATION_BAD_SIGNATURE',
  ACTIVATION_WRONG_TARGET: 'ACTIVATION_WRONG_TARGET',
  ACTIVATION_USED: 'ACTIVATION_USED',
  ACTIVATION_EXPIRED: 'ACTIVATION_EXPIRED',
  FAILED_PRECONDITION: 'FAILED_PRECONDITION',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface LicenseErrorDetails {
  /** Advertised address of the active node, for NOT_ACTIVE errors. */
  leaderAddr?: string;
  /** Name of the input field that was wrong, for INVALID_ARGUMENT errors. */
  field?: string;
}

export class LicenseError extends Error {
  override readonly name = 'LicenseError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: LicenseErrorDetails = {},
  ) {
    super(message);
  }
}

export function isLicenseError(err: unknown): err is LicenseError {
  return err instanceof LicenseError;
}

/** Message of any thrown value, for logs. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
