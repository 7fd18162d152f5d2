// Over 300 lines on purpose: the lease loop and the node's calls into the role machine (fences, snapshot, budget verdicts) share one machine and its timers.
import type { BudgetVerdict } from '../budget/budget-keeper';
import type { Clock } from '../clock';
import { parseHostPort, type Role } from '../config';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import type { ClusterServiceClient } from '../../contract/generated/license/v1/ClusterService';
import type { PeerHeartbeatRequest, PeerHeartbeatRequest__Output } from '../../contract/generated/license/v1/PeerHeartbeatRequest';
import type { Logger } from '../log';
import type { Fence } from '../store/fence';
import type { LeaseObservation, LeaseStore } from '../store/lease-store';
import type { StateFile } from '../state-file';
import type { PeerAuthenticator } from './peer-auth';
import { EarlyTakeover } from './peer-death';
import { type OwnLeaseStatus, PeerLink, STOP_STEP_TIMEOUT_MS } from './peer-link';
import { type PeerView, RoleMachine, type Transition } from './role-machine';
import { holdsLeaseIn, type NodeState } from './states';

/** The same Redis failure is logged at most this often (license_redis_errors_total counts every one). */
const STORE_ERROR_LOG_EVERY_MS = 10_000;

export interface PeerStatusSnapshot {
  readonly nodeId: string;
  readonly addr: string;
  readonly role: Role | undefined;
  readonly state: NodeState | undefined;
  readonly epoch: number;
  readonly lastHeartbeatMs: number;
  readonly reachable: boolean;
  readonly error: string;
  readonly licenseDigest: string;
  readonly clockSkewMs: number;
  /** The peer's web console, from its heartbeats ('' when off or not known). */
  readonly consoleUrl: string;
  /** The peer reaches Redis, by its last heartbeat (false before one). */
  readonly storeOk: boolean;
  /** The peer's seat policy digest, from its heartbeats ('' when not known). */
  readonly policyDigest: string;
}

export interface ClusterSnapshot {
  readonly state: NodeState;
  readonly epoch: number;
  readonly highestEpoch: number;
  readonly leaderNodeId: string;
  readonly leaderAddr: string;
  readonly leaseValidForMs: number;
  readonly storeOk: boolean;
  readonly peer: PeerStatusSnapshot | undefined;
}

/**
 * Work that rides on the lease loop (the failover budget). Every call that takes a
 * fence runs while this node still holds the lease, so its writes can be fenced.
 * Each call returns the budget's verdict (undefined: no opinion), which the
 * controller applies to its role machine; hooks never drive the machine themselves.
 */
export interface LeaseHooks {
  /**
   * True when the lease may be held only while afterAcquire/afterRenew succeed (the
   * redundant's budget charge): a failed hook then counts as a failed acquire or renewal,
   * so a node whose charges fail stops granting at its lease deadline, exactly as when
   * Redis is unreachable, instead of serving uncharged.
   */
  readonly holdOnlyWhileHooksSucceed: boolean;
  /** While not holding the lease (each tick, and right before an acquire attempt). */
  refresh(): Promise<BudgetVerdict | undefined>;
  afterAcquire(fence: Fence, attemptMono: number): Promise<BudgetVerdict | undefined>;
  afterRenew(fence: Fence): Promise<BudgetVerdict | undefined>;
  /** After granting stopped, before the key is released (planned handover, handback, step-down). */
  beforeRelease(fence: Fence): Promise<BudgetVerdict | undefined>;
  onLeaseLost(): void;
}

/** Measurements the controller reports (metrics); every member optional. */
export interface ControllerObserver {
  peerRtt?(seconds: number): void;
  storeError?(): void;
  /** The lease was taken over from a dead peer before its TTL (peer-death.ts). */
  earlyTakeover?(): void;
}

/** The settings the controller (and its role machine) reads; the node picks them from its Config. */
export interface ControllerSettings {
  readonly role: Role;
  readonly nodeId: string;
  readonly clusterId: string;
  /** The peer's ClusterService address (LICENSE_PEER_ADDR); unset: no peer. */
  readonly peerAddr?: string;
  readonly leaseTtlMs: number;
  readonly leaseSafetyMarginMs: number;
  /** Lease loop and peer heartbeat interval. */
  readonly heartbeatIntervalMs: number;
  readonly handbackAfterMs: number;
  readonly redundantStartupGraceMs: number;
}

