import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCode, LicenseError } from './errors';

export type Role = 'primary' | 'redundant';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface RedisConfig {
  /** redis:// or rediss:// URL; unset when Sentinel is used. */
  readonly url?: string;
  readonly sentinels?: readonly HostPort[];
  readonly masterName?: string;
  /** Seed nodes of a Redis Cluster (LICENSE_REDIS_CLUSTER_NODES). */
  readonly clusterNodes?: readonly HostPort[];
  /** CA file to verify Redis with, for rediss:// (default: the system roots). */
  readonly tlsCaFile?: string;
}

export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA that client certificates must chain to; when set, peer and admin calls need one. */
  readonly caFile?: string;
}

/** Limits against abusive or broken clients; each breach is refused and counted. */
export interface Limits {
  readonly maxSessionsPerClient: number;
  readonly maxSeatsPerSession: number;
  readonly maxConcurrentCalls: number;
  readonly maxMessageBytes: number;
}

/** The whole node configuration, parsed and checked once at start, then frozen. */
export interface Config {
  readonly clusterId: string;
  readonly nodeId: string;
  readonly role: Role;
  readonly redis: RedisConfig;
  readonly grpcAddr: string;
  /** Unset: the node runs without a peer (heartbeats off). */
  readonly peerAddr?: string;
  /** Address clients are sent to (`license-leader`); defaults to grpcAddr (with this host's name for 0.0.0.0). */
  readonly advertiseAddr: string;
  /** Unset: no HTTP metrics/health listener. */
  readonly metricsAddr?: string;
  readonly licenseFile: string;
  readonly vendorPublicKeyFile: string;
  readonly stateDir: string;
  readonly adminToken: string;
  readonly leaseTtlMs: number;
  readonly leaseSafetyMarginMs: number;
  readonly heartbeatIntervalMs: number;
  readonly sessionTtlMs: number;
  readonly failoverBudgetMs: number;
  readonly activationExtensionMs: number;
  readonly handbackAfterMs: number;
  readonly budgetResetAfterMs: number;
  readonly redundantStartupGraceMs: number;
  /** While FAILOVER_BLOCKED, keep honouring session heartbeats so running work is not killed. */
  readonly blockedKeepsSessions: boolean;
  /** TLS for every gRPC listener (and the node's own client certificate towards its peer). */
  readonly tls?: TlsConfig;
  /** Shared secret that authenticates node-to-node heartbeats (HMAC); unset: rely on mTLS or nothing. */
  readonly clusterSecret?: string;
  readonly limits: Limits;
  readonly logLevel: LogLevel;
}

const HOUR = 3_600_000;

/** Defaults in one place (docs/ARCHITECTURE.md and the README table quote these). */
export const DEFAULTS = Object.freeze({
  LICENSE_REDIS_URL: 'redis://127.0.0.1:6379',
  LICENSE_GRPC_ADDR: '0.0.0.0:7400',
  LICENSE_METRICS_ADDR: '0.0.0.0:9464',
  LICENSE_STATE_DIR: '.licensed-state',
  LICENSE_LEASE_TTL_MS: 5_000,
  LICENSE_HEARTBEAT_INTERVAL_MS: 1_000,
  LICENSE_SESSION_TTL_MS: 60_000,
  LICENSE_FAILOVER_BUDGET_MS: 72 * HOUR,
  LICENSE_ACTIVATION_EXTENSION_MS: 72 * HOUR,
  LICENSE_HANDBACK_AFTER_MS: 10_000,
  LICENSE_BUDGET_RESET_AFTER_MS: HOUR,
  LICENSE_LOG_LEVEL: 'info' as LogLevel,
  LICENSE_MAX_SESSIONS_PER_CLIENT: 64,
  LICENSE_MAX_SEATS_PER_SESSION: 1_024,
  LICENSE_MAX_CONCURRENT_CALLS: 1_024,
  LICENSE_MAX_MESSAGE_BYTES: 64 * 1024,
});

