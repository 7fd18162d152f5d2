import type { Role } from '../config';
import { ErrorCode, LicenseError } from '../errors';
import type { PeerHeartbeatRequest__Output } from '../../contract/generated/license/v1/PeerHeartbeatRequest';
import { isEpoch } from '../store/fence';
import { MAX_PEER_EPOCH_JUMP, type PeerView } from './role-machine';
import { fromProtoRole, fromProtoState } from './states';

export interface Self {
  readonly clusterId: string;
  readonly nodeId: string;
  readonly role: Role;
}

/**
 * A refused peer heartbeat (PEER_REFUSED). `message` goes back to whoever sent the
 * heartbeat, who may be no peer at all, so it names nothing of this node that the sender
 * did not send itself (not the cluster id); `localMessage` is for this node's log and
 * status and names everything an operator needs.
 */
export class PeerRefusedError extends LicenseError {
  constructor(
    message: string,
    readonly localMessage: string = message,
    /** Refused for an epoch too far ahead: the node should re-read the epoch in Redis. */
    readonly epochAhead = false,
  ) {
    super(ErrorCode.PEER_REFUSED, message);
  }
}

/** What this node logs and shows for a refusal: the local message of a PeerRefusedError, else the message. */
export function refusalDetail(err: unknown): string {
  if (err instanceof PeerRefusedError) return err.localMessage;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Checks a peer heartbeat (request or response: same fields) against this node and
 * turns it into a PeerView. A peer of another cluster, with our own node id, or
 * claiming our role is a misconfiguration: refused with PEER_REFUSED, never obeyed.
 *
 * So is a peer whose `epoch` or `highest_epoch` is not an epoch (a whole number in
 * [0, 2^48)) or is more than MAX_PEER_EPOCH_JUMP above `epochAnchor`, the highest epoch
 * this node knows from its own state dir and from Redis (RoleMachine.epochAnchor):
 * adopted, it would be the floor of every later epoch, in Redis and in both state files.
 * The cluster id is checked first, so a sender that does not know it learns nothing else.
 */
export function validatePeerMessage(msg: PeerHeartbeatRequest__Output, self: Self, epochAnchor: number): PeerView {
  const peer = msg.node_id || '(no node id)';
  if (msg.cluster_id !== self.clusterId) {
    throw new PeerRefusedError(
      `peer ${peer} does not belong to this node's cluster: check LICENSE_CLUSTER_ID and LICENSE_PEER_ADDR on both nodes`,
      `peer ${peer} belongs to cluster "${msg.cluster_id}", this node to "${self.clusterId}": check LICENSE_CLUSTER_ID and LICENSE_PEER_ADDR on both nodes`,
    );
  }
  if (msg.node_id === self.nodeId) {
    throw new PeerRefusedError(
      `peer uses this node's own id "${self.nodeId}": every node needs its own LICENSE_NODE_ID (or LICENSE_PEER_ADDR points at this node)`,
    );
  }
  const role = fromProtoRole(msg.role);
  const state = fromProtoState(msg.state);
  if (role === undefined || state === undefined) {
    throw new PeerRefusedError(`peer ${peer} sent no valid role or state`);
  }
  if (role === self.role) {
    throw new PeerRefusedError(
      `peer ${peer} also claims role ${role}: a cluster has one primary and one redundant; the license file gives each node id its role: check LICENSE_NODE_ID and LICENSE_FILE on both nodes`,
    );
  }
  for (const field of ['highest_epoch', 'epoch'] as const) {
    const value = msg[field];
    if (!isEpoch(value)) {
      throw new PeerRefusedError(`peer ${peer} sent ${field} ${String(value)}, which is not a whole number in [0, 2^48)`);
    }
    if (value > epochAnchor + MAX_PEER_EPOCH_JUMP) {
      const message = `peer ${peer} sent ${field} ${value}, more than ${MAX_PEER_EPOCH_JUMP} above any epoch this node has seen: refused until Redis confirms it`;
      throw new PeerRefusedError(message, `${message} (this node has seen ${epochAnchor})`, true);
    }
  }
  // 0: a sender from before license serials; anything else must be a serial (a safe whole number).
  if (!Number.isSafeInteger(msg.license_serial) || msg.license_serial < 0) {
    throw new PeerRefusedError(`peer ${peer} sent license_serial ${String(msg.license_serial)}, which is not a whole number of at least 0`);
  }
  return {
    nodeId: msg.node_id,
    role,
    state,
    epoch: msg.epoch,
    leaseHolder: msg.lease_holder,
    steppingDown: msg.stepping_down,
    wantsLease: msg.wants_lease,
    storeOk: msg.store_ok,
    advertiseAddr: msg.advertise_addr,
    highestEpoch: msg.highest_epoch,
    licenseSerial: msg.license_serial,
  };
}
