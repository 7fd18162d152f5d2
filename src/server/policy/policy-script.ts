import { ErrorCode, LicenseError } from '../errors';
import type { Principal, SeatPolicy } from './seat-policy';

/**
 * The seat policy as the checkout and serveQueue scripts read it (store/scripts/includes/policy.lua):
 * one feature's rules, compiled to a small JSON argument. Only the groups the rules need travel
 * with it (all of them when a `max ... per: group` rule needs the requester's groups), sorted by
 * name, so that the script checks `per: group` limits in the order decideCheckout() does; each
 * group's members as one '\n'-delimited string, which the script searches without decoding a
 * list of names on every call.
 */
interface CompiledPrincipal {
  readonly k: Principal['kind'];
  readonly n: string;
}

interface CompiledFeaturePolicy {
  readonly deny: CompiledPrincipal[];
  readonly max: ({ s: number; per: Principal['kind'] } | { s: number; k: Principal['kind']; n: string })[];
  readonly reserve: { s: number; k: Principal['kind']; n: string }[];
  /** [name, '\n<user>\n<user>\n']: one string per group (see includes/policy.lua). */
  readonly groups: [string, string][];
}

const compiled = new WeakMap<SeatPolicy, Map<string, string>>();

/** The script argument for `feature`'s rules: '' when the policy has none for it (the scripts then skip the policy). */
export function featurePolicyArg(policy: SeatPolicy, feature: string): string {
  let byFeature = compiled.get(policy);
  if (!byFeature) compiled.set(policy, (byFeature = new Map<string, string>()));
  let arg = byFeature.get(feature);
  if (arg === undefined) {
    arg = compile(policy, feature);
    byFeature.set(feature, arg);
  }
  return arg;
}

function compile(policy: SeatPolicy, feature: string): string {
  const rules = policy.features.get(feature);
  if (!rules || (rules.deny.length === 0 && rules.max.length === 0 && rules.reserve.length === 0)) return '';
  const needed = new Set<string>();
  const principal = (p: Principal): CompiledPrincipal => {
    if (p.kind === 'group') needed.add(p.name);
    return { k: p.kind, n: p.name };
  };
  let allGroups = false;
  const out: CompiledFeaturePolicy = {
    deny: rules.deny.map(principal),
    max: rules.max.map((m) => {
      if (m.per !== undefined) {
        if (m.per === 'group') allGroups = true;
        return { s: m.seats, per: m.per };
      }
      return { s: m.seats, ...principal(m.owner) };
    }),
    reserve: rules.reserve.map((r) => ({ s: r.seats, ...principal(r.owner) })),
    groups: [],
  };
  for (const name of [...policy.groups.keys()].sort()) {
    const members = policy.groups.get(name) ?? [];
    // Names are plain text without control characters (seat-policy.ts), so '\n' cannot occur in one.
    if (allGroups || needed.has(name)) out.groups.push([name, `\n${members.map((m) => `${m}\n`).join('')}`]);
  }
  // cjson reads `[]` as an empty table, which ipairs walks as an empty list: no special cases.
  return JSON.stringify(out);
}

/** A refusal by a rule, as the scripts report it: `<deny|max|reserve>|<rule>|<message>`. */
export interface ScriptPolicyRefusal {
  readonly kind: 'deny' | 'max' | 'reserve';
  readonly rule: string;
  readonly message: string;
}

/** Parses the text after `POLICY_LIMIT ` of a script's refusal; undefined when it is not one. */
export function parsePolicyRefusal(text: string): ScriptPolicyRefusal | undefined {
  const m = /^(deny|max|reserve)\|([^|]*)\|([\s\S]*)$/.exec(text);
  if (!m) return undefined;
  return { kind: m[1] as ScriptPolicyRefusal['kind'], rule: m[2] ?? '', message: m[3] ?? '' };
}

/**
 * The LicenseError a policy refusal is answered with: `license-error: POLICY_LIMIT`, gRPC
 * RESOURCE_EXHAUSTED, or PERMISSION_DENIED for a deny rule (grpc/to-status.ts); the rule
 * travels as `license-policy-rule`.
 */
export function policyLimitError(r: ScriptPolicyRefusal): LicenseError {
  return new LicenseError(ErrorCode.POLICY_LIMIT, r.message, { policyRule: r.rule, policyDenied: r.kind === 'deny' });
}