export interface NodeControllerDeps {
  readonly settings: ControllerSettings;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly lease: LeaseStore;
  readonly stateFile: StateFile;
  /** Client to the peer's ClusterService; absent when LICENSE_PEER_ADDR is unset. */
  readonly peerClient?: ClusterServiceClient;
  readonly licenseDigest: string;
  /** The address clients should use for this node (resolved after the server binds). */
  readonly advertiseAddr: () => string;
  /** This node's web console URL (final once the console is bound; '' when off), told to the peer. */
  readonly consoleUrl?: () => string;
  /** Digest of the seat policy in force (changes on reload), told to the peer. */
  readonly policyDigest?: () => string;
  readonly hooks?: LeaseHooks;
  readonly observer?: ControllerObserver;
  /** Signs and checks heartbeats with LICENSE_CLUSTER_SECRET. */
  readonly peerAuth?: PeerAuthenticator;
}

/** States in which new seats are granted. */
const GRANTING_STATES: readonly NodeState[] = ['ACTIVE', 'FAILOVER_ACTIVE'];
/** States in which running work is kept alive or wound down: granting, or blocked by the failover budget. */
const RUNNING_WORK_STATES: readonly NodeState[] = [...GRANTING_STATES, 'FAILOVER_BLOCKED'];

/**
 * Runs the role machine against the world: one serialized lease loop (acquire /
 * renew / hand back every heartbeat interval, or at once when kicked) and a timer at
 * the lease deadline so that stepping down never waits for the next tick. It owns the
 * peer link (the heartbeat exchange, peer-link.ts) and is the only one that feeds the
 * role machine: the link reports what it heard through the PeerLinkOwner calls below.
 */
export class NodeController {
  readonly machine: RoleMachine;
  private readonly peerLink: PeerLink;
  private readonly listeners: ((t: Transition) => void)[] = [];
  private leaseTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** The lease step in flight (settles, never rejects), for stop to wait on. */
  private step: Promise<void> = Promise.resolve();
  private tickAgain = false;
  private running = false;
  private holderAddr = '';
  /** When each Redis failure reason was last logged (each at most once per STORE_ERROR_LOG_EVERY_MS). */
  private readonly storeErrorsLogged = new Map<string, number>();
  /** A Redis call failed since the last one that succeeded. */
  private storeFailing = false;
  /** Read the epoch Redis knows before the next lease step (catchUpEpoch); true at start. */
  private epochReadWanted = true;
  /** Absent without a peer address: nothing to probe. */
  private readonly earlyTakeover: EarlyTakeover | undefined;
  /** A confirmed early takeover, for the next acquire (consumed by it). */
  private takeover: LeaseObservation | undefined;
  /** The peer's node id from its last valid heartbeat. */
  private peerNodeId: string | undefined;

  constructor(private readonly deps: NodeControllerDeps) {
    const { settings, clock } = deps;
    this.machine = new RoleMachine(
      {
        role: settings.role,
        nodeId: settings.nodeId,
        leaseTtlMs: settings.leaseTtlMs,
        leaseSafetyMarginMs: settings.leaseSafetyMarginMs,
        handbackAfterMs: settings.handbackAfterMs,
        redundantStartupGraceMs: settings.redundantStartupGraceMs,
        highestEpoch: deps.stateFile.value.highestEpoch,
      },
      clock,
      (t) => this.onTransition(t),
    );
    this.peerLink = new PeerLink({
      settings,
      clock,
      logger: deps.logger,
      ...(deps.peerClient ? { client: deps.peerClient } : {}),
      licenseDigest: deps.licenseDigest,
      advertiseAddr: deps.advertiseAddr,
      ...(deps.consoleUrl ? { consoleUrl: deps.consoleUrl } : {}),
      ...(deps.policyDigest ? { policyDigest: deps.policyDigest } : {}),
      ...(deps.peerAuth ? { auth: deps.peerAuth } : {}),
      onRtt: (seconds) => this.deps.observer?.peerRtt?.(seconds),
      owner: {
        ownStatus: () => this.ownLeaseStatus(),
        heard: (view) => this.peerHeard(view),
        missed: () => {
          this.machine.peerMissed();
          this.earlyTakeover?.suspect();
        },
        exchanged: () => this.persistEpoch(),
        epochAnchor: () => this.machine.epochAnchor,
        // Not a kick: a stream of far-ahead heartbeats must not buy extra lease steps, only the one read per interval.
        epochAhead: () => {
          this.epochReadWanted = true;
        },
      },
    });
    if (settings.peerAddr && deps.peerClient) {
      this.earlyTakeover = new EarlyTakeover({
        peer: parseHostPort(settings.peerAddr),
        channel: deps.peerClient.getChannel(),
        lease: deps.lease,
        logger: deps.logger,
        probeTimeoutMs: Math.min(500, settings.heartbeatIntervalMs),
        leaseTtlMs: settings.leaseTtlMs,
        renewEveryMs: renewEveryMs(settings),
        eligible: () => {
          const state = this.machine.state;
          return this.running && !holdsLeaseIn(state) && state !== 'STOPPING' ? this.peerNodeId : undefined;
        },
        takeOver: (seen) => {
          this.takeover = seen;
          this.kick();
        },
      });
    }
  }

