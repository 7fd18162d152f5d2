// Over 300 lines on purpose: a table, one entry per LICENSE_* key with its doc line; splitting it would split the one declaration.
/**
 * Every LICENSE_* key, declared once: how its raw string is parsed, its default, whether
 * it is required or secret, and the line that documents it. config.ts derives CONFIG_KEYS,
 * DEFAULTS and the per-key half of loadConfig() from SPEC; the README's configuration
 * table is rendered from it by configTable() (`npm run docs:config`, checked by
 * test/unit/config-docs.test.ts), so code and docs cannot disagree.
 *
 * Rules that involve more than one key (derived defaults, TLS pairing, Redis topology...)
 * are not here: they are plain code in loadConfig(), and the `derived` text of a key
 * says in words what that code does.
 */
import { z } from 'zod';

// The value types keys parse to live here, not in config.ts (which re-exports them), so
// the two modules do not import each other.
export type Role = 'primary' | 'redundant';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Identifiers end up inside Redis keys and metric labels: keep them plain. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `problem` is what a config error says; `got` is how parseHostPort's own message has always shown the value. */
type HostPortRead = { readonly hostPort: HostPort } | { readonly problem: string; readonly got: string };

function readHostPort(value: string): HostPortRead {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(value);
  if (!m || m[1] === undefined || m[2] === undefined) return { problem: 'must be host:port', got: `"${value}"` };
  const port = Number(m[2]);
  if (port > 65_535) return { problem: 'port must be 0-65535', got: String(port) };
  return { hostPort: { host: m[1].replace(/^\[|\]$/g, ''), port } };
}

/** Parses `host:port` (IPv6 as `[::1]:7400`). Throws a plain Error naming the problem. */
export function parseHostPort(value: string): HostPort {
  const r = readHostPort(value);
  if ('problem' in r) throw new Error(`${r.problem}, got ${r.got}`);
  return r.hostPort;
}

/**
 * Masks the credentials of a Redis URL for error messages: the password in the user
 * info (`redis://user:***@host`; a bare `redis://***@host`, since some clients read a
 * lone user info as the password) and a `password=` query parameter (ioredis reads
 * query parameters as options). The last `@` ends the user info, because a careless
 * password may hold `@` or `/`. A value that is not even URL-shaped is not shown at
 * all: there is no telling which part of it is the secret.
 */
export function redactRedisUrl(value: string): string | undefined {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(value)?.[0];
  if (scheme === undefined) return undefined;
  let out = value;
  const at = value.lastIndexOf('@');
  if (at > scheme.length) {
    const userInfo = value.slice(scheme.length, at);
    const colon = userInfo.indexOf(':');
    out = `${scheme}${colon === -1 ? '***' : `${userInfo.slice(0, colon)}:***`}${value.slice(at)}`;
  }
  return out.replace(/([?&]password=)[^&#]*/gi, '$1***');
}

// Parsers. Their messages name the problem only, never the value: loadConfig() appends
// the value itself, so whether a secret is shown is decided in one place.

const idSchema = z.string().regex(ID_PATTERN, {
  message: 'must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
});
const roleSchema: z.ZodType<Role> = z.enum(['primary', 'redundant'], { message: 'must be "primary" or "redundant"' });
const logLevelSchema: z.ZodType<LogLevel> = z.enum(['error', 'warn', 'info', 'debug'], {
  message: 'must be one of error, warn, info, debug',
});
const durationSchema = z
  .string()
  .regex(/^\d+$/, { message: 'must be a whole number of milliseconds' })
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n) && n > 0, { message: 'must be a whole number of milliseconds above 0' });
/** A retention: whole days/hours/minutes/seconds with a unit (`400d`, `36h`), or milliseconds. */
const retentionSchema = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)?$/, { message: 'must be a duration such as 400d, 36h, 90m or a number of milliseconds' })
  .transform((v) => {
    const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v);
    const unit = { ms: 1, s: 1_000, m: MINUTE, h: HOUR, d: 24 * HOUR }[m?.[2] ?? 'ms'] ?? 1;
    return Number(m?.[1] ?? '0') * unit;
  })
  .refine((n) => Number.isSafeInteger(n) && n >= MINUTE, { message: 'must be at least one minute' });
const boolSchema = z.enum(['true', 'false'], { message: 'must be "true" or "false"' }).transform((v) => v === 'true');
const countSchema = z
  .string()
  .regex(/^\d+$/, { message: 'must be a whole number' })
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n) && n > 0, { message: 'must be a whole number above 0' });
const replicaCountSchema = z
  .string()
  .regex(/^\d+$/, { message: 'must be a whole number of replicas (0 to 16)' })
  .transform(Number)
  .refine((n) => n <= 16, { message: 'must be a whole number of replicas (0 to 16)' });