/** Every key a node reads. A config file may set the same keys; the environment wins. */
export const CONFIG_KEYS = [
  'LICENSE_CLUSTER_ID',
  'LICENSE_NODE_ID',
  'LICENSE_ROLE',
  'LICENSE_REDIS_URL',
  'LICENSE_REDIS_SENTINELS',
  'LICENSE_REDIS_MASTER_NAME',
  'LICENSE_REDIS_CLUSTER_NODES',
  'LICENSE_REDIS_TLS_CA',
  'LICENSE_GRPC_ADDR',
  'LICENSE_PEER_ADDR',
  'LICENSE_ADVERTISE_ADDR',
  'LICENSE_METRICS_ADDR',
  'LICENSE_FILE',
  'LICENSE_VENDOR_PUBLIC_KEY',
  'LICENSE_STATE_DIR',
  'LICENSE_ADMIN_TOKEN',
  'LICENSE_LEASE_TTL_MS',
  'LICENSE_LEASE_SAFETY_MARGIN_MS',
  'LICENSE_HEARTBEAT_INTERVAL_MS',
  'LICENSE_SESSION_TTL_MS',
  'LICENSE_FAILOVER_BUDGET_MS',
  'LICENSE_ACTIVATION_EXTENSION_MS',
  'LICENSE_HANDBACK_AFTER_MS',
  'LICENSE_BUDGET_RESET_AFTER_MS',
  'LICENSE_REDUNDANT_STARTUP_GRACE_MS',
  'LICENSE_BLOCKED_KEEPS_SESSIONS',
  'LICENSE_TLS_CERT',
  'LICENSE_TLS_KEY',
  'LICENSE_TLS_CA',
  'LICENSE_CLUSTER_SECRET',
  'LICENSE_MAX_SESSIONS_PER_CLIENT',
  'LICENSE_MAX_SEATS_PER_SESSION',
  'LICENSE_MAX_CONCURRENT_CALLS',
  'LICENSE_MAX_MESSAGE_BYTES',
  'LICENSE_LOG_LEVEL',
] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];
export type ConfigSource = Partial<Record<string, string | undefined>>;