  /** Called on every state change (health, metrics, logs). */
  onStateChange(listener: (t: Transition) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    this.running = true;
    this.kick();
    this.peerLink.start();
    this.earlyTakeover?.start();
  }

  /** Runs the lease loop now instead of at the next interval. */
  kick(): void {
    this.scheduleLease(0);
  }

  /**
   * Planned handover: stop granting, release the lease (compare-and-delete) and tell
   * the peer with a `stepping_down` heartbeat so it acquires at once. A lease an acquire
   * in flight takes is released too, and the state file's last state reaches the disk.
   */
  async stop(): Promise<void> {
    const epoch = this.machine.giveUp('stop');
    this.running = false;
    this.clearTimers();
    // Holding nothing, the step in flight may be an acquire that lands after this point: wait
    // for it (bounded), so that it releases what it took (releaseUnserved) before the peer is
    // told, instead of the key staying held for a whole TTL. Holding the lease, the step is a
    // renewal (or a handback), and the release below covers it without the wait.
    if (epoch === 0 && this.ticking) {
      await withTimeout(this.step, STOP_STEP_TIMEOUT_MS).catch(() =>
        this.deps.logger.warn('a lease step was still in flight at stop; a lease it takes expires by itself'),
      );
    }
    await this.releaseAndTellPeer(epoch, 'stop');
    // The budget mirror is written in the background: its last state goes to disk before the process ends.
    await withTimeout(this.deps.stateFile.flush(), STOP_STEP_TIMEOUT_MS).catch((err: unknown) =>
      this.deps.logger.warn('could not write the state file before stopping', { path: this.deps.stateFile.path, err: errorMessage(err) }),
    );
  }

  /** Gives up the lease on an operator's request; the node stays up as a standby. */
  async stepDown(): Promise<boolean> {
    const epoch = this.machine.giveUp('step-down');
    await this.releaseAndTellPeer(epoch, 'step-down');
    return epoch > 0;
  }

  /** Calls `listener` with every valid peer heartbeat (either direction), after the machine took it in. */
  onPeerHeard(listener: (view: PeerView) => void): void {
    this.machine.onPeerHeard(listener);
  }

  /**
   * This node must never hold the lease again (its license was superseded by a higher
   * serial): it stops acquiring and asking at once, and a held lease is handed over the
   * way a step-down does it (last charge, fenced release, the peer told at once).
   * Deferred a turn, because the news arrives inside the lease loop or a heartbeat.
   */
  retire(reason: string): void {
    this.machine.refuseLease(reason);
    setImmediate(() => {
      if (!holdsLeaseIn(this.machine.state)) return;
      this.stepDown().catch((err: unknown) => this.deps.logger.warn('could not hand over the lease; it expires by itself', { err: errorMessage(err) }));
    });
  }

  /** Handles a heartbeat the peer sent us and answers with our own state. */
  onPeerHeartbeat(msg: PeerHeartbeatRequest__Output): PeerHeartbeatRequest {
    return this.peerLink.answer(msg);
  }

