import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { signActivation } from '../../src/server/budget/activation-keys';
import { canonicalJson } from '../../src/server/license/canonical-json';
import { codeName, type FuzzCluster, FUZZ_ENV, listFeaturesProblem, type Outcome, SEATS, tokenMetadata } from './fuzz-cluster';
import {
  type Action,
  type AdminCall,
  CLIENT_FIELD_MAX,
  combine,
  featureVerdict,
  type ForgedGrant,
  idVerdict,
  ID_RE,
  int32,
  type KeyKind,
  type LeaseRef,
  type NodeIx,
  REQUEST_ID_MAX,
  type SessRef,
  show,
  textVerdict,
  type Token,
  type Verdict,
  wireBytes,
} from './fuzz-requests';
import { TEST_TOKEN } from './node';

/**
 * The fuzz test's view of the cluster: the sessions, leases, request ids and
 * activation keys it was really given, and the judge that decides, call by call,
 * whether an answer is one the contract allows. A disallowed answer throws
 * FuzzViolation with the request and the answer.
 */

export class FuzzViolation extends Error {
  override readonly name = 'FuzzViolation';
}

interface SessionRec {
  readonly id: string;
  /** Op number at which a CloseSession of it was answered OK. */
  closedAt?: number;
  readonly leases: LeaseRec[];
}

interface LeaseRec {
  readonly id: string;
  readonly sid: string;
  readonly feature: string;
  readonly count: number;
  /** Op number at which a Release of it was answered `released: true`. */
  releasedAt?: number;
}

/** One allowed answer: a status code and, when given, the `license-error` values allowed with it. */
interface Allow {
  readonly code: status;
  readonly errors?: readonly (string | undefined)[];
}

/** Any node, any time: not the leader (or just lost the lease). */
const NOT_SERVING: Allow = { code: status.UNAVAILABLE, errors: ['NOT_ACTIVE', 'STALE_EPOCH', 'STORE_UNAVAILABLE'] };
/** The redundant with its budget spent. */
const BLOCKED: Allow = { code: status.FAILED_PRECONDITION, errors: ['REDUNDANT_BLOCKED'] };
/** grpc-js itself refuses requests above the node's message size limit. */
const TOO_BIG: Allow = { code: status.RESOURCE_EXHAUSTED, errors: [undefined] };
/** Requests clearly above the 64 KiB limit, and the band around it where framing decides. */
const OVERSIZE_BYTES = 66_000;
const NEAR_LIMIT_BYTES = 60_000;

const LIMIT_ERRORS = ['LIMIT_EXCEEDED'];
const ACTIVATION_REFUSALS: Allow[] = [
  { code: status.INVALID_ARGUMENT, errors: ['ACTIVATION_MALFORMED'] },
  { code: status.PERMISSION_DENIED, errors: ['ACTIVATION_BAD_SIGNATURE'] },
  { code: status.FAILED_PRECONDITION, errors: ['ACTIVATION_WRONG_TARGET', 'ACTIVATION_USED', 'ACTIVATION_EXPIRED', 'FAILED_PRECONDITION'] },
  NOT_SERVING,
];

const SESSION_TTL_MS = Number(FUZZ_ENV.LICENSE_SESSION_TTL_MS);
/** How often the fuzzer applies a real activation key at most. */
const ACTIVATION_EVERY_MS = 10_000;

export interface WorldStats {
  calls: number;
  actions: number;
  steps: number;
  histogram: Map<string, number>;
  byMethod: Map<string, number>;
  /** By method, status code and `license-error` (FUZZ_VERBOSE=1 prints it). */
  detailed: Map<string, number>;
  granted: number;
  activationsApplied: number;
}

