import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { type DefaultedKey, type HostPort, type KeySpec, type KeyValue, LICENSE_TERM_KEYS, type LogLevel, parseHostPort, type Role, SPEC } from './config-spec';
import { ErrorCode, LicenseError } from './errors';

// The keys themselves (parser, default, doc line) are declared in config-spec.ts; this
// module turns them into a Config and holds the rules that span several keys.
export { configTable, ID_PATTERN, parseHostPort } from './config-spec';
export type { HostPort, LogLevel, Role } from './config-spec';

export interface RedisConfig {
  /** redis:// or rediss:// URL; unset when Sentinel is used. */
  readonly url?: string;
  readonly sentinels?: readonly HostPort[];
  readonly masterName?: string;
  /** Seed nodes of a Redis Cluster (LICENSE_REDIS_CLUSTER_NODES). */
  readonly clusterNodes?: readonly HostPort[];
  /** CA file to verify Redis with, for rediss:// (default: the system roots). */
  readonly tlsCaFile?: string;
  /** Replicas that must acknowledge each write (LICENSE_REDIS_MIN_REPLICAS) before it counts. */
  readonly minReplicas: number;
}

/**
 * How the node reaches Redis, for status and the console: the topology and addresses, never
 * credentials (a URL's user info and query parameters are left out).
 */
