// Over 300 lines on purpose: charging, the episode's end and activation all read and write one budget view and its disk mirror.
import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Clock } from '../clock';
import type { Role } from '../config';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import type { Logger } from '../log';
import type { StateFile } from '../state-file';
import type { BudgetMirror, BudgetState, BudgetStore } from '../store/budget-store';
import type { Fence } from '../store/fence';
import { encodeRequestKey, newNonce, verifyActivationKey } from './activation-keys';

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
});

/**
 * The failover budget, node side. The redundant charges the time it serves, measured
 * on its monotonic clock, to the episode in Redis each heartbeat (fenced) and mirrors
 * the result on its own disk; the primary ends the episode once it has held the lease
 * continuously for the reset period. Activation keys extend the episode.
 */
export class BudgetKeeper {
  private lastChargedMono: number | undefined;
  /** Charging point kept across a planned give-up, so the final partial interval is still charged. */
  private finalChargeFromMono: number | undefined;
  private primaryHeldSinceMono: number | undefined;
  private known: BudgetState;

  /** The redundant may hold the lease only while its charges land (LeaseHooks). */
  readonly holdOnlyWhileHooksSucceed: boolean;

  constructor(private readonly deps: BudgetKeeperDeps) {
    this.holdOnlyWhileHooksSucceed = deps.settings.role === 'redundant';
    const m = this.mirror;
    this.known = m.episodeId ? m : this.full();
  }

  /** A redundant restarted while blocked comes back blocked, before it ever reaches Redis. */
  startsBlocked(): boolean {
    const m = this.mirror;
    return this.deps.settings.role === 'redundant' && m.episodeId !== '' && m.blocked;
  }

  get mirror(): BudgetMirror {
    return this.deps.stateFile.value.budget ?? EMPTY_MIRROR;
  }

  /** What status shows: the last known budget (Redis, or the mirror when it knows more). */
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

  /** While not holding the lease (and for status): keep the view (and the mirror's episode bookkeeping) current. */
  async refresh(): Promise<BudgetVerdict | undefined> {
    const { lastEndedEpisodeId, ...r } = await this.deps.store.read();
    const m = this.mirror;
    if (!r.episodeId && m.episodeId && lastEndedEpisodeId === m.episodeId) {
      // The primary ended the episode the mirror remembers: the budget is full again.
      this.writeMirror({ ...EMPTY_MIRROR, endedEpisodeId: m.episodeId });
    }
    const mm = this.mirror;
    if (r.episodeId) {
      this.known = r.episodeId === mm.episodeId ? mergeSameEpisode(r, mm) : r;
    } else if (mm.episodeId) {
      // Redis has no episode but the mirror has one the primary never ended: Redis lost
      // its data. The next charge restores it; until then, show (and obey) the mirror.
      this.known = mm;
    } else {
      this.known = r;
    }
    return this.verdict(this.known.episodeId !== '' && this.known.blocked);
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
    });
  }

  /**
   * AdminService.Activate: verify signature and target, then one fenced script consumes
   * the nonce, adds the extension and unblocks. Any refusal changes nothing. The caller
   * hands the verdict to the node controller (activation runs outside the lease loop).
   */
  async activate(fence: Fence, key: string): Promise<ActivationResult> {
    try {
      this.requireRedundant('apply an activation key');
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
      const state = await this.deps.store.activate(fence, {
        episodeId: g.episode_id,
        seq: g.seq,
        nonce: g.nonce,
        extensionMs: g.granted_ms,
        nowMs: this.deps.clock.now(),
      });
      const verdict = this.adopt(state);
      this.deps.logger.warn('activation key applied: failover budget extended', {
        extensionMs: g.granted_ms,
        activations: state.activations,
        remainingMs: Math.max(0, state.grantedMs - state.consumedMs),
        blocked: state.blocked,
      });
      this.deps.onActivation?.('ok');
      return { budget: state, verdict };
    } catch (err) {
      this.deps.onActivation?.(err instanceof LicenseError ? err.code : 'error');
      throw err;
    }
  }

  // ---- internals ---------------------------------------------------------------------

  private async charge(fence: Fence): Promise<BudgetVerdict | undefined> {
    const now = this.deps.clock.monotonic();
    const since = this.lastChargedMono ?? now;
    // Capped at one lease TTL: the node cannot have served longer than that without a
    // renewal, so a stalled process or a long Redis outage is never charged in full.
    const elapsed = Math.min(Math.max(0, now - since), this.deps.settings.leaseTtlMs);
    const wasBlocked = this.known.blocked;
    const r = await this.deps.store.tick(fence, {
      nowMs: this.deps.clock.now(),
      elapsedMs: elapsed,
      newEpisodeId: randomBytes(6).toString('hex'),
      mirror: this.mirror,
    });
    this.lastChargedMono = now;
    if (r.opened) this.deps.logger.warn('failover episode opened: the failover budget is draining', { episode: r.episodeId, grantedMs: r.grantedMs });
    if (r.restored)
      this.deps.logger.warn('failover budget restored from the local mirror (Redis had lost it)', { episode: r.episodeId, consumedMs: r.consumedMs });
    const verdict = this.adopt(r);
    if (r.blocked && !wasBlocked) {
      this.deps.logger.error('failover budget spent: no new seats until an activation key is applied (licensectl activation request)', {
        episode: r.episodeId,
        grantedMs: r.grantedMs,
        consumedMs: r.consumedMs,
      });
    }
    return verdict;
  }

  private async maybeEndEpisode(fence: Fence): Promise<void> {
    if (this.primaryHeldSinceMono === undefined) return;
    if (this.deps.clock.monotonic() - this.primaryHeldSinceMono < this.deps.settings.resetAfterMs) return;
    if (!this.known.episodeId) return;
    const ended = await this.deps.store.reset(fence, this.deps.clock.now());
    if (ended) {
      this.deps.logger.info('failover episode ended: the primary held the lease for the reset period; the budget is full again', { episode: ended });
    }
    this.known = this.full();
  }

  private adopt(state: BudgetState): BudgetVerdict | undefined {
    this.known = state;
    this.writeMirror({ ...state, endedEpisodeId: this.mirror.endedEpisodeId });
    return this.verdict(state.blocked);
  }

  /** Only the redundant's budget has a say on the role machine; the primary's never blocks it. */
  private verdict(blocked: boolean): BudgetVerdict | undefined {
    return this.deps.settings.role === 'redundant' ? { blocked } : undefined;
  }

  private writeMirror(m: BudgetMirror): void {
    try {
      this.deps.stateFile.update({ budget: m });
    } catch (err) {
      this.deps.logger.error('cannot write the budget mirror to the state dir', { path: this.deps.stateFile.path, err: errorMessage(err) });
    }
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

function mergeSameEpisode(a: BudgetState, b: BudgetState): BudgetState {
  const grantedMs = Math.max(a.grantedMs, b.grantedMs);
  const consumedMs = Math.max(a.consumedMs, b.consumedMs);
  return { episodeId: a.episodeId, grantedMs, consumedMs, activations: Math.max(a.activations, b.activations), blocked: consumedMs >= grantedMs };
}