const redisUrlSchema = z.string().regex(/^rediss?:\/\/\S+$/, { message: 'must be a redis:// or rediss:// URL' });
const tokenSchema = z
  .string()
  .min(16, { message: 'must be at least 16 characters (try: openssl rand -hex 24)' })
  .regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' });
const clusterSecretSchema = z.string().min(16, { message: 'must be at least 16 characters (try: openssl rand -hex 32)' });
/** Any non-empty string: file and directory paths, names (empty counts as unset before parsing). */
const textSchema = z.string();
const httpUrlSchema = z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, { message: 'must be an http:// or https:// URL' });
const emailSchema = z.string().regex(/^[^\s@<>"]+@[^\s@<>"]+$/, { message: 'must be an e-mail address (name@example.com)' });
/** A `host:port`, kept as written: listeners and clients take the string. */
const hostPortSchema = z.string().transform((value, ctx) => {
  const r = readHostPort(value);
  if ('problem' in r) {
    ctx.addIssue(r.problem);
    return z.NEVER;
  }
  return value;
});
/** `host:port` or `off`; loadConfig() turns `off` into "no listener". */
const hostPortOrOffSchema = z.union([z.literal('off'), hostPortSchema], { message: 'must be host:port or "off"' });
/** `host:port,host:port,...` (spaces around commas allowed). */
const hostPortListSchema = z.string().transform((value, ctx) => {
  const list: HostPort[] = [];
  for (const [i, entry] of value.split(',').entries()) {
    const r = readHostPort(entry.trim());
    if ('problem' in r) {
      ctx.addIssue(`entry ${i + 1} ${r.problem}`);
      return z.NEVER;
    }
    list.push(r.hostPort);
  }
  return list;
});

/**
 * What happens when a key is unset: exactly one of a fixed `default`, `required`, a
 * `derived` default computed in loadConfig() from other keys, or none of them (the key
 * is optional and unset means "off"/"none").
 */
type Presence<T> =
  | { readonly default: T; readonly required?: never; readonly derived?: never }
  /** `true`, or what the key is for, which the "is required" error then says. */
  | { readonly required: true | string; readonly default?: never; readonly derived?: never }
  /** The derived default in words, for the docs (the code is in loadConfig()). */
  | { readonly derived: string; readonly default?: never; readonly required?: never }
  | { readonly default?: never; readonly required?: never; readonly derived?: never };

/**
 * A secret's value never appears in an error message; `redact` may render a safe form
 * of it (or return undefined to show nothing).
 */
type Secrecy = { readonly secret?: never; readonly redact?: never } | { readonly secret: true; readonly redact?: (raw: string) => string | undefined };

export type KeySpec<T> = {
  /** Raw string (environment or config file, never empty) to value. */
  readonly parse: z.ZodType<T>;
  /** The "meaning" cell of the README table (Markdown, one line). */
  readonly doc: string;
} & Presence<T> &
  Secrecy;

/** Declares one key; the type check ties `default` to what `parse` produces. */
function key<S extends KeySpec<unknown>>(spec: S & KeySpec<z.output<S['parse']>>): S {
  return spec;
}

