import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import type { RedisConfig } from '../config';

export interface CreateRedisOptions {
  /** Fail a call that gets no answer in this time, so a hung Redis cannot stall the lease loop. */
  readonly commandTimeoutMs: number;
  readonly connectionName?: string;
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
    ...(opts.connectionName === undefined ? {} : { connectionName: opts.connectionName }),
  };
  // rediss:// turns TLS on by itself (ioredis); a private CA is added here. Passwords and
  // ACL users come in the URL (redis://user:password@host:port) and are never logged.
  let tls: { ca: Buffer } | undefined;
  if (cfg.tlsCaFile !== undefined) {
    try {
      tls = { ca: readFileSync(cfg.tlsCaFile) };
    } catch (err) {
      throw new Error(`LICENSE_REDIS_TLS_CA: cannot read ${cfg.tlsCaFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
        cause: err,
      });
    }
  }
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
      sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1_000),
      ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    });
  }
  return new Redis(cfg.url ?? 'redis://127.0.0.1:6379', { ...common, ...(tls && cfg.url?.startsWith('rediss://') ? { tls } : {}) });
}
