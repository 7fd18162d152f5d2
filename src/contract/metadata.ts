/**
 * Trailing metadata keys of the contract (docs/ARCHITECTURE.md, "API and errors"),
 * shared by the server, which sets them, and the SDK, which reads them.
 */

/** The server's error code (an {@link ErrorCode}) on every refused call. */
export const LICENSE_ERROR_KEY = 'license-error';

/** `host:port` of the active node, sent by a standby with UNAVAILABLE when it knows it. */
export const LICENSE_LEADER_KEY = 'license-leader';
/**
 * On NOT_ACTIVE from a standby that expects to take over within this many milliseconds
 * (it saw the active node's process die and is confirming it: early takeover): retry at
 * this node after that long instead of backing off. Sent instead of `license-leader`,
 * which would name the dead node.
 */
export const LICENSE_RETRY_AFTER_KEY = 'license-retry-after-ms';

/**
 * Initial (not trailing) metadata of a Checkout with wait_ms that found no free seat: its
 * 1-based position in the feature's queue, sent as soon as it is queued. The answer follows
 * when a seat is granted or the wait runs out.
 */
export const LICENSE_QUEUE_POSITION_KEY = 'license-queue-position';

/**
 * With `license-error: POLICY_LIMIT`: the seat policy rule that refused the checkout, as
 * `features.<feature>.<deny|max|reserve>[<index>]` (several reservations: joined by ", ").
 */
export const LICENSE_POLICY_RULE_KEY = 'license-policy-rule';