export class FuzzWorld {
  private op = 0;
  private readonly sessions = new Map<string, SessionRec>();
  private live: SessionRec[] = [];
  private closed: SessionRec[] = [];
  private readonly leases = new Map<string, LeaseRec>();
  private leaseList: LeaseRec[] = [];
  private releasedList: LeaseRec[] = [];
  /** `<session>\0<request id>` -> the lease the first granted checkout returned. */
  private readonly rids = new Map<string, LeaseRec>();
  private readonly requestKeys: string[] = [];
  /** Valid activation keys the cluster accepted once: never again. */
  private readonly applied: string[] = [];
  private readonly appliedIds = new Set<string>();
  /** Valid activation keys not (yet) accepted. */
  private readonly unapplied: string[] = [];
  private readonly recent: string[] = [];
  private lastActivationMs = 0;
  private readonly vendorKey: KeyObject;
  private readonly foreignKey: KeyObject;
  readonly stats: WorldStats = {
    calls: 0,
    actions: 0,
    steps: 0,
    histogram: new Map(),
    byMethod: new Map(),
    detailed: new Map(),
    granted: 0,
    activationsApplied: 0,
  };

  constructor(
    private readonly cluster: FuzzCluster,
    vendorPrivateKey: KeyObject,
    /** The failover episode the monitors saw last ("" before any), for keys aimed at it. */
    private readonly currentEpisode: () => string,
    /** The node the monitors last saw holding the lease. */
    private readonly leader: () => 0 | 1,
  ) {
    this.vendorKey = vendorPrivateKey;
    this.foreignKey = generateKeyPairSync('ed25519').privateKey;
  }

  /** The last calls, newest last, for failure reports. */
  recentCalls(): string {
    return this.recent.join('\n');
  }

