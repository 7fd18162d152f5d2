import os from 'node:os';
import * as grpc from '@grpc/grpc-js';

/** Options of {@link LicenseClient}. Durations are milliseconds. */
export interface LicenseClientOptions {
  /** License servers as `host:port`, primary and redundant; order is the first-try order. */
  endpoints: readonly string[];
  /** Names the application (or instance) to the server; shown in lease listings. */
  clientId: string;
  /** Default: the OS user name. */
  user?: string;
  /** Default: `os.hostname()`. */
  hostname?: string;
  /** Default: `process.pid`. */
  pid?: number;
  /** Deadline of every single gRPC call. Default 5000. */
  callTimeoutMs?: number;
  /**
   * How long one operation (connect, checkout, release, features, one heartbeat round)
   * keeps retrying through a failover before it gives up with NoActiveServerError.
   * Default 30000.
   */
  retryTimeoutMs?: number;
  /**
   * Backoff between retries: starts at `initialMs` (default 100), doubles, capped at `maxMs`
   * (default 1000: a failover should not be hidden behind a long wait). Not applied before
   * the first try of each endpoint after a lost connection, nor before following a
   * `license-leader` hint (unless the last try already followed one).
   */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Default: insecure (plaintext) channels. */
  credentials?: grpc.ChannelCredentials;
  /**
   * TLS without touching grpc-js: PEM contents (not paths) of the CA that signed the
   * servers' certificates (default: the system roots) and, when the servers verify
   * clients, a client certificate and key. Ignored when `credentials` is given.
   */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  /**
   * When a session is lost, check its seats out again in the new session
   * (`seatRecovered`). A session that expired locally (no heartbeat got through in time)
   * has its seats reported `seatLost` at the expiry first; one the server no longer knows
   * reports only seats that cannot be had again (or are not back by the time it would
   * have expired). Default true; false reports every seat of a lost session lost for good.
   * Either way, a seat the server stopped holding in a live session is checked out again
   * with its own request id (see `seatLost` reason 'not-held-by-server').
   */
  recoverSeats?: boolean;
  /**
   * Overrides the heartbeat interval the server suggests (ttl/3). Capped at half the
   * session TTL, so that one late heartbeat never costs the seats.
   */
  heartbeatIntervalMs?: number;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  readonly endpoints: readonly string[];
  readonly clientId: string;
  readonly user: string;
  readonly hostname: string;
  readonly pid: number;
  readonly callTimeoutMs: number;
  readonly retryTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly credentials: grpc.ChannelCredentials;
  readonly recoverSeats: boolean;
  readonly heartbeatIntervalMs: number | undefined;
}

export const CLIENT_DEFAULTS = Object.freeze({
  callTimeoutMs: 5_000,
  retryTimeoutMs: 30_000,
  backoffInitialMs: 100,
  backoffMaxMs: 1_000,
});

/** The longest CheckoutOptions.wait: the server's own cap on CheckoutRequest.wait_ms (one hour). */
export const MAX_CHECKOUT_WAIT_MS = 3_600_000;

/**
 * Channel options of every endpoint's channel. grpc-js waits 1 s before the first
 * reconnect and backs off up to 120 s; after a node restarts or a failover the client
 * would sit out that wait with a healthy server next door, so the reconnect wait, not the
 * cluster, would dominate the failover time users see. 100 ms .. 1 s keeps it small.
 */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = Object.freeze({
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
});

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/** True for `host:port` / `[v6]:port` with a port in 1..65535. */
export function isHostPort(addr: string): boolean {
  const m = HOST_PORT.exec(addr);
  if (!m) return false;
  const port = Number(m[2]);
  return port >= 1 && port <= 65_535;
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`LicenseClient option ${name} must be a positive number of milliseconds, got ${String(v)}`);
  return v;
}

function defaultUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    // userInfo() throws for a uid without a passwd entry (common in containers).
    return process.env['USER'] ?? '';
  }
}

/** Applies defaults and validates; a bad option throws naming it. */
export function resolveOptions(o: LicenseClientOptions): ResolvedOptions {
  if (!Array.isArray(o.endpoints) || o.endpoints.length === 0) {
    throw new TypeError('LicenseClient option endpoints must list at least one host:port');
  }
  const endpoints: string[] = [];
  for (const e of o.endpoints) {
    const addr = typeof e === 'string' ? e.trim() : '';
    if (!isHostPort(addr)) throw new TypeError(`LicenseClient option endpoints: ${JSON.stringify(e)} is not host:port`);
    if (!endpoints.includes(addr)) endpoints.push(addr);
  }
  if (typeof o.clientId !== 'string' || o.clientId === '') throw new TypeError('LicenseClient option clientId must be a non-empty string');
  const pid = o.pid ?? process.pid;
  if (!Number.isInteger(pid) || pid < 0 || pid > 0x7fffffff) throw new RangeError(`LicenseClient option pid must be a non-negative int32, got ${String(pid)}`);
  const backoffInitialMs = positive('backoff.initialMs', o.backoff?.initialMs, CLIENT_DEFAULTS.backoffInitialMs);
  const backoffMaxMs = positive('backoff.maxMs', o.backoff?.maxMs, Math.max(CLIENT_DEFAULTS.backoffMaxMs, backoffInitialMs));
  if (backoffMaxMs < backoffInitialMs) throw new RangeError('LicenseClient option backoff.maxMs must be >= backoff.initialMs');
  return Object.freeze({
    endpoints: Object.freeze(endpoints),
    clientId: o.clientId,
    user: o.user ?? defaultUser(),
    hostname: o.hostname ?? os.hostname(),
    pid,
    callTimeoutMs: positive('callTimeoutMs', o.callTimeoutMs, CLIENT_DEFAULTS.callTimeoutMs),
    retryTimeoutMs: positive('retryTimeoutMs', o.retryTimeoutMs, CLIENT_DEFAULTS.retryTimeoutMs),
    backoffInitialMs,
    backoffMaxMs,
    recoverSeats: o.recoverSeats ?? true,
    credentials:
      o.credentials ??
      (o.tls
        ? grpc.credentials.createSsl(
            o.tls.ca === undefined ? null : Buffer.from(o.tls.ca),
            o.tls.key === undefined ? null : Buffer.from(o.tls.key),
            o.tls.cert === undefined ? null : Buffer.from(o.tls.cert),
          )
        : grpc.credentials.createInsecure()),
    heartbeatIntervalMs: o.heartbeatIntervalMs === undefined ? undefined : positive('heartbeatIntervalMs', o.heartbeatIntervalMs, 0),
  });
}
