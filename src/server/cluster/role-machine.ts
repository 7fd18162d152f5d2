// Over 300 lines on purpose: one state machine's rules over shared private state; split across files, its invariants would be too.
import type { Clock } from '../clock';
import type { Role } from '../config';
import { isEpoch } from '../store/fence';
import { holdsLeaseIn, type NodeState } from './states';

/**
 * How far above this node's epoch anchor (see RoleMachine.epochAnchor) a peer's `epoch` or
 * `highest_epoch` may be. Epochs grow by one per acquisition, and both nodes take them from
 * the same Redis, so a legitimate peer is never far ahead of what Redis says; a larger jump
 * is refused (peer-message.ts) and makes the node re-read Redis (node-controller.ts).
 */
export const MAX_PEER_EPOCH_JUMP = 1_000;

/** What the node knows of its peer from the last valid heartbeat (either direction). */
export interface PeerView {
  readonly nodeId: string;
  readonly role: Role;
  readonly state: NodeState;
  readonly epoch: number;
  readonly leaseHolder: string;
  readonly steppingDown: boolean;
  readonly wantsLease: boolean;
  readonly storeOk: boolean;
  readonly advertiseAddr: string;
  readonly highestEpoch: number;
  /** Serial of the license the peer runs with; 0 when its heartbeat does not say (an older version). */
  readonly licenseSerial: number;
}

export interface RoleMachineOptions {
  readonly role: Role;
  readonly nodeId: string;
  readonly leaseTtlMs: number;
  readonly leaseSafetyMarginMs: number;
  readonly handbackAfterMs: number;
  readonly redundantStartupGraceMs: number;
  /** Highest epoch remembered from earlier runs (state dir). */
  readonly highestEpoch?: number;
}

export interface Transition {
  readonly from: NodeState;
  readonly to: NodeState;
  readonly reason: string;
  readonly epoch: number;
}

/** The one lease operation the node should do next. */
export type LeaseAction =
  | { readonly kind: 'acquire' }
  | { readonly kind: 'renew'; readonly epoch: number }
  /** Give the lease back to the returning primary (redundant only). */
  | { readonly kind: 'handback'; readonly epoch: number }
  | { readonly kind: 'wait'; readonly reason: string };

export interface LeaseHolder {
  readonly nodeId: string;
  readonly epoch: number;
}

/**
 * The role state machine: pure rules, no I/O. The node controller feeds it what
 * happened (lease results, peer heartbeats, signals) with times from the injected
 * clock, asks it what to do next, and performs that against Redis and gRPC.
 *
 * The Redis lease is the only thing that makes a node act: the machine enters a
 * lease-holding state only from `acquired()`, and leaves it as soon as a renewal is
 * refused or `lastRenewOk + ttl - safetyMargin` passes on the monotonic clock,
 * which is before the key can expire in Redis.
 */
export class RoleMachine {
  private stateValue: NodeState = 'STARTING';
  private epochValue = 0;
  private highestEpochValue: number;
  private anchorEpochValue: number;
  private lastRenewOkMono = Number.NEGATIVE_INFINITY;
  private readonly startedMono: number;
  private holder: LeaseHolder | undefined;
  private storeOkSinceMono: number | undefined;
  private lastStoreOkMono: number | undefined;
  private budgetBlocked = false;

  private peerView: PeerView | undefined;
  private peerLastHeardMono: number | undefined;
  private peerHealthySinceMono: number | undefined;
  private heardPrimary = false;
  /** Redundant: first time it saw a healthy primary ask for the free lease. */
  private primaryWantsSinceMono: number | undefined;
  /** No acquire attempts before this (after a handback or a step-down). */
  private holdOffUntilMono = Number.NEGATIVE_INFINITY;
  /** Why this node may never hold the lease again (refuseLease); undefined while it may. */
  private refusedReason: string | undefined;
  private readonly peerListeners: ((view: PeerView) => void)[] = [];

  constructor(
    private readonly opts: RoleMachineOptions,
    private readonly clock: Clock,
    private readonly onTransition: (t: Transition) => void = () => {},
  ) {
    this.startedMono = clock.monotonic();
    this.highestEpochValue = isEpoch(opts.highestEpoch) ? opts.highestEpoch : 0;
    this.anchorEpochValue = this.highestEpochValue;
  }

  // ---- reads ------------------------------------------------------------------

  /** Current state; a lapsed lease is noticed here too, so no caller ever sees a stale ACTIVE. */
  get state(): NodeState {
    this.checkDeadline();
    return this.stateValue;
  }

