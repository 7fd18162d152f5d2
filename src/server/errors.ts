/**
 * The one error model of the product. Every failure a caller can act on is a
 * LicenseError with one of the contract's codes (src/contract/error-codes.ts);
 * `grpc/to-status.ts` maps codes to gRPC status codes and the SDK maps them back to
 * typed errors.
 */
import { ErrorCode } from '../contract/error-codes';

export { ErrorCode };

export interface LicenseErrorDetails {
  /** Advertised address of the active node, for NOT_ACTIVE errors. */
  leaderAddr?: string;
  /** Name of the input field that was wrong, for INVALID_ARGUMENT errors. */
  field?: string;
  /** NOT_ACTIVE from a node about to take over: retry here after this many ms (`license-retry-after-ms`). */
  retryAfterMs?: number;
  /** POLICY_LIMIT: the seat policy rule that refused (`license-policy-rule`), e.g. `features.designer.max[0]`. */
  policyRule?: string;
  /** POLICY_LIMIT from a deny rule: answered PERMISSION_DENIED instead of RESOURCE_EXHAUSTED. */
  policyDenied?: boolean;
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
