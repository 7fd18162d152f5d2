import { randomUUID } from 'node:crypto';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { SeatServiceHandlers } from '../../src/contract/generated/license/v1/SeatService';
import { loadLicenseProto } from '../../src/contract/proto';

/**
 * In-process stand-ins for license nodes, for SDK tests. A FakeSeatStore plays Redis (the
 * state both nodes share, so a session survives a failover); each FakeSeatServer is one
 * node on 127.0.0.1 that can be switched to standby, blocked, made to fail or hang.
 */

export type SeatMethod = 'OpenSession' | 'Heartbeat' | 'Checkout' | 'Release' | 'CloseSession' | 'ListFeatures';

export interface FakeSession {
  id: string;
  clientId: string;
  expiresAtMs: number;
  /** request_id -> lease_id, for idempotent checkouts. */
  requestIds: Map<string, string>;
}

export interface FakeLease {
  id: string;
  sessionId: string;
  feature: string;
  count: number;
  expiresAtMs: number;
}

/** Shared seat state; time is the wall clock, as in the real server. */
export class FakeSeatStore {
  readonly features = new Map<string, { seats: number; expiresAtMs: number }>();
  readonly sessions = new Map<string, FakeSession>();
  readonly leases = new Map<string, FakeLease>();

  constructor(
    public ttlMs = 3_000,
    public heartbeatIntervalMs = 100,
  ) {}

  addFeature(name: string, seats: number, expiresAtMs = 0): this {
    this.features.set(name, { seats, expiresAtMs });
    return this;
  }

  /** Forgets a session and its leases, as an expiry or a store wipe would. */
  dropSession(id: string): void {
    this.sessions.delete(id);
    for (const [lid, l] of this.leases) if (l.sessionId === id) this.leases.delete(lid);
  }

  leasesOf(sessionId: string): FakeLease[] {
    this.purge();
    return [...this.leases.values()].filter((l) => l.sessionId === sessionId);
  }

  inUse(feature: string): number {
    this.purge();
    let n = 0;
    for (const l of this.leases.values()) if (l.feature === feature) n += l.count;
    return n;
  }

  purge(now = Date.now()): void {
    for (const s of [...this.sessions.values()]) if (s.expiresAtMs <= now) this.dropSession(s.id);
  }
}

export interface RecordedCall {
  method: SeatMethod;
  /** The request as decoded by the server (request_id, session_id, ...). */
  request: Record<string, unknown>;
  /** What the server did: 'ok', a gRPC code name, or 'hang'. */
  outcome: string;
}

export interface FailSpec {
  /** Status to answer with. Default UNAVAILABLE. */
  code?: grpc.status;
  /** `license-error` metadata to send, if any. */
  licenseError?: string;
  /** `license-leader` metadata to send, if any. */
  leader?: string;
  /** Only calls of these methods count. Default: every method. */
  methods?: SeatMethod[];
  /** Do the work first, then fail: the reply is "lost" after the state changed. */
  afterProcessing?: boolean;
}

interface Status {
  code: grpc.status;
  details: string;
  licenseError?: string;
  leader?: string;
}

class StatusError extends Error {
  constructor(readonly status: Status) {
    super(status.details);
  }
}

function fail(code: grpc.status, licenseError: string | undefined, details: string): never {
  throw new StatusError({ code, details, ...(licenseError === undefined ? {} : { licenseError }) });
}

const FEATURE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** One fake node. */
export class FakeSeatServer {
  readonly calls: RecordedCall[] = [];
  /** standby: UNAVAILABLE to everything, with `license-leader` when `leader` is set. */
  standby: { leader?: string } | undefined;
  /** The redundant's budget is spent: OpenSession and Checkout refused. */
  blocked = false;
  #failures: Array<{ left: number; spec: FailSpec }> = [];
  #hangs: Array<{ left: number; methods: SeatMethod[] | undefined }> = [];
  #stopped = false;

  private constructor(
    readonly store: FakeSeatStore,
    private readonly server: grpc.Server,
    readonly port: number,
  ) {}

