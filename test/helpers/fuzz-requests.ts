import fc from 'fast-check';

/**
 * Fuzz inputs for the cluster fuzz test (test/fuzz): what a client can send to
 * SeatService and AdminService, well-formed or not, plus the contract's rules for
 * telling the two apart (docs/ARCHITECTURE.md, "Input limits (contract)").
 * Pure: no I/O. References to sessions and leases are indices into the pools the
 * test keeps of ids the cluster really handed out, resolved when the action runs.
 */

export const FEATURE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
export const CLIENT_FIELD_MAX = 256;
export const REQUEST_ID_MAX = 128;
/** Strings this long make a request bigger than the node's 64 KiB message limit. */
export const OVERSIZE_CHARS = 100_000;
const OVERSIZE = 'x'.repeat(OVERSIZE_CHARS);

/** A node by index (0 primary, 1 redundant), or whichever the monitors last saw holding the lease. */
export type NodeIx = 0 | 1 | 'leader';
export type SessRef = { t: 'live'; i: number } | { t: 'closed'; i: number } | { t: 'raw'; v: string };
export type LeaseRef = { t: 'own'; i: number } | { t: 'any'; i: number } | { t: 'released'; i: number } | { t: 'raw'; v: string };
/** `shared` request ids come from a tiny set, so sessions reuse them and collide on purpose. */
export type RidRef = { t: 'none' } | { t: 'shared'; v: string } | { t: 'raw'; v: string };
export type Token = { t: 'good' } | { t: 'good-lower' } | { t: 'missing' } | { t: 'header'; v: string };
export type KeyKind =
  | { t: 'raw'; v: string }
  | { t: 'lak-json'; json: unknown; sig: Uint8Array }
  | { t: 'request-key' }
  | { t: 'replay'; i: number }
  | { t: 'tampered'; i: number; pos: number; part: 1 | 2 }
  | { t: 'forged-signed'; grant: ForgedGrant }
  | { t: 'foreign-vendor'; grant: ForgedGrant };
export interface ForgedGrant {
  readonly cluster: 'ours' | 'other';
  readonly node: 'node-a' | 'node-b' | 'other';
  /** 'current' for the open episode, else a made-up one. */
  readonly episode: string;
  readonly seq: number;
  readonly nonce: string;
  readonly extension_ms: number;
  readonly granted_ms: number;
  readonly expires: 'future' | 'past';
}
export type AdminCall =
  { m: 'GetStatus' } | { m: 'ListLeases'; feature: string } | { m: 'RequestActivationKey' } | { m: 'Activate'; key: KeyKind } | { m: 'StepDown' };

export type Action =
  | { k: 'open'; node: NodeIx; client_id: string; user: string; hostname: string; pid: number }
  | { k: 'checkout'; node: NodeIx; sess: SessRef; feature: string; count: number; rid: RidRef }
  | { k: 'heartbeat'; node: NodeIx; sess: SessRef }
  | { k: 'release'; node: NodeIx; sess: SessRef; lease: LeaseRef }
  | { k: 'close'; node: NodeIx; sess: SessRef }
  | { k: 'list'; node: NodeIx }
  | { k: 'admin'; node: NodeIx; token: Token; call: AdminCall }
  /** RequestActivationKey, sign it with the vendor key, Activate, then replay the key. */
  | { k: 'activation'; node: NodeIx };

/** One step of a fuzz case: its actions run concurrently (seat races across sessions). */
export type Step = readonly Action[];

// ---- field arbitraries ---------------------------------------------------------------

const CONTROL_CHARS = ['\u0000', '\t', '\n', '\r', '\u001b', '\u001f', '\u007f'];
const ODD_TEXT = [
  '',
  ' ',
  'a'.repeat(CLIENT_FIELD_MAX),
  'a'.repeat(CLIENT_FIELD_MAX + 1),
  'é'.repeat(CLIENT_FIELD_MAX),
  '😀'.repeat(CLIENT_FIELD_MAX / 2),
  '😀'.repeat(CLIENT_FIELD_MAX),
  '😀'.repeat(CLIENT_FIELD_MAX + 1),
  '\u0085next-line',
  '\u009b31m',
  'zero\u200bwidth',
  'rtl\u202eevil',
  'lone\ud800surrogate',
  '\udfffback',
  '{lic:other}:used',
  '*',
  "'; DROP TABLE seats; --",
  '%s%s%n',
  '../../etc/passwd',
  '\ufeffbom',
  OVERSIZE,
];

