import * as grpc from '@grpc/grpc-js';
import type { SeatServiceHandlers } from '../../contract/generated/license/v1/SeatService';
import { LICENSE_QUEUE_POSITION_KEY } from '../../contract/metadata';
import type { SeatService } from '../seats/seat-service';
import { type UnaryContext, unary } from './unary';

/** SeatService over gRPC: a thin mapping of messages onto the transport-free SeatService. */
export function createSeatHandlers(ctx: UnaryContext, seats: SeatService, sessionTtlMs: number): SeatServiceHandlers {
  return {
    OpenSession: unary(ctx, 'OpenSession', async (req) => {
      const s = await seats.openSession(req);
      return {
        session_id: s.sessionId,
        ttl_ms: sessionTtlMs,
        // Three heartbeats per TTL: one lost heartbeat never costs a session.
        heartbeat_interval_ms: Math.max(1, Math.floor(sessionTtlMs / 3)),
        expires_at_ms: s.expiresAtMs,
      };
    }),
    Heartbeat: unary(ctx, 'Heartbeat', async (req) => {
      const r = await seats.heartbeat(req.session_id);
      return { expires_at_ms: r.expiresAtMs, lease_ids: [...r.leaseIds] };
    }),
    Checkout: unary(ctx, 'Checkout', async (req, call, control) => {
      // A call cancelled by its client (or its deadline) takes its checkout out of the queue.
      const cancelled = new AbortController();
      call.on('cancelled', () => cancelled.abort());
      const g = await seats.checkout(req, {
        signal: cancelled.signal,
        onQueued: (position) => {
          control.leaveLimiter();
          const md = new grpc.Metadata();
          md.set(LICENSE_QUEUE_POSITION_KEY, String(position));
          call.sendMetadata(md);
        },
      });
      return { lease_id: g.leaseId, feature: g.feature, count: g.count, expires_at_ms: g.expiresAtMs };
    }),
    Release: unary(ctx, 'Release', async (req) => ({ released: await seats.release(req.session_id, req.lease_id) })),
    CloseSession: unary(ctx, 'CloseSession', async (req) => ({ leases_released: await seats.closeSession(req.session_id) })),
    ListFeatures: unary(ctx, 'ListFeatures', async () => ({
      features: (await seats.listFeatures()).map((f) => ({
        name: f.name,
        seats_total: f.seatsTotal,
        seats_in_use: f.seatsInUse,
        expires_at_ms: f.expiresAtMs,
        queue_length: f.queueLength,
      })),
    })),
  };
}
