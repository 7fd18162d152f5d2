import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type CheckoutDecision,
  decideCheckout,
  type FeatureUsage,
  groupsOf,
  type Holding,
  POLICY_DENIED,
  POLICY_LIMIT,
  usageFromHoldings,
} from '../../src/server/policy/policy-decision';
import { EMPTY_SEAT_POLICY, parseSeatPolicy, type SeatPolicy } from '../../src/server/policy/seat-policy';

/** Seats the license gives each feature in these tests. */
const SEATS: Record<string, number> = { designer: 4, solver: 10, render: 5, viewer: 3, tight: 3, unlisted: 2 };

const POLICY = parseSeatPolicy(
  `groups:
  cad-team: [alice, bob]
  interns: [ivan, ines]
  night: [alice, nina]
features:
  designer:                         # 4 seats
    reserve:
      - { seats: 2, group: cad-team }
    max:
      - { seats: 1, per: user }
    deny: [ { user: mallory }, { host: kiosk }, { group: interns } ]
  solver:                           # 10 seats
    max:
      - { seats: 3, per: host }
      - { seats: 4, per: group }
      - { seats: 2, group: interns }
      - { seats: 1, user: carol }
      - { seats: 5, host: build01 }
  render:                           # 5 seats
    reserve:
      - { seats: 2, group: cad-team }
      - { seats: 1, user: dave }
      - { seats: 1, host: ws-lab }
  viewer: {}                        # 3 seats, no rules
  tight:                            # 3 seats, reserved 3 + 3: more than there is
    reserve:
      - { seats: 3, user: tom }
      - { seats: 3, user: tina }
`,
  'policy.yaml',
);

/** `'alice@ws1'` or `'alice@ws1*2'`: a session of alice on ws1 holding one (two) seats. */
function h(spec: string): Holding {
  const m = /^([^@]*)@([^*]*)(?:\*(\d+))?$/.exec(spec);
  assert.ok(m, spec);
  return { user: m[1] ?? '', host: m[2] ?? '', count: Number(m[3] ?? '1') };
}

interface Case {
  readonly what: string;
  readonly feature: string;
  /** Who holds seats of the feature now. */
  readonly holding: readonly string[];
  /** Who asks, as 'user@host'. */
  readonly asks: string;
  readonly count?: number;
  /** 'ok', or the refusal: its code, rule and exact message. */
  readonly expect: 'ok' | { readonly code: typeof POLICY_LIMIT | typeof POLICY_DENIED; readonly rule: string; readonly message: string };
}

