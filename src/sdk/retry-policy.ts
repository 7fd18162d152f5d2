/**
 * The transport's retry and deadline rules as small pure functions (the way nice-grpc
 * keeps them as middlewares), so they can be read and tested apart from the call loop.
 */
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import { backoffDelayMs } from './backoff';
import { leaderHint } from './errors';
import { isHostPort } from './options';

/** Deadlines are on the monotonic clock: a wall-clock step must not stretch or cut a retry budget. */
export const monotonic = (): number => performance.now();

/**
 * Deadline of one try: a hung node costs at most `callTimeoutMs`, and no try outlives the
 * operation's `deadline`. Zero or less means the operation is out of time.
 */
export function tryTimeoutMs(callTimeoutMs: number, deadline: number, now: number = monotonic()): number {
  return Math.min(callTimeoutMs, deadline - now);
}

/** What one operation's retries remember. */
export interface RetryState {
  /** Backoff steps taken so far (0 before the first). */
  readonly attempt: number;
  /** The last try went where a `license-leader` hint pointed. */
  readonly followedHint: boolean;
}

export const FIRST_TRY: RetryState = Object.freeze({ attempt: 0, followedHint: false });

/** Where and when the next try goes, after a retryable failure. */
export interface RetryStep {
  /** The active node a standby named; undefined means: rotate to the next endpoint. */
  readonly leader: string | undefined;
  readonly delayMs: number;
  readonly next: RetryState;
}

export function planRetry(
  failure: grpc.ServiceError,
  endpoint: string,
  state: RetryState,
  backoff: { readonly initialMs: number; readonly maxMs: number },
  random: () => number = Math.random,
): RetryStep {
  const delay = (): number => backoffDelayMs(state.attempt, backoff.initialMs, backoff.maxMs, random);
  const hint = leaderHint(failure);
  if (hint !== undefined && hint !== endpoint && isHostPort(hint)) {
    // The first redirect is free. Two in a row means the nodes disagree (mid-election):
    // back off so two standbys cannot bounce the client between them at full speed.
    if (!state.followedHint) return { leader: hint, delayMs: 0, next: { attempt: state.attempt, followedHint: true } };
    return { leader: hint, delayMs: delay(), next: { attempt: state.attempt + 1, followedHint: true } };
  }
  return { leader: undefined, delayMs: delay(), next: { attempt: state.attempt + 1, followedHint: false } };
}
