import { createHash } from 'node:crypto';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ID_PATTERN } from '../config';
import { ErrorCode, LicenseError } from '../errors';
import { canonicalJson } from '../license/canonical-json';
import { FEATURE_PATTERN, MAX_SEATS } from '../license/license-file';

/**
 * The customer's seat policy (LICENSE_POLICY_FILE): who may take which seats of a feature.
 * The administrator writes it; docs/POLICY.md documents the format and its meaning,
 * deploy/policy.example.yaml is an example.
 *
 * ```yaml
 * groups:
 *   cad-team: [alice, bob]
 * features:
 *   designer:
 *     reserve: [ { seats: 2, group: cad-team } ]   # or user: NAME, or host: NAME
 *     max: [ { seats: 1, per: user } ]            # per: user | host | group, or user/host/group: NAME
 *     deny: [ { user: mallory } ]                 # or host: / group:
 *     checkout_timeout_ms: 3600000
 * ```
 *
 * This module parses and validates the file and computes its digest; policy-decision.ts
 * says what the rules mean; policy-watch.ts keeps the node's copy current.
 */

/** What a rule can name: a user (OpenSessionRequest.user), a host (OpenSessionRequest.hostname) or a group of users. */
export type PrincipalKind = 'user' | 'host' | 'group';
export const PRINCIPAL_KINDS: readonly PrincipalKind[] = Object.freeze(['user', 'host', 'group']);

/** One named user, host or group (`{ user: alice }` in the file). */
export interface Principal {
  readonly kind: PrincipalKind;
  readonly name: string;
}

/** `reserve:` — `seats` seats of the feature that only `owner` may take. */
export interface ReserveRule {
  readonly seats: number;
  readonly owner: Principal;
}

/**
 * `max:` — at most `seats` seats held at once, either by each user/host/group (`per`), or by
 * one named user, host or group together (`owner`; for a group: all its members together).
 */
export type MaxRule =
  { readonly seats: number; readonly per: PrincipalKind; readonly owner?: never } | { readonly seats: number; readonly owner: Principal; readonly per?: never };

/** The rules of one feature; every list may be empty. */
export interface FeaturePolicy {
  readonly reserve: readonly ReserveRule[];
  readonly max: readonly MaxRule[];
  readonly deny: readonly Principal[];
  /** `checkout_timeout_ms`, when given (see docs/POLICY.md). */
  readonly checkoutTimeoutMs?: number;
}

/** A parsed, validated policy. Rules keep the file's order: messages name them by index. */
export interface SeatPolicy {
  /** Group name to its members (user names), sorted and without repeats. */
  readonly groups: ReadonlyMap<string, readonly string[]>;
  /** Feature name to its rules. A feature the policy does not name has no rules. */
  readonly features: ReadonlyMap<string, FeaturePolicy>;
}

/** The canonical JSON form (`seatPolicyJson`): the file's own shape with every list present; see docs/POLICY.md. */
export interface SeatPolicyJson {
  readonly groups: Record<string, string[]>;
  readonly features: Record<
    string,
    {
      reserve: ({ seats: number } & Partial<Record<PrincipalKind, string>>)[];
      max: ({ seats: number; per?: PrincipalKind } & Partial<Record<PrincipalKind, string>>)[];
      deny: Partial<Record<PrincipalKind, string>>[];
      checkout_timeout_ms?: number;
    }
  >;
}

/** The policy of an empty file, or of no file: no rules at all. */
export const EMPTY_SEAT_POLICY: SeatPolicy = Object.freeze({ groups: new Map(), features: new Map() });

/** User and host names: what OpenSessionRequest accepts (docs/ARCHITECTURE.md, "Input limits"). */
export const MAX_NAME_LENGTH = 256;

