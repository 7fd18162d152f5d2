import type { MaxRule, Principal, PrincipalKind, SeatPolicy } from './seat-policy';

/**
 * What a seat policy means, as one pure function: may this requester take `count` more seats
 * of this feature now? This is the specification the checkout Lua script follows; every case
 * is in test/unit/policy-decision.test.ts and docs/POLICY.md explains it with examples.
 *
 * The order, which decides which refusal a requester sees when several apply:
 *  1. deny: a rule naming the requester's user, host or one of its groups refuses (PERMISSION_DENIED flavour);
 *  2. max: every rule that applies must still hold after the grant (held + count <= seats);
 *  3. plain capacity (free < count) is the caller's SEATS_EXHAUSTED, not a policy refusal;
 *  4. reserve: with U[j] = max(0, reserve[j].seats - reservedHeld[j]) the unused part of
 *     reservation j, the requester may take Σ U[j] over the reservations it owns +
 *     max(0, free - Σ U[j] over all reservations): its own reservations' unused seats plus the
 *     unreserved free ones (never more than are free: step 3). Someone who owns none can take
 *     only seats that leave every reservation's unused part free.
 */

/**
 * The two flavours of a policy refusal. On the wire both are `license-error: POLICY_LIMIT`
 * (the contract's one code); POLICY_DENIED (a deny rule) is answered gRPC PERMISSION_DENIED,
 * POLICY_LIMIT (max, reserve) RESOURCE_EXHAUSTED. The usage events keep the two apart as reasons.
 */
export const POLICY_LIMIT = 'POLICY_LIMIT';
export const POLICY_DENIED = 'POLICY_DENIED';
export type PolicyRefusalCode = typeof POLICY_LIMIT | typeof POLICY_DENIED;

/** Who asks: the session's OpenSessionRequest.user and .hostname, compared exactly. */
export interface Requester {
  readonly user: string;
  readonly host: string;
}

/**
 * The feature's seats at the moment of the decision. The maps count seats held now (before the
 * grant) by the feature's holders; a missing key is 0. usageFromHoldings() computes it from
 * a list of holdings and is the definition of each field.
 */
export interface FeatureUsage {
  /** Seats the license gives the feature. */
  readonly seats: number;
  /** Seats held now, by anyone. */
  readonly inUse: number;
  /** Seats held per user name. */
  readonly byUser: ReadonlyMap<string, number>;
  /** Seats held per host name. */
  readonly byHost: ReadonlyMap<string, number>;
  /** Seats held per group: a seat counts for every group its user belongs to. */
  readonly byGroup: ReadonlyMap<string, number>;
  /**
   * reservedHeld[j]: seats held by the owners of the feature's reserve[j] (users named, hosts
   * named, or members of the group), whether or not they came out of the reservation. A seat
   * whose holder owns two reservations counts for both. A missing entry is 0.
   */
  readonly reservedHeld: readonly number[];
}

/** One session's seats of the feature, for usageFromHoldings(). */
export interface Holding {
  readonly user: string;
  readonly host: string;
  readonly count: number;
}

export type CheckoutDecision =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly code: PolicyRefusalCode;
      /** The rule that refused, as `features.designer.max[0]` (several joined by ", " when reservations refuse together). */
      readonly rule: string;
      /** One line for the client: the feature, the rule in words and where it is, and the numbers. */
      readonly message: string;
    };

const OK: CheckoutDecision = Object.freeze({ ok: true });

/** The groups `user` belongs to, sorted by name. */
export function groupsOf(policy: SeatPolicy, user: string): string[] {
  const out: string[] = [];
  for (const [name, members] of policy.groups) if (members.includes(user)) out.push(name);
  return out.sort();
}

/** True when `p` names the requester: its user, its host, or a group its user is in. */
export function isNamedBy(policy: SeatPolicy, p: Principal, requester: Requester): boolean {
  if (p.kind === 'user') return p.name === requester.user;
  if (p.kind === 'host') return p.name === requester.host;
  return policy.groups.get(p.name)?.includes(requester.user) ?? false;
}

/** The usage the holdings add up to: the reference for how the enforcement computes FeatureUsage. */
export function usageFromHoldings(policy: SeatPolicy, feature: string, seats: number, holdings: readonly Holding[]): FeatureUsage {
  const byUser = new Map<string, number>();
  const byHost = new Map<string, number>();
  const byGroup = new Map<string, number>();
  const reserve = policy.features.get(feature)?.reserve ?? [];
  const reservedHeld = reserve.map(() => 0);
  let inUse = 0;
  const add = (m: Map<string, number>, key: string, n: number): void => {
    m.set(key, (m.get(key) ?? 0) + n);
  };
  for (const h of holdings) {
    inUse += h.count;
    add(byUser, h.user, h.count);
    add(byHost, h.host, h.count);
    for (const g of groupsOf(policy, h.user)) add(byGroup, g, h.count);
    reserve.forEach((r, j) => {
      if (isNamedBy(policy, r.owner, h)) reservedHeld[j] = (reservedHeld[j] ?? 0) + h.count;
    });
  }
  return { seats, inUse, byUser, byHost, byGroup, reservedHeld };
}

