import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../clock';
import type { Role } from '../config';
import { LicenseError } from '../errors';
import type { ClusterServiceClient } from '../../contract/generated/license/v1/ClusterService';
import type { PeerHeartbeatRequest, PeerHeartbeatRequest__Output } from '../../contract/generated/license/v1/PeerHeartbeatRequest';
import type { Logger } from '../log';
import type { PeerAuthenticator } from './peer-auth';
import { PeerRefusedError, refusalDetail, validatePeerMessage } from './peer-message';
import type { PeerView } from './role-machine';
import { type NodeState, toProtoRole, toProtoState } from './states';

/** Time allowed for the last messages of a planned handover; the node exits well within 5 s. */
export const STOP_STEP_TIMEOUT_MS = 1_000;

/** The settings the peer link reads (a subset of the controller's). */
export interface PeerLinkSettings {
  readonly role: Role;
  readonly nodeId: string;
  readonly clusterId: string;
  /** The peer's ClusterService address (LICENSE_PEER_ADDR), for logs; unset: no peer. */
  readonly peerAddr?: string;
  /** Peer heartbeat interval, and the deadline of each regular heartbeat call. */
  readonly heartbeatIntervalMs: number;
  /**
   * Serial of this node's license file, sent as license_serial so that a peer running an
   * older license stops serving. It reaches the link inside the controller's settings, which
   * the controller hands over as they are (node.ts puts it there); unset: 0, not sent.
   */
  readonly licenseSerial?: number;
}

/** What this node tells its peer about its lease; the controller reads it from the role machine. */
export interface OwnLeaseStatus {
  readonly state: NodeState;
  readonly epoch: number;
  readonly leaseHolder: string;
  readonly wantsLease: boolean;
  readonly storeOk: boolean;
  readonly highestEpoch: number;
}

/**
 * The controller's side of the link. The peer link never touches the role machine: it
 * reports what it heard through these calls and the controller alone drives the machine.
 */
export interface PeerLinkOwner {
  /** Read when a heartbeat is built (reading the machine may apply the lease deadline). */
  ownStatus(): OwnLeaseStatus;
  /** A heartbeat from the peer (either direction) passed authentication and validation. */
  heard(view: PeerView): void;
  /** Our heartbeat got no valid answer. */
  missed(): void;
  /** After each heartbeat this node sent, answered or not: what it heard may have raised the highest epoch. */
  exchanged(): void;
  /** The epoch a peer's epochs are measured against (RoleMachine.epochAnchor, MAX_PEER_EPOCH_JUMP). */
  epochAnchor(): number;
  /** A heartbeat was refused for an epoch too far above the anchor: look at Redis, the peer may be right. */
  epochAhead(): void;
}

export interface PeerLinkDeps {
  readonly settings: PeerLinkSettings;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Client to the peer's ClusterService; absent when LICENSE_PEER_ADDR is unset (then we only answer). */
  readonly client?: ClusterServiceClient;
  readonly licenseDigest: string;
  readonly advertiseAddr: () => string;
  /** This node's web console URL, sent so the peer's console can link to it ('' or unset: off). */
  readonly consoleUrl?: () => string;
  /** Digest of the seat policy this node enforces now (it changes on reload); unset: none sent. */
  readonly policyDigest?: () => string;
  /** Signs and checks heartbeats with LICENSE_CLUSTER_SECRET. */
  readonly auth?: PeerAuthenticator;
  /** Round-trip time of each answered heartbeat (metrics). */
  readonly onRtt?: (seconds: number) => void;
  readonly owner: PeerLinkOwner;
}

/** What the link last observed of the peer, beyond the role machine's PeerView (status, metrics). */
export interface PeerObservation {
  /** Wall-clock time of the last valid heartbeat, 0 before the first. */
  readonly lastHeartbeatMs: number;
  /** Why the peer is unreachable or refused, '' while healthy. */
  readonly error: string;
  readonly licenseDigest: string;
  /** Serial of the peer's license, from its last valid heartbeat; 0 before one or when it does not say. */
  readonly licenseSerial: number;
  readonly clockSkewMs: number;
  /** The peer's web console URL from its last valid heartbeat ('' when it has none or sent something else). */
  readonly consoleUrl: string;
  /** The peer's seat policy digest from its last valid heartbeat ('' when it does not say). */
  readonly policyDigest: string;
}

