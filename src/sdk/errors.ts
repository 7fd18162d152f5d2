import * as grpc from '@grpc/grpc-js';

import { LICENSE_ERROR_KEY, LICENSE_LEADER_KEY, LICENSE_POLICY_RULE_KEY, LICENSE_QUEUE_POSITION_KEY, LICENSE_RETRY_AFTER_KEY } from '../contract/metadata';

export { LICENSE_ERROR_KEY, LICENSE_LEADER_KEY, LICENSE_POLICY_RULE_KEY, LICENSE_QUEUE_POSITION_KEY, LICENSE_RETRY_AFTER_KEY };

/**
 * Codes the SDK itself produces, next to the server's `license-error` codes
 * (`SEATS_EXHAUSTED`, `REDUNDANT_BLOCKED`, `NOT_FOUND`, ...), which pass through as sent.
 */
export const ClientErrorCode = {
  /** Every endpoint kept answering UNAVAILABLE / timing out for the whole retry budget. */
  NO_ACTIVE_SERVER: 'NO_ACTIVE_SERVER',
  /** The client was closed; open a new one. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** The session expired or is unknown to the cluster, and reopening it did not help. */
  SESSION_LOST: 'SESSION_LOST',
  /** The caller aborted the operation through its `signal`. */
  ABORTED: 'ABORTED',
  /** The server no longer holds a seat's lease, and checking it out again failed (`seatLost` 'not-held-by-server'). */
  SEAT_NOT_HELD: 'SEAT_NOT_HELD',
} as const;

/**
 * Base of every error the SDK throws. `code` is the server's `license-error` code when it
 * sent one, else derived (the gRPC status name, or a {@link ClientErrorCode}).
 */
export class LicenseClientError extends Error {
  override name = 'LicenseClientError';
  /** gRPC status of the call that failed; undefined for errors raised by the SDK itself. */
  readonly grpcCode: grpc.status | undefined;
  /** Endpoint (`host:port`) that gave the error, when one did. */
  readonly endpoint: string | undefined;

  constructor(
    readonly code: string,
    message: string,
    opts: { grpcCode?: grpc.status | undefined; endpoint?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.grpcCode = opts.grpcCode;
    this.endpoint = opts.endpoint;
  }
}

/** Not enough free seats of the feature right now (RESOURCE_EXHAUSTED). Retry later or release a seat. */
export class SeatsExhaustedError extends LicenseClientError {
  override name = 'SeatsExhaustedError';
}

/**
 * A checkout that waited for a seat (CheckoutOptions.wait) used up its whole wait without
 * one freeing up for it (`code` 'QUEUE_TIMEOUT'). Either the server said so (gRPC
 * DEADLINE_EXCEEDED; the checkout has left the queue), or the wait ran out while the
 * checkout was being retried, say through a failover (`grpcCode` undefined, `cause` the
 * last failure). Not retried: check out again later, or with a longer wait.
 */
export class QueueTimeoutError extends LicenseClientError {
  override name = 'QueueTimeoutError';
}

/**
 * A rule of the site's seat policy refused the checkout (`code` 'POLICY_LIMIT'): a `max`
 * rule (the user, host or group already holds its share) or a `reserve` rule (the free
 * seats are kept for others), both gRPC RESOURCE_EXHAUSTED, or a `deny` rule (gRPC
 * PERMISSION_DENIED: `denied` true). Not retried; the message names the rule.
 */
export class PolicyLimitError extends LicenseClientError {
  override name = 'PolicyLimitError';
  /**
   * The rule that refused, as the server names it in `license-policy-rule`
   * (`features.<feature>.<deny|max|reserve>[<index>]`, several reservations joined by ", ");
   * undefined if the server did not say.
   */
  readonly rule: string | undefined;
  /** True for a `deny` rule (gRPC PERMISSION_DENIED): this requester may never check the feature out, so waiting does not help either. */
  readonly denied: boolean;