/** Why `name` cannot be a user or host name in the policy, or undefined. */
function nameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  // Code points, as the server counts OpenSessionRequest fields.
  const length = [...name].length;
  if (length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters, got ${length}`;
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name) || /\p{Surrogate}/u.test(name)) return 'must be plain text (no control characters)';
  // The server compares names exactly; " alice" would never match what a client sends.
  if (name.trim() !== name) return 'must not start or end with spaces';
  return undefined;
}

const nameSchema = z.string({ message: 'must be a string (quote a name that YAML would read as a number or true/false: "1234")' }).superRefine((v, ctx) => {
  const p = nameProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});
const seatsMessage = { message: 'must be a whole number of at least 1' };
const seatsSchema = z
  .number(seatsMessage)
  .int(seatsMessage)
  .min(1, seatsMessage)
  .max(MAX_SEATS, { message: `must be at most ${MAX_SEATS}` });
const kindSchema = z.enum(['user', 'host', 'group'], { message: 'must be one of user, host, group' });
const principalFields = { user: nameSchema.optional(), host: nameSchema.optional(), group: nameSchema.optional() };

type PrincipalFields = Partial<Record<PrincipalKind, string>>;
const named = (v: PrincipalFields): PrincipalKind[] => PRINCIPAL_KINDS.filter((k) => v[k] !== undefined);

const onePrincipal = (v: PrincipalFields, ctx: z.RefinementCtx): void => {
  const n = named(v);
  if (n.length !== 1) {
    ctx.addIssue({ code: 'custom', message: `must name exactly one of user, host, group${n.length > 1 ? ` (it names ${n.join(' and ')})` : ''}` });
  }
};

const principalSchema = z.strictObject(principalFields, { message: 'must be a mapping such as { user: NAME }' }).superRefine(onePrincipal);
const reserveSchema = z
  .strictObject({ seats: seatsSchema, ...principalFields }, { message: 'must be a mapping such as { seats: 2, group: NAME }' })
  .superRefine(onePrincipal);
const maxSchema = z
  .strictObject({ seats: seatsSchema, per: kindSchema.optional(), ...principalFields }, { message: 'must be a mapping such as { seats: 1, per: user }' })
  .superRefine((v, ctx) => {
    const n = named(v);
    if (v.per === undefined && n.length === 1) return;
    if (v.per !== undefined && n.length === 0) return;
    ctx.addIssue({
      code: 'custom',
      message:
        v.per === undefined
          ? `must have per: user|host|group, or name exactly one user, host or group${n.length > 1 ? ` (it names ${n.join(' and ')})` : ''}`
          : `must have per: or ${n.join(': or ')}:, not both`,
    });
  });

const list = <T extends z.ZodType>(item: T, what: string) => z.array(item, { message: `must be a list of ${what}` }).nullish();

const featureSchema = z
  .strictObject(
    {
      reserve: list(reserveSchema, 'reservations ({ seats: N, user|host|group: NAME })'),
      max: list(maxSchema, 'limits ({ seats: N, per: user|host|group })'),
      deny: list(principalSchema, 'users, hosts or groups ({ user: NAME })'),
      checkout_timeout_ms: z
        .number({ message: 'must be a whole number of milliseconds' })
        .int({ message: 'must be a whole number of milliseconds' })
        .min(1, { message: 'must be at least 1 ms' })
        .nullish(),
    },
    { message: 'must be a mapping of rules (reserve, max, deny, checkout_timeout_ms)' },
  )
  .nullish();

const policySchema = z.strictObject(
  {
    groups: z
      .record(
        z.string().regex(ID_PATTERN, { message: 'group names are 1-64 of A-Za-z0-9._-, starting with a letter or digit' }),
        z.array(nameSchema, { message: 'must be a list of user names ([alice, bob])' }).nullish(),
        { message: 'must be a mapping of group name to its users' },
      )
      .nullish(),
    features: z
      .record(z.string().regex(FEATURE_PATTERN, { message: 'feature names are 1-64 of A-Za-z0-9._-, starting with a letter or digit' }), featureSchema, {
        message: 'must be a mapping of feature name to its rules',
      })
      .nullish(),
  },
  { message: 'must be a mapping with groups: and features:' },
);

/** The keys a mapping at `path` may have, for "unknown key" messages. */
function allowedKeys(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'groups, features';
  if (path[0] === 'features' && path.length === 2) return 'reserve, max, deny, checkout_timeout_ms';
  if (path[0] === 'features' && path.length === 4) {
    if (path[2] === 'reserve') return 'seats, user, host, group';
    if (path[2] === 'max') return 'seats, per, user, host, group';
    return 'user, host, group';
  }
  return 'none';
}

function principalOf(v: PrincipalFields): Principal {
  for (const kind of PRINCIPAL_KINDS) {
    const name = v[kind];
    if (name !== undefined) return Object.freeze({ kind, name });
  }
  // The schema lets no rule through without exactly one.
  throw new Error('policy rule without a user, host or group');
}

interface Located {
  readonly line: number | undefined;
  readonly text: string;
}

function refuse(source: string, problem: Located): never {
  throw new LicenseError(ErrorCode.CONFIG_INVALID, `policy ${source}: ${problem.line === undefined ? '' : `line ${problem.line}: `}${problem.text}`);
}

/**
 * Parses and validates a seat policy (YAML, or JSON which YAML includes). A bad file is refused
 * with one line naming the line and the key, as a CONFIG_INVALID LicenseError:
 * `policy /etc/lic/policy.yaml: line 9: features.designer.max.0.per: must be one of user, host, group`.
 * Of several problems the one on the earliest line is reported. Empty text (or only comments) is
 * the empty policy. `source` is the file's name as messages should show it.
 */
export function parseSeatPolicy(text: string, source: string): SeatPolicy {
  const fail = (problem: Located): never => refuse(source, problem);
  const lines = new LineCounter();
  // uniqueKeys (the default) makes a key given twice an error, with its line.
  const doc = parseDocument(text, { lineCounter: lines });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const first = yamlError.message.split('\n')[0] ?? yamlError.code;
    fail({ line: yamlError.linePos?.[0].line, text: `not valid YAML: ${first.replace(/ at line \d+, column \d+:?$/, '')}` });
  }
  const startLine = (node: unknown): number | undefined => {
    const range = node !== null && typeof node === 'object' && 'range' in node ? (node as { range?: readonly number[] | null }).range : undefined;
    return range?.[0] === undefined ? undefined : lines.linePos(range[0]).line;
  };
  /** The line of the deepest key (or list item) of `path` the file has: a missing key is reported where its parent is. */
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    let node: unknown = doc.contents;
    let line = startLine(node);
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        line = startLine(pair.key) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item: unknown = node.items[seg];
        if (item === undefined) break;
        line = startLine(item) ?? line;
        node = item;
      } else break;
    }
    return line;
  };
  const at = (path: readonly PropertyKey[], message: string): Located => ({
    line: lineOf(path),
    text: `${path.length > 0 ? `${path.map(String).join('.')}: ` : ''}${message}`,
  });

  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return EMPTY_SEAT_POLICY;
  if (!isMap(doc.contents)) fail(at([], 'must be a mapping with groups: and features:'));

  const r = policySchema.safeParse(doc.toJS({ maxAliasCount: 100 }));
  if (!r.success) {
    const problems = r.error.issues.map((issue): Located => {
      if (issue.code === 'unrecognized_keys') {
        const path = [...issue.path, issue.keys[0] ?? ''];
        return at(path, `unknown key (allowed: ${allowedKeys(issue.path)})`);
      }
      if (issue.code === 'invalid_key') return at(issue.path, issue.issues[0]?.message ?? 'invalid name');
      return at(issue.path, issue.message);
    });
    refuse(source, earliest(problems));
  }
  const data = r.data;

  const groups = new Map<string, readonly string[]>();
  for (const [name, members] of Object.entries(data.groups ?? {})) {
    // Member order and repeats mean nothing; sorting keeps them out of the digest.
    groups.set(name, Object.freeze([...new Set(members ?? [])].sort()));
  }

  const problems: Located[] = [];
  const checkGroup = (p: Principal, path: readonly PropertyKey[]): void => {
    if (p.kind === 'group' && !groups.has(p.name)) {
      const known = [...groups.keys()];
      problems.push(at([...path, 'group'], `no group named "${p.name}" under groups:${known.length > 0 ? ` (there are: ${known.join(', ')})` : ''}`));
    }
  };
  const features = new Map<string, FeaturePolicy>();
  for (const [name, f] of Object.entries(data.features ?? {})) {
    const base = ['features', name];
    const reserve = (f?.reserve ?? []).map((rule, i): ReserveRule => {
      const owner = principalOf(rule);
      checkGroup(owner, [...base, 'reserve', i]);
      return Object.freeze({ seats: rule.seats, owner });
    });
    const max = (f?.max ?? []).map((rule, i): MaxRule => {
      if (rule.per !== undefined) return Object.freeze({ seats: rule.seats, per: rule.per });
      const owner = principalOf(rule);
      checkGroup(owner, [...base, 'max', i]);
      return Object.freeze({ seats: rule.seats, owner });
    });
    const deny = (f?.deny ?? []).map((rule, i): Principal => {
      const p = principalOf(rule);
      checkGroup(p, [...base, 'deny', i]);
      return p;
    });
    const timeout = f?.checkout_timeout_ms ?? undefined;
    features.set(
      name,
      Object.freeze({
        reserve: Object.freeze(reserve),
        max: Object.freeze(max),
        deny: Object.freeze(deny),
        ...(timeout === undefined ? {} : { checkoutTimeoutMs: timeout }),
      }),
    );
  }
  if (problems.length > 0) refuse(source, earliest(problems));
  return Object.freeze({ groups, features });
}

function earliest(problems: readonly Located[]): Located {
  let best: Located | undefined;
  for (const p of problems) {
    if (!best || (p.line !== undefined && (best.line === undefined || p.line < best.line))) best = p;
  }
  return best ?? { line: undefined, text: 'invalid' };
}

function principalJson(p: Principal): Partial<Record<PrincipalKind, string>> {
  return { [p.kind]: p.name };
}

/**
 * The policy as plain JSON in the file's own shape, every list present and group members
 * sorted. This is what the digest is taken over, and the form to hand to the enforcement
 * (the Lua scripts read it with cjson).
 */
export function seatPolicyToJson(policy: SeatPolicy): SeatPolicyJson {
  const groups: Record<string, string[]> = {};
  for (const [name, members] of policy.groups) groups[name] = [...members];
  const features: SeatPolicyJson['features'] = {};
  for (const [name, f] of policy.features) {
    features[name] = {
      reserve: f.reserve.map((r) => ({ seats: r.seats, ...principalJson(r.owner) })),
      max: f.max.map((m) => (m.per !== undefined ? { seats: m.seats, per: m.per } : { seats: m.seats, ...principalJson(m.owner) })),
      deny: f.deny.map(principalJson),
      ...(f.checkoutTimeoutMs === undefined ? {} : { checkout_timeout_ms: f.checkoutTimeoutMs }),
    };
  }
  return { groups, features };
}

/** The canonical JSON text of the policy (keys sorted, no whitespace): seatPolicyToJson, serialised. */
export function seatPolicyJson(policy: SeatPolicy): string {
  return canonicalJson(seatPolicyToJson(policy));
}

/**
 * sha256 hex of the policy's canonical JSON. Comments, formatting, key order and the order of
 * a group's members do not change it; any rule does (rule order too: messages name rules by
 * index). Both nodes must show the same digest, as with the license.
 */
export function policyDigest(policy: SeatPolicy): string {
  return createHash('sha256').update(seatPolicyJson(policy)).digest('hex');
}

/**
 * What only the license can tell about a policy, plus overlaps only the file can: problems
 * to log as warnings when the policy or the license is loaded, one line each (empty when
 * all is well). None is fatal: a feature the license lacks just has rules that never apply.
 *  - a feature the license does not have;
 *  - reservations of a feature adding up to more seats than the license gives it (users
 *    outside every reservation then get no seat, and not every reservation can be met);
 *  - a user who owns two reservations of one feature (by name or group): a seat such a
 *    user holds counts against both, so together they guarantee less than their sum;
 *  - checkout_timeout_ms, which this version reads but does not enforce (docs/POLICY.md).
 */
export function checkAgainstLicense(policy: SeatPolicy, features: ReadonlyMap<string, number>): string[] {
  const out: string[] = [];
  for (const [name, f] of policy.features) {
    const seats = features.get(name);
    if (seats === undefined) {
      out.push(`policy: features.${name}: the license has no feature "${name}"; its rules have no effect`);
      continue;
    }
    if (f.checkoutTimeoutMs !== undefined) {
      out.push(
        `policy: features.${name}.checkout_timeout_ms: not enforced by this version (it is read and part of the digest); ` +
          'seats are freed when released, force-released, or when their session expires (LICENSE_SESSION_TTL_MS)',
      );
    }
    const reserved = f.reserve.reduce((sum, r) => sum + r.seats, 0);
    if (reserved > seats) {
      out.push(
        `policy: features.${name}.reserve: reserves ${reserved} seats but the license gives ${name} ${seats}; ` +
          'users outside the reservations get no seat, and not every reservation can be met',
      );
    }
    // Users each reservation names (hosts cannot be known from the file).
    const owners = f.reserve.map((r) =>
      r.owner.kind === 'user' ? new Set([r.owner.name]) : r.owner.kind === 'group' ? new Set(policy.groups.get(r.owner.name) ?? []) : new Set<string>(),
    );
    for (let i = 0; i < f.reserve.length; i++) {
      for (let j = i + 1; j < f.reserve.length; j++) {
        const a = owners[i];
        const b = owners[j];
        const shared = a && b ? [...a].filter((u) => b.has(u)) : [];
        if (shared.length === 0) continue;
        const who =
          shared.length > 3
            ? `users ${shared.slice(0, 3).join(', ')} and ${shared.length - 3} more`
            : `user${shared.length > 1 ? 's' : ''} ${shared.join(', ')}`;
        out.push(
          `policy: features.${name}.reserve[${i}] and reserve[${j}] have owners in common (${who}): ` +
            'a seat such a user holds counts against both, so together they keep fewer seats free than their sum',
        );
      }
    }
  }
  return out;
}
