import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../clock';
import type { Config, Role } from '../config';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import type { ClusterServiceClient } from '../../contract/generated/license/v1/ClusterService';
import type { PeerHeartbeatRequest, PeerHeartbeatRequest__Output } from '../../contract/generated/license/v1/PeerHeartbeatRequest';
import type { Logger } from '../log';
import type { LeaseStore } from '../store/lease-store';
import type { Fence } from '../store/seat-store';
import type { StateFile } from '../state-file';
import type { PeerAuthenticator } from './peer-auth';
import { validatePeerMessage } from './peer-message';
import { RoleMachine, type Transition } from './role-machine';
import { holdsLeaseIn, type NodeState, toProtoRole, toProtoState } from './states';

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
 */
export interface LeaseHooks {
  /** While not holding the lease (each tick, and right before an acquire attempt). */
  refresh(): Promise<void>;
  afterAcquire(fence: Fence, attemptMono: number): Promise<void>;
  afterRenew(fence: Fence): Promise<void>;
  /** After granting stopped, before the key is released (planned handover, handback, step-down). */
  beforeRelease(fence: Fence): Promise<void>;
  onLeaseLost(): void;
}

/** Measurements the controller reports (metrics); every member optional. */
export interface ControllerObserver {
  peerRtt?(seconds: number): void;
  storeError?(): void;
}

export interface NodeControllerDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly lease: LeaseStore;
  readonly stateFile: StateFile;
  /** Client to the peer's ClusterService; absent when LICENSE_PEER_ADDR is unset. */
  readonly peerClient?: ClusterServiceClient;
  readonly licenseDigest: string;
  /** The address clients should use for this node (resolved after the server binds). */
  readonly advertiseAddr: () => string;
  readonly hooks?: LeaseHooks;
  readonly observer?: ControllerObserver;
  /** Signs and checks heartbeats with LICENSE_CLUSTER_SECRET. */
  readonly peerAuth?: PeerAuthenticator;
}

/** Time allowed for the last messages of a planned handover; the node exits well within 5 s. */
const STOP_STEP_TIMEOUT_MS = 1_000;

/**
 * Runs the role machine against the world: one serialized lease loop (acquire /
 * renew / hand back every heartbeat interval, or at once when kicked), one peer
 * heartbeat loop, and a timer at the lease deadline so that stepping down never
 * waits for the next tick.
 */
export class NodeController {
  readonly machine: RoleMachine;
  private readonly listeners: ((t: Transition) => void)[] = [];
  private leaseTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private peerTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  private tickAgain = false;
  private running = false;
  private holderAddr = '';
  private peerError = '';
  private peerLastWallMs = 0;
  private peerSkewMs = 0;
  private peerDigest = '';
  private storeErrorLogged = false;

  constructor(private readonly deps: NodeControllerDeps) {
    const { config, clock } = deps;
    this.machine = new RoleMachine(
      {
        role: config.role,
        nodeId: config.nodeId,
        leaseTtlMs: config.leaseTtlMs,
        leaseSafetyMarginMs: config.leaseSafetyMarginMs,
        handbackAfterMs: config.handbackAfterMs,
        redundantStartupGraceMs: config.redundantStartupGraceMs,
        highestEpoch: deps.stateFile.value.highestEpoch,
      },
      clock,
      (t) => this.onTransition(t),
    );
  }

  /** Called on every state change (health, metrics, logs). */
  onStateChange(listener: (t: Transition) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    this.running = true;
    this.kick();
    this.schedulePeerHeartbeat(0);
  }

  /** Runs the lease loop now instead of at the next interval. */
  kick(): void {
    this.scheduleLease(0);
  }

  /**
   * Planned handover: stop granting, release the lease (compare-and-delete) and tell
   * the peer with a `stepping_down` heartbeat so it acquires at once.
   */
  async stop(): Promise<void> {
    const epoch = this.machine.giveUp('stop');
    this.running = false;
    this.clearTimers();
    await this.releaseAndTellPeer(epoch, 'stop');
  }

  /** Gives up the lease on an operator's request; the node stays up as a standby. */
  async stepDown(): Promise<boolean> {
    const epoch = this.machine.giveUp('step-down');
    await this.releaseAndTellPeer(epoch, 'step-down');
    return epoch > 0;
  }

  /** Handles a heartbeat the peer sent us and answers with our own state. */
  onPeerHeartbeat(msg: PeerHeartbeatRequest__Output): PeerHeartbeatRequest {
    this.acceptPeer(msg, 'request');
    return this.ownHeartbeat(false);
  }