  /** The fencing epoch this node holds the lease with, 0 when it holds none. */
  get epoch(): number {
    this.checkDeadline();
    return holdsLeaseIn(this.stateValue) ? this.epochValue : 0;
  }

  /** Highest epoch seen from any source: the floor of the next acquire (with Redis's counter), persisted in the state dir. */
  get highestEpoch(): number {
    return this.highestEpochValue;
  }

  /**
   * Highest epoch known from this node's own sources: its state dir and what Redis
   * answered (acquires, the holder it named, reads of the counter). A peer's epochs are
   * accepted up to MAX_PEER_EPOCH_JUMP above it and raise highestEpoch, never the anchor,
   * so a lying peer cannot ratchet the epoch up a thousand per heartbeat.
   */
  get epochAnchor(): number {
    return this.anchorEpochValue;
  }

  get role(): Role {
    return this.opts.role;
  }

  /** The lease holder as last seen (ourselves when we hold it). */
  get leaseHolder(): LeaseHolder | undefined {
    this.checkDeadline();
    if (holdsLeaseIn(this.stateValue)) return { nodeId: this.opts.nodeId, epoch: this.epochValue };
    return this.holder;
  }

  get peer(): PeerView | undefined {
    return this.peerView;
  }

  /** Why this node may not hold the lease (refuseLease), or undefined while it may. */
  get leaseRefusal(): string | undefined {
    return this.refusedReason;
  }

  get peerLastHeard(): number | undefined {
    return this.peerLastHeardMono;
  }

  /** True while the peer has been heard within one lease TTL. */
  peerHealthy(): boolean {
    return this.peerLastHeardMono !== undefined && this.clock.monotonic() - this.peerLastHeardMono <= this.opts.leaseTtlMs;
  }

  /** True while the last Redis call succeeded within one lease TTL. */
  storeOk(): boolean {
    return this.lastStoreOkMono !== undefined && this.clock.monotonic() - this.lastStoreOkMono <= this.opts.leaseTtlMs;
  }

  /** Holds the lease and may grant seats (not blocked, not past the lease deadline). */
  isServing(): boolean {
    const s = this.state;
    return s === 'ACTIVE' || s === 'FAILOVER_ACTIVE';
  }

  /** Milliseconds the held lease stays valid for this node without another renewal. */
  leaseValidForMs(): number {
    if (!holdsLeaseIn(this.state)) return 0;
    return Math.max(0, this.deadlineMono() - this.clock.monotonic());
  }

  /** Monotonic time at which the node must stop acting unless a renewal succeeds. */
  deadlineMono(): number {
    return this.lastRenewOkMono + this.opts.leaseTtlMs - this.opts.leaseSafetyMarginMs;
  }

  /**
   * Primary only: ask the redundant for the lease. A primary asks when it holds no
   * lease and either nobody else holds it, or it has been healthy (peer heartbeats and
   * Redis both fine) for `handbackAfterMs`, counted from the first healthy heartbeat,
   * so a flapping primary does not bounce the cluster back and forth.
   */
  wantsLease(): boolean {
    if (this.opts.role !== 'primary' || this.refusedReason !== undefined) return false;
    const s = this.state;
    if (s === 'STOPPING' || holdsLeaseIn(s)) return false;
    const now = this.clock.monotonic();
    if (now < this.holdOffUntilMono) return false;
    if (!this.storeOk()) return false;
    if (!this.redundantHolds()) return true;
    if (!this.peerHealthy() || this.peerHealthySinceMono === undefined || this.storeOkSinceMono === undefined) return false;
    const healthySince = Math.max(this.peerHealthySinceMono, this.storeOkSinceMono);
    return now - healthySince >= this.opts.handbackAfterMs;
  }

  /**
   * What to do with the lease now. `peerDead`: the holder's process was seen dead (early
   * takeover, peer-death.ts); the hold-off after giving the lease up is then skipped, as
   * it only makes room for a peer that can no longer take it.
   */
  nextAction(peerDead = false): LeaseAction {
    const s = this.state;
    const now = this.clock.monotonic();
    if (s === 'STOPPING') return { kind: 'wait', reason: 'stopping' };
    if (holdsLeaseIn(s)) {
      if (this.opts.role === 'redundant' && this.primaryAsksForLease()) {
        return { kind: 'handback', epoch: this.epochValue };
      }
      return { kind: 'renew', epoch: this.epochValue };
    }
    if (this.refusedReason !== undefined) return { kind: 'wait', reason: this.refusedReason };
    if (now < this.holdOffUntilMono && !peerDead) return { kind: 'wait', reason: 'holding off after giving up the lease' };
    if (this.opts.role === 'redundant') {
      if (!this.heardPrimary && now - this.startedMono < this.opts.redundantStartupGraceMs) {
        return { kind: 'wait', reason: 'startup grace: waiting to hear the primary first' };
      }
      if (this.primaryAsksForLease()) {
        // Give a healthy primary that wants the free lease one TTL to take it; if it
        // cannot (e.g. its Redis calls fail in a way it does not see), we go ahead.
        this.primaryWantsSinceMono ??= now;
        if (now - this.primaryWantsSinceMono < this.opts.leaseTtlMs) {
          return { kind: 'wait', reason: 'primary is taking the lease' };
        }
      } else {
        this.primaryWantsSinceMono = undefined;
      }
    }
    return { kind: 'acquire' };
  }