const withControl = fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...CONTROL_CHARS), fc.string({ maxLength: 10 })).map(([a, c, b]) => a + c + b);

/** client_id, user, hostname: mostly plausible, often hostile. */
export const textArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.string({ minLength: 1, maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 120, maxLength: 300 }) },
  { weight: 2, arbitrary: withControl },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_TEXT) },
);

/** A few client ids many sessions share (the per-client session limit), or anything. */
export const clientIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('cad-app', 'solver-batch', 'ws-7') },
  { weight: 5, arbitrary: textArb },
);

export const LICENSED = ['cad-pro', 'solver'] as const;
const ODD_FEATURES = [
  '',
  'CAD-PRO',
  'cad-pro ',
  ' cad-pro',
  'cad-pro\n',
  'cad-pro\u0000',
  'cad\u2010pro',
  'cäd-pro',
  'сad-pro',
  '😀',
  '.solver',
  '-solver',
  '_solver',
  'solver.',
  'a'.repeat(64),
  'a'.repeat(65),
  'b'.repeat(1000),
  'used',
  'sessions',
  '*',
  '{lic:x}',
  'lease:x',
  'cad-pro:1',
  OVERSIZE,
];

export const featureArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...LICENSED) },
  { weight: 2, arbitrary: fc.stringMatching(FEATURE_RE) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_FEATURES) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
/** Numbers as a JS client may pass them; protobufjs sends `x | 0` for int32. */
export const countArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 5 }) },
  { weight: 2, arbitrary: fc.integer({ min: 6, max: 21 }) },
  { weight: 3, arbitrary: fc.constantFrom(0, -1, 20, 21, INT32_MAX, INT32_MIN, INT32_MAX + 1, 2 ** 32 + 1, 2 ** 53, -(2 ** 40), 1.5, 0.5, Number.NaN) },
  { weight: 1, arbitrary: fc.integer({ min: INT32_MIN, max: INT32_MAX }) },
);

export const pidArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 99_999 }) },
  { weight: 3, arbitrary: fc.constantFrom(0, -1, INT32_MAX, INT32_MIN, INT32_MAX + 1, 2 ** 40, 3.7, -0.5, Number.NaN, Number.POSITIVE_INFINITY) },
  { weight: 1, arbitrary: fc.integer({ min: INT32_MIN, max: INT32_MAX }) },
);

const ODD_IDS = ['', ' ', 'a'.repeat(64), 'a'.repeat(65), 'abc def', 'abc/def', '*', 'sess\n', 'Ωmega', '..', '{lic:x}', 'x'.repeat(5_000)];
export const rawIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{22}$/) },
  { weight: 1, arbitrary: fc.stringMatching(ID_RE) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_IDS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
);

const sessArb: fc.Arbitrary<SessRef> = fc.oneof(
  { weight: 12, arbitrary: fc.nat().map((i): SessRef => ({ t: 'live', i })) },
  { weight: 2, arbitrary: fc.nat().map((i): SessRef => ({ t: 'closed', i })) },
  { weight: 2, arbitrary: rawIdArb.map((v): SessRef => ({ t: 'raw', v })) },
);

const leaseArb: fc.Arbitrary<LeaseRef> = fc.oneof(
  { weight: 8, arbitrary: fc.nat().map((i): LeaseRef => ({ t: 'own', i })) },
  { weight: 3, arbitrary: fc.nat().map((i): LeaseRef => ({ t: 'any', i })) },
  { weight: 2, arbitrary: fc.nat().map((i): LeaseRef => ({ t: 'released', i })) },
  { weight: 2, arbitrary: rawIdArb.map((v): LeaseRef => ({ t: 'raw', v })) },
);

