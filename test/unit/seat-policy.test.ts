import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import {
  checkAgainstLicense,
  EMPTY_SEAT_POLICY,
  parseSeatPolicy,
  policyDigest,
  type SeatPolicy,
  seatPolicyJson,
  seatPolicyToJson,
} from '../../src/server/policy/seat-policy';

/** The example, line for line (the line numbers below count on it). */
const GOOD = `groups:
  cad-team: [alice, bob]          # user names, as sent in OpenSessionRequest.user
features:
  designer:
    reserve:                      # seats only these may take
      - { seats: 2, group: cad-team }   # or user: NAME, or host: NAME
    max:                          # at most this many seats held at once
      - { seats: 1, per: user }         # per: user | host | group
    deny: [ { user: mallory } ]   # or host: / group:
    checkout_timeout_ms: 3600000  # optional lingering, like FlexNet's TIMEOUT
`;

/** The one-line CONFIG_INVALID refusal parseSeatPolicy gives. */
function refusal(text: string): string {
  try {
    parseSeatPolicy(text, 'p.yaml');
  } catch (err) {
    assert.ok(err instanceof LicenseError, String(err));
    assert.equal(err.code, ErrorCode.CONFIG_INVALID);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return err.message;
  }
  assert.fail(`the policy was accepted:\n${text}`);
}

function edit(from: string, to: string): string {
  assert.ok(GOOD.includes(from), `GOOD has ${from}`);
  return GOOD.replace(from, to);
}

describe('seat policy file: parsing', () => {
  it('the issue example: groups, and per feature its reservations, limits, denials and timeout', () => {
    const p = parseSeatPolicy(GOOD, 'p.yaml');
    assert.deepEqual([...p.groups], [['cad-team', ['alice', 'bob']]]);
    assert.deepEqual(p.features.get('designer'), {
      reserve: [{ seats: 2, owner: { kind: 'group', name: 'cad-team' } }],
      max: [{ seats: 1, per: 'user' }],
      deny: [{ kind: 'user', name: 'mallory' }],
      checkoutTimeoutMs: 3_600_000,
    });
    assert.equal(
      seatPolicyJson(p),
      '{"features":{"designer":{"checkout_timeout_ms":3600000,"deny":[{"user":"mallory"}],"max":[{"per":"user","seats":1}],"reserve":[{"group":"cad-team","seats":2}]}},"groups":{"cad-team":["alice","bob"]}}',
    );
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.features.get('designer')));
  });

  it('every kind of rule: reserve for a user, host or group; max per user/host/group or for one named user/host/group', () => {
    const p = parseSeatPolicy(
      `groups:
  interns: [ivan]
features:
  solver:
    reserve: [ { seats: 1, user: dave }, { seats: 2, host: ws-lab }, { seats: 1, group: interns } ]
    max:
      - { seats: 3, per: host }
      - { seats: 4, per: group }
      - { seats: 2, group: interns }
      - { seats: 1, user: carol }
      - { seats: 5, host: build01 }
    deny: [ { host: kiosk }, { group: interns } ]
`,
      'p.yaml',
    );
    const f = p.features.get('solver');
    assert.ok(f);
    assert.deepEqual(
      f.reserve.map((r) => [r.seats, r.owner.kind, r.owner.name]),
      [
        [1, 'user', 'dave'],
        [2, 'host', 'ws-lab'],
        [1, 'group', 'interns'],
      ],
    );
    assert.deepEqual(f.max, [
      { seats: 3, per: 'host' },
      { seats: 4, per: 'group' },
      { seats: 2, owner: { kind: 'group', name: 'interns' } },
      { seats: 1, owner: { kind: 'user', name: 'carol' } },
      { seats: 5, owner: { kind: 'host', name: 'build01' } },
    ]);
    assert.deepEqual(f.deny, [
      { kind: 'host', name: 'kiosk' },
      { kind: 'group', name: 'interns' },
    ]);
    assert.equal(f.checkoutTimeoutMs, undefined);
  });

  it('an empty file, a file of comments, and empty sections are the empty policy; a feature without rules keeps its name', () => {
    for (const text of ['', '\n\n', '# nothing yet\n', '---\n', 'groups:\nfeatures:\n', 'groups: {}\nfeatures: {}\n']) {
      assert.equal(policyDigest(parseSeatPolicy(text, 'p.yaml')), policyDigest(EMPTY_SEAT_POLICY), JSON.stringify(text));
    }
    const p = parseSeatPolicy('groups:\n  empty:\nfeatures:\n  viewer:\n  designer: { reserve: , max: [], deny: }\n', 'p.yaml');
    assert.deepEqual(seatPolicyToJson(p), {
      groups: { empty: [] },
      features: { viewer: { reserve: [], max: [], deny: [] }, designer: { reserve: [], max: [], deny: [] } },
    });
  });

  it('JSON is YAML: the same policy written as JSON parses to the same thing', () => {
    const json = JSON.stringify({
      features: {
        designer: { deny: [{ user: 'mallory' }], max: [{ per: 'user', seats: 1 }], reserve: [{ seats: 2, group: 'cad-team' }], checkout_timeout_ms: 3600000 },
      },
      groups: { 'cad-team': ['bob', 'alice'] },
    });
    assert.equal(policyDigest(parseSeatPolicy(json, 'p.json')), policyDigest(parseSeatPolicy(GOOD, 'p.yaml')));
  });

  it('names: up to 256 characters counted as code points, plain text, compared exactly; repeats in a group collapse', () => {
    const long = 'é'.repeat(256);
    const emoji = '😀'.repeat(256); // 512 UTF-16 units, 256 characters
    const p = parseSeatPolicy(`groups:\n  g: [${long}, "${emoji}", Alice, alice, alice]\n`, 'p.yaml');
    assert.deepEqual(p.groups.get('g'), [long, emoji, 'Alice', 'alice'].sort());
  });
});