/**
 * The heartbeat exchange with the peer node: sends our PeerHeartbeat every interval (or
 * soon, when asked) over the ClusterService client, answers the peer's, and accepts its
 * heartbeats in both directions (authentication, validation, clock skew, license digest,
 * errors logged once per distinct reason). It only informs; the lease decides.
 */
export class PeerLink {
  private peerPolicyDigest = '';
  /** The last seat policy comparison logged ('same', 'unknown' or 'differs:<peer>:<own>'). */
  private policyVerdict = 'unknown';
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private error = '';
  private lastWallMs = 0;
  private skewMs = 0;
  private peerConsoleUrl = '';
  private digest = '';
  private serial = 0;

  constructor(private readonly deps: PeerLinkDeps) {}

  /** Starts the heartbeat loop (nothing to send without a client). */
  start(): void {
    this.running = true;
    this.schedule(0);
  }

  /** Stops the loop; answering the peer and tellSteppingDown still work. */
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Sends our heartbeat now rather than at the next interval (the loop goes on from there). */
  sendSoon(): void {
    this.schedule(0);
  }

  /** Tells the peer at once that we gave up the lease (stepping_down), with the short deadline of a planned handover. */
  tellSteppingDown(): Promise<void> {
    return this.send(true);
  }

  /** Handles a heartbeat the peer sent us and answers with our own; throws when it is refused. */
  answer(msg: PeerHeartbeatRequest__Output): PeerHeartbeatRequest {
    this.accept(msg, 'request');
    return this.ownHeartbeat(false);
  }

  observed(): PeerObservation {
    return {
      lastHeartbeatMs: this.lastWallMs,
      error: this.error,
      licenseDigest: this.digest,
      licenseSerial: this.serial,
      clockSkewMs: this.skewMs,
      consoleUrl: this.peerConsoleUrl,
      policyDigest: this.peerPolicyDigest,
    };
  }