  /** What the node shows in GetStatus. */
  snapshot(): ClusterSnapshot {
    const m = this.machine;
    const holder = m.leaseHolder;
    const peer = m.peer;
    let leaderAddr = '';
    if (holder?.nodeId === this.deps.settings.nodeId) leaderAddr = this.deps.advertiseAddr();
    else if (holder && peer && holder.nodeId === peer.nodeId && peer.advertiseAddr) leaderAddr = peer.advertiseAddr;
    else if (holder) leaderAddr = this.holderAddr;
    const seen = this.peerLink.observed();
    return {
      state: m.state,
      epoch: m.epoch,
      highestEpoch: m.highestEpoch,
      leaderNodeId: holder?.nodeId ?? '',
      leaderAddr,
      leaseValidForMs: Math.round(m.leaseValidForMs()),
      storeOk: m.storeOk(),
      peer:
        this.deps.settings.peerAddr === undefined
          ? undefined
          : {
              nodeId: peer?.nodeId ?? '',
              addr: this.deps.settings.peerAddr,
              role: peer?.role,
              state: peer?.state,
              epoch: peer?.epoch ?? 0,
              lastHeartbeatMs: seen.lastHeartbeatMs,
              reachable: m.peerHealthy(),
              error: seen.error,
              licenseDigest: seen.licenseDigest,
              clockSkewMs: seen.clockSkewMs,
              consoleUrl: seen.consoleUrl,
              storeOk: peer?.storeOk ?? false,
              policyDigest: seen.policyDigest,
            },
    };
  }

  /**
   * The fencing identity for a call that hands out new seats (OpenSession, Checkout):
   * REDUNDANT_BLOCKED while FAILOVER_BLOCKED, NOT_ACTIVE (with the leader's address
   * when known) when this node holds no lease.
   */
  fenceForNewGrant(): Fence {
    return this.fenceIn(GRANTING_STATES);
  }

  /**
   * The fencing identity for a call that keeps running work alive or winds it down
   * (session heartbeats, release, close, the expiry sweep, activation): passes while
   * FAILOVER_BLOCKED too; NOT_ACTIVE when this node holds no lease.
   */
  fenceForRunningWork(): Fence {
    return this.fenceIn(RUNNING_WORK_STATES);
  }

  /**
   * Applies the failover budget's verdict to the role machine (FAILOVER_ACTIVE <->
   * FAILOVER_BLOCKED; while not holding the lease, the state it acquires into). The lease
   * hooks' verdicts come through here, and so do the ones from outside the lease loop:
   * a blocked restart, an applied activation key, a status refresh. Undefined: no opinion.
   */
  applyBudget(verdict: BudgetVerdict | undefined): void {
    if (verdict) this.machine.setBudgetBlocked(verdict.blocked);
  }

  /** Our fence while the machine is in one of `passing`; otherwise the refusal that says why not. */
  private fenceIn(passing: readonly NodeState[]): Fence {
    const state = this.machine.state;
    if (passing.includes(state)) return this.ownFence(this.machine.epoch);
    if (state === 'FAILOVER_BLOCKED') {
      throw new LicenseError(
        ErrorCode.REDUNDANT_BLOCKED,
        'redundant license server blocked: failover budget spent; no new seats until an operator applies an activation key (licensectl activation request, then activation apply)',
      );
    }
    const takeoverInMs = this.earlyTakeover?.expectedWithinMs();
    if (takeoverInMs !== undefined) {
      // Not the leader's address: it names the process that just died.
      throw new LicenseError(
        ErrorCode.NOT_ACTIVE,
        `license server ${this.deps.settings.nodeId} is not active yet: the active node's process is gone and this node expects to take over within ${takeoverInMs} ms; retry then`,
        { retryAfterMs: takeoverInMs },
      );
    }
    const s = this.snapshot();
    const where = s.leaderAddr ? `the active node is ${s.leaderNodeId} at ${s.leaderAddr}` : 'no active node is known right now; retry shortly';
    throw new LicenseError(ErrorCode.NOT_ACTIVE, `license server ${this.deps.settings.nodeId} is not active (${s.state}): ${where}`, {
      ...(s.leaderAddr ? { leaderAddr: s.leaderAddr } : {}),
    });
  }

  /** A fenced write was refused: the lease is gone, so check it now rather than at the next tick. */
  onStaleEpoch(): void {
    this.kick();
  }

  // ---- lease loop ---------------------------------------------------------------

  private scheduleLease(delayMs: number): void {
    if (!this.running) return;
    if (this.ticking) {
      if (delayMs === 0) this.tickAgain = true;
      return;
    }
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    this.leaseTimer = setTimeout(() => {
      this.step = this.tick();
    }, delayMs);
  }

