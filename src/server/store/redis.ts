import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import type { HostPort, RedisConfig } from '../config';
import type { Logger } from '../log';

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
      // Not ioredis's `failoverDetector`: it outlives the connection it was made for, and a
      // +switch-master that arrives while a reconnect is asking a sentinel aborts that
      // reconnect and leaves the connection closed for good (status `end`; seen after
      // kill -9 of a master, test/integration/redis-sentinel-reconnect.test.ts). The node
      // follows switches itself instead: superviseConnection().
      sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1_000),
      ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    });
  }
  return new Redis(cfg.url ?? 'redis://127.0.0.1:6379', { ...common, ...(tls && cfg.url?.startsWith('rediss://') ? { tls } : {}) });
}

/** How often superviseConnection looks at the connection. */
const SUPERVISE_EVERY_MS = 1_000;

/**
 * Keeps a node's Redis connection alive whatever ioredis does, until the returned stop()
 * (call it before disconnecting on purpose):
 * - ioredis gives a connection up for good (status `end`) in a few cases, e.g. a connect
 *   aborted half-way; it is connected again, with a warning, within a second.
 * - On Sentinel, `switches` names each new master the sentinels announce: a connection
 *   that is ready on another address is dropped and reconnects through the sentinels at
 *   once, instead of writing on to the old master until it is demoted (~10 s) into a
 *   dataset that is then thrown away. Only a ready connection is dropped: one that is
 *   connecting asks the sentinels anyway, and aborting it is what strands ioredis.
 */
export function superviseConnection(redis: Redis | Cluster, logger: Logger, switches?: { onSwitch(listener: (master: HostPort) => void): void }): () => void {
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped || redis.status !== 'end') return;
    logger.warn('the Redis client gave its connection up; connecting again');
    redis.connect().catch(() => {
      // Failures surface through the calls; the next round tries again if it ended once more.
    });
  }, SUPERVISE_EVERY_MS);
  timer.unref();
  if (switches && !(redis instanceof Cluster)) {
    switches.onSwitch((master) => {
      if (stopped || redis.status !== 'ready') return;
      const stream = redis.stream as { remoteAddress?: string; remotePort?: number } | undefined;
      if (stream?.remoteAddress === master.host && stream.remotePort === master.port) return;
      logger.info('the sentinels switched the Redis master; reconnecting to it', { master: `${master.host}:${master.port}` });
      redis.disconnect(true);
    });
  }
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
