/**
 * Fencing (docs/ARCHITECTURE.md, "Consensus: the lease decides, heartbeats inform"): the
 * leader key holds the owner string `<node_id>:<epoch>` of the lease holder, and every
 * script that writes cluster state first compares it with the caller's
 * (scripts/includes/fence.lua). This module owns the caller's side of that: the fencing
 * identity and its owner string, in one place for the lease, seat and budget stores.
 */

/**
 * Epochs are whole numbers in [0, EPOCH_LIMIT). 2^48 leaves room for a failover every
 * millisecond for thousands of years, while every epoch stays exact in a double (JS, Lua
 * 5.1) and is written as plain digits everywhere: `String(n)` in JS, and
 * `string.format('%d', n)` in the scripts, since Lua's default `%.14g` would write a
 * 15-digit epoch as `1e+15` and the owner string would never match again.
 */
export const EPOCH_LIMIT = 2 ** 48;

/** True for a whole number in [0, EPOCH_LIMIT): the only values an epoch may take. */
export function isEpoch(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value < EPOCH_LIMIT;
}

/** The caller's fencing identity: writes succeed only while the leader key holds exactly this. */
export interface Fence {
  readonly nodeId: string;
  readonly epoch: number;
}

/** The leader key's value for `fence`: `<node_id>:<epoch>`. */
export function formatOwner(fence: Fence): string {
  // Unreachable while the callers keep their epochs in range; a wrong string would fence this node out for good.
  if (!isEpoch(fence.epoch)) throw new RangeError(`epoch ${String(fence.epoch)} is not a whole number below 2^48`);
  return `${fence.nodeId}:${fence.epoch}`;
}

/**
 * Parses an epoch as the scripts write it (leader key, counter, leader_info): plain digits
 * without leading zeros, below 2^48, so it formats back to the same text. Undefined for
 * anything else, such as an older version's `1e+15`.
 */
export function parseEpoch(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) return undefined;
  const epoch = Number(text);
  return isEpoch(epoch) ? epoch : undefined;
}

/** Parses a leader key's value `<node_id>:<epoch>`; undefined when it is not one (`p:1e+15` is not). */
export function parseOwner(value: string): Fence | undefined {
  const i = value.lastIndexOf(':');
  if (i <= 0) return undefined;
  const epoch = parseEpoch(value.slice(i + 1));
  return epoch === undefined ? undefined : { nodeId: value.slice(0, i), epoch };
}