export function describeRedis(r: RedisConfig): string {
  const hosts = (list: readonly HostPort[]): string => list.map((h) => (h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`)).join(',');
  const replicas = ` (writes confirmed by ${r.minReplicas} replica${r.minReplicas === 1 ? '' : 's'})`;
  if (r.sentinels) return `sentinel ${r.masterName ?? ''} via ${hosts(r.sentinels)}${r.minReplicas > 0 ? replicas : ''}`;
  if (r.clusterNodes) return `cluster ${hosts(r.clusterNodes)}${r.minReplicas > 0 ? replicas : ''}`;
  let where = 'redis';
  try {
    const u = new URL(r.url ?? '');
    where = `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    // Not URL-shaped: say nothing of it rather than risk showing a secret.
  }
  return `single ${where}${r.minReplicas > 0 ? replicas : ''}`;
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

export interface ConsoleConfig {
  readonly addr: string;
  /** LICENSE_CONSOLE_URL; unset: derived once the console is bound (advertise host + console port). */
  readonly url?: string;
  readonly sessionTtlMs: number;
}

/** The whole node configuration, parsed and checked once at start, then frozen. */
export interface Config {
  readonly clusterId: string;
  readonly nodeId: string;
  /** LICENSE_ROLE, when set; the role itself comes from the license file (bindLicense), which this must agree with. */
  readonly role?: Role;
  readonly redis: RedisConfig;
  readonly grpcAddr: string;
  /** Unset: the node runs without a peer (heartbeats off). */
  readonly peerAddr?: string;
  /** Address clients are sent to (`license-leader`); defaults to grpcAddr (with this host's name for 0.0.0.0). */
  readonly advertiseAddr: string;
  /** Unset: no HTTP metrics/health listener. */
  readonly metricsAddr?: string;
  /** The web console; unset: off. */
  readonly console?: ConsoleConfig;
  /** The vendor's activation service ("Send automatically", `--send`); unset: the manual flow only. */
  readonly vendorActivation?: { readonly url: string; readonly token: string };
  /** The vendor's e-mail address for activation requests ("" when not configured). */
  readonly vendorContact: string;
  /** LICENSE_POLICY_FILE: the seat policy file; unset: no rules. */
  readonly policyFile?: string;
  /** LICENSE_USAGE_RETENTION: usage events older than this are trimmed. */
  readonly usageRetentionMs: number;
  readonly licenseFile: string;
  readonly vendorPublicKeyFile: string;
  readonly stateDir: string;
  readonly adminToken: string;
  readonly leaseTtlMs: number;
  readonly leaseSafetyMarginMs: number;
  readonly heartbeatIntervalMs: number;
  readonly sessionTtlMs: number;
  readonly handbackAfterMs: number;
  readonly redundantStartupGraceMs: number;
  /** While FAILOVER_BLOCKED, keep honouring session heartbeats so running work is not killed. */
  readonly blockedKeepsSessions: boolean;
  /** TLS for every gRPC listener (and the node's own client certificate towards its peer). */
  readonly tls?: TlsConfig;
  /** Shared secret that authenticates node-to-node heartbeats (HMAC); unset: rely on mTLS or nothing. */
  readonly clusterSecret?: string;
  /**
   * LICENSE_INSECURE_PEERS: the operator accepts unauthenticated peer heartbeats. Without it
   * a node with a peer and neither clusterSecret nor tls.caFile is refused at start.
   */
  readonly insecurePeers: boolean;
  readonly limits: Limits;
  readonly logLevel: LogLevel;
}

export type ConfigKey = keyof typeof SPEC;
/** Every key a node reads, in SPEC order. A config file may set the same keys; the environment wins. */
export const CONFIG_KEYS: readonly ConfigKey[] = Object.freeze(Object.keys(SPEC) as ConfigKey[]);
export type ConfigSource = Partial<Record<string, string | undefined>>;

/** The fixed defaults, taken from SPEC (defaults derived from other keys are computed in loadConfig). */
export const DEFAULTS: { readonly [K in DefaultedKey]: KeyValue<K> } = Object.freeze(
  // Object.fromEntries loses the per-key types; keeping the entries that have a default
  // yields exactly the keys DefaultedKey names.
  Object.fromEntries(Object.entries(SPEC).flatMap(([k, spec]: [string, KeySpec<unknown>]) => (spec.default === undefined ? [] : [[k, spec.default]]))) as {
    readonly [K in DefaultedKey]: KeyValue<K>;
  },
);

/** Each key's parsed value; keys without a fixed default or `required` may be unset. */
type Values = {
  readonly [K in ConfigKey]: (typeof SPEC)[K] extends { readonly default: unknown } | { readonly required: unknown } ? KeyValue<K> : KeyValue<K> | undefined;
};

function configError(key: string, problem: string): LicenseError {
  return new LicenseError(ErrorCode.CONFIG_INVALID, `${key}: ${problem}`);
}

type LicenseTermKey = keyof typeof LICENSE_TERM_KEYS;

function isLicenseTermKey(key: string): key is LicenseTermKey {
  return Object.prototype.hasOwnProperty.call(LICENSE_TERM_KEYS, key);
}

/** The refusal of a key that is a license term now (see LICENSE_TERM_KEYS). */
function licenseTermError(key: LicenseTermKey, where = ''): LicenseError {
  return new LicenseError(ErrorCode.CONFIG_INVALID, `${where}${key}: is no longer a setting: ${LICENSE_TERM_KEYS[key]}`);
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
    if (isLicenseTermKey(key)) throw licenseTermError(key, `--config ${path}: `);
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
 * Parses every key that is set with its SPEC parser, then reports the first required key
 * that is missing. Set values go first so that the first message points at a value the
 * operator wrote wrong rather than at a key not written yet (the "bad configuration"
 * drill expects the bad TTL, not the missing LICENSE_FILE).
 */
function readValues(env: ConfigSource, fileValues: ConfigSource): Values {
  const values: Partial<Record<ConfigKey, unknown>> = {};
  for (const key of CONFIG_KEYS) {
    const spec: KeySpec<unknown> = SPEC[key];
    const given = env[key] ?? fileValues[key];
    if (given === undefined || given === '') {
      values[key] = spec.default;
      continue;
    }
    const r = spec.parse.safeParse(given);
    if (!r.success) throw configError(key, `${r.error.issues[0]?.message ?? 'is invalid'}${shownValue(spec, given)}`);
    values[key] = r.data;
  }
  for (const key of CONFIG_KEYS) {
    const { required }: KeySpec<unknown> = SPEC[key];
    if (required !== undefined && values[key] === undefined) throw configError(key, required === true ? 'is required' : `is required: ${required}`);
  }
  // Every key now holds its parsed value or its default, and every required key is set:
  // what Values says, which the loop over string keys cannot show the compiler.
  return values as Values;
}

/** ` (got "...")` for an error message; a secret shows only its redacted form, or nothing. */
function shownValue(spec: KeySpec<unknown>, value: string): string {
  const shown = spec.secret === true ? spec.redact?.(value) : value;
  // JSON quoting keeps the message on one line whatever the value holds.
  return shown === undefined ? '' : ` (got ${JSON.stringify(shown)})`;
}

/**
 * Builds the frozen Config from the environment (and optionally a config file's keys,
 * which the environment overrides). Any bad or missing value throws a LicenseError
 * whose message is one line naming the key and the problem.
 */
export function loadConfig(env: ConfigSource, fileValues: ConfigSource = {}): Config {
  // Before anything else: a key that would set a license term must never be silently ignored.
  // In the environment an empty value counts as unset, as for every other key (templates
  // such as compose's ${X:-} leave them); a config file that names one is refused outright.
  for (const key of Object.keys(LICENSE_TERM_KEYS) as LicenseTermKey[]) {
    const given = env[key] ?? fileValues[key];
    if (given !== undefined && given !== '') throw licenseTermError(key);
  }
  const v = readValues(env, fileValues);

  // Redis topology: Redis Cluster, Sentinel, or one URL (the default).
  const sentinels = v.LICENSE_REDIS_SENTINELS;
  const clusterNodes = v.LICENSE_REDIS_CLUSTER_NODES;
  if (sentinels !== undefined && clusterNodes !== undefined) {
    throw configError('LICENSE_REDIS_CLUSTER_NODES', 'cannot be combined with LICENSE_REDIS_SENTINELS: choose one topology');
  }
  // Replicated topologies acknowledge a write only once a replica holds it, so a master
  // failover cannot take back a seat a client was told it has.
  const minReplicas = v.LICENSE_REDIS_MIN_REPLICAS ?? (sentinels !== undefined || clusterNodes !== undefined ? 1 : 0);
  let redis: RedisConfig;
  if (clusterNodes !== undefined) {
    redis = { clusterNodes, minReplicas };
  } else if (sentinels !== undefined) {
    const masterName = v.LICENSE_REDIS_MASTER_NAME;
    if (masterName === undefined) {
      throw configError('LICENSE_REDIS_MASTER_NAME', 'is required when LICENSE_REDIS_SENTINELS is set');
    }
    redis = { sentinels, masterName, minReplicas };
  } else {
    redis = { url: v.LICENSE_REDIS_URL, minReplicas };
  }
  const redisCa = v.LICENSE_REDIS_TLS_CA;
  if (redisCa !== undefined) redis = { ...redis, tlsCaFile: redisCa };

  const grpcAddr = v.LICENSE_GRPC_ADDR;
  const peerAddr = v.LICENSE_PEER_ADDR;
  const advertiseAddr = v.LICENSE_ADVERTISE_ADDR ?? defaultAdvertise(grpcAddr);
  const metricsAddr = v.LICENSE_METRICS_ADDR === 'off' ? undefined : v.LICENSE_METRICS_ADDR;
  const consoleAddr = v.LICENSE_CONSOLE_ADDR === 'off' ? undefined : v.LICENSE_CONSOLE_ADDR;
  const vendorUrl = v.LICENSE_VENDOR_ACTIVATION_URL;
  const vendorToken = v.LICENSE_VENDOR_ACTIVATION_TOKEN;
  if ((vendorToken === undefined) !== (vendorUrl === undefined)) {
    throw configError(
      vendorUrl === undefined ? 'LICENSE_VENDOR_ACTIVATION_TOKEN' : 'LICENSE_VENDOR_ACTIVATION_URL',
      'LICENSE_VENDOR_ACTIVATION_URL and LICENSE_VENDOR_ACTIVATION_TOKEN must be set together (the vendor gives you both)',
    );
  }

  const leaseTtlMs = v.LICENSE_LEASE_TTL_MS;
  const leaseSafetyMarginMs = v.LICENSE_LEASE_SAFETY_MARGIN_MS ?? Math.max(1, Math.round(leaseTtlMs * 0.2));
  const heartbeatIntervalMs = v.LICENSE_HEARTBEAT_INTERVAL_MS;
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

  const certFile = v.LICENSE_TLS_CERT;
  const keyFile = v.LICENSE_TLS_KEY;
  const caFile = v.LICENSE_TLS_CA;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw configError(certFile === undefined ? 'LICENSE_TLS_CERT' : 'LICENSE_TLS_KEY', 'LICENSE_TLS_CERT and LICENSE_TLS_KEY must be set together');
  }
  if (caFile !== undefined && certFile === undefined) {
    throw configError('LICENSE_TLS_CA', 'needs LICENSE_TLS_CERT and LICENSE_TLS_KEY (client certificates are verified over TLS)');
  }
  const clusterSecret = v.LICENSE_CLUSTER_SECRET;
  const insecurePeers = v.LICENSE_INSECURE_PEERS;

  if (peerAddr !== undefined && peerAddr === grpcAddr) {
    throw configError('LICENSE_PEER_ADDR', 'must not equal LICENSE_GRPC_ADDR (a node cannot be its own peer)');
  }
  // Peer heartbeats drive takeovers and handbacks: unauthenticated, any process that
  // reaches the gRPC port could pose as the peer. Running so must be a stated choice.
  if (peerAddr !== undefined && clusterSecret === undefined && caFile === undefined && !insecurePeers) {
    throw configError(
      'LICENSE_CLUSTER_SECRET',
      'is required when LICENSE_PEER_ADDR is set (peer heartbeats must be authenticated): set the same value on both nodes (e.g. openssl rand -hex 32), or LICENSE_TLS_CA for mutual TLS, or LICENSE_INSECURE_PEERS=true to accept unauthenticated heartbeats',
    );
  }

  const config: Config = {
    clusterId: v.LICENSE_CLUSTER_ID,
    nodeId: v.LICENSE_NODE_ID,
    ...(v.LICENSE_ROLE === undefined ? {} : { role: v.LICENSE_ROLE }),
    redis,
    grpcAddr,
    ...(peerAddr === undefined ? {} : { peerAddr }),
    advertiseAddr,
    ...(metricsAddr === undefined ? {} : { metricsAddr }),
    ...(consoleAddr === undefined
      ? {}
      : {
          console: {
            addr: consoleAddr,
            sessionTtlMs: v.LICENSE_CONSOLE_SESSION_MS,
            ...(v.LICENSE_CONSOLE_URL === undefined ? {} : { url: v.LICENSE_CONSOLE_URL.replace(/\/+$/, '') }),
          },
        }),
    ...(vendorUrl === undefined || vendorToken === undefined ? {} : { vendorActivation: { url: vendorUrl, token: vendorToken } }),
    vendorContact: v.LICENSE_VENDOR_CONTACT ?? '',
    usageRetentionMs: v.LICENSE_USAGE_RETENTION,
    ...(v.LICENSE_POLICY_FILE === undefined ? {} : { policyFile: v.LICENSE_POLICY_FILE }),
    licenseFile: v.LICENSE_FILE,
    vendorPublicKeyFile: v.LICENSE_VENDOR_PUBLIC_KEY,
    stateDir: v.LICENSE_STATE_DIR,
    adminToken: v.LICENSE_ADMIN_TOKEN,
    leaseTtlMs,
    leaseSafetyMarginMs,
    heartbeatIntervalMs,
    sessionTtlMs: v.LICENSE_SESSION_TTL_MS,
    handbackAfterMs: v.LICENSE_HANDBACK_AFTER_MS,
    redundantStartupGraceMs: v.LICENSE_REDUNDANT_STARTUP_GRACE_MS ?? 2 * leaseTtlMs,
    blockedKeepsSessions: v.LICENSE_BLOCKED_KEEPS_SESSIONS,
    ...(certFile !== undefined && keyFile !== undefined ? { tls: { certFile, keyFile, ...(caFile === undefined ? {} : { caFile }) } } : {}),
    ...(clusterSecret === undefined ? {} : { clusterSecret }),
    insecurePeers,
    limits: {
      maxSessionsPerClient: v.LICENSE_MAX_SESSIONS_PER_CLIENT,
      maxSeatsPerSession: v.LICENSE_MAX_SEATS_PER_SESSION,
      maxConcurrentCalls: v.LICENSE_MAX_CONCURRENT_CALLS,
      maxMessageBytes: v.LICENSE_MAX_MESSAGE_BYTES,
    },
    logLevel: v.LICENSE_LOG_LEVEL,
  };
  return Object.freeze(config);
}

function defaultAdvertise(grpcAddr: string): string {
  const { host, port } = parseHostPort(grpcAddr);
  return host === '0.0.0.0' || host === '::' ? `${hostname()}:${port}` : grpcAddr;
}
