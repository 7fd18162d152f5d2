import { setMaxListeners } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { CheckoutRequest } from '../contract/generated/license/v1/CheckoutRequest';
import type { CheckoutResponse__Output } from '../contract/generated/license/v1/CheckoutResponse';
import type { CloseSessionRequest } from '../contract/generated/license/v1/CloseSessionRequest';
import type { CloseSessionResponse__Output } from '../contract/generated/license/v1/CloseSessionResponse';
import type { HeartbeatRequest } from '../contract/generated/license/v1/HeartbeatRequest';
import type { HeartbeatResponse__Output } from '../contract/generated/license/v1/HeartbeatResponse';
import type { ListFeaturesRequest } from '../contract/generated/license/v1/ListFeaturesRequest';
import type { ListFeaturesResponse__Output } from '../contract/generated/license/v1/ListFeaturesResponse';
import type { OpenSessionRequest } from '../contract/generated/license/v1/OpenSessionRequest';
import type { OpenSessionResponse__Output } from '../contract/generated/license/v1/OpenSessionResponse';
import type { ReleaseRequest } from '../contract/generated/license/v1/ReleaseRequest';
import type { ReleaseResponse__Output } from '../contract/generated/license/v1/ReleaseResponse';
import type { SeatServiceClient } from '../contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../contract/proto';
import { onAbort, sleep } from './abort';
import {
  ClientClosedError,
  isRetryable,
  isServiceError,
  licenseErrorCode,
  type LicenseClientError,
  NoActiveServerError,
  OperationAbortedError,
  ServerBlockedError,
  toClientError,
} from './errors';
import { CHANNEL_OPTIONS, type ResolvedOptions } from './options';
import { FIRST_TRY, monotonic, planNextTry, type RetryState, tryTimeoutMs } from './retry-policy';
import type { Emit } from './typed-emitter';
import type { LicenseClientEvents } from './types';

/** Request and response of each SeatService method, so one generic call path stays typed. */
export interface SeatRpcs {
  OpenSession: { req: OpenSessionRequest; res: OpenSessionResponse__Output };
  Heartbeat: { req: HeartbeatRequest; res: HeartbeatResponse__Output };
  Checkout: { req: CheckoutRequest; res: CheckoutResponse__Output };
  Release: { req: ReleaseRequest; res: ReleaseResponse__Output };
  CloseSession: { req: CloseSessionRequest; res: CloseSessionResponse__Output };
  ListFeatures: { req: ListFeaturesRequest; res: ListFeaturesResponse__Output };
}
export type SeatMethod = keyof SeatRpcs;
/** Retryable refusals given before anything was written: a standby, or a node that lost the lease before the script's write. */
const REFUSED_UNTOUCHED: ReadonlySet<string> = new Set(['NOT_ACTIVE', 'STALE_EPOCH']);

type UnaryFn<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

export interface InvokeContext {
  /** Names the operation in errors. */
  op: string;
  /** Monotonic time after which the operation stops retrying. */
  deadline: number;
  /** close() runs CloseSession after the client is marked closed. */
  duringClose?: boolean;
  /** Stop retrying when this turns true (say, the seat being released was lost meanwhile). */
  moot?: () => boolean;
  /** The caller's abort: cancels the call in flight and ends the retries with OperationAbortedError. */
  signal?: AbortSignal | undefined;
  /** Set by invoke: monotonic send time of the attempt that succeeded (the server acted after it). */
  sentAt?: number;
  /** Set by invoke: tries sent so far, whatever became of them (any of them may have reached a server). */
  attempts?: number;
  /**
   * A call the server may hold open on purpose until this monotonic time (a Checkout
   * waiting in its feature's queue): each try's deadline is the time left until `until`
   * plus `callTimeoutMs`, so gRPC cuts short a hung node but not the wait, and no retry
   * starts at or after `until`: the operation ends with `expired(lastError)` instead.
   */
  hold?: { readonly until: number; readonly expired: (lastError: LicenseClientError) => LicenseClientError };
  /** Hears the initial metadata of each try (what the server sends before its answer) and the endpoint it came from. */
  onMetadata?: (md: grpc.Metadata, endpoint: string) => void;
  /**
   * Set by invoke when a try failed in a way that does not rule out that a server acted on
   * it (a lost connection, a deadline, an unacknowledged write), unlike a standby's
   * NOT_ACTIVE refusal. A Checkout that gave up with this set may have been granted unseen.
   */
  mayHaveActed?: boolean;
}