  constructor(
    code: string,
    message: string,
    opts: { grpcCode?: grpc.status | undefined; endpoint?: string | undefined; cause?: unknown; rule?: string | undefined } = {},
  ) {
    super(code, message, opts);
    this.rule = opts.rule;
    this.denied = opts.grpcCode === grpc.status.PERMISSION_DENIED;
  }
}

/**
 * The redundant server spent its failover budget and refuses new sessions and seats
 * (FAILED_PRECONDITION, `REDUNDANT_BLOCKED`) until an operator applies an activation key
 * or the primary comes back. Seats already held keep being renewed.
 */
export class ServerBlockedError extends LicenseClientError {
  override name = 'ServerBlockedError';
}

/** The feature is not in the license (NOT_FOUND on Checkout). */
export class FeatureNotFoundError extends LicenseClientError {
  override name = 'FeatureNotFoundError';
}

/** The feature's license has expired (FAILED_PRECONDITION, `FEATURE_EXPIRED`). */
export class FeatureExpiredError extends LicenseClientError {
  override name = 'FeatureExpiredError';
}

/** The server rejected the input (INVALID_ARGUMENT); the message names the field. */
export class InvalidRequestError extends LicenseClientError {
  override name = 'InvalidRequestError';
}

/** The session is unknown to the cluster (expired, or lost with the store); its seats are gone. */
export class SessionLostError extends LicenseClientError {
  override name = 'SessionLostError';
}

/** No endpoint answered as the active server within the retry budget. */
export class NoActiveServerError extends LicenseClientError {
  override name = 'NoActiveServerError';

  constructor(
    readonly operation: string,
    readonly endpointsTried: readonly string[],
    readonly lastError: LicenseClientError | undefined,
    elapsedMs: number,
  ) {
    super(
      ClientErrorCode.NO_ACTIVE_SERVER,
      `${operation}: no active license server answered in ${Math.round(elapsedMs)} ms of retrying ` +
        `(tried ${endpointsTried.join(', ') || 'no endpoint'}; last error: ${lastError?.message ?? 'none'}); ` +
        'check that a license server is running and reachable, or raise retryTimeoutMs',
      { grpcCode: lastError?.grpcCode, endpoint: lastError?.endpoint, cause: lastError },
    );
  }
}

/** The client was closed; every later call throws this. Create a new LicenseClient. */
export class ClientClosedError extends LicenseClientError {
  override name = 'ClientClosedError';

  constructor(operation: string) {
    super(ClientErrorCode.CLIENT_CLOSED, `${operation}: the license client is closed; create a new LicenseClient`);
  }
}

/**
 * The caller aborted the operation through its `signal` (see CheckoutOptions.signal): the
 * call in flight was cancelled and no retry followed. `name` is 'AbortError', as with
 * fetch() and Node's own abortable APIs, so a generic `err.name === 'AbortError'` check
 * works; `cause` is the signal's reason.
 */
export class OperationAbortedError extends LicenseClientError {
  override name = 'AbortError';

  constructor(
    readonly operation: string,
    reason?: unknown,
  ) {
    super(ClientErrorCode.ABORTED, `${operation}: aborted by the caller's signal`, { cause: reason });
  }
}

/** True for a grpc-js call error (it carries a numeric status code and metadata). */
export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number' && 'metadata' in err;
}

function metadataString(md: grpc.Metadata | undefined, key: string): string | undefined {
  const v = md?.get(key)[0];
  if (v === undefined) return undefined;
  const s = typeof v === 'string' ? v : v.toString('utf8');
  return s === '' ? undefined : s;
}

/** The server's `license-error` code of a failed call, if it sent one. */
export function licenseErrorCode(err: grpc.ServiceError): string | undefined {
  return metadataString(err.metadata, LICENSE_ERROR_KEY);
}

/** The active node's address a standby named in `license-leader`, if any. */
export function leaderHint(err: grpc.ServiceError): string | undefined {
  return metadataString(err.metadata, LICENSE_LEADER_KEY);
}

/**
 * How long a standby that is about to take over asks to be given (`license-retry-after-ms`,
 * sent with NOT_ACTIVE during an early takeover), if it said so in a usable form.
 */
export function retryAfterMs(err: grpc.ServiceError): number | undefined {
  const s = metadataString(err.metadata, LICENSE_RETRY_AFTER_KEY);
  if (s === undefined || !/^\d{1,6}$/.test(s)) return undefined;
  return Number(s);
}

