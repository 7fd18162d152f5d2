/**
 * Client SDK of the license cluster: `new LicenseClient({ endpoints, clientId })`,
 * `connect()`, `checkout(feature)` -> Seat, `seat.release()`, `close()`.
 * Usable on its own: it needs only the proto contract, not the server code.
 */
export { LicenseClient } from './license-client';
export type { CheckoutOptions, CheckoutQueuedEvent, FeatureInfo, FeaturesOptions, LicenseClientEvents, SeatLostReason } from './types';
export type { Seat } from './seat';
export type { LicenseClientOptions } from './options';
export { CHANNEL_OPTIONS, CLIENT_DEFAULTS, MAX_CHECKOUT_WAIT_MS } from './options';
export {
  ClientClosedError,
  ClientErrorCode,
  FeatureExpiredError,
  FeatureNotFoundError,
  InvalidRequestError,
  LICENSE_ERROR_KEY,
  LICENSE_LEADER_KEY,
  LICENSE_POLICY_RULE_KEY,
  LICENSE_QUEUE_POSITION_KEY,
  LICENSE_RETRY_AFTER_KEY,
  LicenseClientError,
  NoActiveServerError,
  OperationAbortedError,
  PolicyLimitError,
  QueueTimeoutError,
  SeatsExhaustedError,
  ServerBlockedError,
  SessionLostError,
  toClientError,
} from './errors';