// The specification of decideCheckout, case by case. The Lua enforcement must give the same answers.
const CASES: readonly Case[] = [
  // No rules
  { what: 'a feature the policy does not name has no rules', feature: 'unlisted', holding: [], asks: 'mallory@kiosk', expect: 'ok' },
  { what: 'a feature with no rules', feature: 'viewer', holding: ['a@x', 'b@y'], asks: 'mallory@kiosk', expect: 'ok' },

  // 1. deny
  {
    what: 'deny by user',
    feature: 'designer',
    holding: [],
    asks: 'mallory@ws9',
    expect: { code: POLICY_DENIED, rule: 'features.designer.deny[0]', message: 'feature designer: denied to mallory (policy rule features.designer.deny[0])' },
  },
  {
    what: 'deny by host, whoever the user',
    feature: 'designer',
    holding: [],
    asks: 'alice@kiosk',
    expect: {
      code: POLICY_DENIED,
      rule: 'features.designer.deny[1]',
      message: 'feature designer: denied to host kiosk (policy rule features.designer.deny[1])',
    },
  },
  {
    what: 'deny by group: every member',
    feature: 'designer',
    holding: [],
    asks: 'ines@ws9',
    expect: {
      code: POLICY_DENIED,
      rule: 'features.designer.deny[2]',
      message: 'feature designer: denied to group interns, which ines belongs to (policy rule features.designer.deny[2])',
    },
  },
  { what: 'names are compared exactly: Mallory is not mallory', feature: 'designer', holding: [], asks: 'Mallory@ws9', expect: 'ok' },
  {
    what: 'deny comes before max and before capacity: a denied user is told so even when all seats are taken',
    feature: 'designer',
    holding: ['alice@ws1', 'bob@ws2', 'carol@ws3', 'dave@ws4'],
    asks: 'mallory@ws9',
    expect: { code: POLICY_DENIED, rule: 'features.designer.deny[0]', message: 'feature designer: denied to mallory (policy rule features.designer.deny[0])' },
  },

  // 2. max
  {
    what: 'max per user: a second seat for the same user',
    feature: 'designer',
    holding: ['alice@ws1'],
    asks: 'alice@ws2',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.designer.max[0]',
      message: 'feature designer: max 1 seat per user (policy rule features.designer.max[0]); alice holds 1',
    },
  },
  {
    what: 'max per user counts after the grant: 2 at once is over a max of 1',
    feature: 'designer',
    holding: [],
    asks: 'alice@ws1',
    count: 2,
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.designer.max[0]',
      message: 'feature designer: max 1 seat per user (policy rule features.designer.max[0]); alice holds 0 and asks for 2',
    },
  },
  { what: 'max per user: other users do not count', feature: 'designer', holding: ['bob@ws1'], asks: 'alice@ws1', expect: 'ok' },
  {
    what: 'max per user: sessions without a user name share one count (leaving the name out does not escape the limit)',
    feature: 'designer',
    holding: ['@ws1'],
    asks: '@ws2',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.designer.max[0]',
      message: 'feature designer: max 1 seat per user (policy rule features.designer.max[0]); (no user name) holds 1',
    },
  },
  {
    what: 'max comes before capacity: at the limit and all seats taken is POLICY_LIMIT',
    feature: 'designer',
    holding: ['alice@ws1', 'bob@ws2', 'carol@ws3', 'dave@ws4'],
    asks: 'alice@ws1',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.designer.max[0]',
      message: 'feature designer: max 1 seat per user (policy rule features.designer.max[0]); alice holds 1',
    },
  },
  { what: 'max per host: up to the limit', feature: 'solver', holding: ['x@h1', 'y@h1'], asks: 'z@h1', expect: 'ok' },
  {
    what: 'max per host: whoever holds the seats on that host',
    feature: 'solver',
    holding: ['x@h1', 'y@h1', 'z@h1'],
    asks: 'w@h1',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.solver.max[0]',
      message: 'feature solver: max 3 seats per host (policy rule features.solver.max[0]); host h1 holds 3',
    },
  },
  {
    what: 'max per group: the members of the requester’s group together',
    feature: 'solver',
    holding: ['bob@h1*2', 'bob@h2*2'],
    asks: 'alice@h3',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.solver.max[1]',
      message: 'feature solver: max 4 seats per group (policy rule features.solver.max[1]); group cad-team holds 4',
    },
  },
  {
    what: 'max per group: every group of the requester counts (alice is in cad-team and night)',
    feature: 'solver',
    holding: ['nina@h1*3', 'nina@h2*1'],
    asks: 'alice@h3',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.solver.max[1]',
      message: 'feature solver: max 4 seats per group (policy rule features.solver.max[1]); group night holds 4',
    },
  },
  {
    what: 'max per group: bob is not in night, so night’s count does not limit him',
    feature: 'solver',
    holding: ['nina@h1*3', 'nina@h2*1'],
    asks: 'bob@h3',
    expect: 'ok',
  },
  { what: 'max per group: a user in no group is not limited by it', feature: 'solver', holding: ['zed@h1*2', 'zed@h2*2'], asks: 'zed@h3', expect: 'ok' },
  {
    what: 'max for a named group: its members together',
    feature: 'solver',
    holding: ['ivan@h1', 'ines@h2'],
    asks: 'ivan@h3',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.solver.max[2]',
      message: 'feature solver: max 2 seats for group interns (policy rule features.solver.max[2]); group interns holds 2',
    },
  },
  {
    what: 'max for a named user: only that user',
    feature: 'solver',
    holding: ['carol@h1'],
    asks: 'carol@h2',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.solver.max[3]',
      message: 'feature solver: max 1 seat for carol (policy rule features.solver.max[3]); carol holds 1',
    },
  },
  { what: 'max for a named user: others are not limited by it', feature: 'solver', holding: ['carol@h1'], asks: 'dave@h2', expect: 'ok' },
  {
    what: 'max for a named host: only sessions on it (and per host applies too: the first rule that fails is named)',
    feature: 'solver',
    holding: ['a@build01*2', 'b@build01*1'],
    asks: 'c@build01',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.solver.max[0]',
      message: 'feature solver: max 3 seats per host (policy rule features.solver.max[0]); host build01 holds 3',
    },
  },

  // 3. capacity is not the policy's: the caller answers SEATS_EXHAUSTED
  { what: 'all seats taken, no rule against the requester: the policy does not object', feature: 'viewer', holding: ['a@x*3'], asks: 'b@y', expect: 'ok' },
  {
    what: 'all seats taken, and the requester would also be kept from a reservation: still capacity, not policy',
    feature: 'designer',
    holding: ['carol@ws3', 'dave@ws4', 'erin@ws5', 'fred@ws6'],
    asks: 'gina@ws7',
    expect: 'ok',
  },

  // 4. reserve
  {
    what: 'reserve: a non-owner may take what leaves the reservation free (4 free, 2 reserved)',
    feature: 'designer',
    holding: [],
    asks: 'carol@ws3',
    expect: 'ok',
  },
  {
    what: 'reserve: a non-owner may not take the reserved seats',
    feature: 'designer',
    holding: ['dave@ws4', 'erin@ws5'],
    asks: 'carol@ws3',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.designer.reserve[0]',
      message:
        'feature designer: 2 free seats, 2 reserved for others (policy rule features.designer.reserve[0]: 2 seats for group cad-team, 2 unused); carol can take 0 and asks for 1',
    },
  },
  { what: 'reserve: an owner may take the reserved seats', feature: 'designer', holding: ['dave@ws4', 'erin@ws5'], asks: 'alice@ws1', expect: 'ok' },
  {
    what: 'reserve: an owner’s seats fill the reservation first, freeing no seat for others (bob holds 1 of the 2)',
    feature: 'designer',
    holding: ['bob@ws2', 'dave@ws4'],
    asks: 'carol@ws3',
    expect: 'ok',
  },
  {
    what: 'reserve: ... and once the unused part is all that is free, non-owners stop',
    feature: 'designer',
    holding: ['bob@ws2', 'dave@ws4', 'erin@ws5'],
    asks: 'carol@ws3',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.designer.reserve[0]',
      message:
        'feature designer: 1 free seat, 1 reserved for others (policy rule features.designer.reserve[0]: 2 seats for group cad-team, 1 unused); carol can take 0 and asks for 1',
    },
  },
  {
    what: 'reserve: a reservation fully used keeps nothing back',
    feature: 'designer',
    holding: ['alice@ws1', 'bob@ws2', 'dave@ws4'],
    asks: 'carol@ws3',
    expect: 'ok',
  },
  {
    what: 'reserve: several reservations each keep their unused part (5 free, 4 kept): a non-owner may take 1',
    feature: 'render',
    holding: [],
    asks: 'carol@ws3',
    expect: 'ok',
  },
  {
    what: 'reserve: several reservations refusing together are all named',
    feature: 'render',
    holding: [],
    asks: 'carol@ws3',
    count: 2,
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.render.reserve[0], features.render.reserve[1], features.render.reserve[2]',
      message:
        'feature render: 5 free seats, 4 reserved for others (policy rules features.render.reserve[0]: 2 seats for group cad-team, 2 unused; ' +
        'features.render.reserve[1]: 1 seat for dave, 1 unused; features.render.reserve[2]: 1 seat for host ws-lab, 1 unused); carol can take 1 and asks for 2',
    },
  },
  {
    what: 'reserve: a user owner takes its own reserved seat plus the unreserved one',
    feature: 'render',
    holding: [],
    asks: 'dave@ws4',
    count: 2,
    expect: 'ok',
  },
  {
    what: 'reserve: ... but not the other reservations’ seats',
    feature: 'render',
    holding: [],
    asks: 'dave@ws4',
    count: 3,
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.render.reserve[0], features.render.reserve[2]',
      message:
        'feature render: 5 free seats, 3 reserved for others (policy rules features.render.reserve[0]: 2 seats for group cad-team, 2 unused; ' +
        'features.render.reserve[2]: 1 seat for host ws-lab, 1 unused); dave can take 2 and asks for 3',
    },
  },
  { what: 'reserve: a host reservation belongs to whoever works on that host', feature: 'render', holding: [], asks: 'carol@ws-lab', count: 2, expect: 'ok' },
  { what: 'reserve: owning two reservations (group and host) adds both', feature: 'render', holding: [], asks: 'alice@ws-lab', count: 4, expect: 'ok' },
  {
    what: 'reserve: owning two reservations (group and host) adds both, and no more',
    feature: 'render',
    holding: [],
    asks: 'alice@ws-lab',
    count: 5,
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.render.reserve[1]',
      message:
        'feature render: 5 free seats, 1 reserved for others (policy rule features.render.reserve[1]: 1 seat for dave, 1 unused); alice can take 4 and asks for 5',
    },
  },
  {
    what: 'reserve: owners holding more than their reservation do not make it negative (alice 3 of a 2-seat reservation)',
    feature: 'render',
    holding: ['alice@ws1*3'],
    asks: 'carol@ws3',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.render.reserve[1], features.render.reserve[2]',
      message:
        'feature render: 2 free seats, 2 reserved for others (policy rules features.render.reserve[1]: 1 seat for dave, 1 unused; ' +
        'features.render.reserve[2]: 1 seat for host ws-lab, 1 unused); carol can take 0 and asks for 1',
    },
  },
  {
    what: 'reserve: seats taken before the policy (others hold the reserved ones): the owner still gets what is free',
    feature: 'designer',
    holding: ['carol@ws3', 'dave@ws4', 'erin@ws5'],
    asks: 'alice@ws1',
    expect: 'ok',
  },
  {
    what: 'reserve: reservations larger than the feature: no seat for non-owners',
    feature: 'tight',
    holding: [],
    asks: 'carol@ws3',
    expect: {
      code: POLICY_LIMIT,
      rule: 'features.tight.reserve[0], features.tight.reserve[1]',
      message:
        'feature tight: 3 free seats, 6 reserved for others (policy rules features.tight.reserve[0]: 3 seats for tom, 3 unused; ' +
        'features.tight.reserve[1]: 3 seats for tina, 3 unused); carol can take 0 and asks for 1',
    },
  },
  {
    what: 'reserve: reservations larger than the feature are served first come, first served (tom may take his 3)',
    feature: 'tight',
    holding: [],
    asks: 'tom@ws1',
    count: 3,
    expect: 'ok',
  },
  {
    what: 'reserve: ... after which tina finds nothing free: capacity, not policy',
    feature: 'tight',
    holding: ['tom@ws1*3'],
    asks: 'tina@ws2',
    expect: 'ok',
  },
  {
    what: 'reserve: ... and with 1 free, tina may take it though tom’s reservation is not used up',
    feature: 'tight',
    holding: ['tom@ws1*2'],
    asks: 'tina@ws2',
    expect: 'ok',
  },
];