/**
 * The rule of the seat policy that refused a checkout (`license-policy-rule`, sent with
 * `license-error: POLICY_LIMIT`), if the server named it.
 */
export function policyRule(err: grpc.ServiceError): string | undefined {
  return metadataString(err.metadata, LICENSE_POLICY_RULE_KEY);
}

/**
 * The 1-based place in its feature's queue that a server gave a waiting Checkout in its
 * initial metadata (`license-queue-position`), if this metadata carries a usable one.
 */
export function queuePosition(md: grpc.Metadata): number | undefined {
  const s = metadataString(md, LICENSE_QUEUE_POSITION_KEY);
  if (s === undefined || !/^[1-9]\d{0,15}$/.test(s)) return undefined;
  return Number(s);
}

/**
 * Failures that say "this node cannot serve you now" rather than "your request is wrong":
 * a standby, a node that is down or lost its lease mid-call (STALE_EPOCH), a store hiccup,
 * or a call that hit its deadline. They are worth another endpoint or another try. A
 * server's QUEUE_TIMEOUT is also DEADLINE_EXCEEDED, but a verdict: the checkout waited its
 * whole wait_ms in the queue, and trying again would only wait again.
 */
export function isRetryable(err: grpc.ServiceError): boolean {
  if (err.code === grpc.status.DEADLINE_EXCEEDED) return licenseErrorCode(err) !== 'QUEUE_TIMEOUT';
  return err.code === grpc.status.UNAVAILABLE;
}

/**
 * True when no license node judged the call: the connection could not be made (refused,
 * reset, no route), broke mid-call, or the channel was closed. grpc-js reports all of these
 * itself as UNAVAILABLE without metadata (a proxy's 502/503 looks the same), while a node's
 * own refusals always carry `license-error` (NOT_ACTIVE, a store outage, ...). A deadline is
 * not counted: the node may be alive and merely slow, and the try already cost a whole
 * `callTimeoutMs`.
 */
export function isConnectionFailure(err: grpc.ServiceError): boolean {
  return err.code === grpc.status.UNAVAILABLE && licenseErrorCode(err) === undefined && leaderHint(err) === undefined;
}

/**
 * The one map from a gRPC error to the SDK's typed errors. The server marks an unknown
 * session with `license-error: SESSION_NOT_FOUND` and an unknown feature with `NOT_FOUND`;
 * without that marker `method` disambiguates (on Checkout the caller rules out a lost
 * session with a heartbeat, elsewhere NOT_FOUND can only mean the session).
 */
export function toClientError(err: grpc.ServiceError, ctx: { endpoint?: string; method?: string } = {}): LicenseClientError {
  const serverCode = licenseErrorCode(err);
  const code = serverCode ?? grpc.status[err.code] ?? String(err.code);
  // `details` is the server's message; err.message prefixes it with "14 UNAVAILABLE: ".
  const message = err.details || err.message;
  const opts = { grpcCode: err.code, endpoint: ctx.endpoint, cause: err };
  if (serverCode === 'SEATS_EXHAUSTED' || (serverCode === undefined && err.code === grpc.status.RESOURCE_EXHAUSTED)) {
    return new SeatsExhaustedError(code, message, opts);
  }
  if (serverCode === 'QUEUE_TIMEOUT') return new QueueTimeoutError(code, message, opts);
  if (serverCode === 'POLICY_LIMIT') return new PolicyLimitError(code, message, { ...opts, rule: policyRule(err) });
  if (serverCode === 'REDUNDANT_BLOCKED') return new ServerBlockedError(code, message, opts);
  if (serverCode === 'FEATURE_EXPIRED') return new FeatureExpiredError(code, message, opts);
  if (err.code === grpc.status.INVALID_ARGUMENT) return new InvalidRequestError(code, message, opts);
  if (serverCode === 'SESSION_NOT_FOUND') return new SessionLostError(code, message, opts);
  if (err.code === grpc.status.NOT_FOUND) {
    // Servers that send no SESSION_NOT_FOUND: on Checkout, NOT_FOUND may mean either.
    return ctx.method === 'Checkout' ? new FeatureNotFoundError(code, message, opts) : new SessionLostError(code, message, opts);
  }
  return new LicenseClientError(code, message, opts);
}
