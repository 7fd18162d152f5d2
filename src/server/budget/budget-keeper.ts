// Over 300 lines on purpose: charging, the episode's end, the watch of the primary and activation all derive one budget view from Redis and the disk mirror.
import { createHash, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import type { Clock } from '../clock';
import type { Role } from '../config';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import type { Logger } from '../log';
import type { StateFile } from '../state-file';
import type { BudgetMirror, BudgetState, BudgetStore, RedisBudget } from '../store/budget-store';
import type { Fence } from '../store/fence';
import { type ActivationGrant, type CountedKeys, countAppliedKeys, encodeRequestKey, newNonce, verifyActivationKey } from './activation-keys';
import { type AuditDetail, type AuditEntry, type AuditEvent, formatHead } from './audit-chain';
import { AuditLog } from './audit-log';
import type { StoredAuditEntry } from '../store/budget-store';

/**
 * The settings the budget keeper reads. The failover terms (budgetMs, resetAfterMs,
 * maxExtensionMs) come from the vendor-signed license file, never from configuration,
 * so that a customer cannot stretch the budget; the rest from the node's Config.
 */
export interface BudgetSettings {
  readonly role: Role;
  /** Request keys name the cluster and node; activation keys must name the same. */
  readonly clusterId: string;
  readonly nodeId: string;
  /** Caps one charge: a node cannot have served longer than this without a renewal. */
  readonly leaseTtlMs: number;
  /** What a new episode grants (license failover.budget_ms). */
  readonly budgetMs: number;
  /** How long the primary holds the lease before it ends the episode (license failover.reset_after_ms). */
  readonly resetAfterMs: number;
  /** The most one activation key may add (license failover.max_extension_ms); request keys tell the vendor. */
  readonly maxExtensionMs: number;
  /**
   * The node whose budget it is (the license's redundant), whom applied activation keys must
   * name. Only the primary needs it (to show the grant); default: this node.
   */
  readonly redundantNodeId?: string;
}

export interface BudgetKeeperDeps {
  readonly settings: BudgetSettings;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly store: BudgetStore;
  readonly stateFile: StateFile;
  readonly vendorPublicKey: KeyObject;
  /** Metrics hook: activation attempts by result (ok or the error code). */
  readonly onActivation?: (result: string) => void;
}

/**
 * The budget's say on the role machine, handed to the node controller (which alone
 * drives it): `blocked` while the failover budget is spent (FAILOVER_BLOCKED, no new
 * grants). Only the redundant's budget has a say; where a call has none it returns
 * undefined and the machine keeps what it had.
 */
export interface BudgetVerdict {
  readonly blocked: boolean;
}

/** What an applied activation key leaves: the budget, and the verdict for the controller. */
export interface ActivationResult {
  readonly budget: BudgetState;
  readonly verdict: BudgetVerdict | undefined;
}

export const EMPTY_MIRROR: BudgetMirror = Object.freeze({
  episodeId: '',
  grantedMs: 0,
  consumedMs: 0,
  activations: 0,
  blocked: false,
  endedEpisodeId: '',
  endedEpisodeIds: Object.freeze([]),
  keys: Object.freeze([]),
});

/** How many ended episodes the mirror remembers (never continued again); each took a whole reset period. */
const ENDED_EPISODES_KEPT = 32;
/** Refused stored keys logged (once each) per process; past this, refusals are still not counted, only not logged. */
const REFUSALS_LOGGED = 1_000;
/** The audit trail records a charge at most this often (an episode lasts days; each charge would drown it). */
const AUDIT_CHARGE_EVERY_MS = 3_600_000;

/** Names an activation key in logs and the audit trail without copying it. */
function keyId(key: string): string {
  return createHash('sha256').update(key.trim()).digest('hex').slice(0, 16);
}

/** The budget of one episode as derived from the sources, with the keys that count. */
interface Derived {
  readonly state: BudgetState;
  readonly keys: CountedKeys['valid'];
  /** Redis held another episode (or none) than the mirror's, which wins. */
  readonly restored: boolean;
}

/** The redundant's watch of the lease holder: who (`<node>:<epoch>`) since when, last seen when (monotonic). */
interface HolderWatch {
  readonly holder: string;
  readonly sinceMono: number;
  lastMono: number;
}

/**
 * The failover budget, node side. The redundant charges the time it serves, measured
 * on its monotonic clock, to its episode in Redis each heartbeat (fenced) and mirrors
 * the result on its own disk (in the background: writeMirror); the primary ends the
 * episode once it has held the lease continuously for the reset period, and the
 * redundant accepts the end only once it watched that itself. Activation keys extend
 * the episode.
 *
 * No stored number is trusted to raise the budget (docs/ARCHITECTURE.md, "The failover
 * budget"): the grant is the license's budget plus the activation keys kept with the
 * episode, re-verified on every read; consumption is the largest any source holds for the
 * episode; and the episode is the mirror's unless this redundant saw it end.
 */
export class BudgetKeeper {
  private lastChargedMono: number | undefined;
  /** Charging point kept across a planned give-up, so the final partial interval is still charged. */
  private finalChargeFromMono: number | undefined;
  private primaryHeldSinceMono: number | undefined;
  private watch: HolderWatch | undefined;
  private known: BudgetState;
  private readonly refusalsLogged = new Set<string>();
  /** Every read-decide-write runs alone: an activation must not interleave with a charge, whose grant it changes. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The redundant's audit trail (the primary keeps none: the budget and its events are the redundant's). */
  private readonly audit: AuditLog | undefined;
  /** Monotonic time of the last `charged` audit entry. */
  private lastAuditChargeMono: number | undefined;

  /** The redundant may hold the lease only while its charges land (LeaseHooks). */
  readonly holdOnlyWhileHooksSucceed: boolean;

  constructor(private readonly deps: BudgetKeeperDeps) {
    this.holdOnlyWhileHooksSucceed = deps.settings.role === 'redundant';
    this.audit =
      deps.settings.role === 'redundant' ? new AuditLog(path.dirname(deps.stateFile.path), deps.settings.nodeId, deps.logger, deps.store) : undefined;
    this.known = this.derive(undefined).state;
    // The mirror is the state file's only background write: its failures are the mirror's.
    deps.stateFile.onWriteProblem((err) => {
      if (err) {
        deps.logger.error('cannot write the budget mirror to the state dir; charges go on in Redis, the disk copy lags until a write succeeds', {
          path: deps.stateFile.path,
          err: errorMessage(err),
        });
      } else {
        deps.logger.info('budget mirror written to the state dir again', { path: deps.stateFile.path });
      }
    });
  }

  /** A redundant restarted while blocked comes back blocked, before it ever reaches Redis (derived from its mirror, not its `blocked` flag). */
  startsBlocked(): boolean {
    return this.deps.settings.role === 'redundant' && this.derive(undefined).state.blocked;
  }

  get mirror(): BudgetMirror {
    return this.deps.stateFile.value.budget ?? EMPTY_MIRROR;
  }

  /** What status shows: the budget as derived from Redis and the mirror at the last read. */
  get state(): BudgetState {
    return this.known;
  }

  // ---- lease loop hooks (called by the node controller, which applies their verdicts) --

  /** Before a redundant tries to acquire: learn whether the budget is spent, so it enters the right state. */
  async beforeAcquire(): Promise<BudgetVerdict | undefined> {
    return this.refresh();
  }

  /** The lease was acquired at `attemptMono`: charging (redundant) or the reset count (primary) starts there. */
  async afterAcquire(fence: Fence, attemptMono: number): Promise<BudgetVerdict | undefined> {
    if (this.deps.settings.role === 'primary') {
      this.primaryHeldSinceMono = attemptMono;
      return undefined;
    }
    this.lastChargedMono = attemptMono;
    this.finalChargeFromMono = undefined;
    return this.charge(fence); // opens (or restores) the episode at once
  }

  /** After each successful renewal. */
  async afterRenew(fence: Fence): Promise<BudgetVerdict | undefined> {
    if (this.deps.settings.role === 'redundant') {
      return this.charge(fence);
    }
    const verdict = await this.refresh(); // the primary shows (and exports) the episode the redundant left
    await this.maybeEndEpisode(fence);
    return verdict;
  }

  /** Just before a planned release: charge the last partial interval. */
  async beforeRelease(fence: Fence): Promise<BudgetVerdict | undefined> {
    const from = this.lastChargedMono ?? this.finalChargeFromMono;
    this.finalChargeFromMono = undefined;
    let verdict: BudgetVerdict | undefined;
    if (this.deps.settings.role === 'redundant' && from !== undefined) {
      this.lastChargedMono = from;
      verdict = await this.charge(fence);
    }
    this.lastChargedMono = undefined;
    return verdict;
  }

  /** The lease is gone (lost, lapsed, released): stop charging; the primary's reset count restarts. */
  onLeaseLost(): void {
    this.finalChargeFromMono = this.lastChargedMono;
    this.lastChargedMono = undefined;
    this.primaryHeldSinceMono = undefined;
  }

  /**
   * While not holding the lease (each lease step) and for status: re-derive the view, and
   * (redundant) watch the lease holder, which is how the redundant learns that its episode ended.
   */
  async refresh(): Promise<BudgetVerdict | undefined> {
    return this.exclusive(async () => {
      const r = await this.deps.store.read();
      if (this.deps.settings.role === 'redundant') this.watchHolder(r.leader);
      this.known = this.derive(r).state;
      return this.verdict(this.known.blocked);
    });
  }

  // ---- activation ------------------------------------------------------------------

  /** AdminService.RequestActivationKey: only the redundant, holding the lease, during an episode. */
  async requestKey(fence: Fence): Promise<string> {
    this.requireRedundant('request an activation key');
    const nonce = newNonce();
    const { episodeId, seq } = await this.deps.store.request(fence, nonce);
    return encodeRequestKey({
      cluster_id: this.deps.settings.clusterId,
      node_id: this.deps.settings.nodeId,
      episode_id: episodeId,
      seq,
      extension_ms: this.deps.settings.maxExtensionMs,
      nonce,
      issued_at_ms: this.deps.clock.now(),
      // The vendor keeps the head it saw: a history rewritten later no longer ends in it.
      ...(this.audit ? { audit_head: formatHead(this.audit.head) } : {}),
    });
  }

  /** This node's own audit chain head, `<seq>:<hash>` ("" on the primary, which keeps none). */
  get auditHead(): string {
    return this.audit ? formatHead(this.audit.head) : '';
  }

  /** AdminService.GetAudit: the trail as Redis holds it (any node), oldest first, unverified. */
  async readAudit(limit: number): Promise<StoredAuditEntry[]> {
    return this.deps.store.auditRead(limit);
  }

  /**
   * AdminService.Activate: verify signature and target, then one fenced script consumes
   * the nonce and keeps the key with the episode, and a charge of 0 ms derives the new grant
   * and unblocks. Any refusal changes nothing. The caller hands the verdict to the node
   * controller (activation runs outside the lease loop).
   */
  async activate(fence: Fence, key: string): Promise<ActivationResult> {
    try {
      const g = this.verifyForThisNode(key, 'apply an activation key');
      const state = await this.exclusive(async () => {
        await this.deps.store.activate(fence, { episodeId: g.episode_id, seq: g.seq, nonce: g.nonce, key: key.trim(), nowMs: this.deps.clock.now() });
        const s = await this.settle(fence, 0);
        this.record('activation_applied', s.episodeId, { key_id: keyId(key), seq: g.seq, extension_ms: g.granted_ms, granted_ms: s.grantedMs });
        await this.audit?.flush(fence);
        return s;
      });
      // Rare and acknowledged to an operator: answered once the key is in the mirror on disk
      // too (charges, every heartbeat, never wait for the disk).
      await this.deps.stateFile
        .flush()
        .catch((err: unknown) =>
          this.deps.logger.warn('activation key applied in Redis, but not yet in the budget mirror on disk', { err: errorMessage(err) }),
        );
      this.deps.logger.warn('activation key applied: failover budget extended', {
        extensionMs: g.granted_ms,
        activations: state.activations,
        remainingMs: Math.max(0, state.grantedMs - state.consumedMs),
        blocked: state.blocked,
      });
      this.deps.onActivation?.('ok');
      return { budget: state, verdict: this.verdict(state.blocked) };
    } catch (err) {
      this.deps.onActivation?.(err instanceof LicenseError ? err.code : 'error');
      throw err;
    }
  }

  /**
   * AdminService.CheckActivationKey: every check activate() makes (signature, target, expiry,
   * the license's cap, then the episode, sequence and pending nonce in Redis), nothing applied.
   * Answers what the key grants and the budget it would leave.
   */
  async check(fence: Fence, key: string): Promise<{ grant: ActivationGrant; budgetAfter: BudgetState }> {
    const g = this.verifyForThisNode(key, 'check an activation key');
    await this.deps.store.activate(fence, {
      episodeId: g.episode_id,
      seq: g.seq,
      nonce: g.nonce,
      key: key.trim(),
      nowMs: this.deps.clock.now(),
      checkOnly: true,
    });
    const now = this.known;
    const grantedMs = now.grantedMs + g.granted_ms;
    return {
      grant: g,
      budgetAfter: { ...now, grantedMs, blocked: now.consumedMs >= grantedMs, activations: now.activations + 1 },
    };
  }

  /** The checks of an activation key that need no Redis: shape, vendor signature, this node, expiry, the license's cap. */
  private verifyForThisNode(key: string, what: string): ActivationGrant {
    this.requireRedundant(what);
    const g = verifyActivationKey(key, this.deps.vendorPublicKey);
    const { clusterId, nodeId } = this.deps.settings;
    if (g.cluster_id !== clusterId || g.node_id !== nodeId) {
      throw new LicenseError(
        ErrorCode.ACTIVATION_WRONG_TARGET,
        `this activation key is for node ${g.node_id} of cluster ${g.cluster_id}, this is node ${nodeId} of cluster ${clusterId}`,
      );
    }
    if (this.deps.clock.now() >= g.expires_at_ms) {
      throw new LicenseError(
        ErrorCode.ACTIVATION_EXPIRED,
        `this activation key expired at ${new Date(g.expires_at_ms).toISOString()}; request a new key (licensectl activation request)`,
      );
    }
    // The vendor signed the key, but the license (also the vendor's) bounds it: a request key
    // carries no signature, so the extension it names must not be what decides.
    const { maxExtensionMs } = this.deps.settings;
    if (g.granted_ms > maxExtensionMs) {
      throw new LicenseError(
        ErrorCode.ACTIVATION_WRONG_TARGET,
        `this activation key extends the failover budget by ${g.granted_ms} ms, more than this cluster's license allows per key (failover.max_extension_ms = ${maxExtensionMs}); ask the vendor for a key of at most ${maxExtensionMs} ms`,
      );
    }
    return g;
  }

  // ---- internals ---------------------------------------------------------------------

  private async charge(fence: Fence): Promise<BudgetVerdict | undefined> {
    const since = this.lastChargedMono;
    return this.exclusive(async () => {
      const now = this.deps.clock.monotonic();
      // Capped at one lease TTL: the node cannot have served longer than that without a
      // renewal, so a stalled process or a long Redis outage is never charged in full.
      const elapsed = Math.min(Math.max(0, now - (since ?? now)), this.deps.settings.leaseTtlMs);
      const wasBlocked = this.known.blocked;
      const r = await this.settle(fence, elapsed);
      this.lastChargedMono = now;
      if (this.lastAuditChargeMono === undefined || now - this.lastAuditChargeMono >= AUDIT_CHARGE_EVERY_MS) {
        if (this.lastAuditChargeMono !== undefined) this.record('charged', r.episodeId, { consumed_ms: r.consumedMs, granted_ms: r.grantedMs });
        this.lastAuditChargeMono = now;
      }
      if (r.blocked && !wasBlocked) {
        this.record('blocked', r.episodeId, { consumed_ms: r.consumedMs, granted_ms: r.grantedMs });
        this.deps.logger.error('failover budget spent: no new seats until an activation key is applied (licensectl activation request)', {
          episode: r.episodeId,
          grantedMs: r.grantedMs,
          consumedMs: r.consumedMs,
        });
      }
      // After the charge, never instead of it: a failing append is logged and retried (AuditLog).
      await this.audit?.flush(fence);
      return this.verdict(r.blocked);
    });
  }

  /** One audit entry (redundant only), on disk now and in Redis at the next flush. */
  private record(event: AuditEvent, episodeId: string, detail: AuditDetail): AuditEntry | undefined {
    return this.audit?.record({ at_ms: this.deps.clock.now(), node_id: this.deps.settings.nodeId, episode_id: episodeId, event, detail });
  }

  /**
   * One charge (redundant, holding the lease): derive the episode from the sources, open one
   * when there is none, and write the result (the valid keys included) to Redis and the mirror.
   */
  private async settle(fence: Fence, elapsedMs: number): Promise<BudgetState> {
    const r = await this.deps.store.read();
    const d = this.derive(r);
    const opened = d.state.episodeId === '';
    const s = opened ? { ...this.full(), episodeId: randomBytes(6).toString('hex') } : d.state;
    const keys = opened ? [] : d.keys;
    const state = await this.deps.store.tick(fence, {
      nowMs: this.deps.clock.now(),
      elapsedMs,
      episodeId: s.episodeId,
      opened,
      grantedMs: s.grantedMs,
      consumedMs: s.consumedMs,
      activations: s.activations,
      keys,
    });
    if (opened) {
      this.deps.logger.warn('failover episode opened: the failover budget is draining', { episode: state.episodeId, grantedMs: state.grantedMs });
      this.record('episode_opened', state.episodeId, { granted_ms: state.grantedMs });
    }
    if (d.restored && r.episodeId)
      this.record('record_refused', state.episodeId, { record: 'redis_episode', redis_episode: r.episodeId, consumed_ms: state.consumedMs });
    if (d.restored) {
      this.deps.logger.warn(
        r.episodeId
          ? 'Redis held another failover episode than this redundant, which did not see its own end: its own episode is written back'
          : 'failover budget restored from the local mirror (Redis had lost it)',
        { episode: state.episodeId, redisEpisode: r.episodeId, consumedMs: state.consumedMs },
      );
    }
    this.known = state;
    const m = this.mirror;
    this.writeMirror({ ...state, endedEpisodeId: m.endedEpisodeId, endedEpisodeIds: m.endedEpisodeIds, keys: keys.map((k) => k.key) });
    return state;
  }

  /**
   * The budget from the sources (Redis `r`, when read, and the redundant's mirror). The
   * mirror's episode wins unless this redundant saw it end (then the mirror is empty); with no
   * mirror episode, Redis's counts unless it is one this redundant saw end. For the chosen
   * episode: consumption is the largest of the sources, the grant is the license's budget plus
   * the valid keys of all sources.
   */
  private derive(r: RedisBudget | undefined): Derived {
    // The primary keeps no mirror; its view is Redis's (shown only: the primary is never blocked).
    const m = this.deps.settings.role === 'redundant' ? this.mirror : EMPTY_MIRROR;
    let episodeId = '';
    let consumed = 0;
    let keys: string[] = [];
    let restored = false;
    if (m.episodeId) {
      episodeId = m.episodeId;
      consumed = m.consumedMs;
      keys = [...m.keys];
      if (r?.episodeId === m.episodeId) {
        consumed = Math.max(consumed, r.consumedMs);
        keys.push(...r.keys);
      } else if (r) {
        restored = true;
      }
    } else if (r?.episodeId && r.episodeId !== m.endedEpisodeId && !m.endedEpisodeIds.includes(r.episodeId)) {
      episodeId = r.episodeId;
      consumed = r.consumedMs;
      keys = [...r.keys];
    }
    if (!episodeId) return { state: this.full(), keys: [], restored: false };
    const counted = this.count(episodeId, keys);
    const grantedMs = this.deps.settings.budgetMs + counted.extensionMs;
    const consumedMs = Math.min(consumed, grantedMs);
    return {
      state: { episodeId, grantedMs, consumedMs, activations: counted.valid.length, blocked: consumedMs >= grantedMs },
      keys: counted.valid,
      restored,
    };
  }

  /** Re-verifies the episode's stored keys; each one refused is logged once (per process). */
  private count(episodeId: string, keys: readonly string[]): CountedKeys {
    const { settings } = this.deps;
    const nodeId = settings.role === 'redundant' ? settings.nodeId : (settings.redundantNodeId ?? settings.nodeId);
    const counted = countAppliedKeys(
      keys,
      { clusterId: settings.clusterId, nodeId, episodeId, maxExtensionMs: settings.maxExtensionMs },
      this.deps.vendorPublicKey,
    );
    for (const { key, reason } of counted.refused) {
      if (this.refusalsLogged.has(key) || this.refusalsLogged.size >= REFUSALS_LOGGED) continue;
      this.refusalsLogged.add(key);
      this.deps.logger.error('activation key refused: a stored key does not re-verify, so it adds nothing to the failover budget', {
        episode: episodeId,
        reason,
        key: keyId(key),
      });
      this.record('record_refused', episodeId, { record: 'activation_key', key_id: keyId(key), reason });
    }
    return counted;
  }

  /**
   * The redundant's own evidence that its episode ended: the lease held by the other node,
   * the same `<node>:<epoch>` at every look (epochs never repeat, so that is one continuous
   * hold), for the reset period on this node's monotonic clock. Looks further apart than one
   * lease TTL (a paused process) start the watch again, as does a restart: conservative.
   */
  private watchHolder(leader: string): void {
    const now = this.deps.clock.monotonic();
    if (!leader || leader.startsWith(`${this.deps.settings.nodeId}:`)) {
      this.watch = undefined;
      return;
    }
    const w = this.watch;
    if (w && w.holder === leader && now - w.lastMono <= this.deps.settings.leaseTtlMs) w.lastMono = now;
    else this.watch = { holder: leader, sinceMono: now, lastMono: now };
    const m = this.mirror;
    if (!m.episodeId || now - (this.watch?.sinceMono ?? now) < this.deps.settings.resetAfterMs) return;
    this.writeMirror({
      ...EMPTY_MIRROR,
      endedEpisodeId: m.episodeId,
      endedEpisodeIds: [...m.endedEpisodeIds.filter((e) => e !== m.episodeId), m.episodeId].slice(-ENDED_EPISODES_KEPT),
    });
    this.deps.logger.info('failover episode ended: this redundant watched the primary hold the lease for the reset period; the budget is full again', {
      episode: m.episodeId,
      holder: leader,
    });
    // Not holding the lease: on disk now, in Redis at the next flush (the next failover).
    this.record('episode_ended', m.episodeId, { holder: leader.split(':')[0] ?? '' });
  }

  private async maybeEndEpisode(fence: Fence): Promise<void> {
    if (this.primaryHeldSinceMono === undefined) return;
    if (this.deps.clock.monotonic() - this.primaryHeldSinceMono < this.deps.settings.resetAfterMs) return;
    if (!this.known.episodeId) return;
    const ended = await this.exclusive(() => this.deps.store.reset(fence, this.deps.clock.now()));
    if (ended) {
      this.deps.logger.info('failover episode ended: the primary held the lease for the reset period; the budget is full again', { episode: ended });
    }
    this.known = this.full();
  }

  /** Runs `fn` after every earlier read-decide-write of this keeper has settled. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Only the redundant's budget has a say on the role machine; the primary's never blocks it. */
  private verdict(blocked: boolean): BudgetVerdict | undefined {
    return this.deps.settings.role === 'redundant' ? { blocked } : undefined;
  }

  /**
   * The mirror is the value at once (derive reads it) and reaches the disk in the background,
   * coalesced, so a charge never waits for an fsync on the event loop (failures: the
   * listener in the constructor). A crash may lose the write in flight: the disk is then one
   * write behind, which refunds nothing: the charge is in Redis and the larger consumption
   * of the two wins; a lost episode end only keeps the episode going (conservative).
   */
  private writeMirror(m: BudgetMirror): void {
    this.deps.stateFile.updateInBackground({ budget: m });
  }

  private full(): BudgetState {
    return { episodeId: '', grantedMs: this.deps.settings.budgetMs, consumedMs: 0, activations: 0, blocked: false };
  }

  private requireRedundant(what: string): void {
    if (this.deps.settings.role !== 'redundant') {
      throw new LicenseError(
        ErrorCode.FAILED_PRECONDITION,
        `cannot ${what} on the primary: activation keys extend the redundant's failover budget; run it against the redundant node`,
      );
    }
  }
}
