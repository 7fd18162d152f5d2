/**
 * The codes a server sends in `license-error` trailing metadata, one per failure a
 * caller can act on. The server raises them as `LicenseError`s (src/server/errors.ts)
 * and maps them to gRPC status codes in one place (src/server/grpc/to-status.ts); the
 * SDK maps them back to typed errors (src/sdk/errors.ts).
 */
export const ErrorCode = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  NOT_FOUND: 'NOT_FOUND',
  /** The session is unknown or expired (gRPC NOT_FOUND); the client opens a new one. */
  SESSION_NOT_FOUND: 'SESSION_NOT_FOUND',
  NOT_ACTIVE: 'NOT_ACTIVE',
  STALE_EPOCH: 'STALE_EPOCH',
  /** The next fencing epoch would be 2^48 or more (or Redis holds one that is not an epoch): the node does not take the lease; an operator must repair the epoch counter. */
  EPOCH_OUT_OF_RANGE: 'EPOCH_OUT_OF_RANGE',
  SEATS_EXHAUSTED: 'SEATS_EXHAUSTED',
  /** A checkout waited in its feature's queue for its whole wait_ms without a seat freeing up (gRPC DEADLINE_EXCEEDED); it has left the queue. */
  QUEUE_TIMEOUT: 'QUEUE_TIMEOUT',
  /** The caller cancelled a checkout while it waited in the queue (gRPC CANCELLED; nobody is left to read it). */
  CANCELLED: 'CANCELLED',
  /**
   * A rule of the site's seat policy (LICENSE_POLICY_FILE) refused the checkout: gRPC
   * RESOURCE_EXHAUSTED for a `max` or `reserve` rule, PERMISSION_DENIED for a `deny` rule.
   * The message names the rule (`features.designer.max[0]`), as does `license-policy-rule`.
   * Retrying does not help until the requester (max) or others (reserve) release seats.
   */
  POLICY_LIMIT: 'POLICY_LIMIT',
  /** A configured limit (sessions per client, seats per session, calls in flight) was hit. */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  FEATURE_EXPIRED: 'FEATURE_EXPIRED',
  REDUNDANT_BLOCKED: 'REDUNDANT_BLOCKED',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  PEER_REFUSED: 'PEER_REFUSED',
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  /**
   * Redis took the write but fewer replicas than LICENSE_REDIS_MIN_REPLICAS acknowledged it
   * in time (or the master refused it with NOREPLICAS): the answer is withheld because a
   * master failover could lose it. gRPC UNAVAILABLE; retry with the same request_id.
   */
  REPLICAS_UNAVAILABLE: 'REPLICAS_UNAVAILABLE',
  CONFIG_INVALID: 'CONFIG_INVALID',
  LICENSE_INVALID: 'LICENSE_INVALID',
  ACTIVATION_MALFORMED: 'ACTIVATION_MALFORMED',
  ACTIVATION_BAD_SIGNATURE: 'ACTIVATION_BAD_SIGNATURE',
  ACTIVATION_WRONG_TARGET: 'ACTIVATION_WRONG_TARGET',
  ACTIVATION_USED: 'ACTIVATION_USED',
  ACTIVATION_EXPIRED: 'ACTIVATION_EXPIRED',
  /** The vendor's activation service refused the request key (its message says why). gRPC FAILED_PRECONDITION. */
  VENDOR_REFUSED: 'VENDOR_REFUSED',
  /** The vendor's activation service could not be reached or answered nonsense; retry, or use the manual flow. gRPC UNAVAILABLE. */
  VENDOR_UNAVAILABLE: 'VENDOR_UNAVAILABLE',
  FAILED_PRECONDITION: 'FAILED_PRECONDITION',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** True when `code` is one of the contract's codes (say, read from metadata). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ErrorCode, code);
}
