import type * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { Logger } from '../log';
import { statusName, toStatus } from './to-status';

/** Called once per finished RPC (metrics hook). */
export type RpcObserver = (method: string, code: string, seconds: number) => void;

export interface UnaryContext {
  readonly logger: Logger;
  readonly observe?: RpcObserver;
}

/**
 * Adapts an async handler to grpc-js's callback style: errors go through the one
 * error mapper, the callback is called exactly once, and latency is observed.
 */
export function unary<Req, Res>(
  ctx: UnaryContext,
  method: string,
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const finish = (code: Status): void => {
      ctx.observe?.(method, statusName(code), Number(process.hrtime.bigint() - started) / 1e9);
    };
    handler(call.request, call).then(
      (res) => {
        finish(Status.OK);
        callback(null, res);
      },
      (err: unknown) => {
        const st = toStatus(err, ctx.logger, method);
        finish(st.code ?? Status.UNKNOWN);
        callback(st as grpc.ServiceError);
      },
    );
  };
}