/** Every key a node reads, in the order of the README table and of the checks. */
export const SPEC = {
  LICENSE_CLUSTER_ID: key({
    parse: idSchema,
    required: true,
    doc: 'name of the license cluster; both nodes must agree. 1–64 of `A-Za-z0-9._-`, starting with a letter or digit',
  }),
  LICENSE_NODE_ID: key({ parse: idSchema, required: true, doc: "this node's id, unique in the cluster (same characters as the cluster id)" }),
  LICENSE_ROLE: key({
    parse: roleSchema,
    doc: '`primary` or `redundant`; optional: the license file gives each node its role (`servers`), and a node whose LICENSE_ROLE disagrees refuses to start',
  }),
  LICENSE_REDIS_URL: key({
    parse: redisUrlSchema,
    default: 'redis://127.0.0.1:6379',
    secret: true,
    redact: redactRedisUrl,
    doc: 'Redis holding the lease and all state (`rediss://` for TLS); passwords / ACL users go in the URL (`redis://user:pass@host:6379`). Not used with `LICENSE_REDIS_SENTINELS` or `LICENSE_REDIS_CLUSTER_NODES`',
  }),
  LICENSE_REDIS_SENTINELS: key({ parse: hostPortListSchema, doc: '`host:port,host:port` of Redis Sentinels (instead of the URL)' }),
  LICENSE_REDIS_MASTER_NAME: key({ parse: textSchema, doc: 'Sentinel master name; required with `LICENSE_REDIS_SENTINELS`' }),
  LICENSE_REDIS_CLUSTER_NODES: key({
    parse: hostPortListSchema,
    doc: "`host:port,...` seed nodes of a Redis Cluster (instead of the URL; not with `LICENSE_REDIS_SENTINELS`); each license cluster's keys share one slot",
  }),
  LICENSE_REDIS_MIN_REPLICAS: key({
    parse: replicaCountSchema,
    derived: '1 with `LICENSE_REDIS_SENTINELS` or `LICENSE_REDIS_CLUSTER_NODES`, 0 with one Redis',
    doc: 'fewest replicas that must acknowledge (Redis `WAIT`) every write before a caller is told it succeeded; every replica in sync with the master is waited for, and never fewer than this; a renewal not acknowledged in time is a failed renewal. 0 = do not wait (a master failover may then lose the last writes). See the runbook, "Redis replicas"',
  }),
  LICENSE_REDIS_TLS_CA: key({ parse: textSchema, doc: 'CA (PEM file) to verify Redis with over `rediss://`; unset: the system roots' }),
  LICENSE_GRPC_ADDR: key({ parse: hostPortSchema, default: '0.0.0.0:7400', doc: 'gRPC listen address (`host:port`; port 0 picks a free one)' }),
  LICENSE_PEER_ADDR: key({
    parse: hostPortSchema,
    doc: "the other node's gRPC address (not this node's `LICENSE_GRPC_ADDR`); unset = no peer heartbeats. Needs `LICENSE_CLUSTER_SECRET` or `LICENSE_TLS_CA` (or `LICENSE_INSECURE_PEERS=true`)",
  }),
  LICENSE_ADVERTISE_ADDR: key({
    parse: hostPortSchema,
    derived: "`LICENSE_GRPC_ADDR` (this host's name for `0.0.0.0` / `::`)",
    doc: 'address clients are redirected to (`license-leader`)',
  }),
  LICENSE_METRICS_ADDR: key({
    parse: hostPortOrOffSchema,
    default: '0.0.0.0:9464',
    doc: 'HTTP `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (active and serving); `off` disables',
  }),
  LICENSE_POLICY_FILE: key({
    parse: textSchema,
    doc: 'the seat policy (YAML; docs/POLICY.md): seats reserved for a user, host or group, limits per user/host/group, denials. Re-read on change and on SIGHUP; a bad edit is refused (logged, naming the line) and the last good policy stays. Unset: no rules',
  }),
  LICENSE_USAGE_RETENTION: key({
    parse: retentionSchema,
    default: 400 * 24 * HOUR,
    doc: 'how long usage events (grants, releases, denials, expiries) are kept in Redis for `licensectl report usage` (docs/USAGE-REPORTS.md): `400d`, `36h`, `90m` or milliseconds; older ones are trimmed about once a minute',
  }),
  LICENSE_CONSOLE_ADDR: key({
    parse: hostPortOrOffSchema,
    default: '0.0.0.0:7480',
    doc: 'the web console (License Server Control Panel) and its JSON API `/api/v1/` (docs/CONSOLE.md); HTTPS when `LICENSE_TLS_CERT` is set; `off` disables',
  }),
  LICENSE_CONSOLE_URL: key({
    parse: httpUrlSchema,
    derived: '`http://` (`https://` with TLS) + the host of `LICENSE_ADVERTISE_ADDR` + the console port',
    doc: "the console's address as operators reach it (behind a proxy or a published port): the peer's console links here",
  }),
  LICENSE_CONSOLE_SESSION_MS: key({ parse: durationSchema, default: 8 * HOUR, doc: 'how long a console sign-in lasts' }),
  LICENSE_VENDOR_ACTIVATION_URL: key({
    parse: httpUrlSchema,
    doc: 'the vendor\'s activation service (`licensectl vendor serve`): the console\'s "Send automatically" posts the request key there and applies the answer; unset: the manual flow only',
  }),
  LICENSE_VENDOR_ACTIVATION_TOKEN: key({
    parse: tokenSchema,
    secret: true,
    doc: "this customer's token for `LICENSE_VENDOR_ACTIVATION_URL` (from the vendor; set both or neither); `licensectl activation request --send` reads it too",
  }),
  LICENSE_VENDOR_CONTACT: key({
    parse: emailSchema,
    doc: "the vendor's e-mail address for activation requests: the console's request dialog offers a `mailto:` link with the request key",
  }),
  LICENSE_FILE: key({
    parse: textSchema,
    required: 'the signed license file from your vendor',
    doc: 'the vendor-signed license file (features and seats)',
  }),
  LICENSE_VENDOR_PUBLIC_KEY: key({
    parse: textSchema,
    required: "the vendor's public key (PEM) that license files must verify against",
    doc: 'vendor public key PEM that the license file and activation keys must verify against',
  }),
  LICENSE_STATE_DIR: key({
    parse: textSchema,
    default: '.licensed-state',
    doc: "this node's own durable state: highest epoch seen, highest license serial seen, the redundant's budget mirror",
  }),
  LICENSE_ADMIN_TOKEN: key({
    parse: tokenSchema,
    required: true,
    secret: true,
    doc: 'bearer token for AdminService (16+ printable ASCII characters, no spaces); `licensectl` reads it too when `--token` is not given',
  }),
  LICENSE_LEASE_TTL_MS: key({ parse: durationSchema, default: 5_000, doc: 'leader lease TTL' }),
  LICENSE_LEASE_SAFETY_MARGIN_MS: key({
    parse: durationSchema,
    derived: '20% of `LICENSE_LEASE_TTL_MS`',
    doc: 'the active node stops acting this long before its lease could expire; at most half the TTL',
  }),
  LICENSE_HEARTBEAT_INTERVAL_MS: key({
    parse: durationSchema,
    default: 1_000,
    doc: 'peer heartbeat interval; the lease holder renews every min(this, TTL / 10); at most (TTL − margin) / 2',
  }),
  LICENSE_SESSION_TTL_MS: key({
    parse: durationSchema,
    default: 60_000,
    doc: "client session TTL: a crashed client's seats return within it (clients are told to heartbeat every TTL / 3)",
  }),
  LICENSE_HANDBACK_AFTER_MS: key({
    parse: durationSchema,
    default: 10_000,
    doc: 'the returning primary must be healthy this long before it takes the cluster back',
  }),
  LICENSE_REDUNDANT_STARTUP_GRACE_MS: key({
    parse: durationSchema,
    derived: '2 × `LICENSE_LEASE_TTL_MS`',
    doc: 'a redundant that has never heard the primary waits this long before taking a free lease',
  }),
  LICENSE_BLOCKED_KEEPS_SESSIONS: key({
    parse: boolSchema,
    default: true,
    doc: 'while blocked, keep renewing existing sessions (running work is not killed); `false` refuses their heartbeats too',
  }),
  LICENSE_TLS_CERT: key({
    parse: textSchema,
    doc: 'TLS certificate (PEM file) for the gRPC listener and the peer client, re-read every minute so rotation needs no restart; set with `LICENSE_TLS_KEY`',
  }),
  LICENSE_TLS_KEY: key({ parse: textSchema, doc: 'private key (PEM file) of `LICENSE_TLS_CERT`; set both or neither' }),
  LICENSE_TLS_CA: key({
    parse: textSchema,
    doc: 'CA that client certificates must chain to: peer heartbeats and admin calls then need one (SDK clients do not); needs `LICENSE_TLS_CERT`',
  }),
  LICENSE_CLUSTER_SECRET: key({
    parse: clusterSecretSchema,
    secret: true,
    doc: 'shared secret (16+ characters, the same on both nodes; `openssl rand -hex 32`) that signs node-to-node heartbeats (HMAC). A node with `LICENSE_PEER_ADDR` refuses to start without it or `LICENSE_TLS_CA`, and a node with neither refuses every heartbeat it receives, unless `LICENSE_INSECURE_PEERS=true`',
  }),
  LICENSE_INSECURE_PEERS: key({
    parse: boolSchema,
    default: false,
    doc: '`true` lets a node without `LICENSE_CLUSTER_SECRET` or `LICENSE_TLS_CA` start with `LICENSE_PEER_ADDR` and accept the heartbeats it receives: they are then unauthenticated, so any process that reaches the gRPC port can pose as the peer (a warning is logged at every start). No effect when either is set',
  }),
  LICENSE_MAX_SESSIONS_PER_CLIENT: key({
    parse: countSchema,
    default: 64,
    doc: 'open sessions per `client_id`; more → `RESOURCE_EXHAUSTED` / `LIMIT_EXCEEDED`',
  }),
  LICENSE_MAX_SEATS_PER_SESSION: key({ parse: countSchema, default: 1_024, doc: 'seats one session may hold' }),
  LICENSE_MAX_CONCURRENT_CALLS: key({
    parse: countSchema,
    default: 1_024,
    doc: 'calls in flight per node; more are refused at once ("busy"); peer heartbeats are not counted',
  }),
  LICENSE_MAX_MESSAGE_BYTES: key({ parse: countSchema, default: 64 * 1024, doc: 'largest request message accepted, in bytes' }),
  LICENSE_LOG_LEVEL: key({ parse: logLevelSchema, default: 'info', doc: '`error`, `warn`, `info`, `debug`' }),
};