function decide(c: Case): CheckoutDecision {
  const seats = SEATS[c.feature];
  assert.ok(seats !== undefined, c.feature);
  const state = usageFromHoldings(POLICY, c.feature, seats, c.holding.map(h));
  return decideCheckout(POLICY, c.feature, h(c.asks), c.count ?? 1, state);
}

describe('decideCheckout: the policy’s meaning, case by case', () => {
  for (const c of CASES) {
    it(c.what, () => {
      const d = decide(c);
      if (c.expect === 'ok') assert.deepEqual(d, { ok: true });
      else assert.deepEqual(d, { ok: false, ...c.expect });
    });
  }

  it('count must be a whole number of at least 1', () => {
    const state = usageFromHoldings(POLICY, 'designer', 4, []);
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => decideCheckout(POLICY, 'designer', h('alice@ws1'), bad, state), RangeError);
  });

  it('the empty policy allows everything', () => {
    const state: FeatureUsage = { seats: 1, inUse: 1, byUser: new Map([['a', 1]]), byHost: new Map(), byGroup: new Map(), reservedHeld: [] };
    assert.deepEqual(decideCheckout(EMPTY_SEAT_POLICY, 'designer', h('a@x'), 5, state), { ok: true });
  });

  it('missing map entries and reservedHeld entries count as 0 (a state built by hand, as the Lua script builds it)', () => {
    const state: FeatureUsage = { seats: 4, inUse: 2, byUser: new Map(), byHost: new Map(), byGroup: new Map(), reservedHeld: [] };
    const d = decideCheckout(POLICY, 'designer', h('carol@ws3'), 1, state);
    assert.equal(d.ok, false);
    assert.equal(!d.ok && d.rule, 'features.designer.reserve[0]');
  });
});