const ridArb: fc.Arbitrary<RidRef> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<RidRef>({ t: 'none' }) },
  { weight: 4, arbitrary: fc.constantFrom('r1', 'r2', 'retry').map((v): RidRef => ({ t: 'shared', v })) },
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 40 }).map((v): RidRef => ({ t: 'raw', v })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('a'.repeat(REQUEST_ID_MAX), 'a'.repeat(REQUEST_ID_MAX + 1), '😀'.repeat(REQUEST_ID_MAX), 'r\u0000', 'r\n1', 'ü'.repeat(100), OVERSIZE)
      .map((v): RidRef => ({ t: 'raw', v })),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 150 }).map((v): RidRef => ({ t: 'raw', v })) },
);

// Mostly the leader, so most calls are served; the rest go to either node, whatever its state.
const nodeArb: fc.Arbitrary<NodeIx> = fc.constantFrom<NodeIx>('leader', 'leader', 'leader', 0, 1);

/** Header values grpc-js accepts (printable ASCII), none of them the right token. */
const badHeaderArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('Bearer', 'Bearer ', 'Bearer  x', 'Basic dGVzdDp0ZXN0', 'bearer', 'Token abc', 'Bearer null', 'Bearer undefined'),
  fc.stringMatching(/^[!-~]{1,40}$/),
  fc.stringMatching(/^[!-~]{1,40}$/).map((s) => `Bearer ${s}`),
);

export const badTokenArb: fc.Arbitrary<Token> = fc.oneof(
  fc.constant<Token>({ t: 'missing' }),
  badHeaderArb.map((v): Token => ({ t: 'header', v })),
);

const tokenArb: fc.Arbitrary<Token> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Token>({ t: 'good' }) },
  { weight: 1, arbitrary: fc.constant<Token>({ t: 'good-lower' }) },
  { weight: 3, arbitrary: badTokenArb },
);

const forgedGrantArb: fc.Arbitrary<ForgedGrant> = fc.record({
  cluster: fc.constantFrom<ForgedGrant['cluster']>('ours', 'ours', 'other'),
  node: fc.constantFrom<ForgedGrant['node']>('node-b', 'node-b', 'node-a', 'other'),
  episode: fc.oneof(fc.constant('current'), fc.stringMatching(/^[a-f0-9]{12}$/)),
  seq: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 1_000_000 })),
  nonce: fc.stringMatching(/^[A-Za-z0-9_-]{24}$/),
  extension_ms: fc.integer({ min: 1, max: 10_000_000 }),
  granted_ms: fc.integer({ min: 1, max: 10_000_000 }),
  expires: fc.constantFrom<ForgedGrant['expires']>('future', 'future', 'past'),
});

export const keyArb: fc.Arbitrary<KeyKind> = fc.oneof(
  fc
    .oneof(
      fc.string({ maxLength: 60 }),
      fc.constantFrom('', 'LAK1', 'LAK1.', 'LAK1..', 'LAK1.a.b', 'LAK1.e30.', 'LRQ1.e30', 'LAK1.e30.e30.e30', ' LAK1.e30.AAAA ', OVERSIZE),
    )
    .map((v): KeyKind => ({ t: 'raw', v })),
  fc
    .tuple(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant({})), fc.uint8Array({ minLength: 0, maxLength: 70 }))
    .map(([json, sig]): KeyKind => ({ t: 'lak-json', json, sig })),
  fc.constant<KeyKind>({ t: 'request-key' }),
  fc.nat().map((i): KeyKind => ({ t: 'replay', i })),
  fc.tuple(fc.nat(), fc.nat(), fc.constantFrom<1 | 2>(1, 2)).map(([i, pos, part]): KeyKind => ({ t: 'tampered', i, pos, part })),
  forgedGrantArb.map((grant): KeyKind => ({ t: 'forged-signed', grant })),
  forgedGrantArb.map((grant): KeyKind => ({ t: 'foreign-vendor', grant })),
);