/**
 * Keys that were settings once and are license terms now. The vendor signs the failover
 * terms into the license file, so that no customer can stretch the budget by configuration;
 * a node started with one of these keys (environment or --config) refuses to start with the
 * line given here, which names the license field.
 */
export const LICENSE_TERM_KEYS = {
  LICENSE_FAILOVER_BUDGET_MS: 'the failover budget is a license term now (failover.budget_ms in the vendor-signed license file); remove it',
  LICENSE_BUDGET_RESET_AFTER_MS:
    'when the failover budget refills is a license term now (failover.reset_after_ms in the vendor-signed license file); remove it',
  LICENSE_ACTIVATION_EXTENSION_MS:
    "an activation key's extension is a license term now: the vendor chooses it when signing the key, up to failover.max_extension_ms in the vendor-signed license file; remove it",
} as const;

type Spec = typeof SPEC;
type SpecKey = keyof Spec;
/** The keys that have a fixed default. */
export type DefaultedKey = { [K in SpecKey]: Spec[K] extends { readonly default: unknown } ? K : never }[SpecKey];
/** What a key parses to. */
export type KeyValue<K extends SpecKey> = z.output<Spec[K]['parse']>;

/** Marks the README block that `npm run docs:config` rewrites. */
export const CONFIG_TABLE_BEGIN =
  '<!-- config-table:begin (generated from src/server/config-spec.ts by `npm run docs:config`; edit the spec, not the table) -->';
