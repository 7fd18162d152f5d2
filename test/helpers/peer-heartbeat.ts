import type { PeerHeartbeatRequest__Output } from '../../src/contract/generated/license/v1/PeerHeartbeatRequest';

/** A decoded peer heartbeat as the redundant node "b" sends it to the primary "a" of `clusterId`. */
export function peerHeartbeat(clusterId: string, highestEpoch: number, over: Partial<PeerHeartbeatRequest__Output> = {}): PeerHeartbeatRequest__Output {
  return {
    cluster_id: clusterId,
    node_id: 'b',
    role: 'ROLE_REDUNDANT',
    state: 'NODE_STATE_STANDBY',
    epoch: 0,
    lease_holder: 'a',
    sent_at_ms: 0,
    stepping_down: false,
    wants_lease: false,
    license_digest: 'digest',
    advertise_addr: 'b:1',
    store_ok: true,
    highest_epoch: highestEpoch,
    auth_tag: '',
    license_serial: 1,
    console_url: '',
    policy_digest: '',
    ...over,
  };
}
