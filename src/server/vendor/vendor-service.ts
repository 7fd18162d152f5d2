import { createPublicKey, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { type ActivationRequest, decodeRequestKey, signActivation, verifyActivationKey } from '../budget/activation-keys';
import type { Clock } from '../clock';
import { ErrorCode, errorMessage, isLicenseError } from '../errors';
import { type CustomerPolicy, mayActivate, type VendorPolicy } from './vendor-policy';

/**
 * The vendor activation service: request keys in over HTTP(S) as JSON, activation keys out,
 * under a policy (src/server/vendor/vendor-policy.ts). docs/VENDOR-SERVICE.md is the
 * operator's and integrator's view; this file is the one place that decides.
 *
 *   POST /v1/activations   Authorization: Bearer <token>   {"request_key": "LRQ1..."}
 *   GET  /healthz
 *
 * It holds the vendor's private key, so everything a request controls is checked before the
 * key is used: the token (constant time), the rate (per token, and per address for failed
 * tokens), the size (16 KiB, read no further), the JSON, the request key, the cluster (the
 * token's own), the count per failover episode. Every decision on /v1/activations is handed
 * to `log` before the answer goes out; a grant the log could not take is not answered.
 */

export const ACTIVATIONS_PATH = '/v1/activations';
export const MAX_BODY_BYTES = 16 * 1024;
/** Failed authentications one address may make per minute before it is answered 429 (token guessing). */
export const AUTH_FAILURES_PER_MINUTE = 20;
const MINUTE = 60_000;
/** Longer vendor-side messages are cut: they end up in a customer's terminal and in every log line. */
const MAX_LOGGED_FIELD = 200;

/** Why the service answered as it did: `granted` and `repeat` (the same request again, the same key) grant; the rest refuse. */
export type DecisionReason =
  | 'granted'
  | 'repeat'
  | 'unauthenticated'
  | 'rate_limited'
  | 'body_too_large'
  | 'malformed_json'
  | 'malformed_request_key'
  | 'cluster_not_allowed'
  | 'activation_limit'
  | 'nonce_reused'
  | 'method_not_allowed'
  | 'internal';

/** One decision, as one JSON line of the decision log (docs/VENDOR-SERVICE.md, "Decision log"). */
export interface VendorDecision {
  /** ISO 8601 time of the decision (the clock's wall time). */
  readonly time: string;
  readonly at_ms: number;
  readonly decision: 'granted' | 'refused';
  readonly reason: DecisionReason;
  /** The HTTP status answered. */
  readonly status: number;
  /** What the refusal said (exactly what the customer saw). */
  readonly message?: string;
  /** The policy's name for the customer whose token it was; absent when no token matched. */
  readonly customer?: string;
  readonly cluster_id?: string;
  readonly node_id?: string;
  readonly episode_id?: string;
  readonly seq?: number;
  readonly nonce?: string;
  /** The head of the node's audit trail when it asked (the request key carries it): the vendor keeps it. */
  readonly audit_head?: string;
  readonly granted_ms?: number;
  readonly expires_at_ms?: number;
  /** The key answered: a restart with the log replays it, so a repeated request gets the same key. */
  readonly activation_key?: string;
  /** The peer's address (the proxy's, behind a reverse proxy). */
  readonly remote: string;
}

export interface VendorServiceOptions {
  /** The vendor's Ed25519 private key: signs every activation key. */
  readonly privateKey: KeyObject;
  readonly policy: VendorPolicy;
  /** Takes every decision before the answer is sent; throwing refuses a grant (503) rather than answering one nobody recorded. */
  readonly log: (decision: VendorDecision) => void;
  readonly clock: Clock;
  /** Serve HTTPS with this certificate and key (PEM); plain HTTP without. */
  readonly tls?: { readonly cert: Buffer | string; readonly key: Buffer | string };
  /**
   * Decisions of an earlier run (`--log FILE`): the granted ones restore the counts per
   * episode and the answers to repeated requests. Keys that do not verify with this service's
   * key are ignored (an edited log cannot plant an answer).
   */
  readonly history?: Iterable<VendorDecision>;
}

export interface VendorService {
  readonly server: http.Server | https.Server;
  /** Listens; resolves to the URL it serves, e.g. `http://127.0.0.1:7490` (port 0: the one chosen). */
  listen(host: string, port: number): Promise<string>;
  /** Stops accepting, ends idle connections, and resolves once open requests are answered. */
  close(): Promise<void>;
  /** Grants restored from `history`. */
  readonly replayed: number;
}

/** A refusal on its way to the customer: HTTP status, the contract's error code, a message that says what to do. */
class Refusal {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    readonly reason: DecisionReason,
    readonly message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

/** Tokens refill continuously; `take` answers how long until one is there when none is. */
class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly capacity: number,
    private readonly perMs: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.at = now;
  }

  take(now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil((1 - this.tokens) / this.perMs) };
  }

  /** Full again: nothing to remember about whoever used it. */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.capacity;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + Math.max(0, now - this.at) * this.perMs);
    this.at = now;
  }
}