describe('docs/POLICY.md worked example (deploy/policy.example.yaml, designer with 6 seats)', () => {
  const example = parseSeatPolicy(readFileSync('deploy/policy.example.yaml', 'utf8'), 'deploy/policy.example.yaml');
  const holding: Holding[] = [];
  /** Asks for one seat; takes it when granted. */
  const ask = (spec: string): CheckoutDecision => {
    const d = decideCheckout(example, 'designer', h(spec), 1, usageFromHoldings(example, 'designer', 6, holding));
    if (d.ok) holding.push(h(spec));
    return d;
  };
  const message = (d: CheckoutDecision): string => (d.ok ? 'granted' : d.message);

  it('plays out as the table says', () => {
    for (const who of ['carol@ws3', 'dave@ws4', 'erin@ws5']) assert.equal(message(ask(who)), 'granted', who);
    assert.equal(message(ask('fred@ws6')), 'granted');
    assert.equal(
      message(ask('gina@ws7')),
      'feature designer: 2 free seats, 2 reserved for others (policy rule features.designer.reserve[0]: 2 seats for group cad-team, 2 unused); gina can take 0 and asks for 1',
    );
    assert.equal(message(ask('alice@ws1')), 'granted');
    assert.equal(message(ask('alice@ws1')), 'feature designer: max 1 seat per user (policy rule features.designer.max[0]); alice holds 1');
    assert.equal(message(ask('bob@ws2')), 'granted');
    assert.equal(holding.length, 6);
    assert.equal(message(ask('mallory@ws9')), 'feature designer: denied to mallory (policy rule features.designer.deny[0])');
    assert.equal(message(ask('alice@kiosk-1')), 'feature designer: denied to host kiosk-1 (policy rule features.designer.deny[1])');
  });
});

