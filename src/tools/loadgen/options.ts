/**
 * Options of the load client (`node dist/tools/cli/loadgen.js`), each settable by a flag or a
 * LOADGEN_* environment variable (the flag wins). Durations are milliseconds.
 */
export interface LoadgenOptions {
  /** License servers as `host:port`; every simulated client gets all of them. */
  readonly endpoints: readonly string[];
  /** Features to check out; each checkout picks one at random. */
  readonly features: readonly string[];
  /** Concurrent simulated clients, each its own LicenseClient (session). */
  readonly clients: number;
  /** Checkouts per cycle of one client (leases held at once). */
  readonly seatsPerClient: number;
  /** Seats per checkout. */
  readonly count: number;
  /** Mean hold time of a cycle's seats; each hold is uniform in [0.5, 1.5] x this. */
  readonly holdMs: number;
  /** Mean pause between cycles; each pause is uniform in [0, 2] x this. */
  readonly pauseMs: number;
  /** Wait after a refused or failed checkout (exhausted, blocked, error) before the next one. */
  readonly retryMs: number;
  /** Client starts are spread over this window, so a restart is not a thundering herd. */
  readonly rampMs: number;
  /** Stop after this long; 0 runs until SIGTERM/SIGINT. */
  readonly durationMs: number;
  /** A summary line every this often. */
  readonly summaryMs: number;
  /** Client ids are `<prefix>-<n>`. */
  readonly clientIdPrefix: string;
  /** SDK: deadline of each gRPC call. */
  readonly callTimeoutMs: number;
  /** SDK: how long one operation retries through a failover. */
  readonly retryTimeoutMs: number;
}

/** Every environment variable the load client reads, with its flag and default. */
export const LOADGEN_ENV = Object.freeze({
  LOADGEN_ENDPOINTS: { flag: '--endpoints', default: '127.0.0.1:7400,127.0.0.1:7401' },
  LOADGEN_FEATURES: { flag: '--features', default: 'cad-pro,solver' },
  LOADGEN_CLIENTS: { flag: '--clients', default: '10' },
  LOADGEN_SEATS_PER_CLIENT: { flag: '--seats-per-client', default: '1' },
  LOADGEN_COUNT: { flag: '--count', default: '1' },
  LOADGEN_HOLD_MS: { flag: '--hold-ms', default: '10000' },
  LOADGEN_PAUSE_MS: { flag: '--pause-ms', default: '1000' },
  LOADGEN_RETRY_MS: { flag: '--retry-ms', default: '2000' },
  LOADGEN_RAMP_MS: { flag: '--ramp-ms', default: '2000' },
  LOADGEN_DURATION_MS: { flag: '--duration-ms', default: '0' },
  LOADGEN_SUMMARY_MS: { flag: '--summary-ms', default: '10000' },
  LOADGEN_CLIENT_ID: { flag: '--client-id', default: 'loadgen' },
  LOADGEN_CALL_TIMEOUT_MS: { flag: '--call-timeout-ms', default: '5000' },
  LOADGEN_RETRY_TIMEOUT_MS: { flag: '--retry-timeout-ms', default: '30000' },
});
export type LoadgenEnvKey = keyof typeof LOADGEN_ENV;
export const LOADGEN_ENV_KEYS = Object.keys(LOADGEN_ENV) as LoadgenEnvKey[];

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;
const FEATURE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Parsers for single values; each throws an Error whose message says what is wrong. */
export const parse = {
  /** A whole number >= min. */
  int(this: void, min: number): (v: string) => number {
    return (v) => {
      const n = Number(v);
      if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new Error(`must be a whole number of at least ${min}, got "${v}"`);
      return n;
    };
  },
  endpoints(this: void, v: string): string[] {
    const list = v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (list.length === 0) throw new Error('must list at least one host:port');
    for (const e of list) {
      const m = HOST_PORT.exec(e);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65_535) throw new Error(`"${e}" is not host:port`);
    }
    return list;
  },
  features(this: void, v: string): string[] {
    const list = v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (list.length === 0) throw new Error('must list at least one feature');
    for (const f of list) if (!FEATURE.test(f)) throw new Error(`"${f}" is not a feature name (letters, digits, ".", "_", "-")`);
    return list;
  },
  clientId(this: void, v: string): string {
    if (!/^[\x21-\x7e]{1,200}$/.test(v)) throw new Error(`must be 1-200 printable characters without spaces, got "${v}"`);
    return v;
  },
};

/** The defaults as parsed options (tests and callers that build options in code). */
export function defaultLoadgenOptions(overrides: Partial<LoadgenOptions> = {}): LoadgenOptions {
  const d = (k: LoadgenEnvKey): string => LOADGEN_ENV[k].default;
  return Object.freeze({
    endpoints: parse.endpoints(d('LOADGEN_ENDPOINTS')),
    features: parse.features(d('LOADGEN_FEATURES')),
    clients: Number(d('LOADGEN_CLIENTS')),
    seatsPerClient: Number(d('LOADGEN_SEATS_PER_CLIENT')),
    count: Number(d('LOADGEN_COUNT')),
    holdMs: Number(d('LOADGEN_HOLD_MS')),
    pauseMs: Number(d('LOADGEN_PAUSE_MS')),
    retryMs: Number(d('LOADGEN_RETRY_MS')),
    rampMs: Number(d('LOADGEN_RAMP_MS')),
    durationMs: Number(d('LOADGEN_DURATION_MS')),
    summaryMs: Number(d('LOADGEN_SUMMARY_MS')),
    clientIdPrefix: d('LOADGEN_CLIENT_ID'),
    callTimeoutMs: Number(d('LOADGEN_CALL_TIMEOUT_MS')),
    retryTimeoutMs: Number(d('LOADGEN_RETRY_TIMEOUT_MS')),
    ...overrides,
  });
}
