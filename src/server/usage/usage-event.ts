/**
 * Usage events: what the seat scripts append to the cluster's usage stream
 * (ClusterKeys.usage) in the same atomic step as the change they record, so a failover
 * loses none that a client was told about. One stream entry per event; its id is Redis's
 * own `<ms>-<seq>` (ordering, and --from/--to ranges), its fields are the one-letter
 * names below (short: a year of events is millions of entries).
 *
 *   t  when it happened, the node's wall clock (ms)     e  kind (UsageEventKind)
 *   f  feature                                          n  seats
 *   u  user                                             h  host name
 *   c  client id                                        s  session id
 *   l  lease id ('' for a denial)                       r  denial reason ('' otherwise)
 *   w  ms the checkout waited in the queue (queue events; 0 otherwise)
 *
 * Retention: the lease holder drops entries older than LICENSE_USAGE_RETENTION about once a
 * minute (trimUsage-2.lua, exact MINID), so each run drops about a minute's events.
 */
export const USAGE_EVENT_KINDS = ['grant', 'release', 'revoke', 'expire', 'deny', 'queue'] as const;
/**
 * grant: seats leased (n). release: the client freed them. revoke: an operator freed them
 * (AdminService.ReleaseLease). expire: the session expired and the sweep freed them. deny: a
 * checkout refused for lack of seats or by a rule (r says which). queue: a queued checkout
 * ended after w ms (granted when l is set, else it timed out or left).
 */
export type UsageEventKind = (typeof USAGE_EVENT_KINDS)[number];

export interface UsageEvent {
  /** Stream entry id, `<ms>-<seq>` (Redis time of the append). */
  readonly id: string;
  readonly atMs: number;
  readonly kind: UsageEventKind;
  readonly feature: string;
  readonly count: number;
  readonly user: string;
  readonly host: string;
  readonly clientId: string;
  readonly sessionId: string;
  readonly leaseId: string;
  readonly reason: string;
  readonly waitMs: number;
}

/** Kinds that free seats (the seats in use fall by `count`). */
export const FREEING_KINDS: ReadonlySet<UsageEventKind> = new Set(['release', 'revoke', 'expire']);

const isKind = (k: string): k is UsageEventKind => (USAGE_EVENT_KINDS as readonly string[]).includes(k);

/**
 * One stream entry as XRANGE returns it (`[id, [field, value, ...]]`) to an event; undefined
 * for an entry that is not one (an unknown kind from a newer version is skipped, not fatal).
 */
export function parseUsageEntry(id: string, fields: readonly string[]): UsageEvent | undefined {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(String(fields[i]), String(fields[i + 1]));
  const kind = m.get('e') ?? '';
  if (!isKind(kind)) return undefined;
  const num = (k: string): number => {
    const v = Number(m.get(k) ?? '0');
    return Number.isFinite(v) ? v : 0;
  };
  return {
    id,
    atMs: num('t') || Number(id.split('-')[0]) || 0,
    kind,
    feature: m.get('f') ?? '',
    count: num('n'),
    user: m.get('u') ?? '',
    host: m.get('h') ?? '',
    clientId: m.get('c') ?? '',
    sessionId: m.get('s') ?? '',
    leaseId: m.get('l') ?? '',
    reason: m.get('r') ?? '',
    waitMs: num('w'),
  };
}
