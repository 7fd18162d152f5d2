import * as grpc from '@grpc/grpc-js';
import type { SeatServiceClient } from '../../src/contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../../src/contract/proto';

/** A bare SeatService client (no SDK) that opens one session and checks seats out. */
export async function createSeatProbe(addr: string) {
  const proto = loadLicenseProto();
  const c: SeatServiceClient = new proto.SeatService(addr, grpc.credentials.createInsecure());
  const deadline = () => ({ deadline: Date.now() + 5_000 });
  const session = await new Promise<string>((resolve, reject) =>
    c.OpenSession({ client_id: 'seat-probe', user: 'probe', hostname: 'localhost', pid: process.pid }, deadline(), (err, r) =>
      err || !r ? reject(err ?? new Error('empty response')) : resolve(r.session_id),
    ),
  );
  return {
    session,
    checkout: (feature: string, count: number) =>
      new Promise<string>((resolve, reject) =>
        c.Checkout({ session_id: session, feature, count }, deadline(), (err, r) =>
          err || !r ? reject(err ?? new Error('empty response')) : resolve(r.lease_id),
        ),
      ),
    close: async () => {
      await new Promise<void>((resolve) => c.CloseSession({ session_id: session }, deadline(), () => resolve()));
      c.close();
    },
  };
}