  // ---- events -----------------------------------------------------------------

  /** The acquire script granted the lease with `epoch`; `attemptMono` is when the call was sent. */
  acquired(epoch: number, attemptMono: number): void {
    this.storeAnswered(attemptMono);
    this.observeEpoch(epoch);
    if (this.refusedReason !== undefined) {
      // Refused while the acquire was in flight: never act on it; the key lapses within one TTL.
      if (this.stateValue === 'STARTING') this.transition('STANDBY', this.refusedReason);
      return;
    }
    this.epochValue = epoch;
    this.lastRenewOkMono = attemptMono;
    this.holder = { nodeId: this.opts.nodeId, epoch };
    this.primaryWantsSinceMono = undefined;
    if (this.stateValue === 'STOPPING') return;
    const to: NodeState = this.opts.role === 'primary' ? 'ACTIVE' : this.budgetBlocked ? 'FAILOVER_BLOCKED' : 'FAILOVER_ACTIVE';
    this.transition(to, this.opts.role === 'primary' ? 'acquired the lease' : 'acquired the lease: failover');
  }

  /** The lease is held by someone else (or, holder undefined, free but not taken). */
  acquireRefused(holder: LeaseHolder | undefined, attemptMono: number): void {
    this.storeAnswered(attemptMono);
    this.holder = holder;
    if (holder) this.observeEpoch(holder.epoch);
    if (this.stateValue === 'STARTING') this.transition('STANDBY', holder ? `lease held by ${holder.nodeId}` : (this.refusedReason ?? 'lease free'));
  }

  /** A renewal sent at `attemptMono` succeeded: the lease is ours until attemptMono + ttl in Redis. */
  renewed(attemptMono: number): void {
    this.storeAnswered(attemptMono);
    if (holdsLeaseIn(this.stateValue)) this.lastRenewOkMono = Math.max(this.lastRenewOkMono, attemptMono);
  }

  /** The renew script found the key no longer ours: stop acting at once. */
  leaseLost(holder: LeaseHolder | undefined, attemptMono: number): void {
    this.storeAnswered(attemptMono);
    this.holder = holder;
    if (holder) this.observeEpoch(holder.epoch);
    if (holdsLeaseIn(this.stateValue)) {
      this.transition('STANDBY', holder ? `lease taken by ${holder.nodeId} epoch ${holder.epoch}` : 'lease expired in Redis');
    }
  }

  /** A Redis call failed or timed out. The deadline check decides when that costs the lease. */
  storeFailed(): void {
    this.storeOkSinceMono = undefined;
  }

  /**
   * Stop granting now, before the release reaches Redis (handback, step-down, stop).
   * Returns the epoch to release, or 0 when the node held nothing.
   */
  giveUp(kind: 'handback' | 'step-down' | 'stop'): number {
    const held = holdsLeaseIn(this.state) ? this.epochValue : 0;
    const now = this.clock.monotonic();
    if (kind === 'stop') {
      this.transition('STOPPING', held ? 'stopping: planned handover' : 'stopping');
    } else if (held) {
      const why = kind === 'handback' ? 'handing the lease back to the primary' : 'stepped down on request';
      this.transition('STANDBY', this.refusedReason ?? why);
    }
    if (kind === 'handback') {
      // The primary acquires next; do not race it for the key we just freed.
      this.holdOffUntilMono = now + this.opts.leaseTtlMs;
    } else if (kind === 'step-down') {
      // Let the peer take over; for a primary this also restarts the handback count.
      this.holdOffUntilMono = now + 2 * this.opts.leaseTtlMs;
      this.peerHealthySinceMono = this.peerHealthy() ? now : undefined;
    }
    if (held) this.holder = undefined;
    return held;
  }