  /** Starts a node on 127.0.0.1, port chosen by the OS. */
  static async start(store: FakeSeatStore): Promise<FakeSeatServer> {
    const server = new grpc.Server();
    const started: { self?: FakeSeatServer } = {};
    const handlers = makeHandlers(() => {
      if (!started.self) throw new Error('fake server not started');
      return started.self;
    });
    server.addService(loadLicenseProto().SeatService.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    started.self = new FakeSeatServer(store, server, port);
    return started.self;
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  setStandby(leader?: string): void {
    this.standby = leader === undefined ? {} : { leader };
  }

  setActive(): void {
    this.standby = undefined;
  }

  /** The next `n` matching calls fail as `spec` says. */
  failNext(n: number, spec: FailSpec = {}): void {
    this.#failures.push({ left: n, spec });
  }

  /** The next `n` matching calls never get an answer (the client's deadline must end them). */
  hangNext(n: number, methods?: SeatMethod[]): void {
    this.#hangs.push({ left: n, methods });
  }

  callsOf(method: SeatMethod): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Stops at once; hung calls are cancelled. Idempotent. */
  stop(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#stopped = true;
    this.server.forceShutdown();
    return Promise.resolve();
  }

  /** @internal: the handlers' view */
  takeFailure(method: SeatMethod): FailSpec | undefined {
    const f = this.#failures.find((x) => x.left > 0 && (!x.spec.methods || x.spec.methods.includes(method)));
    if (!f) return undefined;
    f.left--;
    return f.spec;
  }

  /** @internal */
  takeHang(method: SeatMethod): boolean {
    const h = this.#hangs.find((x) => x.left > 0 && (!x.methods || x.methods.includes(method)));
    if (!h) return false;
    h.left--;
    return true;
  }
}

function toServiceError(s: Status): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (s.licenseError) metadata.set('license-error', s.licenseError);
  if (s.leader) metadata.set('license-leader', s.leader);
  return { code: s.code, details: s.details, metadata };
}

function makeHandlers(node: () => FakeSeatServer): SeatServiceHandlers {
  /** Wraps a method: records it, applies standby/hang/failure knobs, maps StatusError. */
  function unary<Req extends object, Res>(method: SeatMethod, work: (req: Req, srv: FakeSeatServer) => Res): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const srv = node();
      const rec: RecordedCall = { method, request: { ...call.request } as Record<string, unknown>, outcome: 'ok' };
      srv.calls.push(rec);
      if (srv.standby) {
        rec.outcome = 'UNAVAILABLE';
        callback(
          toServiceError({
            code: grpc.status.UNAVAILABLE,
            details: 'this license server is a standby; retry on the active node',
            licenseError: 'NOT_ACTIVE',
            ...(srv.standby.leader === undefined ? {} : { leader: srv.standby.leader }),
          }),
        );
        return;
      }
      if (srv.takeHang(method)) {
        rec.outcome = 'hang';
        return; // never answered; the client's deadline (or server stop) ends it
      }
      const failure = srv.takeFailure(method);
      const failWith = (spec: FailSpec): void => {
        const code = spec.code ?? grpc.status.UNAVAILABLE;
        rec.outcome = grpc.status[code] ?? String(code);
        callback(
          toServiceError({
            code,
            details: `injected ${rec.outcome}`,
            ...(spec.licenseError === undefined ? {} : { licenseError: spec.licenseError }),
            ...(spec.leader === undefined ? {} : { leader: spec.leader }),
          }),
        );
      };
      if (failure && !failure.afterProcessing) return failWith(failure);
      try {
        srv.store.purge();
        const res = work(call.request, srv);
        if (failure) return failWith(failure);
        callback(null, res);
      } catch (err) {
        if (err instanceof StatusError) {
          rec.outcome = grpc.status[err.status.code] ?? String(err.status.code);
          callback(toServiceError(err.status));
          return;
        }
        rec.outcome = 'INTERNAL';
        callback(toServiceError({ code: grpc.status.INTERNAL, details: String(err), licenseError: 'INTERNAL' }));
      }
    };
  }

  function session(store: FakeSeatStore, id: string): FakeSession {
    const s = store.sessions.get(id);
    if (!s) fail(grpc.status.NOT_FOUND, 'NOT_FOUND', `session ${id} is unknown or expired; open a new session`);
    return s;
  }

  function blockedCheck(srv: FakeSeatServer): void {
    if (srv.blocked) {
      fail(grpc.status.FAILED_PRECONDITION, 'REDUNDANT_BLOCKED', 'redundant license server blocked: failover budget spent; apply an activation key');
    }
  }

  return {
    OpenSession: unary('OpenSession', (req, srv) => {
      blockedCheck(srv);
      const st = srv.store;
      const s: FakeSession = { id: randomUUID(), clientId: req.client_id, expiresAtMs: Date.now() + st.ttlMs, requestIds: new Map() };
      st.sessions.set(s.id, s);
      return { session_id: s.id, ttl_ms: st.ttlMs, heartbeat_interval_ms: st.heartbeatIntervalMs, expires_at_ms: s.expiresAtMs };
    }),
    Heartbeat: unary('Heartbeat', (req, srv) => {
      const st = srv.store;
      const s = session(st, req.session_id);
      s.expiresAtMs = Date.now() + st.ttlMs;
      for (const l of st.leases.values()) if (l.sessionId === s.id) l.expiresAtMs = s.expiresAtMs;
      return { expires_at_ms: s.expiresAtMs };
    }),
    Checkout: unary('Checkout', (req, srv) => {
      blockedCheck(srv);
      const st = srv.store;
      if (!FEATURE_RE.test(req.feature)) fail(grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', `feature: not a feature name`);
      const s = session(st, req.session_id);
      const f = st.features.get(req.feature);
      if (!f) fail(grpc.status.NOT_FOUND, 'NOT_FOUND', `feature ${req.feature} is not in the license`);
      if (req.count <= 0 || req.count > f.seats) fail(grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', `count: must be 1..${f.seats}`);
      if (f.expiresAtMs > 0 && Date.now() >= f.expiresAtMs) fail(grpc.status.FAILED_PRECONDITION, 'FEATURE_EXPIRED', `feature ${req.feature}: license expired`);
      const known = req.request_id === '' ? undefined : s.requestIds.get(req.request_id);
      const prior = known === undefined ? undefined : st.leases.get(known);
      if (prior) return { lease_id: prior.id, feature: prior.feature, count: prior.count, expires_at_ms: prior.expiresAtMs };
      if (st.inUse(req.feature) + req.count > f.seats) {
        fail(grpc.status.RESOURCE_EXHAUSTED, 'SEATS_EXHAUSTED', `not enough free seats of ${req.feature}`);
      }
      const lease: FakeLease = { id: randomUUID(), sessionId: s.id, feature: req.feature, count: req.count, expiresAtMs: s.expiresAtMs };
      st.leases.set(lease.id, lease);
      if (req.request_id !== '') s.requestIds.set(req.request_id, lease.id);
      return { lease_id: lease.id, feature: lease.feature, count: lease.count, expires_at_ms: lease.expiresAtMs };
    }),
    Release: unary('Release', (req, srv) => {
      const st = srv.store;
      session(st, req.session_id);
      const l = st.leases.get(req.lease_id);
      if (!l || l.sessionId !== req.session_id) return { released: false };
      st.leases.delete(l.id);
      return { released: true };
    }),
    CloseSession: unary('CloseSession', (req, srv) => {
      const st = srv.store;
      session(st, req.session_id);
      const n = st.leasesOf(req.session_id).length;
      st.dropSession(req.session_id);
      return { leases_released: n };
    }),
    ListFeatures: unary('ListFeatures', (_req, srv) => {
      const st = srv.store;
      return {
        features: [...st.features].map(([name, f]) => ({ name, seats_total: f.seats, seats_in_use: st.inUse(name), expires_at_ms: f.expiresAtMs })),
      };
    }),
  };
}

/** An address where nothing listens (a port the OS handed out, then closed again). */
export async function closedPortAddr(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('unexpected address');
  return `127.0.0.1:${addr.port}`;
}

/** Polls `cond` until it holds; fails with `what` after `timeoutMs` (generous: CI machines are slow). */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