  /** What the node shows in GetStatus. */
  snapshot(): ClusterSnapshot {
    const m = this.machine;
    const holder = m.leaseHolder;
    const peer = m.peer;
    let leaderAddr = '';
    if (holder?.nodeId === this.deps.config.nodeId) leaderAddr = this.deps.advertiseAddr();
    else if (holder && peer && holder.nodeId === peer.nodeId && peer.advertiseAddr) leaderAddr = peer.advertiseAddr;
    else if (holder) leaderAddr = this.holderAddr;
    return {
      state: m.state,
      epoch: m.epoch,
      highestEpoch: m.highestEpoch,
      leaderNodeId: holder?.nodeId ?? '',
      leaderAddr,
      leaseValidForMs: Math.round(m.leaseValidForMs()),
      storeOk: m.storeOk(),
      peer:
        this.deps.config.peerAddr === undefined
          ? undefined
          : {
              nodeId: peer?.nodeId ?? '',
              addr: this.deps.config.peerAddr,
              role: peer?.role,
              state: peer?.state,
              epoch: peer?.epoch ?? 0,
              lastHeartbeatMs: this.peerLastWallMs,
              reachable: m.peerHealthy(),
              error: this.peerError,
              licenseDigest: this.peerDigest,
              clockSkewMs: this.peerSkewMs,
            },
    };
  }