describe('usageFromHoldings and groupsOf', () => {
  it('counts per user, host, group (a seat for every group of its user) and per reservation owner', () => {
    const u = usageFromHoldings(POLICY, 'render', 5, [h('alice@ws-lab*2'), h('nina@ws1'), h('dave@ws1'), h('@ws2')]);
    assert.equal(u.seats, 5);
    assert.equal(u.inUse, 5);
    assert.deepEqual(
      [...u.byUser],
      [
        ['alice', 2],
        ['nina', 1],
        ['dave', 1],
        ['', 1],
      ],
    );
    assert.deepEqual(
      [...u.byHost],
      [
        ['ws-lab', 2],
        ['ws1', 2],
        ['ws2', 1],
      ],
    );
    assert.deepEqual([...u.byGroup].sort(), [
      ['cad-team', 2],
      ['night', 3],
    ]);
    // reserve[0] cad-team: alice 2; reserve[1] dave: 1; reserve[2] host ws-lab: alice's 2 again.
    assert.deepEqual(u.reservedHeld, [2, 1, 2]);
  });

  it('groupsOf: the groups a user is in, sorted; none for strangers', () => {
    assert.deepEqual(groupsOf(POLICY, 'alice'), ['cad-team', 'night']);
    assert.deepEqual(groupsOf(POLICY, 'ivan'), ['interns']);
    assert.deepEqual(groupsOf(POLICY, 'zed'), []);
    assert.deepEqual(groupsOf(EMPTY_SEAT_POLICY, 'alice'), []);
  });
});