/** Identifiers end up inside Redis keys and metric labels: keep them plain. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const idSchema = z.string().regex(ID_PATTERN, {
  message: 'must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
});
const roleSchema = z.enum(['primary', 'redundant'], { message: 'must be "primary" or "redundant"' });
const logLevelSchema = z.enum(['error', 'warn', 'info', 'debug'], {
  message: 'must be one of error, warn, info, debug',
});
const durationSchema = z
  .string()
  .regex(/^\d+$/, { message: 'must be a whole number of milliseconds' })
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n) && n > 0, { message: 'must be a whole number of milliseconds above 0' });
const boolSchema = z.enum(['true', 'false'], { message: 'must be "true" or "false"' }).transform((v) => v === 'true');
const countSchema = z
  .string()
  .regex(/^\d+$/, { message: 'must be a whole number' })
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n) && n > 0, { message: 'must be a whole number above 0' });
const redisUrlSchema = z.string().regex(/^rediss?:\/\/\S+$/, { message: 'must be a redis:// or rediss:// URL' });
const tokenSchema = z
  .string()
  .min(16, { message: 'must be at least 16 characters (try: openssl rand -hex 24)' })
  .regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' });

/** Parses `host:port` (IPv6 as `[::1]:7400`). Throws a plain Error naming the problem. */
export function parseHostPort(value: string): HostPort {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(value);
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw new Error(`must be host:port, got "${value}"`);
  }
  const port = Number(m[2]);
  if (port > 65_535) throw new Error(`port must be 0-65535, got ${port}`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

function configError(key: string, problem: string): LicenseError {
  return new LicenseError(ErrorCode.CONFIG_INVALID, `${key}: ${problem}`);
}

/** Reads a config file (YAML, or JSON which YAML includes) holding LICENSE_* keys. */
export function readConfigFile(path: string): ConfigSource {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LicenseError(ErrorCode.CONFIG_INVALID, `--config ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new LicenseError(ErrorCode.CONFIG_INVALID, `--config ${path}: must be a mapping of LICENSE_* keys`);
  }
  const out: ConfigSource = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new LicenseError(ErrorCode.CONFIG_INVALID, `--config ${path}: unknown key ${key}`);
    }
    if (value === null || typeof value === 'object') {
      throw new LicenseError(ErrorCode.CONFIG_INVALID, `--config ${path}: ${key} must be a string or number`);
    }
    out[key] = String(value);
  }
  return out;
}

/**
 * Builds the frozen Config from the environment (and optionally a config file's keys,
 * which the environment overrides). Any bad or missing value throws a LicenseError
 * whose message is one line naming the key and the problem.
 */
export function loadConfig(env: ConfigSource, fileValues: ConfigSource = {}): Config {
  const raw = (key: ConfigKey): string | undefined => {
    const v = env[key] ?? fileValues[key];
    return v === undefined || v === '' ? undefined : v;
  };
  function get<T>(key: ConfigKey, schema: z.ZodType<T>, fallback?: string | number): T {
    const value = raw(key) ?? (fallback === undefined ? undefined : String(fallback));
    if (value === undefined) throw configError(key, 'is required');
    const r = schema.safeParse(value);
    if (!r.success) {
      throw configError(key, `${r.error.issues[0]?.message ?? 'is invalid'} (got "${value}")`);
    }
    return r.data;
  }
  function required(key: ConfigKey, what: string): string {
    const value = raw(key);
    if (value === undefined) throw configError(key, `is required: ${what}`);
    return value;
  }
  function addr(key: ConfigKey, fallback?: string): string | undefined {
    const value = raw(key) ?? fallback;
    if (value === undefined) return undefined;
    try {
      parseHostPort(value);
    } catch (err) {
      throw configError(key, (err as Error).message);
    }
    return value;
  }

  const clusterId = get('LICENSE_CLUSTER_ID', idSchema);
  const nodeId = get('LICENSE_NODE_ID', idSchema);
  const role = get('LICENSE_ROLE', roleSchema);

  let redis: RedisConfig;
  const sentinels = raw('LICENSE_REDIS_SENTINELS');
  const clusterNodes = raw('LICENSE_REDIS_CLUSTER_NODES');
  if (sentinels !== undefined && clusterNodes !== undefined) {
    throw configError('LICENSE_REDIS_CLUSTER_NODES', 'cannot be combined with LICENSE_REDIS_SENTINELS: choose one topology');
  }
  if (clusterNodes !== undefined) {
    redis = {
      clusterNodes: clusterNodes.split(',').map((n, i) => {
        try {
          return parseHostPort(n.trim());
        } catch (err) {
          throw configError('LICENSE_REDIS_CLUSTER_NODES', `entry ${i + 1} ${(err as Error).message}`);
        }
      }),
    };
  } else if (sentinels !== undefined) {
    const list = sentinels.split(',').map((s, i) => {
      try {
        return parseHostPort(s.trim());
      } catch (err) {
        throw configError('LICENSE_REDIS_SENTINELS', `entry ${i + 1} ${(err as Error).message}`);
      }
    });
    const masterName = raw('LICENSE_REDIS_MASTER_NAME');
    if (masterName === undefined) {
      throw configError('LICENSE_REDIS_MASTER_NAME', 'is required when LICENSE_REDIS_SENTINELS is set');
    }
    redis = { sentinels: list, masterName };
  } else {
    redis = { url: get('LICENSE_REDIS_URL', redisUrlSchema, DEFAULTS.LICENSE_REDIS_URL) };
  }
  const redisCa = raw('LICENSE_REDIS_TLS_CA');
  if (redisCa !== undefined) redis = { ...redis, tlsCaFile: redisCa };

  const grpcAddr = addr('LICENSE_GRPC_ADDR', DEFAULTS.LICENSE_GRPC_ADDR) as string;
  const peerAddr = addr('LICENSE_PEER_ADDR');
  const advertiseAddr = addr('LICENSE_ADVERTISE_ADDR') ?? defaultAdvertise(grpcAddr);
  const metricsRaw = raw('LICENSE_METRICS_ADDR');
  const metricsAddr = metricsRaw === 'off' ? undefined : addr('LICENSE_METRICS_ADDR', DEFAULTS.LICENSE_METRICS_ADDR);

  const leaseTtlMs = get('LICENSE_LEASE_TTL_MS', durationSchema, DEFAULTS.LICENSE_LEASE_TTL_MS);
  const leaseSafetyMarginMs = get('LICENSE_LEASE_SAFETY_MARGIN_MS', durationSchema, Math.max(1, Math.round(leaseTtlMs * 0.2)));
  const heartbeatIntervalMs = get('LICENSE_HEARTBEAT_INTERVAL_MS', durationSchema, DEFAULTS.LICENSE_HEARTBEAT_INTERVAL_MS);
  if (leaseSafetyMarginMs * 2 > leaseTtlMs) {
    throw configError('LICENSE_LEASE_SAFETY_MARGIN_MS', `must be at most half of LICENSE_LEASE_TTL_MS (${leaseTtlMs})`);
  }
  // At least two renewals must fit before the node has to stop acting, or one slow
  // Redis round trip would cost the lease.
  if (heartbeatIntervalMs * 2 > leaseTtlMs - leaseSafetyMarginMs) {
    throw configError(
      'LICENSE_HEARTBEAT_INTERVAL_MS',
      `must be at most (LICENSE_LEASE_TTL_MS - safety margin) / 2 = ${Math.floor((leaseTtlMs - leaseSafetyMarginMs) / 2)}`,
    );
  }

  const certFile = raw('LICENSE_TLS_CERT');
  const keyFile = raw('LICENSE_TLS_KEY');
  const caFile = raw('LICENSE_TLS_CA');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw configError(certFile === undefined ? 'LICENSE_TLS_CERT' : 'LICENSE_TLS_KEY', 'LICENSE_TLS_CERT and LICENSE_TLS_KEY must be set together');
  }
  if (caFile !== undefined && certFile === undefined) {
    throw configError('LICENSE_TLS_CA', 'needs LICENSE_TLS_CERT and LICENSE_TLS_KEY (client certificates are verified over TLS)');
  }
  const clusterSecret = raw('LICENSE_CLUSTER_SECRET');
  if (clusterSecret !== undefined && clusterSecret.length < 16) {
    throw configError('LICENSE_CLUSTER_SECRET', 'must be at least 16 characters (try: openssl rand -hex 32)');
  }

  const config: Config = {
    clusterId,
    nodeId,
    role,
    redis,
    grpcAddr,
    ...(peerAddr === undefined ? {} : { peerAddr }),
    advertiseAddr,
    ...(metricsAddr === undefined ? {} : { metricsAddr }),
    licenseFile: required('LICENSE_FILE', 'the signed license file from your vendor'),
    vendorPublicKeyFile: required('LICENSE_VENDOR_PUBLIC_KEY', "the vendor's public key (PEM) that license files must verify against"),
    stateDir: raw('LICENSE_STATE_DIR') ?? DEFAULTS.LICENSE_STATE_DIR,
    adminToken: get('LICENSE_ADMIN_TOKEN', tokenSchema),
    leaseTtlMs,
    leaseSafetyMarginMs,
    heartbeatIntervalMs,
    sessionTtlMs: get('LICENSE_SESSION_TTL_MS', durationSchema, DEFAULTS.LICENSE_SESSION_TTL_MS),
    failoverBudgetMs: get('LICENSE_FAILOVER_BUDGET_MS', durationSchema, DEFAULTS.LICENSE_FAILOVER_BUDGET_MS),
    activationExtensionMs: get('LICENSE_ACTIVATION_EXTENSION_MS', durationSchema, DEFAULTS.LICENSE_ACTIVATION_EXTENSION_MS),
    handbackAfterMs: get('LICENSE_HANDBACK_AFTER_MS', durationSchema, DEFAULTS.LICENSE_HANDBACK_AFTER_MS),
    budgetResetAfterMs: get('LICENSE_BUDGET_RESET_AFTER_MS', durationSchema, DEFAULTS.LICENSE_BUDGET_RESET_AFTER_MS),
    redundantStartupGraceMs: get('LICENSE_REDUNDANT_STARTUP_GRACE_MS', durationSchema, 2 * leaseTtlMs),
    blockedKeepsSessions: get('LICENSE_BLOCKED_KEEPS_SESSIONS', boolSchema, 'true'),
    ...(certFile !== undefined && keyFile !== undefined ? { tls: { certFile, keyFile, ...(caFile === undefined ? {} : { caFile }) } } : {}),
    ...(clusterSecret === undefined ? {} : { clusterSecret }),
    limits: {
      maxSessionsPerClient: get('LICENSE_MAX_SESSIONS_PER_CLIENT', countSchema, DEFAULTS.LICENSE_MAX_SESSIONS_PER_CLIENT),
      maxSeatsPerSession: get('LICENSE_MAX_SEATS_PER_SESSION', countSchema, DEFAULTS.LICENSE_MAX_SEATS_PER_SESSION),
      maxConcurrentCalls: get('LICENSE_MAX_CONCURRENT_CALLS', countSchema, DEFAULTS.LICENSE_MAX_CONCURRENT_CALLS),
      maxMessageBytes: get('LICENSE_MAX_MESSAGE_BYTES', countSchema, DEFAULTS.LICENSE_MAX_MESSAGE_BYTES),
    },
    logLevel: get('LICENSE_LOG_LEVEL', logLevelSchema, DEFAULTS.LICENSE_LOG_LEVEL),
  };
  if (config.peerAddr !== undefined && config.peerAddr === config.grpcAddr) {
    throw configError('LICENSE_PEER_ADDR', 'must not equal LICENSE_GRPC_ADDR (a node cannot be its own peer)');
  }
  return Object.freeze(config);
}

function defaultAdvertise(grpcAddr: string): string {
  const { host, port } = parseHostPort(grpcAddr);
  return host === '0.0.0.0' || host === '::' ? `${hostname()}:${port}` : grpcAddr;
}