  private async tick(): Promise<void> {
    this.leaseTimer = undefined;
    this.ticking = true;
    let next = this.deps.settings.heartbeatIntervalMs;
    try {
      await this.catchUpEpoch();
      next = await this.leaseStep();
    } catch (err) {
      this.deps.logger.error('lease loop step failed', { err: errorMessage(err) });
    } finally {
      this.ticking = false;
      this.persistEpoch();
    }
    if (this.tickAgain) {
      this.tickAgain = false;
      next = 0;
    }
    this.scheduleLease(next);
  }

  /** One lease operation; returns the delay until the next one. */
  private async leaseStep(): Promise<number> {
    const { settings, clock, lease } = this.deps;
    const interval = settings.heartbeatIntervalMs;
    const action = this.machine.nextAction(this.takeover !== undefined);
    const t0 = clock.monotonic();
    switch (action.kind) {
      case 'wait':
        await this.runHook((h) => h.refresh());
        return interval;
      case 'handback':
        this.deps.logger.info('primary is back and healthy: handing the lease back');
        await this.releaseAndTellPeer(this.machine.giveUp('handback'), 'handback');
        return interval;
      case 'acquire': {
        // The redundant must know whether the budget is spent before it takes the
        // lease, so that it enters FAILOVER_BLOCKED directly, never FAILOVER_ACTIVE.
        if (!(await this.runHook((h) => h.refresh())) || !this.running) return interval;
        // One try per confirmed suspicion: refused (the holder renewed), the TTL decides again.
        const takeover = this.takeover;
        this.takeover = undefined;
        const r = await this.storeCall(() =>
          lease.acquire({
            nodeId: settings.nodeId,
            knownEpoch: this.machine.highestEpoch,
            addr: this.deps.advertiseAddr(),
            role: settings.role,
            nowMs: clock.now(),
            ...(takeover ? { takeover: { owner: takeover.owner, renewals: takeover.renewals } } : {}),
          }),
        );
        if (!r) return interval;
        if (r.acquired && r.takenOver && takeover) {
          this.deps.observer?.earlyTakeover?.();
          this.deps.logger.warn('lease taken over early from a dead peer', { from: takeover.owner, newEpoch: r.epoch });
        } else if (takeover && !r.acquired) {
          this.deps.logger.info("early takeover refused: the peer's lease was renewed or changed meanwhile; its TTL decides", { seen: takeover.owner });
        }
        if (r.acquired) {
          if (!this.running) {
            // Stopped while the acquire was in flight: hand the key straight back (stop waits for this).
            await this.releaseUnserved(r.epoch, 'stopping');
            return interval;
          }
          if (this.deps.hooks?.holdOnlyWhileHooksSucceed) {
            // Charge first (it opens or restores the episode), serve after: a lease whose
            // charge fails is handed straight back, never served uncharged.
            const charged = await this.runHook((h) => h.afterAcquire(this.ownFence(r.epoch), t0));
            if (!charged || !this.running) {
              await this.releaseUnserved(r.epoch, charged ? 'stopping' : 'the failover budget could not be charged');
              return interval;
            }
            this.machine.acquired(r.epoch, t0);
            this.armDeadline();
          } else {
            this.machine.acquired(r.epoch, t0);
            this.armDeadline();
            if (this.machine.epoch === r.epoch) await this.runHook((h) => h.afterAcquire(this.ownFence(r.epoch), t0));
          }
          this.peerLink.sendSoon();
          return interval;
        }
        this.holderAddr = r.holder.addr;
        this.machine.acquireRefused(r.holder.nodeId ? r.holder : undefined, t0);
        // Try again right when the holder's key would expire, not up to a whole interval later.
        return r.pttlMs >= 0 && r.pttlMs < interval ? r.pttlMs + 2 : interval;
      }
      case 'renew': {
        const r = await this.storeCall(() => lease.renew(settings.nodeId, action.epoch));
        if (!r) return interval;
        if (r.renewed && this.deps.hooks?.holdOnlyWhileHooksSucceed) {
          // The renewal counts only once the charge for it landed: with failing charges the
          // deadline is not moved, and the node stops granting when it passes.
          if (this.machine.epoch === action.epoch && (await this.runHook((h) => h.afterRenew(this.ownFence(action.epoch))))) {
            this.machine.renewed(t0);
            this.armDeadline();
          }
        } else if (r.renewed) {
          this.machine.renewed(t0);
          this.armDeadline();
          if (this.machine.epoch === action.epoch) await this.runHook((h) => h.afterRenew(this.ownFence(action.epoch)));
        } else {
          if (r.holder) this.holderAddr = r.holder.addr;
          this.machine.leaseLost(r.holder, t0);
          this.peerLink.sendSoon();
          return interval;
        }
        return renewEveryMs(settings);
      }
    }
  }

