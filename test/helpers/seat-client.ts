import * as grpc from '@grpc/grpc-js';
import type { SeatServiceClient } from '../../src/contract/generated/license/v1/SeatService';
import { LICENSE_QUEUE_POSITION_KEY } from '../../src/contract/metadata';
import { loadLicenseProto } from '../../src/contract/proto';

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown;

/**
 * Promisified SeatService calls straight over gRPC (no SDK: no retries, no redirects, no
 * recovery), for tests that must know exactly which node answered what. Errors keep
 * their trailing metadata. Call close() in `after`.
 */
export function rawSeatClient(addr: string, deadlineMs = 5_000) {
  const proto = loadLicenseProto();
  const c: SeatServiceClient = new proto.SeatService(addr, grpc.credentials.createInsecure());
  const call =
    <Req, Res>(fn: Unary<Req, Res>) =>
    (req: Req): Promise<Res> =>
      new Promise((resolve, reject) =>
        fn.call(c, req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res as Res))),
      );
  /* eslint-disable @typescript-eslint/unbound-method -- call() invokes each one as fn.call(c, ...) */
  return {
    client: c,
    open: call(c.OpenSession as Unary<object, { session_id: string; ttl_ms: number; heartbeat_interval_ms: number; expires_at_ms: number }>),
    heartbeat: call(c.Heartbeat as Unary<object, { expires_at_ms: number; lease_ids: string[] }>),
    checkout: call(c.Checkout as Unary<object, { lease_id: string; feature: string; count: number; expires_at_ms: number }>),
    release: call(c.Release as Unary<object, { released: boolean }>),
    closeSession: call(c.CloseSession as Unary<object, { leases_released: number }>),
    features: call(
      c.ListFeatures as Unary<object, { features: { name: string; seats_total: number; seats_in_use: number; expires_at_ms: number; queue_length: number }[] }>,
    ),
    /**
     * A Checkout that may wait in the queue (wait_ms): `position` resolves with the
     * license-queue-position the server sends when it queues the call (never, if granted at
     * once), `result` with the answer; `cancel()` cancels the call.
     */
    checkoutWaiting: (req: { session_id: string; feature: string; count: number; request_id: string; wait_ms: number }, deadlineMs2 = deadlineMs) => {
      let onPosition: (p: number) => void = () => {};
      const position = new Promise<number>((resolve) => (onPosition = resolve));
      let ongoing: grpc.ClientUnaryCall | undefined;
      const result = new Promise<{ lease_id: string; feature: string; count: number; expires_at_ms: number }>((resolve, reject) => {
        ongoing = (c.Checkout as Unary<object, { lease_id: string; feature: string; count: number; expires_at_ms: number }>).call(
          c,
          req,
          new grpc.Metadata(),
          { deadline: Date.now() + deadlineMs2 },
          (err, res) => (err ? reject(err) : resolve(res as { lease_id: string; feature: string; count: number; expires_at_ms: number })),
        ) as grpc.ClientUnaryCall;
      });
      ongoing?.on('metadata', (md: grpc.Metadata) => {
        const v = md.get(LICENSE_QUEUE_POSITION_KEY)[0];
        if (v !== undefined) onPosition(Number(v));
      });
      return { position, result, cancel: () => ongoing?.cancel() };
    },
    close: () => c.close(),
  };
  /* eslint-enable @typescript-eslint/unbound-method */
}

export type RawSeatClient = ReturnType<typeof rawSeatClient>;
