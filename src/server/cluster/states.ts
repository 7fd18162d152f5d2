import type { NodeState__Output as ProtoNodeState } from '../../contract/generated/license/v1/NodeState';
import type { Role__Output as ProtoRole } from '../../contract/generated/license/v1/Role';
import type { Role } from '../config';

/** The node states (docs/ARCHITECTURE.md, "State machine"), by their short names. */
export const NODE_STATES = ['STARTING', 'STANDBY', 'ACTIVE', 'FAILOVER_ACTIVE', 'FAILOVER_BLOCKED', 'STOPPING'] as const;
export type NodeState = (typeof NODE_STATES)[number];

/** States in which the node holds the leader lease. */
export function holdsLeaseIn(state: NodeState): boolean {
  return state === 'ACTIVE' || state === 'FAILOVER_ACTIVE' || state === 'FAILOVER_BLOCKED';
}

export function toProtoState(state: NodeState): ProtoNodeState {
  return `NODE_STATE_${state}`;
}

/** Any enum name a peer may send (string covers ProtoNodeState); one this build does not know gives undefined. */
export function fromProtoState(state: string): NodeState | undefined {
  const short = String(state).replace(/^NODE_STATE_/, '');
  return (NODE_STATES as readonly string[]).includes(short) ? (short as NodeState) : undefined;
}

export function toProtoRole(role: Role): ProtoRole {
  return role === 'primary' ? 'ROLE_PRIMARY' : 'ROLE_REDUNDANT';
}

/** Any enum name a peer may send (string covers ProtoRole); one this build does not know gives undefined. */
export function fromProtoRole(role: string): Role | undefined {
  if (role === 'ROLE_PRIMARY') return 'primary';
  if (role === 'ROLE_REDUNDANT') return 'redundant';
  return undefined;
}
