import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Redis } from 'ioredis';
import { errorMessage } from '../../server/errors';
import type { SeatServiceHandlers } from '../../contract/generated/license/v1/SeatService';
import { bindServer, createGrpcServer, shutdownServer } from '../../server/grpc/server';
import { loadLicenseProto } from '../../contract/proto';
import { createRedis } from '../../server/store/redis';

/** The trivial scripts: one EVALSHA per Checkout and per Release, nothing else. */
const INCR_LUA = "return redis.call('INCR', KEYS[1])";
const DECR_LUA = "return redis.call('DECR', KEYS[1])";
/**
 * What the scripts count: +1 per Checkout and Heartbeat answered OK, -1 per Release. Exported
 * so a bench can tell how many calls really succeeded (h2load sees only HTTP 200).
 */
export const BASELINE_COUNTER_KEY = '{bench-baseline}:in-use';

export interface BaselineServer {
  readonly port: number;
  stop(): Promise<void>;
}

export interface BaselineServerOptions {
  readonly redisUrl: string;
  /** host:port, port 0 = any free one (default 127.0.0.1:0). */
  readonly addr?: string;
}

const newId = (): string => randomBytes(16).toString('base64url');

/**
 * The floor the product is measured against: a bare grpc-js SeatService on the same
 * server factory and Redis client settings as a node, where Checkout and Release
 * are one EVALSHA of a one-line script each and OpenSession/Heartbeat touch nothing
 * (Heartbeat is one EVALSHA too, so the heartbeat figure has a floor if wanted).
 * No validation, no fencing, no license rules: what is left is transport + one
 * Redis round trip.
 */
export async function createBaselineServer(opts: BaselineServerOptions): Promise<BaselineServer> {
  // A URL config always yields a single-node client.
  const redis = createRedis({ url: opts.redisUrl, minReplicas: 0 }, { commandTimeoutMs: 1_000, connectionName: 'bench-baseline' }) as Redis;
  await redis.connect();
  const [incrSha, decrSha] = (await Promise.all([redis.script('LOAD', INCR_LUA), redis.script('LOAD', DECR_LUA)])) as [string, string];

  const fail = (err: unknown): Partial<grpc.StatusObject> => ({ code: grpc.status.UNAVAILABLE, details: `baseline: ${errorMessage(err)}` });
  const handlers: SeatServiceHandlers = {
    OpenSession: (_call, cb) => cb(null, { session_id: newId(), ttl_ms: 600_000, heartbeat_interval_ms: 200_000, expires_at_ms: Date.now() + 600_000 }),
    Heartbeat: (_call, cb) => {
      redis.evalsha(incrSha, 1, BASELINE_COUNTER_KEY).then(
        () => cb(null, { expires_at_ms: Date.now() + 600_000 }),
        (err: unknown) => cb(fail(err)),
      );
    },
    Checkout: (call, cb) => {
      redis.evalsha(incrSha, 1, BASELINE_COUNTER_KEY).then(
        () => cb(null, { lease_id: newId(), feature: call.request.feature, count: call.request.count, expires_at_ms: Date.now() + 600_000 }),
        (err: unknown) => cb(fail(err)),
      );
    },
    Release: (_call, cb) => {
      redis.evalsha(decrSha, 1, BASELINE_COUNTER_KEY).then(
        () => cb(null, { released: true }),
        (err: unknown) => cb(fail(err)),
      );
    },
    CloseSession: (_call, cb) => cb(null, { leases_released: 0 }),
    ListFeatures: (_call, cb) => cb(null, { features: [] }),
  };

  const server = createGrpcServer();
  server.addService(loadLicenseProto().SeatService.service, handlers);
  let port: number;
  try {
    port = await bindServer(server, opts.addr ?? '127.0.0.1:0');
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return {
    port,
    async stop() {
      await shutdownServer(server, 2_000);
      redis.disconnect();
    },
  };
}