describe('decideCheckout: what the rules guarantee, over random checkouts and releases', () => {
  // Reservations by user and group with owners in no other reservation: the configuration the
  // guarantee is promised for (docs/POLICY.md; overlapping owners are warned about).
  const policy: SeatPolicy = parseSeatPolicy(
    `groups:
  team: [u0, u1]
features:
  f:
    reserve: [ { seats: 2, group: team }, { seats: 1, user: u2 } ]
    max: [ { seats: 2, per: user }, { seats: 3, per: host }, { seats: 3, per: group } ]
    deny: [ { user: u5 } ]
`,
    'p.yaml',
  );
  const users = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
  const hosts = ['h0', 'h1', 'h2'];
  const step = fc.oneof(
    fc.record({
      op: fc.constant('checkout' as const),
      user: fc.constantFrom(...users),
      host: fc.constantFrom(...hosts),
      count: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({ op: fc.constant('release' as const), index: fc.nat() }),
  );

  it('every grant keeps each reservation’s unused part free, every max rule held, and denied users out', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 8 }), fc.array(step, { maxLength: 60 }), (seats, steps) => {
        const holdings: Holding[] = [];
        for (const s of steps) {
          if (s.op === 'release') {
            if (holdings.length > 0) holdings.splice(s.index % holdings.length, 1);
          } else {
            const state = usageFromHoldings(policy, 'f', seats, holdings);
            const d = decideCheckout(policy, 'f', s, s.count, state);
            // The caller's own capacity check: no more seats than the license gives.
            if (d.ok && state.inUse + s.count <= seats) holdings.push({ user: s.user, host: s.host, count: s.count });
          }
          const u = usageFromHoldings(policy, 'f', seats, holdings);
          const rules = policy.features.get('f');
          assert.ok(rules);
          const unused = rules.reserve.reduce((sum, r, j) => sum + Math.max(0, r.seats - (u.reservedHeld[j] ?? 0)), 0);
          assert.ok(u.seats - u.inUse >= unused, `reservations kept free: ${JSON.stringify(holdings)}`);
          for (const n of u.byUser.values()) assert.ok(n <= 2);
          for (const n of u.byHost.values()) assert.ok(n <= 3);
          for (const n of u.byGroup.values()) assert.ok(n <= 3);
          assert.equal(u.byUser.get('u5') ?? 0, 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('an owner can always get its reservation’s unused seats, whatever the others did', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const seats = 5;
        const holdings: Holding[] = [];
        for (const s of steps) {
          if (s.op === 'release') {
            if (holdings.length > 0) holdings.splice(s.index % holdings.length, 1);
            continue;
          }
          const state = usageFromHoldings(policy, 'f', seats, holdings);
          if (decideCheckout(policy, 'f', s, s.count, state).ok && state.inUse + s.count <= seats)
            holdings.push({ user: s.user, host: s.host, count: s.count });
        }
        // u2's reservation (1 seat): if u2 holds none, u2 gets one (on a host with room).
        const u = usageFromHoldings(policy, 'f', seats, holdings);
        if ((u.byUser.get('u2') ?? 0) === 0) {
          const host = hosts.find((x) => (u.byHost.get(x) ?? 0) < 3);
          if (host !== undefined) assert.deepEqual(decideCheckout(policy, 'f', { user: 'u2', host }, 1, u), { ok: true });
        }
      }),
      { numRuns: 300 },
    );
  });
});