export const CONFIG_TABLE_END = '<!-- config-table:end -->';

/** `259200000` → `72 h`, for the docs; short durations read fine as they are. */
function humanMs(ms: number): string | undefined {
  // Retentions are months long: days read better there (72 h stays 72 h).
  if (ms >= 30 * 24 * HOUR && ms % (24 * HOUR) === 0) return `${ms / (24 * HOUR)} d`;
  if (ms >= HOUR && ms % HOUR === 0) return `${ms / HOUR} h`;
  if (ms >= MINUTE && ms % MINUTE === 0) return `${ms / MINUTE} min`;
  return undefined;
}

function defaultCell(name: string, spec: KeySpec<unknown>): string {
  if (spec.required !== undefined) return 'required';
  if (spec.derived !== undefined) return spec.derived;
  if (spec.default === undefined) return 'unset';
  const value = spec.default;
  // Defaults are what an operator would type, so they are shown as text; every one is a primitive today.
  const text = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  const human = typeof value === 'number' && (name.endsWith('_MS') || name.endsWith('_RETENTION')) ? humanMs(value) : undefined;
  return `\`${text}\`${human === undefined ? '' : ` (${human})`}`;
}

function meaningCell(spec: KeySpec<unknown>): string {
  // Said from the flags rather than in each doc line, so the docs follow the code.
  if (spec.secret !== true) return spec.doc;
  return `${spec.doc}. Secret: ${spec.redact === undefined ? 'never shown in error messages' : 'shown in error messages with its password as `***`'}`;
}

/** The README's configuration table (Markdown: key | default | meaning), one row per key. */
export function configTable(): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const rows = Object.entries(SPEC).map(
    ([name, spec]: [string, KeySpec<unknown>]) => `| \`${name}\` | ${cell(defaultCell(name, spec))} | ${cell(meaningCell(spec))} |`,
  );
  return ['| key | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/**
 * Returns `markdown` with the lines between the config-table markers replaced by
 * configTable(). Throws when the markers are missing, so a README edit that drops them
 * fails loudly instead of silently leaving the table stale.
 */
export function spliceConfigTable(markdown: string): string {
  const begin = markdown.indexOf(CONFIG_TABLE_BEGIN);
  const end = markdown.indexOf(CONFIG_TABLE_END);
  if (begin === -1 || end === -1 || end < begin) {
    throw new Error(`config table markers not found: expected a line ${CONFIG_TABLE_BEGIN} and, after it, a line ${CONFIG_TABLE_END}`);
  }
  return `${markdown.slice(0, begin + CONFIG_TABLE_BEGIN.length)}\n${configTable()}\n${markdown.slice(end)}`;
}