  /**
   * Learns the highest epoch Redis knows (LeaseStore.readEpoch) when this node may be
   * behind its peer: at its first lease step (a new state dir knows no epoch, and a
   * redundant in its startup grace does not acquire) and after a peer was refused for an
   * epoch too far above the anchor, which this read raises if the peer was right. Not while
   * holding the lease: then this node's epoch is the newest in Redis. One read per lease
   * step at most, however many heartbeats ask for it.
   */
  private async catchUpEpoch(): Promise<void> {
    if (!this.epochReadWanted) return;
    if (holdsLeaseIn(this.machine.state)) {
      this.epochReadWanted = false;
      return;
    }
    const epoch = await this.storeCall(() => this.deps.lease.readEpoch());
    if (epoch === undefined) return; // Redis unreachable: again at the next step
    this.epochReadWanted = false;
    this.machine.observeEpoch(epoch);
  }

  /**
   * Runs a lease hook as a Redis call (see storeCall) and applies the budget verdict it
   * returns. True when there is no hook or it succeeded, false when it failed.
   */
  private async runHook(call: (hooks: LeaseHooks) => Promise<BudgetVerdict | undefined>): Promise<boolean> {
    const hooks = this.deps.hooks;
    if (!hooks) return true;
    const done = await this.storeCall(async () => {
      this.applyBudget(await call(hooks));
      return true;
    });
    return done ?? false;
  }