type AdminPick = { token: Token; call: AdminCall };
const adminCallArb: fc.Arbitrary<AdminPick> = fc.oneof(
  { weight: 3, arbitrary: tokenArb.map((token): AdminPick => ({ token, call: { m: 'GetStatus' } })) },
  {
    weight: 2,
    arbitrary: fc.tuple(tokenArb, fc.oneof(fc.constant(''), featureArb)).map(([token, feature]): AdminPick => ({ token, call: { m: 'ListLeases', feature } })),
  },
  { weight: 1, arbitrary: tokenArb.map((token): AdminPick => ({ token, call: { m: 'RequestActivationKey' } })) },
  { weight: 4, arbitrary: fc.tuple(tokenArb, keyArb).map(([token, key]): AdminPick => ({ token, call: { m: 'Activate', key } })) },
  // StepDown only ever with a wrong or missing token: the failover loop does the real ones.
  { weight: 2, arbitrary: badTokenArb.map((token): AdminPick => ({ token, call: { m: 'StepDown' } })) },
);

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ node: nodeArb, client_id: clientIdArb, user: textArb, hostname: textArb, pid: pidArb }).map((r): Action => ({ k: 'open', ...r })),
  },
  {
    weight: 10,
    arbitrary: fc.record({ node: nodeArb, sess: sessArb, feature: featureArb, count: countArb, rid: ridArb }).map((r): Action => ({ k: 'checkout', ...r })),
  },
  { weight: 4, arbitrary: fc.record({ node: nodeArb, sess: sessArb }).map((r): Action => ({ k: 'heartbeat', ...r })) },
  { weight: 4, arbitrary: fc.record({ node: nodeArb, sess: sessArb, lease: leaseArb }).map((r): Action => ({ k: 'release', ...r })) },
  { weight: 2, arbitrary: fc.record({ node: nodeArb, sess: sessArb }).map((r): Action => ({ k: 'close', ...r })) },
  { weight: 1, arbitrary: nodeArb.map((node): Action => ({ k: 'list', node })) },
  { weight: 3, arbitrary: fc.tuple(nodeArb, adminCallArb).map(([node, a]): Action => ({ k: 'admin', node, ...a })) },
  { weight: 1, arbitrary: nodeArb.map((node): Action => ({ k: 'activation', node })) },
);

/** A fuzz case: steps run one after another, the actions of a step concurrently. */
export const caseArb: fc.Arbitrary<Step[]> = fc.array(fc.array(actionArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 25 });

// ---- the contract's rules -----------------------------------------------------------

/** `valid`/`invalid` by the contract; `either` where the contract leaves room (see below). */
export type Verdict = 'valid' | 'invalid' | 'either';

export function combine(...vs: Verdict[]): Verdict {
  if (vs.includes('invalid')) return 'invalid';
  if (vs.includes('either')) return 'either';
  return 'valid';
}

/**
 * A client text field (≤ max characters, no control characters). "Characters" is
 * read both as code points and as UTF-16 units, C1 controls may or may not count as
 * control characters, and lone surrogates do not survive UTF-8: those are `either`.
 */
export function textVerdict(v: string, max: number, required: boolean): Verdict {
  if (required && v === '') return 'invalid';
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(v)) return 'invalid';
  if ([...v].length > max) return 'invalid';
  if (v.length > max) return 'either';
  if (/[\u0080-\u009f]/.test(v)) return 'either';
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(v)) return 'either';
  return 'valid';
}

export const idVerdict = (v: string): Verdict => (ID_RE.test(v) ? 'valid' : 'invalid');
export const featureVerdict = (v: string): Verdict => (FEATURE_RE.test(v) ? 'valid' : 'invalid');
/** What the server receives for an int32 field (protobufjs `fromObject` does `x | 0`). */
export const int32 = (x: number): number => x | 0;

/** Roughly the encoded size of a request's strings (bytes); decides the 64 KiB refusal. */
export function wireBytes(...fields: string[]): number {
  return fields.reduce((n, f) => n + Buffer.byteLength(f, 'utf8') + 8, 16);
}

// ---- printing -----------------------------------------------------------------------

/** JSON with long strings cut short (and their length), for failure reports and logs. */
export function show(v: unknown, max = 48): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'string' && x.length > max) return `${x.slice(0, max)}…(${x.length} chars)`;
    if (typeof x === 'number' && !Number.isFinite(x)) return String(x);
    if (x instanceof Uint8Array) return `<${x.length} bytes>`;
    return x;
  });
}
