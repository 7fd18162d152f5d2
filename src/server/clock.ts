import { performance } from 'node:perf_hooks';

/**
 * The only way time enters the product. `now()` is wall-clock epoch milliseconds (for
 * timestamps shown to people and stored in Redis); `monotonic()` never goes backwards and
 * is what every deadline and duration is measured with, so setting the wall clock
 * back or forward neither extends a lease nor refunds budget.
 */
export interface Clock {
  now(): number;
  monotonic(): number;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
});

/** A clock for tests: time moves only when the test says so. */
export class ManualClock implements Clock {
  private wall: number;
  private mono: number;

  constructor(startWallMs = Date.UTC(2026, 0, 1), startMonoMs = 1_000) {
    this.wall = startWallMs;
    this.mono = startMonoMs;
  }

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  /** Moves both clocks forward, as real time does. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError('ManualClock.advance: ms must be >= 0');
    this.wall += ms;
    this.mono += ms;
  }

  /** Moves only the wall clock (an operator or NTP stepping it); monotonic time is unaffected. */
  setWall(ms: number): void {
    this.wall = ms;
  }
}