  async runStep(step: readonly Action[]): Promise<void> {
    this.stats.steps++;
    const results = await Promise.allSettled(step.map((a) => this.run(a)));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  async run(a: Action): Promise<void> {
    this.stats.actions++;
    switch (a.k) {
      case 'open':
        return this.open(a);
      case 'checkout':
        return this.checkout(a);
      case 'heartbeat':
        return this.heartbeat(a);
      case 'release':
        return this.release(a);
      case 'close':
        return this.close(a);
      case 'list': {
        const { o, fail } = await this.seatCall(a.node, 'ListFeatures', {});
        this.expect(o, [{ code: status.OK }, NOT_SERVING], fail);
        if (o.code === status.OK) {
          const p = listFeaturesProblem(o.res);
          if (p) fail(p);
        }
        return;
      }
      case 'admin':
        return this.admin(a.node, a.token, a.call);
      case 'activation':
        return this.validActivation(a.node);
    }
  }

  // ---- calls ------------------------------------------------------------------------

  private async seatCall(node: NodeIx, method: string, req: object) {
    return this.call(node, 'seat', method, req, undefined);
  }

  private async call(sel: NodeIx, svc: 'seat' | 'admin', method: string, req: object, auth: string | undefined, noAuth = false) {
    const node = sel === 'leader' ? this.leader() : sel;
    const sentAt = ++this.op;
    const md = svc === 'admin' && !noAuth ? tokenMetadata(auth) : undefined;
    const client = svc === 'seat' ? this.cluster.seat[node] : this.cluster.admin[node];
    const o = await client.call(method, req, md);
    const name = codeName(o.code);
    this.stats.calls++;
    this.stats.histogram.set(name, (this.stats.histogram.get(name) ?? 0) + 1);
    this.stats.byMethod.set(method, (this.stats.byMethod.get(method) ?? 0) + 1);
    const detail = `${method} ${name}${o.licenseError ? `/${o.licenseError}` : ''}`;
    this.stats.detailed.set(detail, (this.stats.detailed.get(detail) ?? 0) + 1);
    const authShown = svc === 'admin' ? ` auth=${show(auth ?? null, 24)}` : '';
    const line = `#${sentAt} ${node === 0 ? 'primary' : 'redundant'} ${method} ${show(req)}${authShown} -> ${name}${o.licenseError ? ` ${o.licenseError}` : ''}${o.code === status.OK ? ` ${show(o.res, 30).slice(0, 200)}` : ` "${o.details.slice(0, 120)}"`}`;
    this.recent.push(line);
    if (this.recent.length > 40) this.recent.shift();
    const fail = (problem: string): never => {
      throw new FuzzViolation(`${problem}\n  request: ${line}`);
    };
    if (o.leader !== undefined) {
      // `license-leader` sends the client to the active node: one of the two, and not back to the one that refused.
      const addrs = this.cluster.nodes.map((n) => n.addr);
      if (!addrs.includes(o.leader)) fail(`license-leader ${show(o.leader)} is neither node (${addrs.join(', ')})`);
      if (o.leader === addrs[node]) fail(`license-leader names the node that refused the call (${o.leader})`);
    }
    return { o, sentAt, fail };
  }

  /** The answer must be one of `allowed`; never INTERNAL/UNKNOWN, never a script error passed off as UNAVAILABLE. */
  private expect(o: Outcome, allowed: readonly Allow[], fail: (p: string) => never): void {
    if (o.code === status.INTERNAL || o.code === status.UNKNOWN) fail(`server answered ${codeName(o.code)}`);
    if (o.code === status.DEADLINE_EXCEEDED) fail('no answer within 15 s');
    if (o.licenseError === 'STORE_UNAVAILABLE' && !/time[d]? ?out|connection|ECONN|closed|writeable|MaxRetries/i.test(o.details)) {
      fail('a Redis script error surfaced as UNAVAILABLE/STORE_UNAVAILABLE (an internal error in disguise)');
    }
    const ok = allowed.some((a) => a.code === o.code && (a.errors === undefined || a.errors.includes(o.licenseError)));
    if (!ok) {
      const want = allowed.map((a) => `${codeName(a.code)}${a.errors ? `(${a.errors.map((e) => e ?? '-').join('|')})` : ''}`).join(', ');
      fail(`answer ${codeName(o.code)}${o.licenseError ? `/${o.licenseError}` : ''} not allowed here; allowed: ${want}`);
    }
  }

  /** Codes for a request whose input verdict is `v`: `ifValid` when valid, INVALID_ARGUMENT when invalid, both when either. */
  private byVerdict(v: Verdict, ifValid: readonly Allow[]): Allow[] {
    const out: Allow[] = [];
    if (v !== 'valid') out.push({ code: status.INVALID_ARGUMENT, errors: ['INVALID_ARGUMENT'] });
    if (v !== 'invalid') out.push(...ifValid);
    return out;
  }

  private sizeAllows(bytes: number, rest: Allow[]): Allow[] {
    if (bytes > OVERSIZE_BYTES) return [TOO_BIG];
    if (bytes > NEAR_LIMIT_BYTES) return [TOO_BIG, ...rest];
    return rest;
  }

  // ---- pools --------------------------------------------------------------------------

  private pickSession(ref: SessRef): { sid: string; rec: SessionRec | undefined } {
    const from = ref.t === 'live' ? this.live : ref.t === 'closed' ? this.closed : [];
    const rec = ref.t === 'raw' ? undefined : from[ref.i % Math.max(1, from.length)];
    if (rec) return { sid: rec.id, rec };
    const sid = ref.t === 'raw' ? ref.v : 'NoSuchSession0000000000';
    return { sid, rec: this.sessions.get(sid) };
  }

  private pickLease(ref: LeaseRef, sess: SessionRec | undefined): string {
    if (ref.t === 'raw') return ref.v;
    const own = sess?.leases.filter((l) => l.releasedAt === undefined) ?? [];
    const list = ref.t === 'own' && own.length > 0 ? own : ref.t === 'released' ? this.releasedList : this.leaseList;
    return list[ref.i % Math.max(1, list.length)]?.id ?? 'NoSuchLease00000000000';
  }

  private static keep<T>(list: T[], item: T, max: number): T[] {
    list.push(item);
    return list.length > max ? list.slice(list.length - max) : list;
  }

  // ---- SeatService --------------------------------------------------------------------

  private async open(a: Extract<Action, { k: 'open' }>): Promise<void> {
    const req = { client_id: a.client_id, user: a.user, hostname: a.hostname, pid: a.pid };
    const { o, fail } = await this.seatCall(a.node, 'OpenSession', req);
    const v = combine(
      textVerdict(a.client_id, CLIENT_FIELD_MAX, true),
      textVerdict(a.user, CLIENT_FIELD_MAX, false),
      textVerdict(a.hostname, CLIENT_FIELD_MAX, false),
      int32(a.pid) >= 0 ? 'valid' : 'invalid',
    );
    const ifValid: Allow[] = [{ code: status.OK }, { code: status.RESOURCE_EXHAUSTED, errors: LIMIT_ERRORS }];
    this.expect(o, this.sizeAllows(wireBytes(a.client_id, a.user, a.hostname), [NOT_SERVING, BLOCKED, ...this.byVerdict(v, ifValid)]), fail);
    if (o.code !== status.OK) return;
    const r = o.res as { session_id: string; ttl_ms: number };
    if (!ID_RE.test(r.session_id)) fail(`OpenSession returned a session id outside the contract: ${show(r.session_id)}`);
    if (this.sessions.has(r.session_id)) fail(`OpenSession returned a session id twice: ${r.session_id}`);
    if (r.ttl_ms !== SESSION_TTL_MS) fail(`OpenSession ttl_ms ${r.ttl_ms}, configured ${SESSION_TTL_MS}`);
    const rec: SessionRec = { id: r.session_id, leases: [] };
    this.sessions.set(rec.id, rec);
    this.live = FuzzWorld.keep(this.live, rec, 40);
  }

  private async checkout(a: Extract<Action, { k: 'checkout' }>): Promise<void> {
    const { sid, rec } = this.pickSession(a.sess);
    const rid = a.rid.t === 'none' ? '' : a.rid.v;
    const req = { session_id: sid, feature: a.feature, count: a.count, request_id: rid };
    const { o, sentAt, fail } = await this.seatCall(a.node, 'Checkout', req);
    const seats = SEATS.get(a.feature);
    const count = int32(a.count);
    const v = combine(
      idVerdict(sid),
      featureVerdict(a.feature),
      rid === '' ? 'valid' : textVerdict(rid, REQUEST_ID_MAX, false),
      seats === undefined || (count >= 1 && count <= seats) ? 'valid' : 'invalid',
    );
    const ifValid: Allow[] =
      seats === undefined
        ? [{ code: status.NOT_FOUND, errors: ['NOT_FOUND'] }]
        : [
            { code: status.OK },
            { code: status.NOT_FOUND, errors: ['SESSION_NOT_FOUND'] },
            { code: status.RESOURCE_EXHAUSTED, errors: ['SEATS_EXHAUSTED', 'LIMIT_EXCEEDED'] },
            // A request id already used in this session for another feature/count, or for a released lease.
            ...(rid === ''
              ? []
              : [
                  { code: status.INVALID_ARGUMENT, errors: ['INVALID_ARGUMENT'] },
                  { code: status.FAILED_PRECONDITION, errors: ['FAILED_PRECONDITION'] },
                ]),
          ];
    this.expect(o, this.sizeAllows(wireBytes(sid, a.feature, rid), [NOT_SERVING, BLOCKED, ...this.byVerdict(v, ifValid)]), fail);
    if (o.code !== status.OK) return;
    const r = o.res as { lease_id: string; feature: string; count: number; expires_at_ms: number };
    if (!rec) return fail('Checkout granted seats to a session nobody opened');
    if (rec.closedAt !== undefined && rec.closedAt < sentAt) fail(`Checkout granted seats to a session closed before (op #${rec.closedAt})`);
    if (r.feature !== a.feature || r.count !== count) fail(`Checkout granted ${r.count} of ${r.feature}, asked ${count} of ${a.feature}`);
    if (!ID_RE.test(r.lease_id)) fail(`Checkout returned a lease id outside the contract: ${show(r.lease_id)}`);
    this.stats.granted++;
    if (rid !== '') {
      const prev = this.rids.get(`${sid}\0${rid}`);
      if (prev) {
        if (prev.id !== r.lease_id) fail(`request_id ${show(rid)} reused in the session: first lease ${prev.id}, now another lease ${r.lease_id}`);
        if (prev.feature !== a.feature || prev.count !== count)
          fail(`request_id ${show(rid)} was for ${prev.count} of ${prev.feature}; a retry for ${count} of ${a.feature} was granted`);
        if (prev.releasedAt !== undefined && prev.releasedAt < sentAt)
          fail(`request_id ${show(rid)} names lease ${prev.id}, released at op #${prev.releasedAt}; the retry must fail, was granted`);
        return;
      }
    }
    const existing = this.leases.get(r.lease_id);
    if (existing && rid === '') fail(`Checkout without a request id returned an existing lease ${r.lease_id}`);
    const lease: LeaseRec = existing ?? { id: r.lease_id, sid, feature: a.feature, count };
    if (!existing) {
      this.leases.set(lease.id, lease);
      rec.leases.push(lease);
      this.leaseList = FuzzWorld.keep(this.leaseList, lease, 200);
    }
    if (rid !== '') this.rids.set(`${sid}\0${rid}`, lease);
  }

  private async heartbeat(a: Extract<Action, { k: 'heartbeat' }>): Promise<void> {
    const { sid, rec } = this.pickSession(a.sess);
    const { o, sentAt, fail } = await this.seatCall(a.node, 'Heartbeat', { session_id: sid });
    // While blocked, heartbeats are still honoured (LICENSE_BLOCKED_KEEPS_SESSIONS defaults to true).
    const ifValid: Allow[] = [{ code: status.OK }, { code: status.NOT_FOUND, errors: ['SESSION_NOT_FOUND'] }];
    this.expect(o, this.sizeAllows(wireBytes(sid), [NOT_SERVING, ...this.byVerdict(idVerdict(sid), ifValid)]), fail);
    if (o.code !== status.OK) return;
    if (!rec) return fail('Heartbeat renewed a session nobody opened');
    if (rec.closedAt !== undefined && rec.closedAt < sentAt) fail(`Heartbeat renewed a session closed before (op #${rec.closedAt})`);
  }

  private async release(a: Extract<Action, { k: 'release' }>): Promise<void> {
    const { sid, rec } = this.pickSession(a.sess);
    const lid = this.pickLease(a.lease, rec);
    const { o, sentAt, fail } = await this.seatCall(a.node, 'Release', { session_id: sid, lease_id: lid });
    const ifValid: Allow[] = [{ code: status.OK }, { code: status.NOT_FOUND, errors: ['SESSION_NOT_FOUND'] }];
    this.expect(o, this.sizeAllows(wireBytes(sid, lid), [NOT_SERVING, ...this.byVerdict(combine(idVerdict(sid), idVerdict(lid)), ifValid)]), fail);
    if (o.code !== status.OK || !(o.res as { released: boolean }).released) return;
    const lease = this.leases.get(lid);
    if (!lease) return fail('Release freed a lease nobody was granted');
    if (lease.sid !== sid) fail(`Release freed lease ${lid} of session ${lease.sid} through another session ${sid}`);
    if (lease.releasedAt !== undefined) fail(`lease ${lid} released twice (first at op #${lease.releasedAt})`);
    if (rec?.closedAt !== undefined && rec.closedAt < sentAt) fail(`Release freed a lease of a session closed before (op #${rec.closedAt})`);
    lease.releasedAt = this.op;
    this.releasedList = FuzzWorld.keep(this.releasedList, lease, 100);
  }

  private async close(a: Extract<Action, { k: 'close' }>): Promise<void> {
    const { sid, rec } = this.pickSession(a.sess);
    const { o, sentAt, fail } = await this.seatCall(a.node, 'CloseSession', { session_id: sid });
    this.expect(o, this.sizeAllows(wireBytes(sid), [NOT_SERVING, ...this.byVerdict(idVerdict(sid), [{ code: status.OK }])]), fail);
    if (o.code !== status.OK) return;
    const n = (o.res as { leases_released: number }).leases_released;
    if (n < 0) fail(`CloseSession released ${n} leases`);
    if (!rec && n !== 0) fail(`CloseSession of a session nobody opened released ${n} leases`);
    if (rec?.closedAt !== undefined && rec.closedAt < sentAt && n !== 0) fail(`second CloseSession released ${n} more leases`);
    if (rec && rec.closedAt === undefined) {
      rec.closedAt = this.op;
      this.live = this.live.filter((s) => s !== rec);
      this.closed = FuzzWorld.keep(this.closed, rec, 40);
    }
  }

  // ---- AdminService -------------------------------------------------------------------

  private authHeader(t: Token): { value: string | undefined; verdict: Verdict } {
    switch (t.t) {
      case 'good':
        return { value: `Bearer ${TEST_TOKEN}`, verdict: 'valid' };
      case 'good-lower':
        // Auth schemes are case-insensitive in HTTP; the contract spells it "Bearer".
        return { value: `bearer ${TEST_TOKEN}`, verdict: 'either' };
      case 'missing':
        return { value: undefined, verdict: 'invalid' };
      case 'header':
        return { value: t.v, verdict: /^Bearer\s+(\S+)\s*$/.exec(t.v)?.[1] === TEST_TOKEN ? 'valid' : 'invalid' };
    }
  }

  private async admin(node: NodeIx, token: Token, call: AdminCall): Promise<void> {
    const auth = this.authHeader(token);
    let req: object = {};
    let key: { key: string; mayApply: boolean } | undefined;
    if (call.m === 'ListLeases') req = { feature: call.feature };
    if (call.m === 'Activate') {
      key = this.buildKey(call.key);
      req = { activation_key: key.key };
    }
    const { o, fail } = await this.call(node, 'admin', call.m, req, auth.value, token.t === 'missing');
    const denied: Allow[] = [
      { code: status.UNAUTHENTICATED, errors: ['UNAUTHENTICATED'] },
      { code: status.PERMISSION_DENIED, errors: ['PERMISSION_DENIED'] },
    ];
    let served: Allow[];
    switch (call.m) {
      case 'GetStatus':
        served = [{ code: status.OK }];
        break;
      case 'ListLeases':
        served = this.byVerdict(call.feature === '' ? 'valid' : featureVerdict(call.feature), [{ code: status.OK }]);
        break;
      case 'RequestActivationKey':
        served = [{ code: status.OK }, { code: status.FAILED_PRECONDITION, errors: ['FAILED_PRECONDITION'] }, NOT_SERVING];
        break;
      case 'Activate':
        served = [...ACTIVATION_REFUSALS, ...(key?.mayApply ? [{ code: status.OK }] : [])];
        break;
      case 'StepDown':
        // Only ever sent with a wrong or missing token (the failover loop does the real ones).
        served = [];
        break;
    }
    const allowed = auth.verdict === 'invalid' ? denied : auth.verdict === 'either' ? [...denied, ...served] : served;
    this.expect(o, this.sizeAllows(wireBytes(JSON.stringify(req), auth.value ?? ''), allowed), fail);
    if (o.code !== status.OK) return;
    if (call.m === 'ListLeases') {
      const held = new Map<string, number>();
      for (const l of (o.res as { leases: { feature: string; count: number }[] }).leases) held.set(l.feature, (held.get(l.feature) ?? 0) + l.count);
      for (const [f, n] of held) {
        const seats = SEATS.get(f);
        if (seats === undefined || n > seats) fail(`ListLeases shows ${n} seats of ${show(f)} held, ${seats ?? 0} licensed`);
        if (call.feature !== '' && f !== call.feature) fail(`ListLeases for ${call.feature} lists leases of ${f}`);
      }
    }
    if (call.m === 'RequestActivationKey') {
      const k = (o.res as { request_key: string }).request_key;
      if (!k.startsWith('LRQ1.')) fail(`request key ${show(k)} does not start with LRQ1.`);
      this.requestKeys.push(k);
      if (this.requestKeys.length > 20) this.requestKeys.shift();
    }
    if (call.m === 'Activate' && key) this.accepted(key.key);
  }

  /** RequestActivationKey, sign it with the vendor's key, Activate, then replay it: the replay must fail. */
  private async validActivation(sel: NodeIx): Promise<void> {
    const node = sel === 'leader' ? this.leader() : sel;
    const good = `Bearer ${TEST_TOKEN}`;
    const r = await this.call(node, 'admin', 'RequestActivationKey', {}, good);
    this.expect(r.o, [{ code: status.OK }, { code: status.FAILED_PRECONDITION, errors: ['FAILED_PRECONDITION'] }, NOT_SERVING], r.fail);
    if (r.o.code !== status.OK) return;
    const requestKey = (r.o.res as { request_key: string }).request_key;
    // At most one real activation every few seconds, so the budget still runs out and the redundant blocks.
    if (Date.now() - this.lastActivationMs < ACTIVATION_EVERY_MS) return;
    this.lastActivationMs = Date.now();
    const { key } = signActivation(requestKey, this.vendorKey);
    this.unapplied.push(key);
    const a = await this.call(node, 'admin', 'Activate', { activation_key: key }, good);
    // A key the vendor signed for this very request: only the cluster having moved on may refuse it.
    this.expect(
      a.o,
      [{ code: status.OK }, { code: status.FAILED_PRECONDITION, errors: ['ACTIVATION_WRONG_TARGET', 'FAILED_PRECONDITION'] }, NOT_SERVING],
      a.fail,
    );
    if (a.o.code !== status.OK) return;
    this.accepted(key);
    const b = (a.o.res as { budget?: { blocked: boolean; granted_ms: number; consumed_ms: number } }).budget;
    if (!b) a.fail('Activate answered OK without the budget');
    for (const n of [0, 1] as const) {
      const again = await this.call(n, 'admin', 'Activate', { activation_key: key }, good);
      this.expect(again.o, ACTIVATION_REFUSALS, again.fail);
    }
  }

  private accepted(key: string): void {
    if (this.appliedIds.has(keyId(key))) throw new FuzzViolation(`activation key accepted twice: ${show(key, 80)}\n${this.recentCalls()}`);
    this.appliedIds.add(keyId(key));
    this.applied.push(key);
    this.stats.activationsApplied++;
    const i = this.unapplied.indexOf(key);
    if (i >= 0) this.unapplied.splice(i, 1);
  }

  private signKey(payload: string, key: KeyObject): string {
    return `LAK1.${Buffer.from(payload).toString('base64url')}.${sign(null, Buffer.from(payload), key).toString('base64url')}`;
  }

  private forged(g: ForgedGrant): string {
    const now = Date.now();
    return canonicalJson({
      cluster_id: g.cluster === 'ours' ? this.cluster.clusterId : 'some-other-cluster',
      node_id: g.node === 'other' ? 'node-z' : g.node,
      episode_id: g.episode === 'current' ? this.currentEpisode() || 'no-episode' : g.episode,
      seq: g.seq,
      extension_ms: g.extension_ms,
      nonce: g.nonce,
      issued_at_ms: now,
      granted_ms: g.granted_ms,
      expires_at_ms: g.expires === 'future' ? now + 3_600_000 : now - 1_000,
    });
  }

  /** The activation key a KeyKind stands for, and whether the cluster may accept it. */
  private buildKey(k: KeyKind): { key: string; mayApply: boolean } {
    switch (k.t) {
      case 'raw':
        return { key: k.v, mayApply: false };
      case 'lak-json':
        return {
          key: `LAK1.${Buffer.from(JSON.stringify(k.json) ?? 'null').toString('base64url')}.${Buffer.from(k.sig).toString('base64url')}`,
          mayApply: false,
        };
      case 'request-key':
        return { key: this.requestKeys[this.requestKeys.length - 1] ?? 'LRQ1.e30', mayApply: false };
      case 'replay':
        return { key: this.applied[k.i % Math.max(1, this.applied.length)] ?? 'LAK1.e30.AAAA', mayApply: false };
      case 'tampered': {
        const pool = [...this.applied, ...this.unapplied];
        const base = pool[k.i % Math.max(1, pool.length)];
        if (!base) return { key: 'LAK1.e30.AAAA', mayApply: false };
        const parts = base.split('.');
        const part = parts[k.part] ?? '';
        // Not the last two characters: they can carry only padding bits.
        const pos = part.length > 2 ? k.pos % (part.length - 2) : 0;
        const ch = part[pos] === 'A' ? 'B' : 'A';
        parts[k.part] = part.slice(0, pos) + ch + part.slice(pos + 1);
        // A change that decodes to the same bytes is no tampering: the key stays the vendor's.
        const same = Buffer.from(parts[k.part] ?? '', 'base64url').equals(Buffer.from(part, 'base64url'));
        return { key: parts.join('.'), mayApply: same && !this.appliedIds.has(keyId(base)) };
      }
      case 'forged-signed':
        return { key: this.signKey(this.forged(k.grant), this.vendorKey), mayApply: false };
      case 'foreign-vendor':
        return { key: this.signKey(this.forged(k.grant), this.foreignKey), mayApply: false };
    }
  }
}

/** What identifies an activation key: its signed payload, whatever its spelling. */
function keyId(key: string): string {
  return Buffer.from(key.trim().split('.')[1] ?? '', 'base64url').toString('hex');
}