  /**
   * The fencing identity for a write, or NOT_ACTIVE (with the leader's address when
   * known) when this node holds no lease. While FAILOVER_BLOCKED only calls that keep
   * running work alive pass (`allowBlocked`); new grants get REDUNDANT_BLOCKED.
   */
  fence(allowBlocked: boolean): { nodeId: string; epoch: number } {
    const state = this.machine.state;
    if (state === 'ACTIVE' || state === 'FAILOVER_ACTIVE' || (allowBlocked && state === 'FAILOVER_BLOCKED')) {
      return { nodeId: this.deps.config.nodeId, epoch: this.machine.epoch };
    }
    if (state === 'FAILOVER_BLOCKED') {
      throw new LicenseError(
        ErrorCode.REDUNDANT_BLOCKED,
        'redundant license server blocked: failover budget spent; no new seats until an operator applies an activation key (licensectl activation request, then activation apply)',
      );
    }
    const s = this.snapshot();
    const where = s.leaderAddr ? `the active node is ${s.leaderNodeId} at ${s.leaderAddr}` : 'no active node is known right now; retry shortly';
    throw new LicenseError(ErrorCode.NOT_ACTIVE, `license server ${this.deps.config.nodeId} is not active (${s.state}): ${where}`, {
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
    this.leaseTimer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    this.leaseTimer = undefined;
    this.ticking = true;
    let next = this.deps.config.heartbeatIntervalMs;
    try {
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
    const { config, clock, lease } = this.deps;
    const interval = config.heartbeatIntervalMs;
    const action = this.machine.nextAction();
    const t0 = clock.monotonic();
    const hooks = this.deps.hooks;
    const fence = (epoch: number): Fence => ({ nodeId: config.nodeId, epoch });
    switch (action.kind) {
      case 'wait':
        if (hooks) await this.storeCall(() => hooks.refresh());
        return interval;
      case 'handback':
        this.deps.logger.info('primary is back and healthy: handing the lease back');
        await this.releaseAndTellPeer(this.machine.giveUp('handback'), 'handback');
        return interval;
      case 'acquire': {
        // The redundant must know whether the budget is spent before it takes the
        // lease, so that it enters FAILOVER_BLOCKED directly, never FAILOVER_ACTIVE.
        if (hooks && !(await this.storeCall(() => hooks.refresh().then(() => true)))) return interval;
        const r = await this.storeCall(() =>
          lease.acquire({
            nodeId: config.nodeId,
            knownEpoch: this.machine.highestEpoch,
            addr: this.deps.advertiseAddr(),
            role: config.role,
            nowMs: clock.now(),
          }),
        );
        if (!r) return interval;
        if (r.acquired) {
          this.machine.acquired(r.epoch, t0);
          this.armDeadline();
          if (hooks && this.machine.epoch === r.epoch) await this.storeCall(() => hooks.afterAcquire(fence(r.epoch), t0));
          this.schedulePeerHeartbeat(0);
          return interval;
        }
        this.holderAddr = r.holder.addr;
        this.machine.acquireRefused(r.holder.nodeId ? r.holder : undefined, t0);
        // Try again right when the holder's key would expire, not up to a whole interval later.
        return r.pttlMs >= 0 && r.pttlMs < interval ? r.pttlMs + 2 : interval;
      }
      case 'renew': {
        const r = await this.storeCall(() => lease.renew(config.nodeId, action.epoch));
        if (!r) return interval;
        if (r.renewed) {
          this.machine.renewed(t0);
          this.armDeadline();
          if (hooks && this.machine.epoch === action.epoch) await this.storeCall(() => hooks.afterRenew(fence(action.epoch)));
        } else {
          if (r.holder) this.holderAddr = r.holder.addr;
          this.machine.leaseLost(r.holder, t0);
          this.schedulePeerHeartbeat(0);
        }
        return interval;
      }
    }
  }

  /** Runs a Redis call; a failure is recorded (the deadline decides its cost) and yields undefined. */
  private async storeCall<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      const r = await fn();
      if (this.storeErrorLogged) {
        this.storeErrorLogged = false;
        this.deps.logger.info('redis reachable again');
      }
      return r;
    } catch (err) {
      this.machine.storeFailed();
      this.deps.observer?.storeError?.();
      if (!this.storeErrorLogged) {
        this.storeErrorLogged = true;
        this.deps.logger.error('redis call failed; the node stops acting if the lease cannot be renewed in time', {
          err: errorMessage(err),
        });
      }
      return undefined;
    }
  }

  /** Wakes up exactly at the lease deadline, so a node whose renewals fail stops at once. */
  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    const ms = this.machine.deadlineMono() - this.deps.clock.monotonic();
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      void this.machine.state; // the read applies the deadline and fires the transition
    }, Math.max(0, ms) + 1);
  }

  private async releaseAndTellPeer(epoch: number, why: 'handback' | 'step-down' | 'stop'): Promise<void> {
    if (epoch > 0) {
      const hooks = this.deps.hooks;
      if (hooks) {
        await withTimeout(hooks.beforeRelease({ nodeId: this.deps.config.nodeId, epoch }), STOP_STEP_TIMEOUT_MS).catch((err: unknown) =>
          this.deps.logger.warn('could not settle the budget before releasing the lease', { why, err: errorMessage(err) }),
        );
      }
      try {
        const released = await withTimeout(this.deps.lease.release(this.deps.config.nodeId, epoch), STOP_STEP_TIMEOUT_MS);
        this.deps.logger.info(released ? 'lease released' : 'lease was no longer ours; nothing to release', { why, releasedEpoch: epoch });
      } catch (err) {
        this.deps.logger.warn('could not release the lease; the peer takes over when it expires', { why, err: errorMessage(err) });
      }
    }
    await this.sendPeerHeartbeat(true);
  }

  // ---- peer heartbeats ---------------------------------------------------------

  private schedulePeerHeartbeat(delayMs: number): void {
    if (!this.deps.peerClient || !this.running) return;
    if (this.peerTimer) clearTimeout(this.peerTimer);
    this.peerTimer = setTimeout(() => {
      this.peerTimer = undefined;
      void this.sendPeerHeartbeat(false).finally(() => {
        if (!this.peerTimer) this.schedulePeerHeartbeat(this.deps.config.heartbeatIntervalMs);
      });
    }, delayMs);
  }

  private ownHeartbeat(steppingDown: boolean): PeerHeartbeatRequest {
    const { config, clock } = this.deps;
    const m = this.machine;
    const state = m.state;
    const msg: PeerHeartbeatRequest = {
      cluster_id: config.clusterId,
      node_id: config.nodeId,
      role: toProtoRole(config.role),
      state: toProtoState(state),
      epoch: m.epoch,
      lease_holder: m.leaseHolder?.nodeId ?? '',
      sent_at_ms: clock.now(),
      stepping_down: steppingDown,
      wants_lease: m.wantsLease(),
      license_digest: this.deps.licenseDigest,
      advertise_addr: this.deps.advertiseAddr(),
      store_ok: m.storeOk(),
      highest_epoch: m.highestEpoch,
    };
    return this.deps.peerAuth ? this.deps.peerAuth.sign(msg) : msg;
  }

  private async sendPeerHeartbeat(steppingDown: boolean): Promise<void> {
    const client = this.deps.peerClient;
    if (!client) return;
    const deadlineMs = steppingDown ? STOP_STEP_TIMEOUT_MS : this.deps.config.heartbeatIntervalMs;
    const req = this.ownHeartbeat(steppingDown);
    const sent = process.hrtime.bigint();
    try {
      const res = await new Promise<PeerHeartbeatRequest__Output>((resolve, reject) => {
        client.Heartbeat(req, { deadline: Date.now() + deadlineMs }, (err, value) => (err || !value ? reject(err) : resolve(value)));
      });
      this.deps.observer?.peerRtt?.(Number(process.hrtime.bigint() - sent) / 1e9);
      this.acceptPeer(res, 'response');
    } catch (err) {
      this.machine.peerMissed();
      const e = err as Partial<grpc.ServiceError>;
      const refused =
        e.code === grpc.status.FAILED_PRECONDITION ||
        e.code === grpc.status.UNAUTHENTICATED ||
        e.code === grpc.status.PERMISSION_DENIED ||
        err instanceof LicenseError;
      // grpc-js appends resolver notes to connection errors; keep the part an operator can act on.
      const detail = (e.details ?? errorMessage(err)).replace(/\.? ?Resolution note:.*$/s, '');
      const reason = refused ? `refused: ${detail}` : `unreachable: ${e.code !== undefined ? `${grpc.status[e.code]}: ` : ''}${detail}`;
      this.notePeerError(reason, refused);
    } finally {
      this.persistEpoch();
    }
  }

  /** Authenticates and validates a peer heartbeat (either direction) and feeds it to the machine. */
  private acceptPeer(msg: PeerHeartbeatRequest__Output, direction: 'request' | 'response'): void {
    let view;
    try {
      this.deps.peerAuth?.verify(msg, this.deps.clock.now());
      view = validatePeerMessage(msg, this.deps.config);
    } catch (err) {
      this.notePeerError(`refused: ${errorMessage(err)}`, true, direction);
      throw err;
    }
    this.machine.peerHeard(view);
    // A released lease (planned handover, handback) or a primary asking for it: act now, not at the next tick.
    if (view.steppingDown || view.wantsLease) this.kick();
    this.peerLastWallMs = this.deps.clock.now();
    this.peerSkewMs = msg.sent_at_ms > 0 ? msg.sent_at_ms - this.peerLastWallMs : 0;
    if (msg.license_digest !== this.peerDigest) {
      this.peerDigest = msg.license_digest;
      if (msg.license_digest !== this.deps.licenseDigest) {
        this.deps.logger.error('peer loaded a different license file; both nodes must load the same one', {
          peer: view.nodeId,
          peerDigest: msg.license_digest,
          ownDigest: this.deps.licenseDigest,
        });
      }
    }
    if (this.peerError) {
      this.deps.logger.info('peer heartbeats healthy again', { peer: view.nodeId, previously: this.peerError });
      this.peerError = '';
    }
  }

  /** Logs a peer problem once when it starts or changes, loudly (error) when it is a misconfiguration. */
  private notePeerError(reason: string, refused: boolean, direction?: string): void {
    if (reason === this.peerError) return;
    this.peerError = reason;
    const meta = { peerAddr: this.deps.config.peerAddr, reason, ...(direction ? { direction } : {}) };
    if (refused) this.deps.logger.error('peer refused: misconfigured cluster', meta);
    else this.deps.logger.warn('peer heartbeat failed', meta);
  }

  // ---- plumbing ---------------------------------------------------------------------

  private onTransition(t: Transition): void {
    const failover = t.to === 'FAILOVER_ACTIVE' && t.from !== 'FAILOVER_BLOCKED';
    const lost = holdsLeaseIn(t.from) && !holdsLeaseIn(t.to) && t.to !== 'STOPPING';
    const level = failover || lost || t.to === 'FAILOVER_BLOCKED' ? 'warn' : 'info';
    this.deps.logger.log(level, `state ${t.from} -> ${t.to}: ${t.reason}`, { from: t.from, to: t.to, newEpoch: t.epoch });
    if (holdsLeaseIn(t.to)) this.persistEpoch();
    if (holdsLeaseIn(t.from) && !holdsLeaseIn(t.to)) this.deps.hooks?.onLeaseLost();
    if (t.to === 'STANDBY' && this.running) this.schedulePeerHeartbeat(0);
    for (const l of this.listeners) l(t);
  }

  private persistEpoch(): void {
    try {
      this.deps.stateFile.update({ highestEpoch: this.machine.highestEpoch });
    } catch (err) {
      this.deps.logger.error('cannot write the state file', { path: this.deps.stateFile.path, err: errorMessage(err) });
    }
  }

  private clearTimers(): void {
    for (const t of [this.leaseTimer, this.deadlineTimer, this.peerTimer]) if (t) clearTimeout(t);
    this.leaseTimer = this.deadlineTimer = this.peerTimer = undefined;
  }
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