const plural = (n: number): string => `${n} seat${n === 1 ? '' : 's'}`;
/** A user by its bare name (as in "alice holds 1"), hosts and groups with their kind. */
function who(kind: PrincipalKind, name: string): string {
  if (kind === 'user') return name === '' ? '(no user name)' : name;
  return `${kind} ${name === '' ? '(no name)' : name}`;
}

/**
 * Whether the policy lets `requester` take `count` more seats of `feature` now (see the top of
 * this file for the order of the checks). A feature the policy does not name has no rules.
 * `{ ok: true }` does not mean a seat is free: plain capacity is the caller's own check.
 */
export function decideCheckout(policy: SeatPolicy, feature: string, requester: Requester, count: number, state: FeatureUsage): CheckoutDecision {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`decideCheckout: count must be a whole number >= 1, got ${count}`);
  const rules = policy.features.get(feature);
  if (!rules) return OK;
  const groups = groupsOf(policy, requester.user);
  const base = `features.${feature}`;

  // 1. deny
  for (const [i, p] of rules.deny.entries()) {
    if (!isNamedBy(policy, p, requester)) continue;
    const rule = `${base}.deny[${i}]`;
    const whom = p.kind === 'group' ? `group ${p.name}, which ${who('user', requester.user)} belongs to` : who(p.kind, p.name);
    return { ok: false, code: POLICY_DENIED, rule, message: `feature ${feature}: denied to ${whom} (policy rule ${rule})` };
  }

  // 2. max: each rule applies to zero or more buckets (the requester's user, host, groups, or one named one).
  for (const [i, m] of rules.max.entries()) {
    for (const [kind, name] of bucketsOf(policy, m, requester, groups)) {
      const held = heldBy(state, kind, name);
      if (held + count <= m.seats) continue;
      const rule = `${base}.max[${i}]`;
      const limit = m.per !== undefined ? `max ${plural(m.seats)} per ${m.per}` : `max ${plural(m.seats)} for ${who(m.owner.kind, m.owner.name)}`;
      const asks = count > 1 ? ` and asks for ${count}` : '';
      return { ok: false, code: POLICY_LIMIT, rule, message: `feature ${feature}: ${limit} (policy rule ${rule}); ${who(kind, name)} holds ${held}${asks}` };
    }
  }

  // 3. capacity: not the policy's to refuse; the caller answers SEATS_EXHAUSTED.
  const free = state.seats - state.inUse;
  if (free < count) return OK;

  // 4. reserve: the free seats not kept for a reservation, plus the unused part of the requester's own.
  let unusedAll = 0;
  let unusedOwn = 0;
  let unusedOthers = 0;
  const blocking: string[] = [];
  const blockingRules: string[] = [];
  for (const [j, r] of rules.reserve.entries()) {
    const unused = Math.max(0, r.seats - (state.reservedHeld[j] ?? 0));
    unusedAll += unused;
    if (isNamedBy(policy, r.owner, requester)) {
      unusedOwn += unused;
    } else if (unused > 0) {
      unusedOthers += unused;
      blockingRules.push(`${base}.reserve[${j}]`);
      blocking.push(`${base}.reserve[${j}]: ${plural(r.seats)} for ${who(r.owner.kind, r.owner.name)}, ${unused} unused`);
    }
  }
  // Own unused seats count whole even when the reservations add up to more than is free (more
  // reserved than licensed, or seats taken before the policy): first come, first served rather
  // than every owner locked out. Step 3 already made sure `count` seats are free.
  const mayTake = unusedOwn + Math.max(0, free - unusedAll);
  if (mayTake >= count) return OK;
  return {
    ok: false,
    code: POLICY_LIMIT,
    rule: blockingRules.join(', '),
    message:
      `feature ${feature}: ${free} free ${free === 1 ? 'seat' : 'seats'}, ${unusedOthers} reserved for others ` +
      `(policy rule${blocking.length > 1 ? 's' : ''} ${blocking.join('; ')}); ${who('user', requester.user)} can take ${mayTake} and asks for ${count}`,
  };
}

/** The (kind, name) buckets a max rule counts for this requester. */
function bucketsOf(policy: SeatPolicy, m: MaxRule, requester: Requester, groups: readonly string[]): [PrincipalKind, string][] {
  if (m.per === undefined) return isNamedBy(policy, m.owner, requester) ? [[m.owner.kind, m.owner.name]] : [];
  if (m.per === 'user') return [['user', requester.user]];
  if (m.per === 'host') return [['host', requester.host]];
  return groups.map((g): [PrincipalKind, string] => ['group', g]);
}

function heldBy(state: FeatureUsage, kind: PrincipalKind, name: string): number {
  const m = kind === 'user' ? state.byUser : kind === 'host' ? state.byHost : state.byGroup;
  return m.get(name) ?? 0;
}
