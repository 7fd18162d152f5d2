/**
 * The transport's retry and deadline rules as small pure functions (the way nice-grpc
 * keeps them as middlewares), so they can be read and tested apart from the call loop.
 */
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import { backoffDelayMs } from './backoff';
import { isConnectionFailure, leaderHint, retryAfterMs } from './errors';
import { isHostPort } from './options';

/** Deadlines are on the monotonic clock: a wall-clock step must not stretch or cut a retry budget. */
export const monotonic = (): number => performance.now();

/**
 * Deadline of one try: a hung node costs at most `callTimeoutMs`, and no try outlives the
 * operation's `deadline`. Zero or less means the operation is out of time. A call the
 * server may hold open on purpose until `holdUntil` (a Checkout waiting in a queue) gets
 * the time left until then on top, so the deadline cuts short a hung node, not the wait.
 */
export function tryTimeoutMs(callTimeoutMs: number, deadline: number, now: number = monotonic(), holdUntil?: number): number {
  const held = holdUntil === undefined ? 0 : Math.max(0, holdUntil - now);
  return Math.min(callTimeoutMs + held, deadline - now);
}

/** What one operation's retries remember. */
export interface RetryState {
  /** Backoff steps taken so far (0 before the first). */
  readonly attempt: number;
  /** The last try went where a `license-leader` hint pointed. */
  readonly followedHint: boolean;
}

export const FIRST_TRY: RetryState = Object.freeze({ attempt: 0, followedHint: false });

/** Where and when the next try goes, after a retryable failure (the hint and backoff rule alone). */
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

/** Where and when the next try of an operation goes. */
export interface NextTry {
  /** A configured endpoint, or an address a standby named in `license-leader`. */
  readonly endpoint: string;
  readonly delayMs: number;
  readonly next: RetryState;
}

/**
 * The transport's retry order after a retryable failure of a try at `endpoint`:
 *
 * 1. No node answered at all (a lost connection: {@link isConnectionFailure}): the next
 *    endpoint in rotation that this operation has not tried yet, at once. A dead node
 *    must not cost a backoff sleep when its peer may already be serving.
 * 2. Otherwise, or once every endpoint was tried: {@link planRetry}, that is a standby's
 *    `license-leader` hint, followed at once unless the last try already followed one
 *    (two nodes naming each other), else the next endpoint after a jittered backoff.
 *
 * 0. A standby that is about to take over (it saw the active node's process die) says
 *    when in `license-retry-after-ms`: the next try goes back to it after that long (at
 *    most twice the backoff cap), neither to the dead node it would otherwise name nor
 *    after a backoff. Each such wait is real time out of the call's retry budget.
 *
 * Free tries stay bounded: rule 1 visits each endpoint at most once per operation (the
 * endpoint joins `tried` before it is called), and a free hint needs a try in between
 * that was not a hint, so two confused nodes cost a backoff sleep per round.
 */
export function planNextTry(
  failure: grpc.ServiceError,
  endpoint: string,
  state: RetryState,
  where: { readonly endpoints: readonly string[]; readonly tried: readonly string[] },
  backoff: { readonly initialMs: number; readonly maxMs: number },
  random: () => number = Math.random,
): NextTry {
  const order = rotationAfter(where.endpoints, endpoint);
  const after = retryAfterMs(failure);
  if (after !== undefined) return { endpoint, delayMs: Math.min(after, 2 * backoff.maxMs), next: { attempt: state.attempt, followedHint: false } };
  if (isConnectionFailure(failure)) {
    const fresh = order.find((e) => !where.tried.includes(e));
    // The attempt count is kept: the first backoff after the round is the initial one.
    if (fresh !== undefined) return { endpoint: fresh, delayMs: 0, next: { attempt: state.attempt, followedHint: false } };
  }
  const step = planRetry(failure, endpoint, state, backoff, random);
  return { endpoint: step.leader ?? order[0] ?? endpoint, delayMs: step.delayMs, next: step.next };
}

/**
 * The endpoints in the order to try them after `from`: the ones listed after it, then the
 * ones before it, `from` itself last. An address not listed starts from the first.
 */
function rotationAfter(endpoints: readonly string[], from: string): string[] {
  const i = endpoints.indexOf(from);
  return [...endpoints.slice(i + 1), ...endpoints.slice(0, i + 1)];
}