/**
 * The SeatService seen as one failover-aware call. Owns a channel per endpoint, the
 * endpoint list (the configured ones plus `license-leader` addresses learned on the way)
 * and which of them answers as the active node; knows nothing of sessions or seats.
 */
export class Transport {
  readonly #opts: ResolvedOptions;
  /** Raises `failover` and `blocked`, the only events that are the transport's to tell. */
  readonly #emit: Emit<LicenseClientEvents>;
  readonly #backoff: { readonly initialMs: number; readonly maxMs: number };
  /** Configured endpoints plus any `license-leader` address learned later. */
  readonly #endpoints: string[];
  /** Index of the endpoint the next call goes to. */
  #current = 0;
  /** Endpoint that last answered as the active node. */
  #active: string | undefined;
  readonly #channels = new Map<string, SeatServiceClient>();
  /** Aborted by close(): cancels every call in flight and wakes every backoff sleep. */
  readonly #closing = new AbortController();

  constructor(opts: ResolvedOptions, emit: Emit<LicenseClientEvents>) {
    this.#opts = opts;
    this.#emit = emit;
    this.#backoff = { initialMs: opts.backoffInitialMs, maxMs: opts.backoffMaxMs };
    this.#endpoints = [...opts.endpoints];
    // Every call and backoff sleep in flight listens here; hundreds at once is load, not a leak.
    setMaxListeners(0, this.#closing.signal);
  }

  /** The configured endpoints plus any active-node address learned from a standby. */
  get endpoints(): readonly string[] {
    return [...this.#endpoints];
  }

  /** Endpoint (`host:port`) that last answered as the active server. */
  get activeEndpoint(): string | undefined {
    return this.#active;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /**
   * One SeatService call with failover, on UNAVAILABLE and DEADLINE_EXCEEDED, until
   * `ctx.deadline` (the order is planNextTry's): after a lost connection the next try goes
   * at once to an endpoint this call has not tried yet; a standby's `license-leader` hint
   * is followed at once (not twice in a row); else the call rotates to the next endpoint
   * after a jittered backoff. The request object is sent unchanged on every try (that is
   * what keeps a Checkout's request_id stable); a function instead is asked for the request
   * of each try (a waiting Checkout sends the wait it has left). Other errors are final and
   * come back typed.
   */
  async invoke<M extends SeatMethod>(method: M, request: SeatRpcs[M]['req'] | (() => SeatRpcs[M]['req']), ctx: InvokeContext): Promise<SeatRpcs[M]['res']> {
    const started = monotonic();
    const tried: string[] = [];
    // The CloseSession of close() must survive the abort that close() itself sends.
    const signals = ctx.duringClose ? [ctx.signal] : [this.#closing.signal, ctx.signal];
    let lastError: LicenseClientError | undefined;
    const giveUp = (): NoActiveServerError => new NoActiveServerError(ctx.op, tried, lastError, monotonic() - started);
    let retry: RetryState = FIRST_TRY;
    let attempts = 0;
    for (;;) {
      this.#throwIfStopped(ctx);
      const endpoint = this.#endpoints[this.#current] ?? this.#endpoints[0] ?? '';
      if (!tried.includes(endpoint)) tried.push(endpoint);
      const timeoutMs = tryTimeoutMs(this.#opts.callTimeoutMs, ctx.deadline, monotonic(), ctx.hold?.until);
      if (timeoutMs <= 0) throw giveUp();
      const req: SeatRpcs[M]['req'] = typeof request === 'function' ? (request as () => SeatRpcs[M]['req'])() : request;
      let failure: grpc.ServiceError;
      const sentAt = monotonic();
      ctx.attempts = ++attempts;
      try {
        const res = await this.#call(endpoint, method, req, timeoutMs, signals, ctx.onMetadata);
        ctx.sentAt = sentAt;
        // An answer that beat the caller's abort still counts (the server acted); a closed client takes nothing.
        if (this.closed && !ctx.duringClose) throw new ClientClosedError(ctx.op);
        this.#answeredBy(endpoint);
        return res;
      } catch (err) {
        this.#throwIfStopped(ctx);
        if (!isServiceError(err)) throw err;
        failure = err;
      }
      const error = toClientError(failure, { endpoint, method });
      if (!isRetryable(failure)) {
        // Only the active node judges a request (a standby says UNAVAILABLE), so a coded
        // refusal still tells us who is active.
        if (licenseErrorCode(failure) !== undefined) this.#answeredBy(endpoint);
        if (error instanceof ServerBlockedError) this.#emit('blocked', { endpoint, error });
        throw error;
      }
      lastError = error;
      if (!REFUSED_UNTOUCHED.has(licenseErrorCode(failure) ?? '')) ctx.mayHaveActed = true;
      // Planned from the endpoint that failed, not from #current, which a concurrent call may have moved.
      const step = planNextTry(failure, endpoint, retry, { endpoints: this.#endpoints, tried }, this.#backoff);
      retry = step.next;
      this.#current = this.#endpointIndex(step.endpoint);
      if (ctx.moot?.()) throw giveUp();
      // Retried after the hold ended, a waiting call would no longer wait: the wait is used up.
      if (ctx.hold && monotonic() + step.delayMs >= ctx.hold.until) throw ctx.hold.expired(error);
      if (monotonic() + step.delayMs >= ctx.deadline) throw giveUp();
      await sleep(step.delayMs, signals);
      if (ctx.moot?.()) throw giveUp();
    }
  }

  /** A call nobody waits for (its failure changes nothing); close() still cancels it. */
  fireAndForget<M extends SeatMethod>(method: M, request: SeatRpcs[M]['req']): void {
    const endpoint = this.#active;
    if (endpoint === undefined || this.closed) return;
    void this.#call(endpoint, method, request, this.#opts.callTimeoutMs, [this.#closing.signal]).catch(() => undefined);
  }

  /**
   * Refuses new calls and aborts the ones in flight and their backoff sleeps, except those
   * made with `duringClose`. The channels stay open for those: see closeChannels().
   */
  close(): void {
    this.#closing.abort();
  }

  /** The last step of the client's close(). */
  closeChannels(): void {
    for (const ch of this.#channels.values()) ch.close();
    this.#channels.clear();
  }

  #throwIfStopped(ctx: InvokeContext): void {
    if (this.closed && !ctx.duringClose) throw new ClientClosedError(ctx.op);
    if (ctx.signal?.aborted) throw new OperationAbortedError(ctx.op, ctx.signal.reason);
  }

  /**
   * A single attempt, with the per-call deadline; an abort of any of `signals` cancels it.
   * `onMetadata` hears the server's initial metadata. Rejects with the grpc-js ServiceError.
   */
  #call<M extends SeatMethod>(
    endpoint: string,
    method: M,
    request: SeatRpcs[M]['req'],
    timeoutMs: number,
    signals: ReadonlyArray<AbortSignal | undefined>,
    onMetadata?: (md: grpc.Metadata, endpoint: string) => void,
  ): Promise<SeatRpcs[M]['res']> {
    const client = this.#channel(endpoint);
    // The generated client overloads each method; pick the (req, md, opts, cb) form.
    const fn = client[method] as unknown as UnaryFn<SeatRpcs[M]['req'], SeatRpcs[M]['res']>;
    return new Promise((resolve, reject) => {
      // The callback may run before fn.call() has returned the call; then there is nothing to cancel.
      let done = false;
      let unsubscribe = (): void => undefined;
      const call = fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        done = true;
        unsubscribe();
        if (err) reject(err);
        else if (res === undefined) reject(new Error(`${method}: empty response from ${endpoint}`));
        else resolve(res);
      });
      if (done) return;
      // Initial metadata arrives on a later tick than this, and before the answer.
      if (onMetadata) call.on('metadata', (md: grpc.Metadata) => onMetadata(md, endpoint));
      unsubscribe = onAbort(signals, () => call.cancel());
    });
  }

  /** The endpoint's channel, created on first use. */
  #channel(endpoint: string): SeatServiceClient {
    let ch = this.#channels.get(endpoint);
    if (!ch) {
      const { SeatService } = loadLicenseProto();
      ch = new SeatService(endpoint, this.#opts.credentials, CHANNEL_OPTIONS);
      this.#channels.set(endpoint, ch);
    }
    return ch;
  }

  #endpointIndex(addr: string): number {
    let i = this.#endpoints.indexOf(addr);
    if (i < 0) {
      // A `license-leader` we were not told about (say, a node's advertised address): keep it.
      this.#endpoints.push(addr);
      i = this.#endpoints.length - 1;
    }
    return i;
  }

  #answeredBy(endpoint: string): void {
    this.#current = this.#endpointIndex(endpoint);
    const from = this.#active;
    this.#active = endpoint;
    if (from !== undefined && from !== endpoint && !this.closed) this.#emit('failover', { from, to: endpoint });
  }
}
