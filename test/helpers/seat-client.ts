import * as grpc from '@grpc/grpc-js';
import type { SeatServiceClient } from '../../src/contract/generated/license/v1/SeatService';
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
    features: call(c.ListFeatures as Unary<object, { features: { name: string; seats_total: number; seats_in_use: number; expires_at_ms: number }[] }>),
    close: () => c.close(),
  };
  /* eslint-enable @typescript-eslint/unbound-method */
}

export type RawSeatClient = ReturnType<typeof rawSeatClient>;