  /** Runs a Redis call; a failure is recorded (the deadline decides its cost) and yields undefined. */
  private async storeCall<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      const r = await fn();
      if (this.storeFailing) {
        this.storeFailing = false;
        this.deps.logger.info('redis reachable again');
      }
      return r;
    } catch (err) {
      this.machine.storeFailed();
      this.deps.observer?.storeError?.();
      // Each distinct reason, not just the first: the first symptom (a dropped connection)
      // is often not what keeps the node down (replicas missing, a master still being
      // switched). Each at most once per STORE_ERROR_LOG_EVERY_MS, however often reads
      // succeed in between, so a flapping Redis cannot flood the log.
      this.storeFailing = true;
      const reason = errorMessage(err);
      const now = this.deps.clock.monotonic();
      const last = this.storeErrorsLogged.get(reason);
      if (last === undefined || now - last >= STORE_ERROR_LOG_EVERY_MS) {
        if (this.storeErrorsLogged.size >= 50) this.storeErrorsLogged.clear();
        this.storeErrorsLogged.set(reason, now);
        this.deps.logger.error('redis call failed; the node stops acting if the lease cannot be renewed in time', {
          err: reason,
        });
      }
      return undefined;
    }
  }

  /** Wakes up exactly at the lease deadline, so a node whose renewals fail stops at once. */
  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    const ms = this.machine.deadlineMono() - this.deps.clock.monotonic();
    this.deadlineTimer = setTimeout(
      () => {
        this.deadlineTimer = undefined;
        void this.machine.state; // the read applies the deadline and fires the transition
      },
      Math.max(0, ms) + 1,
    );
  }

  /** Gives back a lease this node acquired but never served (its charge failed, or it is stopping). */
  private async releaseUnserved(epoch: number, why: string): Promise<void> {
    this.deps.hooks?.onLeaseLost();
    this.machine.observeEpoch(epoch); // handed out all the same: never to be minted again
    this.persistEpoch();
    try {
      await withTimeout(this.deps.lease.release(this.deps.settings.nodeId, epoch), STOP_STEP_TIMEOUT_MS);
      this.deps.logger.warn('lease acquired but not served; released', { why, releasedEpoch: epoch });
    } catch (err) {
      this.deps.logger.warn('lease acquired but not served; could not release it, it expires by itself', { why, err: errorMessage(err) });
    }
  }

  private async releaseAndTellPeer(epoch: number, why: 'handback' | 'step-down' | 'stop'): Promise<void> {
    if (epoch > 0) {
      const hooks = this.deps.hooks;
      if (hooks) {
        // The verdict is applied whenever the charge lands, even after the release went ahead without it.
        const settled = hooks.beforeRelease(this.ownFence(epoch)).then((verdict) => this.applyBudget(verdict));
        await withTimeout(settled, STOP_STEP_TIMEOUT_MS).catch((err: unknown) =>
          this.deps.logger.warn('could not settle the budget before releasing the lease', { why, err: errorMessage(err) }),
        );
      }
      try {
        const released = await withTimeout(this.deps.lease.release(this.deps.settings.nodeId, epoch), STOP_STEP_TIMEOUT_MS);
        this.deps.logger.info(released ? 'lease released' : 'lease was no longer ours; nothing to release', { why, releasedEpoch: epoch });
      } catch (err) {
        this.deps.logger.warn('could not release the lease; the peer takes over when it expires', { why, err: errorMessage(err) });
      }
    }
    await this.peerLink.tellSteppingDown();
  }

  // ---- the peer link's reports (PeerLinkOwner) -------------------------------

  /** What our heartbeats say; read in this order because reading the state applies the lease deadline. */
  private ownLeaseStatus(): OwnLeaseStatus {
    const m = this.machine;
    const state = m.state;
    return {
      state,
      epoch: m.epoch,
      leaseHolder: m.leaseHolder?.nodeId ?? '',
      wantsLease: m.wantsLease(),
      storeOk: m.storeOk(),
      highestEpoch: m.highestEpoch,
    };
  }

  /** A valid peer heartbeat (either direction). */
  private peerHeard(view: PeerView): void {
    this.peerNodeId = view.nodeId;
    this.machine.peerHeard(view);
    // A released lease (planned handover, handback) or a primary asking for it: act now, not at the next tick.
    if (view.steppingDown || view.wantsLease) this.kick();
  }

  // ---- plumbing ---------------------------------------------------------------------

  /** This node's fence at `epoch`. */
  private ownFence(epoch: number): Fence {
    return { nodeId: this.deps.settings.nodeId, epoch };
  }

  private onTransition(t: Transition): void {
    const failover = t.to === 'FAILOVER_ACTIVE' && t.from !== 'FAILOVER_BLOCKED';
    const lost = holdsLeaseIn(t.from) && !holdsLeaseIn(t.to) && t.to !== 'STOPPING';
    const level = failover || lost || t.to === 'FAILOVER_BLOCKED' ? 'warn' : 'info';
    this.deps.logger.log(level, `state ${t.from} -> ${t.to}: ${t.reason}`, { from: t.from, to: t.to, newEpoch: t.epoch });
    if (holdsLeaseIn(t.to)) this.persistEpoch();
    if (holdsLeaseIn(t.from) && !holdsLeaseIn(t.to)) this.deps.hooks?.onLeaseLost();
    if (t.to === 'STANDBY' && this.running) this.peerLink.sendSoon();
    for (const l of this.listeners) l(t);
  }

  /** Synchronous on purpose (StateFile.update): a new epoch is on disk before the node serves with it. A no-op when unchanged. */
  private persistEpoch(): void {
    try {
      this.deps.stateFile.update({ highestEpoch: this.machine.highestEpoch });
    } catch (err) {
      this.deps.logger.error('cannot write the state file', { path: this.deps.stateFile.path, err: errorMessage(err) });
    }
  }

  private clearTimers(): void {
    for (const t of [this.leaseTimer, this.deadlineTimer]) if (t) clearTimeout(t);
    this.leaseTimer = this.deadlineTimer = undefined;
    this.peerLink.stop();
    this.earlyTakeover?.stop();
  }
}

/**
 * How often the lease holder renews: every heartbeat, and at least ten times per TTL. A
 * dead holder is recognised (early takeover, peer-death.ts) only once its next renewal is
 * overdue, so this bounds the fast path: 500 ms at the default TTL of 5 s.
 */
export function renewEveryMs(settings: Pick<ControllerSettings, 'heartbeatIntervalMs' | 'leaseTtlMs'>): number {
  return Math.min(settings.heartbeatIntervalMs, Math.max(100, Math.ceil(settings.leaseTtlMs / 10)));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
