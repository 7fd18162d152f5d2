import type { Role } from '../config';
import { ErrorCode, LicenseError } from '../errors';
import type { PeerHeartbeatRequest__Output } from '../../contract/generated/license/v1/PeerHeartbeatRequest';
import type { PeerView } from './role-machine';
import { fromProtoRole, fromProtoState } from './states';

export interface Self {
  readonly clusterId: string;
  readonly nodeId: string;
  readonly role: Role;
}

/**
 * Checks a peer heartbeat (request or response: same fields) against this node and
 * turns it into a PeerView. A peer of another cluster, with our own node id, or
 * claiming our role is a misconfiguration: refused with PEER_REFUSED, never obeyed.
 */
export function validatePeerMessage(msg: PeerHeartbeatRequest__Output, self: Self): PeerView {
  if (msg.cluster_id !== self.clusterId) {
    throw new LicenseError(
      ErrorCode.PEER_REFUSED,
      `peer ${msg.node_id || '(no node id)'} belongs to cluster "${msg.cluster_id}", this node to "${self.clusterId}": check LICENSE_CLUSTER_ID and LICENSE_PEER_ADDR on both nodes`,
    );
  }
  if (msg.node_id === self.nodeId) {
    throw new LicenseError(
      ErrorCode.PEER_REFUSED,
      `peer uses this node's own id "${self.nodeId}": every node needs its own LICENSE_NODE_ID (or LICENSE_PEER_ADDR points at this node)`,
    );
  }
  const role = fromProtoRole(msg.role);
  const state = fromProtoState(msg.state);
  if (role === undefined || state === undefined) {
    throw new LicenseError(ErrorCode.PEER_REFUSED, `peer ${msg.node_id} sent no valid role or state`);
  }
  if (role === self.role) {
    throw new LicenseError(
      ErrorCode.PEER_REFUSED,
      `peer ${msg.node_id} also claims role ${role}: a cluster has one primary and one redundant; fix LICENSE_ROLE on one of them`,
    );
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
  };
}
