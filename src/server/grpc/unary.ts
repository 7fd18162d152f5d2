import type * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { Logger } from '../log';
import { ErrorCode, LicenseError } from '../errors';
import { statusName, toStatus } from './to-status';

/** Called once per finished RPC (metrics hook). */
export type RpcObserver = (method: string, code: string, seconds: number) => void;

export interface UnaryContext {
  readonly logger: Logger;
  readonly observe?: RpcObserver;
  /** Bound on calls in flight across the server; a call over it is refused at once. */
  readonly limiter?: CallLimiter;
}

/** Counts calls in flight; refuses past `max` so overload turns into fast refusals, not a growing queue. */
export class CallLimiter {
  private inFlight = 0;

  constructor(
    readonly max: number,
    private readonly onRefused: () => void = () => {},
  ) {}

  tryEnter(): boolean {
    if (this.inFlight >= this.max) {
      this.onRefused();
      return false;
    }
    this.inFlight++;
    return true;
  }

  leave(): void {
    this.inFlight--;
  }
}

/** What a handler may do about its own call besides answering it. */
export interface CallControl {
  /**
   * The call stops counting against the in-flight limit (idempotent): for a call that is parked,
   * not working (a checkout waiting in its queue), so parked calls never crowd out the releases
   * that would free their seats.
   */
  leaveLimiter(): void;
}

/**
 * Adapts an async handler to grpc-js's callback style: errors (thrown or rejected)
 * go through the one error mapper, the callback is called exactly once, and latency
 * is observed.
 */
export function unary<Req, Res>(
  ctx: UnaryContext,
  method: string,
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>, control: CallControl) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const finish = (code: Status): void => {
      ctx.observe?.(method, statusName(code), Number(process.hrtime.bigint() - started) / 1e9);
    };
    const limiter = ctx.limiter;
    if (limiter && !limiter.tryEnter()) {
      const st = toStatus(
        new LicenseError(ErrorCode.LIMIT_EXCEEDED, `license server busy: more than ${limiter.max} calls in flight; retry with backoff`),
        ctx.logger,
        method,
      );
      finish(st.code ?? Status.RESOURCE_EXHAUSTED);
      callback(st);
      return;
    }
    let left = false;
    const done = (): void => {
      if (left) return;
      left = true;
      limiter?.leave();
    };
    // A handler that throws before returning its promise is mapped like a rejection,
    // never left to grpc-js (which would answer UNKNOWN and skip the metrics).
    let pending: Promise<Res>;
    try {
      pending = handler(call.request, call, { leaveLimiter: done });
    } catch (err) {
      pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    pending.finally(done).then(
      (res) => {
        finish(Status.OK);
        callback(null, res);
      },
      (err: unknown) => {
        const st = toStatus(err, ctx.logger, method);
        finish(st.code ?? Status.UNKNOWN);
        callback(st);
      },
    );
  };
}
