import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import type { RedisConfig } from '../config';

export interface CreateRedisOptions {
  /** Fail a call that gets no answer in this time, so a hung Redis cannot stall the lease loop. */
  readonly commandTimeoutMs: number;
  readonly connectionName?: string;
}

/** TLS options for connections to Redis and its sentinels: a private CA when LICENSE_REDIS_TLS_CA is set. */
export function redisTlsOptions(cfg: RedisConfig): { tls?: { ca: Buffer } } {
  if (cfg.tlsCaFile === undefined) return {};
  try {
    return { tls: { ca: readFileSync(cfg.tlsCaFile) } };
  } catch (err) {
    throw new Error(`LICENSE_REDIS_TLS_CA: cannot read ${cfg.tlsCaFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      cause: err,
    });
  }
}

/**
 * One ioredis connection for a node. The offline queue is off: while Redis is away
 * calls fail at once instead of piling up and running late, and the lease loop's
 * deadline check decides what that costs. Reconnects are quick and capped at 1 s
 * because every second without Redis counts against the lease.
 */
export function createRedis(cfg: RedisConfig, opts: CreateRedisOptions): Redis | Cluster {
  const common = {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: Math.max(opts.commandTimeoutMs, 1_000),
    retryStrategy: (times: number) => Math.min(50 * times, 1_000),
    // A master demoted under us (Sentinel failover, a manual REPLICAOF) answers writes with
    // READONLY: drop the connection so the next call finds the current master. The call
    // itself fails (1, not 2: it is not re-sent; the caller's own retry decides).
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 1 : false),
    ...(opts.connectionName === undefined ? {} : { connectionName: opts.connectionName }),
  };
  // rediss:// turns TLS on by itself (ioredis); a private CA is added here. Passwords and
  // ACL users come in the URL (redis://user:password@host:port) and are never logged.
  const tls = redisTlsOptions(cfg).tls;
  if (cfg.clusterNodes !== undefined) {
    // Every key of one license cluster shares the {lic:<cluster>} hash tag, so each
    // script runs on one shard; several license clusters spread over the shards.
    const { lazyConnect, maxRetriesPerRequest, commandTimeout, connectTimeout, retryStrategy, enableAutoPipelining, ...rest } = common;
    void retryStrategy;
    return new Cluster(
      cfg.clusterNodes.map((n) => ({ host: n.host, port: n.port })),
      {
        lazyConnect,
        enableOfflineQueue: false,
        enableAutoPipelining,
        maxRedirections: 8,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        clusterRetryStrategy: (times: number) => Math.min(50 * times, 1_000),
        redisOptions: { ...rest, maxRetriesPerRequest, commandTimeout, connectTimeout, ...(tls ? { tls } : {}) },
      },
    );
  }
  if (cfg.sentinels !== undefined && cfg.masterName !== undefined) {
    return new Redis({
      ...common,
      sentinels: cfg.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: cfg.masterName,
      // Follow +switch-master the moment the sentinels announce it, instead of writing on
      // to the old master until it is reconfigured (~10 s) into a dataset that is then thrown away.
      failoverDetector: true,
      sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1_000),
      ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    });
  }
  return new Redis(cfg.url ?? 'redis://127.0.0.1:6379', { ...common, ...(tls && cfg.url?.startsWith('rediss://') ? { tls } : {}) });
}
