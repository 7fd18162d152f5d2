import type { Status } from './types.js';

/** The node that is serving on the failover budget right now, or undefined when none is. */
export function chargingNode(s: Status): string | undefined {
  if (s.state === 'NODE_STATE_FAILOVER_ACTIVE') return s.node_id;
  if (s.peer?.reachable && s.peer.state === 'NODE_STATE_FAILOVER_ACTIVE') return s.peer.node_id;
  return undefined;
}

/**
 * The remaining budget now: the last polled figure, less the time since it arrived while
 * a redundant is serving (the server charges every heartbeat; the next poll corrects us).
 */
export function liveRemaining(s: Status, statusAt: number, now = performance.now()): number {
  const b = s.budget;
  if (!b) return 0;
  if (b.blocked || !chargingNode(s)) return b.remaining_ms;
  return Math.max(0, b.remaining_ms - Math.max(0, now - statusAt));
}

export function budgetTone(remaining: number, granted: number, blocked: boolean): 'ok' | 'warn' | 'bad' {
  if (blocked || remaining <= 0) return 'bad';
  return granted > 0 && remaining / granted < 0.1 ? 'warn' : 'ok';
}
