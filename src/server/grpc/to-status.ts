import * as grpc from '@grpc/grpc-js';
import { ErrorCode, LicenseError } from '../errors';
import { LICENSE_ERROR_KEY, LICENSE_LEADER_KEY, LICENSE_POLICY_RULE_KEY, LICENSE_RETRY_AFTER_KEY } from '../../contract/metadata';
import type { Logger } from '../log';

const STATUS_OF: Record<ErrorCode, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  SESSION_NOT_FOUND: grpc.status.NOT_FOUND,
  NOT_ACTIVE: grpc.status.UNAVAILABLE,
  // The node lost the lease between its check and the write: another node is active.
  STALE_EPOCH: grpc.status.UNAVAILABLE,
  // Raised by the acquire script inside the lease loop, never by an RPC; the map must still name every code.
  EPOCH_OUT_OF_RANGE: grpc.status.FAILED_PRECONDITION,
  SEATS_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  QUEUE_TIMEOUT: grpc.status.DEADLINE_EXCEEDED,
  CANCELLED: grpc.status.CANCELLED,
  LIMIT_EXCEEDED: grpc.status.RESOURCE_EXHAUSTED,
  // A deny rule's refusal is PERMISSION_DENIED (statusOf below): the same code, since callers act on the rule, not the status.
  POLICY_LIMIT: grpc.status.RESOURCE_EXHAUSTED,
  FEATURE_EXPIRED: grpc.status.FAILED_PRECONDITION,
  REDUNDANT_BLOCKED: grpc.status.FAILED_PRECONDITION,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  PEER_REFUSED: grpc.status.FAILED_PRECONDITION,
  STORE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  REPLICAS_UNAVAILABLE: grpc.status.UNAVAILABLE,
  CONFIG_INVALID: grpc.status.INVALID_ARGUMENT,
  LICENSE_INVALID: grpc.status.FAILED_PRECONDITION,
  ACTIVATION_MALFORMED: grpc.status.INVALID_ARGUMENT,
  ACTIVATION_BAD_SIGNATURE: grpc.status.PERMISSION_DENIED,
  ACTIVATION_WRONG_TARGET: grpc.status.FAILED_PRECONDITION,
  ACTIVATION_USED: grpc.status.FAILED_PRECONDITION,
  ACTIVATION_EXPIRED: grpc.status.FAILED_PRECONDITION,
  VENDOR_REFUSED: grpc.status.FAILED_PRECONDITION,
  VENDOR_UNAVAILABLE: grpc.status.UNAVAILABLE,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  INTERNAL: grpc.status.INTERNAL,
};

/** The gRPC status a LicenseError code is answered with (the web console maps it on to HTTP). */
export function statusOfCode(code: ErrorCode): grpc.status {
  return STATUS_OF[code];
}

/** The gRPC status of one error: its code's, except a seat policy's deny rule (DESIGN: POLICY_LIMIT, deny: PERMISSION_DENIED). */
export function statusOf(err: LicenseError): grpc.status {
  return err.code === ErrorCode.POLICY_LIMIT && err.details.policyDenied === true ? grpc.status.PERMISSION_DENIED : STATUS_OF[err.code];
}

/**
 * The one place that knows gRPC status codes. A LicenseError keeps its message and
 * carries `license-error: <CODE>` (and `license-leader` when known); anything else is
 * a bug: INTERNAL with a generic message, and the stack goes to the log.
 */
export function toStatus(err: unknown, logger: Logger, method: string): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (err instanceof LicenseError) {
    metadata.set(LICENSE_ERROR_KEY, err.code);
    if (err.details.leaderAddr) metadata.set(LICENSE_LEADER_KEY, err.details.leaderAddr);
    if (err.details.retryAfterMs !== undefined) metadata.set(LICENSE_RETRY_AFTER_KEY, String(Math.max(0, Math.round(err.details.retryAfterMs))));
    if (err.details.policyRule) metadata.set(LICENSE_POLICY_RULE_KEY, err.details.policyRule);
    return { code: statusOf(err), details: err.message, metadata };
  }
  logger.error('unexpected error in rpc', { method, err: err instanceof Error ? err.stack : String(err) });
  metadata.set(LICENSE_ERROR_KEY, ErrorCode.INTERNAL);
  return { code: grpc.status.INTERNAL, details: 'internal error in the license server; see its log', metadata };
}

/** Short gRPC code name (`OK`, `UNAVAILABLE`) for metrics labels. */
export function statusName(code: grpc.status): string {
  return grpc.status[code] ?? String(code);
}