  private schedule(delayMs: number): void {
    if (!this.deps.client || !this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // The timer cannot await it; finally keeps the loop going unless a newer send was scheduled meanwhile.
      void this.send(false).finally(() => {
        if (!this.timer) this.schedule(this.deps.settings.heartbeatIntervalMs);
      });
    }, delayMs);
  }

  private ownHeartbeat(steppingDown: boolean): PeerHeartbeatRequest {
    const { settings, clock } = this.deps;
    const own = this.deps.owner.ownStatus();
    const msg: PeerHeartbeatRequest = {
      cluster_id: settings.clusterId,
      node_id: settings.nodeId,
      role: toProtoRole(settings.role),
      state: toProtoState(own.state),
      epoch: own.epoch,
      lease_holder: own.leaseHolder,
      sent_at_ms: clock.now(),
      stepping_down: steppingDown,
      wants_lease: own.wantsLease,
      license_digest: this.deps.licenseDigest,
      advertise_addr: this.deps.advertiseAddr(),
      store_ok: own.storeOk,
      highest_epoch: own.highestEpoch,
      license_serial: settings.licenseSerial ?? 0,
      console_url: this.deps.consoleUrl?.() ?? '',
      policy_digest: this.deps.policyDigest?.() ?? '',
    };
    return this.deps.auth ? this.deps.auth.sign(msg) : msg;
  }

  private async send(steppingDown: boolean): Promise<void> {
    const client = this.deps.client;
    if (!client) return;
    const deadlineMs = steppingDown ? STOP_STEP_TIMEOUT_MS : this.deps.settings.heartbeatIntervalMs;
    const req = this.ownHeartbeat(steppingDown);
    const sent = process.hrtime.bigint();
    try {
      const res = await new Promise<PeerHeartbeatRequest__Output>((resolve, reject) => {
        client.Heartbeat(req, { deadline: Date.now() + deadlineMs }, (err, value) =>
          // grpc-js answers OK only with a message; the fallback Error just keeps the rejection an Error.
          err || !value ? reject(err ?? new Error('peer answered without a message')) : resolve(value),
        );
      });
      this.deps.onRtt?.(Number(process.hrtime.bigint() - sent) / 1e9);
      this.accept(res, 'response');
    } catch (err) {
      this.deps.owner.missed();
      const e = err as Partial<grpc.ServiceError>;
      const refused =
        e.code === grpc.status.FAILED_PRECONDITION ||
        e.code === grpc.status.UNAUTHENTICATED ||
        e.code === grpc.status.PERMISSION_DENIED ||
        err instanceof LicenseError;
      // Our own refusal of the peer's answer (a LicenseError, whose `details` is an object)
      // reads as what accept() logged; grpc-js appends resolver notes to connection errors:
      // keep the part an operator can act on.
      const detail = (err instanceof LicenseError || typeof e.details !== 'string' ? refusalDetail(err) : e.details).replace(/\.? ?Resolution note:.*$/s, '');
      const reason = refused ? `refused: ${detail}` : `unreachable: ${e.code !== undefined ? `${grpc.status[e.code]}: ` : ''}${detail}`;
      this.noteError(reason, refused);
    } finally {
      this.deps.owner.exchanged();
    }
  }

  /** Authenticates and validates a peer heartbeat (either direction) and reports it to the owner. */
  private accept(msg: PeerHeartbeatRequest__Output, direction: 'request' | 'response'): void {
    let view;
    try {
      this.deps.auth?.verify(msg, this.deps.clock.now());
      view = validatePeerMessage(msg, this.deps.settings, this.deps.owner.epochAnchor());
    } catch (err) {
      // The log names what the sender must not learn (refusalDetail); the thrown error goes back to it.
      this.noteError(`refused: ${refusalDetail(err)}`, true, direction);
      if (err instanceof PeerRefusedError && err.epochAhead) this.deps.owner.epochAhead();
      throw err;
    }
    this.deps.owner.heard(view);
    this.lastWallMs = this.deps.clock.now();
    this.skewMs = msg.sent_at_ms > 0 ? msg.sent_at_ms - this.lastWallMs : 0;
    // Only ever shown as a link to an operator: anything but a plain http(s) URL is dropped, never refused.
    this.peerConsoleUrl = /^https?:\/\/[^\s"'<>]{1,300}$/.test(msg.console_url) ? msg.console_url : '';
    if (msg.license_digest !== this.digest || msg.license_serial !== this.serial) {
      this.digest = msg.license_digest;
      this.serial = msg.license_serial;
      if (msg.license_digest !== this.deps.licenseDigest) {
        this.deps.logger.error('peer loaded a different license file; both nodes must load the same one', {
          peer: view.nodeId,
          peerDigest: msg.license_digest,
          ownDigest: this.deps.licenseDigest,
          peerSerial: msg.license_serial,
          ownSerial: this.deps.settings.licenseSerial ?? 0,
        });
      }
    }
    this.notePolicyDigest(view.nodeId, /^[0-9a-f]{64}$/.test(msg.policy_digest) ? msg.policy_digest : '');
    if (this.error) {
      this.deps.logger.info('peer heartbeats healthy again', { peer: view.nodeId, previously: this.error });
      this.error = '';
    }
  }

  /**
   * Both nodes must enforce the same seat policy (after a failover the other node's applies).
   * Logged when the comparison changes: a mismatch at error level, its end at info; a rolling
   * edit shows a mismatch until the second node has the file.
   */
  private notePolicyDigest(peer: string, peerDigest: string): void {
    const own = this.deps.policyDigest?.() ?? '';
    const verdict = peerDigest === '' || own === '' ? 'unknown' : peerDigest === own ? 'same' : `differs:${peerDigest}:${own}`;
    this.peerPolicyDigest = peerDigest;
    if (verdict === this.policyVerdict) return;
    const was = this.policyVerdict;
    this.policyVerdict = verdict;
    if (verdict.startsWith('differs')) {
      this.deps.logger.error('peer enforces a different seat policy; both nodes must load the same LICENSE_POLICY_FILE', {
        peer,
        peerPolicyDigest: peerDigest,
        ownPolicyDigest: own,
      });
    } else if (verdict === 'same' && was.startsWith('differs')) {
      this.deps.logger.info('peer enforces the same seat policy again', { peer, policyDigest: own });
    }
  }

  /** Logs a peer problem once when it starts or changes, loudly (error) when it is a misconfiguration. */
  private noteError(reason: string, refused: boolean, direction?: string): void {
    if (reason === this.error) return;
    this.error = reason;
    const meta = { peerAddr: this.deps.settings.peerAddr, reason, ...(direction ? { direction } : {}) };
    if (refused) this.deps.logger.error('peer refused: misconfigured cluster', meta);
    else this.deps.logger.warn('peer heartbeat failed', meta);
  }
}