interface Answer {
  readonly cluster_id: string;
  readonly node_id: string;
  readonly episode_id: string;
  readonly seq: number;
  readonly activation_key: string;
  readonly granted_ms: number;
  readonly expires_at_ms: number;
}

const clip = (s: string): string => (s.length > MAX_LOGGED_FIELD ? `${s.slice(0, MAX_LOGGED_FIELD)}...` : s);
const episodeKey = (r: { cluster_id: string; node_id: string; episode_id: string }): string => `${r.cluster_id}\0${r.node_id}\0${r.episode_id}`;
const answerKey = (customer: string, nonce: string): string => `${customer}\0${nonce}`;

/**
 * What the service remembers: the answer per (customer, nonce), so a repeated request gets
 * the same key, and the sequence numbers granted per (cluster, node, episode). Sequence
 * numbers, not keys, are what is counted: a node accepts one key per sequence number, so a
 * second key for the same one (a lost key asked again) adds nothing the limit must stop.
 */
class Ledger {
  private readonly answers = new Map<string, Answer>();
  private readonly seqs = new Map<string, Set<number>>();

  answerTo(customer: string, nonce: string): Answer | undefined {
    return this.answers.get(answerKey(customer, nonce));
  }

  granted(r: { cluster_id: string; node_id: string; episode_id: string }): ReadonlySet<number> {
    return this.seqs.get(episodeKey(r)) ?? new Set();
  }