describe('seat policy file: refusals name the file, the line and the key', () => {
  // [what is wrong, the file, the message]
  const cases: [string, string, string][] = [
    [
      'per: not one of user, host, group',
      edit('per: user }', 'per: users }'),
      'policy p.yaml: line 8: features.designer.max.0.per: must be one of user, host, group',
    ],
    [
      'an unknown key in a feature',
      edit('    deny:', '    denied:'),
      'policy p.yaml: line 9: features.designer.denied: unknown key (allowed: reserve, max, deny, checkout_timeout_ms)',
    ],
    ['an unknown key at the top', `${GOOD}users: [alice]\n`, 'policy p.yaml: line 11: users: unknown key (allowed: groups, features)'],
    [
      'an unknown key in a rule',
      edit('{ seats: 1, per: user }', '{ seats: 1, per: user, scope: all }'),
      'policy p.yaml: line 8: features.designer.max.0.scope: unknown key (allowed: seats, per, user, host, group)',
    ],
    [
      'an unknown key in a reservation',
      edit('{ seats: 2, group: cad-team }', '{ seats: 2, group: cad-team, until: 2027 }'),
      'policy p.yaml: line 6: features.designer.reserve.0.until: unknown key (allowed: seats, user, host, group)',
    ],
    [
      'an unknown key in a denial',
      edit('{ user: mallory }', '{ users: mallory }'),
      'policy p.yaml: line 9: features.designer.deny.0.users: unknown key (allowed: user, host, group)',
    ],
    ['seats 0', edit('seats: 2,', 'seats: 0,'), 'policy p.yaml: line 6: features.designer.reserve.0.seats: must be a whole number of at least 1'],
    ['seats negative', edit('seats: 1,', 'seats: -1,'), 'policy p.yaml: line 8: features.designer.max.0.seats: must be a whole number of at least 1'],
    ['seats a fraction', edit('seats: 2,', 'seats: 1.5,'), 'policy p.yaml: line 6: features.designer.reserve.0.seats: must be a whole number of at least 1'],
    ['seats a string', edit('seats: 2,', 'seats: "2",'), 'policy p.yaml: line 6: features.designer.reserve.0.seats: must be a whole number of at least 1'],
    ['seats missing', edit('seats: 2, group', 'group'), 'policy p.yaml: line 6: features.designer.reserve.0.seats: must be a whole number of at least 1'],
    ['seats absurd', edit('seats: 2,', 'seats: 1000001,'), 'policy p.yaml: line 6: features.designer.reserve.0.seats: must be at most 1000000'],
    [
      'a reservation naming two owners',
      edit('{ seats: 2, group: cad-team }', '{ seats: 2, group: cad-team, user: alice }'),
      'policy p.yaml: line 6: features.designer.reserve.0: must name exactly one of user, host, group (it names user and group)',
    ],
    [
      'a reservation naming nobody',
      edit('{ seats: 2, group: cad-team }', '{ seats: 2 }'),
      'policy p.yaml: line 6: features.designer.reserve.0: must name exactly one of user, host, group',
    ],
    [
      'a denial naming two',
      edit('{ user: mallory }', '{ user: mallory, host: kiosk }'),
      'policy p.yaml: line 9: features.designer.deny.0: must name exactly one of user, host, group (it names user and host)',
    ],
    [
      'a limit with neither per nor a name',
      edit('{ seats: 1, per: user }', '{ seats: 1 }'),
      'policy p.yaml: line 8: features.designer.max.0: must have per: user|host|group, or name exactly one user, host or group',
    ],
    [
      'a limit with both per and a name',
      edit('{ seats: 1, per: user }', '{ seats: 1, per: user, group: cad-team }'),
      'policy p.yaml: line 8: features.designer.max.0: must have per: or group:, not both',
    ],
    [
      'a reservation for a group that does not exist',
      edit('group: cad-team }', 'group: cad-tem }'),
      'policy p.yaml: line 6: features.designer.reserve.0.group: no group named "cad-tem" under groups: (there are: cad-team)',
    ],
    [
      'a denial of a group that does not exist',
      edit('{ user: mallory }', '{ group: interns }'),
      'policy p.yaml: line 9: features.designer.deny.0.group: no group named "interns" under groups: (there are: cad-team)',
    ],
    [
      'a limit for a group that does not exist, with no groups at all',
      'features:\n  designer:\n    max:\n      - { seats: 1, group: interns }\n',
      'policy p.yaml: line 4: features.designer.max.0.group: no group named "interns" under groups:',
    ],
    [
      'a user name YAML reads as a number',
      edit('[alice, bob]', '[alice, 1234]'),
      'policy p.yaml: line 2: groups.cad-team.1: must be a string (quote a name that YAML would read as a number or true/false: "1234")',
    ],
    ['an empty name', edit('{ user: mallory }', '{ user: "" }'), 'policy p.yaml: line 9: features.designer.deny.0.user: must not be empty'],
    [
      'a name with spaces around it',
      edit('{ user: mallory }', '{ user: " mallory" }'),
      'policy p.yaml: line 9: features.designer.deny.0.user: must not start or end with spaces',
    ],
    [
      'a name with a control character',
      edit('{ user: mallory }', '{ user: "mal\\tlory" }'),
      'policy p.yaml: line 9: features.designer.deny.0.user: must be plain text (no control characters)',
    ],
    [
      'a name over 256 characters',
      edit('{ user: mallory }', `{ user: ${'m'.repeat(257)} }`),
      'policy p.yaml: line 9: features.designer.deny.0.user: must be at most 256 characters, got 257',
    ],
    [
      'a feature name the license could never have',
      edit('  designer:', '  "designer 2":'),
      'policy p.yaml: line 4: features.designer 2: feature names are 1-64 of A-Za-z0-9._-, starting with a letter or digit',
    ],
    [
      'a group name with a space',
      edit('  cad-team: [', '  cad team: ['),
      'policy p.yaml: line 2: groups.cad team: group names are 1-64 of A-Za-z0-9._-, starting with a letter or digit',
    ],
    ['a group that is not a list', edit('[alice, bob]', 'alice'), 'policy p.yaml: line 2: groups.cad-team: must be a list of user names ([alice, bob])'],
    ['groups as a list', 'groups: [alice]\n', 'policy p.yaml: line 1: groups: must be a mapping of group name to its users'],
    ['features as a list', 'features: [designer]\n', 'policy p.yaml: line 1: features: must be a mapping of feature name to its rules'],
    [
      'rules that are not a list',
      edit('    deny: [ { user: mallory } ]', '    deny: mallory'),
      'policy p.yaml: line 9: features.designer.deny: must be a list of users, hosts or groups ({ user: NAME })',
    ],
    [
      'checkout_timeout_ms of 0',
      edit('checkout_timeout_ms: 3600000', 'checkout_timeout_ms: 0'),
      'policy p.yaml: line 10: features.designer.checkout_timeout_ms: must be at least 1 ms',
    ],
    [
      'checkout_timeout_ms with a unit',
      edit('checkout_timeout_ms: 3600000', 'checkout_timeout_ms: 1h'),
      'policy p.yaml: line 10: features.designer.checkout_timeout_ms: must be a whole number of milliseconds',
    ],
    ['a list at the top', '- designer\n', 'policy p.yaml: line 1: must be a mapping with groups: and features:'],
    ['a key given twice', edit('    deny:', '    max: []\n    deny:'), 'policy p.yaml: line 9: not valid YAML: Map keys must be unique'],
    [
      'broken YAML',
      'features:\n  designer: [\n',
      'policy p.yaml: line 3: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  ];
  for (const [what, text, message] of cases) {
    it(what, () => {
      assert.equal(refusal(text), message);
    });
  }

  it('of several problems, the one on the earliest line is reported', () => {
    const text = edit('checkout_timeout_ms: 3600000', 'checkout_timeout_ms: 0')
      .replace('seats: 2,', 'seats: 0,')
      .replace('group: cad-team }', 'group: nobody }');
    assert.equal(refusal(text), 'policy p.yaml: line 6: features.designer.reserve.0.seats: must be a whole number of at least 1');
  });
});

describe('seat policy digest', () => {
  const digest = (text: string): string => policyDigest(parseSeatPolicy(text, 'p.yaml'));

  it('is sha256 hex of the canonical JSON', () => {
    assert.match(digest(GOOD), /^[0-9a-f]{64}$/);
    assert.notEqual(digest(GOOD), policyDigest(EMPTY_SEAT_POLICY));
  });

  it('does not change with comments, layout, key order, quoting or the order of a group’s members', () => {
    const same = `# policy for the design office
features:
  designer:
    checkout_timeout_ms: 0x36EE80   # 3600000, spelt another way
    deny:
      - user: "mallory"
    max: [ { per: user, seats: 1 } ]
    reserve:
      - group: 'cad-team'
        seats: 2
groups:
  cad-team:
    - bob
    - alice
    - bob
`;
    assert.equal(digest(same), digest(GOOD));
  });

  it('changes with any rule, including the order of rules (refusals name rules by index)', () => {
    const variants = [
      edit('seats: 2,', 'seats: 3,'),
      edit('per: user', 'per: host'),
      edit('mallory', 'mallory2'),
      edit('[alice, bob]', '[alice, bob, carol]'),
      edit('checkout_timeout_ms: 3600000', 'checkout_timeout_ms: 3600001'),
      edit("    checkout_timeout_ms: 3600000  # optional lingering, like FlexNet's TIMEOUT\n", ''),
      edit('deny: [ { user: mallory } ]', 'deny: [ { user: mallory }, { user: eve } ]'),
      edit('deny: [ { user: mallory } ]', 'deny: [ { user: eve }, { user: mallory } ]'),
      `${GOOD}  viewer: {}\n`,
    ];
    const digests = new Set([digest(GOOD), ...variants.map(digest)]);
    assert.equal(digests.size, variants.length + 1);
    assert.notEqual(
      digest(edit('deny: [ { user: mallory } ]', 'deny: [ { user: eve }, { user: mallory } ]')),
      digest(edit('deny: [ { user: mallory } ]', 'deny: [ { user: mallory }, { user: eve } ]')),
    );
  });

  it('deploy/policy.example.yaml parses', () => {
    const p = parseSeatPolicy(readFileSync('deploy/policy.example.yaml', 'utf8'), 'deploy/policy.example.yaml');
    assert.ok(p.features.size > 0 && p.groups.size > 0);
  });
});

describe('checkAgainstLicense', () => {
  const policy = (text: string): SeatPolicy => parseSeatPolicy(text, 'p.yaml');

  it('nothing to say when the features exist and the reservations fit', () => {
    const withoutTimeout = policy(GOOD.replace(/^ *checkout_timeout_ms:.*\n/m, ''));
    assert.deepEqual(checkAgainstLicense(withoutTimeout, new Map([['designer', 2]])), []);
    assert.deepEqual(checkAgainstLicense(EMPTY_SEAT_POLICY, new Map([['designer', 2]])), []);
  });

  it('checkout_timeout_ms: said to be read but not enforced', () => {
    assert.deepEqual(checkAgainstLicense(policy(GOOD), new Map([['designer', 2]])), [
      'policy: features.designer.checkout_timeout_ms: not enforced by this version (it is read and part of the digest); ' +
        'seats are freed when released, force-released, or when their session expires (LICENSE_SESSION_TTL_MS)',
    ]);
  });

  it('a feature the license lacks: a warning, not an error', () => {
    assert.deepEqual(checkAgainstLicense(policy(GOOD), new Map([['solver', 5]])), [
      'policy: features.designer: the license has no feature "designer"; its rules have no effect',
    ]);
  });

  it('reservations adding up to more than the feature’s seats', () => {
    const p = policy('features:\n  render:\n    reserve: [ { seats: 2, user: dave }, { seats: 2, host: ws-lab } ]\n');
    assert.deepEqual(checkAgainstLicense(p, new Map([['render', 4]])), []);
    assert.deepEqual(checkAgainstLicense(p, new Map([['render', 3]])), [
      'policy: features.render.reserve: reserves 4 seats but the license gives render 3; users outside the reservations get no seat, and not every reservation can be met',
    ]);
  });

  it('a user owning two reservations of one feature (by name or by group)', () => {
    const p = policy(`groups:
  cad-team: [alice, bob]
  night: [alice, bob, nina]
features:
  render:
    reserve:
      - { seats: 1, group: cad-team }
      - { seats: 1, user: dave }
      - { seats: 1, user: alice }
      - { seats: 1, group: night }
      - { seats: 1, host: ws-lab }
`);
    assert.deepEqual(checkAgainstLicense(p, new Map([['render', 10]])), [
      'policy: features.render.reserve[0] and reserve[2] have owners in common (user alice): a seat such a user holds counts against both, so together they keep fewer seats free than their sum',
      'policy: features.render.reserve[0] and reserve[3] have owners in common (users alice, bob): a seat such a user holds counts against both, so together they keep fewer seats free than their sum',
      'policy: features.render.reserve[2] and reserve[3] have owners in common (user alice): a seat such a user holds counts against both, so together they keep fewer seats free than their sum',
    ]);
  });
});
