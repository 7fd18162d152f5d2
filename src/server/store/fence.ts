/**
 * Fencing (docs/ARCHITECTURE.md, "Consensus: the lease decides, heartbeats inform"): the
 * leader key holds the owner string `<node_id>:<epoch>` of the lease holder, and every
 * script that writes cluster state first compares it with the caller's
 * (scripts/includes/fence.lua). This module owns the caller's side of that: the fencing
 * identity and its owner string, in one place for the lease, seat and budget stores.
 */

/** The caller's fencing identity: writes succeed only while the leader key holds exactly this. */
export interface Fence {
  readonly nodeId: string;
  readonly epoch: number;
}

/** The leader key's value for `fence`: `<node_id>:<epoch>`. */
export function formatOwner(fence: Fence): string {
  return `${fence.nodeId}:${fence.epoch}`;
}

/** Parses a leader key's value `<node_id>:<epoch>`; undefined when it is not one. */
export function parseOwner(value: string): Fence | undefined {
  const i = value.lastIndexOf(':');
  if (i <= 0) return undefined;
  const epoch = Number(value.slice(i + 1));
  return Number.isSafeInteger(epoch) ? { nodeId: value.slice(0, i), epoch } : undefined;
}