  record(customer: string, nonce: string, a: Answer): void {
    this.answers.set(answerKey(customer, nonce), a);
    const k = episodeKey(a);
    const set = this.seqs.get(k) ?? new Set<number>();
    set.add(a.seq);
    this.seqs.set(k, set);
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Creates the service (not yet listening). */
export function createVendorService(opts: VendorServiceOptions): VendorService {
  const { policy, clock, privateKey } = opts;
  const ledger = new Ledger();
  const buckets = new Map<string, TokenBucket>();
  const authFailures = new Map<string, TokenBucket>();

  let replayed = 0;
  if (opts.history) {
    const publicKey = createPublicKey(privateKey);
    for (const d of opts.history) {
      if (d.decision !== 'granted' || d.customer === undefined || d.nonce === undefined || d.activation_key === undefined) continue;
      try {
        const g = verifyActivationKey(d.activation_key, publicKey);
        if (g.nonce !== d.nonce) continue;
        if (ledger.answerTo(d.customer, g.nonce) === undefined) replayed++;
        ledger.record(d.customer, g.nonce, { ...g, activation_key: d.activation_key });
      } catch {
        // Not signed by this key (another vendor key, or an edited line): it granted nothing here.
      }
    }
  }

  const now = (): number => clock.now();

  function decision(fields: Omit<VendorDecision, 'time' | 'at_ms'>): VendorDecision {
    const at = now();
    // The first keys fix the order of every line: when, what, why, then the details.
    const { decision: what, reason, status, ...details } = fields;
    return { time: new Date(at).toISOString(), at_ms: at, decision: what, reason, status, ...details };
  }

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...headers,
    });
    res.end(text);
  }

  /** Answers a refusal and logs it; a broken log does not stop refusals (nothing is given away). */
  function refuse(res: http.ServerResponse, r: Refusal, remote: string, context: Partial<VendorDecision> = {}): void {
    try {
      opts.log(decision({ ...context, decision: 'refused', reason: r.reason, status: r.status, message: r.message, remote }));
    } catch {
      // The log is broken: the grant path notices and stops granting; a refusal is safe to send.
    }
    send(res, r.status, { error: { code: r.code, message: r.message } }, r.headers);
  }

  function authenticate(req: http.IncomingMessage, remote: string): CustomerPolicy | Refusal {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    const customer = m?.[1] === undefined ? undefined : policy.authenticate(m[1]);
    if (customer) return customer;
    // Failed tokens are limited per address: a valid token from the same address is still served.
    // Forget addresses whose bucket refilled, so a scan from many addresses cannot grow the map without end.
    if (authFailures.size > 10_000) for (const [k, b] of authFailures) if (b.isFull(clock.monotonic())) authFailures.delete(k);
    const bucket = authFailures.get(remote) ?? new TokenBucket(AUTH_FAILURES_PER_MINUTE, AUTH_FAILURES_PER_MINUTE / MINUTE, clock.monotonic());
    authFailures.set(remote, bucket);
    const took = bucket.take(clock.monotonic());
    if (!took.ok) return tooMany(took.retryAfterMs, 'too many requests with a missing or unknown token from this address');
    // One answer for every token that is not a customer's, near misses included: nothing says whether a token is someone else's.
    return new Refusal(
      401,
      ErrorCode.UNAUTHENTICATED,
      'unauthenticated',
      m
        ? 'the activation token is not accepted; check LICENSE_VENDOR_ACTIVATION_TOKEN (the token the vendor gave you)'
        : 'no activation token: send Authorization: Bearer <token> (LICENSE_VENDOR_ACTIVATION_TOKEN, the token the vendor gave you)',
      { 'www-authenticate': 'Bearer realm="license-activation"' },
    );
  }

  function tooMany(retryAfterMs: number, what: string): Refusal {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1_000));
    return new Refusal(429, ErrorCode.LIMIT_EXCEEDED, 'rate_limited', `${what}; retry in ${seconds} s`, { 'retry-after': String(seconds) });
  }

  function rateLimit(customer: CustomerPolicy): Refusal | undefined {
    const mono = clock.monotonic();
    let bucket = buckets.get(customer.name);
    if (!bucket) {
      bucket = new TokenBucket(customer.ratePerMinute, customer.ratePerMinute / MINUTE, mono);
      buckets.set(customer.name, bucket);
    }
    const took = bucket.take(mono);
    return took.ok ? undefined : tooMany(took.retryAfterMs, `more than ${customer.ratePerMinute} requests per minute with this token`);
  }

  /** The body, or a refusal: over MAX_BODY_BYTES (by Content-Length or as it arrives) stops reading there. */
  function readBody(req: http.IncomingMessage): Promise<Buffer | Refusal> {
    const tooLarge = new Refusal(
      413,
      ErrorCode.INVALID_ARGUMENT,
      'body_too_large',
      `request body over ${MAX_BODY_BYTES} bytes: send only {"request_key": "LRQ1..."}`,
      { connection: 'close' },
    );
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_BODY_BYTES) return Promise.resolve(tooLarge);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (c: Buffer): void => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          req.off('data', onData);
          // Read no further: the answer closes the connection (Connection: close).
          req.pause();
          resolve(tooLarge);
          return;
        }
        chunks.push(c);
      };
      req.on('data', onData);
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  function parseBody(body: Buffer): string | Refusal {
    const shape = 'send {"request_key": "LRQ1..."}';
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch (err) {
      return new Refusal(400, ErrorCode.INVALID_ARGUMENT, 'malformed_json', `request body is not JSON (${clip(errorMessage(err))}); ${shape}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return new Refusal(400, ErrorCode.INVALID_ARGUMENT, 'malformed_json', `request body must be a JSON object; ${shape}`);
    }
    const key: unknown = (value as Record<string, unknown>)['request_key'];
    if (typeof key !== 'string') {
      return new Refusal(
        400,
        ErrorCode.INVALID_ARGUMENT,
        'malformed_json',
        `request body has ${key === undefined ? 'no request_key' : 'a request_key that is not a string'}; ${shape}`,
      );
    }
    return key;
  }

  function decodeKey(key: string): ActivationRequest | Refusal {
    try {
      return decodeRequestKey(key);
    } catch (err) {
      return new Refusal(400, isLicenseError(err) ? err.code : ErrorCode.ACTIVATION_MALFORMED, 'malformed_request_key', clip(errorMessage(err)));
    }
  }

  async function activate(req: http.IncomingMessage, res: http.ServerResponse, remote: string): Promise<void> {
    const auth = authenticate(req, remote);
    if (auth instanceof Refusal) return refuse(res, auth, remote);
    const customer = auth;
    const who = { customer: customer.name };
    const limited = rateLimit(customer);
    if (limited) return refuse(res, limited, remote, who);
    const body = await readBody(req);
    if (body instanceof Refusal) return refuse(res, body, remote, who);
    const key = parseBody(body);
    if (key instanceof Refusal) return refuse(res, key, remote, who);
    const request = decodeKey(key);
    if (request instanceof Refusal) return refuse(res, request, remote, who);

    const context = {
      ...who,
      cluster_id: request.cluster_id,
      node_id: request.node_id,
      episode_id: request.episode_id,
      seq: request.seq,
      nonce: request.nonce,
      ...(request.audit_head === undefined ? {} : { audit_head: request.audit_head }),
    };
    if (!mayActivate(customer, request.cluster_id)) {
      // Names the requester's own cluster only: never what the token may do, never anyone else's.
      const r = new Refusal(
        403,
        ErrorCode.PERMISSION_DENIED,
        'cluster_not_allowed',
        `this activation token may not activate cluster ${request.cluster_id}; contact the vendor if it should`,
      );
      return refuse(res, r, remote, context);
    }

    const earlier = ledger.answerTo(customer.name, request.nonce);
    if (earlier) {
      const same =
        earlier.cluster_id === request.cluster_id &&
        earlier.node_id === request.node_id &&
        earlier.episode_id === request.episode_id &&
        earlier.seq === request.seq;
      if (!same) {
        const r = new Refusal(
          409,
          ErrorCode.ACTIVATION_USED,
          'nonce_reused',
          'a different request key with this nonce was answered already; run licensectl activation request again for a new request key',
        );
        return refuse(res, r, remote, context);
      }
      // A retry (say, the answer was lost on the way): the same key again, counted once.
      return grant(res, remote, context, earlier, 'repeat');
    }

    const seqs = ledger.granted(request);
    if (!seqs.has(request.seq) && seqs.size >= customer.maxActivationsPerEpisode) {
      const r = new Refusal(
        409,
        ErrorCode.LIMIT_EXCEEDED,
        'activation_limit',
        `activation limit reached: ${seqs.size} of ${customer.maxActivationsPerEpisode} activations per failover episode were granted for node ${request.node_id} of cluster ${request.cluster_id} in episode ${request.episode_id}; contact the vendor`,
      );
      return refuse(res, r, remote, context);
    }

    const extensionMs = Math.min(customer.extensionMs, request.extension_ms);
    const signed = signActivation(key, privateKey, { extensionMs, validForMs: customer.keyValidForMs, nowMs: now() });
    const answer: Answer = {
      cluster_id: request.cluster_id,
      node_id: request.node_id,
      episode_id: request.episode_id,
      seq: request.seq,
      activation_key: signed.key,
      granted_ms: signed.grant.granted_ms,
      expires_at_ms: signed.grant.expires_at_ms,
    };
    return grant(res, remote, context, answer, 'granted', () => ledger.record(customer.name, request.nonce, answer));
  }

  function grant(
    res: http.ServerResponse,
    remote: string,
    context: Partial<VendorDecision>,
    a: Answer,
    reason: 'granted' | 'repeat',
    commit?: () => void,
  ): void {
    try {
      opts.log(
        decision({
          ...context,
          decision: 'granted',
          reason,
          status: 200,
          granted_ms: a.granted_ms,
          expires_at_ms: a.expires_at_ms,
          activation_key: a.activation_key,
          remote,
        }),
      );
    } catch {
      // Unrecorded, a grant would not count after a restart: refuse it, count nothing.
      return send(res, 503, { error: { code: ErrorCode.INTERNAL, message: 'the vendor activation service cannot record decisions right now; retry later' } });
    }
    commit?.();
    send(res, 200, {
      activation_key: a.activation_key,
      cluster_id: a.cluster_id,
      node_id: a.node_id,
      episode_id: a.episode_id,
      seq: a.seq,
      granted_ms: a.granted_ms,
      expires_at_ms: a.expires_at_ms,
    });
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const remote = req.socket.remoteAddress ?? '';
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, errorBody('use GET'), { allow: 'GET, HEAD' });
      return send(res, 200, { status: 'ok', mode: policy.mode });
    }
    if (path !== ACTIVATIONS_PATH) return send(res, 404, { error: { code: ErrorCode.NOT_FOUND, message: `no such endpoint; POST ${ACTIVATIONS_PATH}` } });
    if (req.method !== 'POST') {
      return refuse(
        res,
        new Refusal(405, ErrorCode.INVALID_ARGUMENT, 'method_not_allowed', `use POST ${ACTIVATIONS_PATH} with {"request_key": "LRQ1..."}`, { allow: 'POST' }),
        remote,
      );
    }
    activate(req, res, remote).catch((err: unknown) => {
      // Unexpected (a bug, or the request stream failing): a generic answer, the detail in the log only.
      try {
        opts.log(decision({ decision: 'refused', reason: 'internal', status: 500, message: clip(errorMessage(err)), remote }));
      } catch {
        // Nothing more to do with a broken log.
      }
      if (!res.headersSent) send(res, 500, { error: { code: ErrorCode.INTERNAL, message: 'internal error in the vendor activation service; retry later' } });
      else res.destroy();
    });
  };

  const server: http.Server | https.Server = opts.tls
    ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, handler)
    : http.createServer(handler);
  // A slow client cannot hold a connection open forever (the body is at most 16 KiB).
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = 1_024;

  return {
    server,
    replayed,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          resolve(`${opts.tls ? 'https' : 'http'}://${hostForUrl(host === '' ? a.address : host)}:${a.port}`);
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

function errorBody(message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code: ErrorCode.INVALID_ARGUMENT, message } };
}
