import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { backoffDelayMs } from '../../src/sdk/backoff';
import { isRetryable, leaderHint, toClientError } from '../../src/sdk/errors';
import { resolveOptions } from '../../src/sdk/options';
import {
  FeatureExpiredError,
  FeatureNotFoundError,
  InvalidRequestError,
  LicenseClient,
  LicenseClientError,
  SeatsExhaustedError,
  ServerBlockedError,
  SessionLostError,
} from '../../src/sdk/index';

function serviceError(code: grpc.status, details: string, md: Record<string, string> = {}): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}

describe('sdk errors: toClientError', () => {
  it('maps license-error codes and statuses to typed errors', () => {
    const cases: Array<[grpc.ServiceError, string | undefined, new (...a: never[]) => LicenseClientError, string]> = [
      [serviceError(grpc.status.RESOURCE_EXHAUSTED, 'no seats', { 'license-error': 'SEATS_EXHAUSTED' }), 'Checkout', SeatsExhaustedError, 'SEATS_EXHAUSTED'],
      [
        serviceError(grpc.status.FAILED_PRECONDITION, 'blocked', { 'license-error': 'REDUNDANT_BLOCKED' }),
        'OpenSession',
        ServerBlockedError,
        'REDUNDANT_BLOCKED',
      ],
      [serviceError(grpc.status.FAILED_PRECONDITION, 'expired', { 'license-error': 'FEATURE_EXPIRED' }), 'Checkout', FeatureExpiredError, 'FEATURE_EXPIRED'],
      [
        serviceError(grpc.status.INVALID_ARGUMENT, 'count: must be 1..3', { 'license-error': 'INVALID_ARGUMENT' }),
        'Checkout',
        InvalidRequestError,
        'INVALID_ARGUMENT',
      ],
      [serviceError(grpc.status.NOT_FOUND, 'unknown feature', { 'license-error': 'NOT_FOUND' }), 'Checkout', FeatureNotFoundError, 'NOT_FOUND'],
      [serviceError(grpc.status.NOT_FOUND, 'unknown session', { 'license-error': 'NOT_FOUND' }), 'Heartbeat', SessionLostError, 'NOT_FOUND'],
      // No metadata (say, a proxy in between): the status decides and names the code.
      [serviceError(grpc.status.RESOURCE_EXHAUSTED, 'no seats'), 'Checkout', SeatsExhaustedError, 'RESOURCE_EXHAUSTED'],
      [serviceError(grpc.status.INTERNAL, 'boom'), 'Checkout', LicenseClientError, 'INTERNAL'],
    ];
    for (const [err, method, cls, code] of cases) {
      const e = toClientError(err, { endpoint: 'h:1', ...(method === undefined ? {} : { method }) });
      assert.ok(e instanceof cls, `${err.details} -> ${e.name}`);
      assert.equal(e.code, code);
      assert.equal(e.grpcCode, err.code);
      assert.equal(e.endpoint, 'h:1');
      assert.equal(e.message, err.details);
      assert.equal(e.cause, err);
    }
  });

  it('reads license-leader and retries only UNAVAILABLE and DEADLINE_EXCEEDED', () => {
    const standby = serviceError(grpc.status.UNAVAILABLE, 'standby', { 'license-error': 'NOT_ACTIVE', 'license-leader': '10.0.0.2:7400' });
    assert.equal(leaderHint(standby), '10.0.0.2:7400');
    assert.equal(leaderHint(serviceError(grpc.status.UNAVAILABLE, 'down')), undefined);
    assert.ok(isRetryable(standby));
    assert.ok(isRetryable(serviceError(grpc.status.DEADLINE_EXCEEDED, 'slow')));
    assert.ok(!isRetryable(serviceError(grpc.status.FAILED_PRECONDITION, 'blocked', { 'license-error': 'REDUNDANT_BLOCKED' })));
    assert.ok(!isRetryable(serviceError(grpc.status.RESOURCE_EXHAUSTED, 'no seats')));
  });
});

describe('sdk backoff', () => {
  it('doubles from initialMs, caps at maxMs, jitters within the upper half', () => {
    assert.equal(
      backoffDelayMs(0, 100, 2_000, () => 0),
      50,
    );
    assert.equal(
      backoffDelayMs(0, 100, 2_000, () => 0.999999),
      100,
    );
    assert.equal(
      backoffDelayMs(3, 100, 2_000, () => 0),
      400,
    );
    assert.equal(
      backoffDelayMs(50, 100, 2_000, () => 0.999999),
      2_000,
    );
    for (let i = 0; i < 100; i++) {
      const d = backoffDelayMs(i % 8, 100, 2_000);
      assert.ok(d >= 50 && d <= 2_000, String(d));
    }
  });
});

describe('sdk options', () => {
  it('applies defaults', () => {
    const o = resolveOptions({ endpoints: ['a:1', 'a:1', ' b:2 '], clientId: 'x' });
    assert.deepEqual(o.endpoints, ['a:1', 'b:2']);
    assert.equal(o.callTimeoutMs, 5_000);
    assert.equal(o.retryTimeoutMs, 30_000);
    assert.equal(o.backoffInitialMs, 100);
    assert.equal(o.backoffMaxMs, 1_000);
    assert.equal(o.recoverSeats, true);
    assert.equal(o.pid, process.pid);
    assert.equal(o.heartbeatIntervalMs, undefined);
  });

  it('rejects bad options naming them', () => {
    assert.throws(() => new LicenseClient({ endpoints: [], clientId: 'x' }), /endpoints/);
    assert.throws(() => new LicenseClient({ endpoints: ['no-port'], clientId: 'x' }), /endpoints.*host:port/);
    assert.throws(() => new LicenseClient({ endpoints: ['a:70000'], clientId: 'x' }), /host:port/);
    assert.throws(() => new LicenseClient({ endpoints: ['a:1'], clientId: '' }), /clientId/);
    assert.throws(() => new LicenseClient({ endpoints: ['a:1'], clientId: 'x', callTimeoutMs: 0 }), /callTimeoutMs/);
    assert.throws(() => new LicenseClient({ endpoints: ['a:1'], clientId: 'x', backoff: { initialMs: 500, maxMs: 100 } }), /backoff/);
  });
});