  /** A valid heartbeat from the peer (request received or response to ours). */
  peerHeard(view: PeerView): void {
    const now = this.clock.monotonic();
    if (!this.peerHealthy()) this.peerHealthySinceMono = now;
    this.peerLastHeardMono = now;
    this.peerView = view;
    if (view.role === 'primary') this.heardPrimary = true;
    this.adoptPeerEpoch(view.highestEpoch);
    this.adoptPeerEpoch(view.epoch);
    if (view.steppingDown) {
      // The peer released on purpose: acquire at once, no deference, no hold-off.
      this.primaryWantsSinceMono = undefined;
      if (this.holder?.nodeId === view.nodeId) this.holder = undefined;
      if (this.opts.role === 'primary' || view.role === 'primary') this.holdOffUntilMono = Number.NEGATIVE_INFINITY;
    } else if (isEpoch(view.epoch) && view.epoch > 0 && holdsLeaseIn(view.state)) {
      this.holder = { nodeId: view.nodeId, epoch: view.epoch };
    }
    for (const l of this.peerListeners) l(view);
  }

  /** Called after every valid peer heartbeat the machine took in (the license serial guard reads the peer's serial). */
  onPeerHeard(listener: (view: PeerView) => void): void {
    this.peerListeners.push(listener);
  }

  /**
   * This node must never hold the lease again: its license was superseded by one with a
   * higher serial. Sticky for the life of the process: no acquire, no asking for the
   * lease. A held lease stays held until the owner gives it up (giveUp, whose transition
   * then names this reason), so the release is fenced like any other; a starting node goes
   * to STANDBY at once, so its status says it is not serving.
   */
  refuseLease(reason: string): void {
    if (this.refusedReason !== undefined) return;
    this.refusedReason = reason;
    this.primaryWantsSinceMono = undefined;
    if (this.stateValue === 'STARTING') this.transition('STANDBY', reason);
  }

  /** A heartbeat to the peer failed; health lapses by itself after one TTL without any. */
  peerMissed(): void {
    if (!this.peerHealthy()) this.peerHealthySinceMono = undefined;
  }

  setBudgetBlocked(blocked: boolean): void {
    this.budgetBlocked = blocked;
    const s = this.state;
    if (blocked && s === 'FAILOVER_ACTIVE') this.transition('FAILOVER_BLOCKED', 'failover budget spent');
    if (!blocked && s === 'FAILOVER_BLOCKED') this.transition('FAILOVER_ACTIVE', 'failover budget extended');
  }

  /** An epoch from this node's own sources (Redis): raises the anchor and the highest epoch. Anything but an epoch is ignored. */
  observeEpoch(epoch: number): void {
    if (!isEpoch(epoch)) return;
    if (epoch > this.anchorEpochValue) this.anchorEpochValue = epoch;
    if (epoch > this.highestEpochValue) this.highestEpochValue = epoch;
  }

  // ---- internals --------------------------------------------------------------

  /**
   * A peer's epoch raises the highest epoch (so epochs stay monotonic when our state dir
   * is new) within the bound of the anchor. The peer link refuses such heartbeats before
   * they get here; this keeps the machine's own invariant without relying on it.
   */
  private adoptPeerEpoch(epoch: number): void {
    if (isEpoch(epoch) && epoch <= this.anchorEpochValue + MAX_PEER_EPOCH_JUMP && epoch > this.highestEpochValue) this.highestEpochValue = epoch;
  }

  private checkDeadline(): void {
    if (holdsLeaseIn(this.stateValue) && this.clock.monotonic() >= this.deadlineMono()) {
      this.holder = undefined;
      this.transition('STANDBY', 'lease not renewed in time: stopped acting before it can expire in Redis');
    }
  }

  private storeAnswered(attemptMono: number): void {
    this.storeOkSinceMono ??= attemptMono;
    this.lastStoreOkMono = Math.max(this.lastStoreOkMono ?? attemptMono, attemptMono);
  }

  private redundantHolds(): boolean {
    const p = this.peerView;
    if (this.holder !== undefined && this.holder.nodeId !== this.opts.nodeId) return true;
    return p !== undefined && this.peerHealthy() && holdsLeaseIn(p.state);
  }

  /** Redundant: a healthy primary, able to reach Redis, is asking for the lease. */
  private primaryAsksForLease(): boolean {
    const p = this.peerView;
    return p !== undefined && p.role === 'primary' && this.peerHealthy() && p.wantsLease && p.storeOk && !p.steppingDown;
  }

  private transition(to: NodeState, reason: string): void {
    const from = this.stateValue;
    if (from === to) return;
    if (from === 'STOPPING') return; // terminal
    this.stateValue = to;
    this.onTransition({ from, to, reason, epoch: holdsLeaseIn(to) ? this.epochValue : 0 });
  }
}
