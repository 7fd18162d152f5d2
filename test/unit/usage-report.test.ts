import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UsageEvent, UsageEventKind } from '../../src/server/usage/usage-event';
import { createUsageReport, type UsageReportBy, type UsageReportResult, type UsageReportRow } from '../../src/server/usage/usage-report';
import { csvText, usageReportCsv, usageReportJson, usageReportTable } from '../../src/server/usage/report-format';
import { parseReportTime, resolveReportWindow } from '../../src/server/usage/report-window';

const H = 3_600_000;
/** The window: 2026-11-01 00:00 to 10:00 UTC. Event times below are in hours from its start. */
const T0 = Date.UTC(2026, 10, 1);
const FROM = T0;
const TO = T0 + 10 * H;

let seq = 0;
function ev(hours: number, kind: UsageEventKind, feature: string, user: string, host: string, more: Partial<UsageEvent> = {}): UsageEvent {
  const atMs = T0 + hours * H;
  return {
    id: `${atMs}-${seq++}`,
    atMs,
    kind,
    feature,
    count: 1,
    user,
    host,
    clientId: `client-${user}`,
    sessionId: `session-${user}`,
    leaseId: '',
    reason: '',
    waitMs: 0,
    ...more,
  };
}

/**
 * The fixture, in stream order. Feature cad, seats in use (leases in brackets):
 *
 *   before the window: L0 granted -5h, released -4h (never in the window); L1 alice/a1 2 seats
 *   granted -2h; L2 bob/b1 1 seat granted -1h, never released; LX freed -6h, its grant trimmed
 *   away (3 seats: must not drive anything below 0); a denial at -3h (outside: not counted).
 *
 *   [0,1h)  L1 2 + L2 1              = 3
 *   [1,2h)  + L3 carol/c1 1 at 1h    = 4
 *   [2,3h)  + L4 dave/d1 1 at 2h     = 5   (after a SEATS_EXHAUSTED denial and a 4 s queue wait)
 *   [3,5h)  - L1 released at 3h      = 3   (LIMIT_EXCEEDED denial of bob at 4h)
 *   [5,6h)  - L3 expired at 5h       = 2
 *   [6,7h)  + L5 frank/f1 1 at 6h    = 3   (queue waits: erin 1 s, gave up; frank 9 s, served)
 *   [7,9h)  - L4 revoked at 7h       = 2   (LY freed at 8h, grant never seen: untracked, no change)
 *   [9,10h) + L6 alice/a2 2 at 9h    = 4   (never released: counts to the end)
 *
 *   peak 5; seat-hours 3+4+5+3*2+2+3+2*2+4 = 31; average 31/10 = 3.1; grants L3 L4 L5 L6 = 4;
 *   denials 2 (SEATS_EXHAUSTED 1, LIMIT_EXCEEDED 1); queue waits 1000, 4000, 9000 ms:
 *   p50 = rank ceil(0.5*3)=2 -> 4000, p95 = rank ceil(0.95*3)=3 -> 9000.
 *   per user: bob L2 1 x 10h = 10; alice L1 2 x 3h + L6 2 x 1h = 8; dave L4 5; carol L3 4;
 *   frank L5 4 (sum 31): top 3 bob 10, alice 8, dave 5.
 *
 * Feature sim: L7 erin/e1 1 seat granted -1h; at 5h a release without a lease id for 3 seats
 * (clamped: 1 -> 0, never -2); L8 erin 1 seat at 6h, never released.
 *   [0,5h) 1, [5,6h) 0, [6,10h) 1: peak 1, seat-hours 5+4 = 9, average 0.9, grants 1 (L8).
 */
function fixture(): UsageEvent[] {
  seq = 0;
  return [
    ev(-6, 'release', 'cad', 'zed', 'z1', { leaseId: 'LX', count: 3 }),
    ev(-5, 'grant', 'cad', 'carol', 'c1', { leaseId: 'L0' }),
    ev(-4, 'release', 'cad', 'carol', 'c1', { leaseId: 'L0' }),
    ev(-3, 'deny', 'cad', 'dave', 'd1', { reason: 'SEATS_EXHAUSTED' }),
    ev(-2, 'grant', 'cad', 'alice', 'a1', { leaseId: 'L1', count: 2 }),
    ev(-1, 'grant', 'cad', 'bob', 'b1', { leaseId: 'L2' }),
    ev(-1, 'grant', 'sim', 'erin', 'e1', { leaseId: 'L7' }),
    ev(1, 'grant', 'cad', 'carol', 'c1', { leaseId: 'L3' }),
    ev(2, 'deny', 'cad', 'dave', 'd1', { reason: 'SEATS_EXHAUSTED' }),
    ev(2, 'queue', 'cad', 'dave', 'd1', { leaseId: 'L4', waitMs: 4_000 }),
    ev(2, 'grant', 'cad', 'dave', 'd1', { leaseId: 'L4' }),
    ev(3, 'release', 'cad', 'alice', 'a1', { leaseId: 'L1', count: 2 }),
    ev(4, 'deny', 'cad', 'bob', 'b1', { reason: 'LIMIT_EXCEEDED' }),
    ev(5, 'expire', 'cad', 'carol', 'c1', { leaseId: 'L3' }),
    ev(5, 'release', 'sim', 'erin', 'e1', { leaseId: '', count: 3 }),
    ev(6, 'queue', 'cad', 'erin', 'e1', { waitMs: 1_000, reason: 'TIMEOUT' }),
    ev(6, 'queue', 'cad', 'frank', 'f1', { leaseId: 'L5', waitMs: 9_000 }),
    ev(6, 'grant', 'cad', 'frank', 'f1', { leaseId: 'L5' }),
    ev(6, 'grant', 'sim', 'erin', 'e1', { leaseId: 'L8' }),
    ev(7, 'revoke', 'cad', 'dave', 'd1', { leaseId: 'L4' }),
    ev(8, 'release', 'cad', 'yan', 'y1', { leaseId: 'LY' }),
    ev(9, 'grant', 'cad', 'alice', 'a2', { leaseId: 'L6', count: 2 }),
  ];
}

function run(by: UsageReportBy, feature?: string, events = fixture()): UsageReportResult {
  const report = createUsageReport({ fromMs: FROM, toMs: TO, by, ...(feature === undefined ? {} : { feature }) });
  for (const e of events) report.add(e);
  return report.result();
}

const near = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);

function row(r: UsageReportResult, feature: string, key?: string): UsageReportRow {
  const found = r.rows.find((x) => x.feature === feature && (key === undefined || (x.user ?? x.host) === key));
  assert.ok(found, `no row ${feature}/${key ?? ''}`);
  return found;
}

describe('usage report', () => {
  it('by feature: peak, average, seat-hours, grants, denials, queue waits, top users (hand-computed)', () => {
    const r = run('feature');
    assert.deepEqual(
      r.rows.map((x) => x.feature),
      ['cad', 'sim'],
    );
    const cad = row(r, 'cad');
    assert.equal(cad.peakSeats, 5);
    near(cad.seatHours, 31, 'cad seat-hours');
    near(cad.averageSeats, 3.1, 'cad average');
    assert.equal(cad.grants, 4);
    assert.equal(cad.denials, 2);
    assert.deepEqual(cad.denialsByReason, { LIMIT_EXCEEDED: 1, SEATS_EXHAUSTED: 1 });
    assert.equal(cad.queued, 3);
    assert.equal(cad.queueWaitP50Ms, 4_000);
    assert.equal(cad.queueWaitP95Ms, 9_000);
    assert.deepEqual(cad.topUsers, [
      { user: 'bob', seatHours: 10 },
      { user: 'alice', seatHours: 8 },
      { user: 'dave', seatHours: 5 },
    ]);

    const sim = row(r, 'sim');
    assert.equal(sim.peakSeats, 1, 'the release without a lease id clamps at 0 instead of going to -2');
    near(sim.seatHours, 9, 'sim seat-hours');
    near(sim.averageSeats, 0.9, 'sim average');
    assert.equal(sim.grants, 1);
    assert.equal(sim.denials, 0);
    assert.equal(sim.queued, 0);
    assert.equal(sim.queueWaitP50Ms, null);
    assert.equal(sim.queueWaitP95Ms, null);
    assert.deepEqual(sim.topUsers, [{ user: 'erin', seatHours: 9 }]);

    assert.equal(r.untrackedFrees, 1, 'LY freed in the window, its grant never seen');
    assert.equal(r.events, 22);
    assert.equal(r.eventsInWindow, 15);
  });

  it('by user: each user of each feature, most seat-hours first', () => {
    const r = run('user');
    assert.deepEqual(
      r.rows.map((x) => `${x.feature}/${x.user ?? ''}`),
      ['cad/bob', 'cad/alice', 'cad/dave', 'cad/carol', 'cad/frank', 'cad/erin', 'sim/erin'],
    );
    // alice: 2 seats held from before the window to 3h, then 2 from 9h: peak 2, 6 + 2 = 8 seat-hours; L6 is her only grant in the window.
    const alice = row(r, 'cad', 'alice');
    assert.equal(alice.peakSeats, 2);
    near(alice.seatHours, 8, 'alice');
    near(alice.averageSeats, 0.8, 'alice average');
    assert.equal(alice.grants, 1);
    assert.equal(alice.topUsers, undefined, 'top users only on feature rows');
    // bob: 1 seat the whole window, never released; his LIMIT_EXCEEDED denial at 4h.
    const bob = row(r, 'cad', 'bob');
    assert.equal(bob.peakSeats, 1);
    near(bob.seatHours, 10, 'bob');
    assert.equal(bob.grants, 0);
    assert.deepEqual(bob.denialsByReason, { LIMIT_EXCEEDED: 1 });
    // dave: denied at 2h (the -3h denial is outside), queued 4 s, 1 seat 2h-7h.
    const dave = row(r, 'cad', 'dave');
    assert.equal(dave.denials, 1);
    assert.equal(dave.queued, 1);
    assert.equal(dave.queueWaitP50Ms, 4_000);
    assert.equal(dave.queueWaitP95Ms, 4_000);
    near(dave.seatHours, 5, 'dave');
    // erin on cad only waited (1 s) and gave up: a row with no seats.
    const erin = row(r, 'cad', 'erin');
    assert.equal(erin.peakSeats, 0);
    assert.equal(erin.seatHours, 0);
    assert.equal(erin.queued, 1);
    assert.equal(erin.queueWaitP50Ms, 1_000);
    near(row(r, 'sim', 'erin').seatHours, 9, 'erin on sim');
    assert.equal(
      r.rows.some((x) => x.user === 'zed' || x.user === 'yan'),
      false,
      'frees of leases never seen make no rows',
    );
  });

  it('by host: a user on two hosts makes two rows', () => {
    const r = run('host');
    // alice's L1 on a1 (2 seats, window start to 3h: 6) and L6 on a2 (2 seats, 9h to the end: 2).
    const a1 = row(r, 'cad', 'a1');
    assert.equal(a1.peakSeats, 2);
    near(a1.seatHours, 6, 'a1');
    assert.equal(a1.grants, 0);
    const a2 = row(r, 'cad', 'a2');
    assert.equal(a2.peakSeats, 2);
    near(a2.seatHours, 2, 'a2');
    assert.equal(a2.grants, 1);
    near(
      r.rows.filter((x) => x.feature === 'cad').reduce((s, x) => s + x.seatHours, 0),
      31,
      'the hosts of cad add up to the feature',
    );
  });

  it('--feature: only that feature, its events alone counted', () => {
    const r = run('feature', 'sim');
    assert.equal(r.feature, 'sim');
    assert.deepEqual(
      r.rows.map((x) => x.feature),
      ['sim'],
    );
    near(row(r, 'sim').seatHours, 9, 'sim');
    assert.equal(r.events, 3);
    assert.equal(r.untrackedFrees, 0);
    assert.deepEqual(run('feature', 'nothing').rows, []);
  });

  it('seats held across the window with no event inside it still count, the whole window', () => {
    seq = 0;
    const r = run('feature', undefined, [ev(-30, 'grant', 'cad', 'alice', 'a1', { leaseId: 'L1', count: 3 })]);
    const cad = row(r, 'cad');
    assert.equal(cad.peakSeats, 3);
    near(cad.seatHours, 30, '3 seats x 10 h');
    near(cad.averageSeats, 3, 'average');
    assert.equal(cad.grants, 0);
    assert.equal(r.eventsInWindow, 0);
  });

  it("a peak before the window is not this window's peak; activity that ended before it makes no row", () => {
    seq = 0;
    const r = run('feature', undefined, [
      ev(-5, 'grant', 'cad', 'alice', 'a1', { leaseId: 'L1', count: 10 }),
      ev(-4, 'release', 'cad', 'alice', 'a1', { leaseId: 'L1', count: 10 }),
      ev(-3, 'grant', 'cad', 'bob', 'b1', { leaseId: 'L2' }),
      ev(-3, 'grant', 'old', 'bob', 'b1', { leaseId: 'L3' }),
      ev(-2, 'release', 'old', 'bob', 'b1', { leaseId: 'L3' }),
    ]);
    assert.deepEqual(
      r.rows.map((x) => x.feature),
      ['cad'],
    );
    assert.equal(row(r, 'cad').peakSeats, 1);
  });

  it('events at or after --to change nothing; a clock that runs backwards adds no negative time', () => {
    seq = 0;
    const events = [
      ev(1, 'grant', 'cad', 'alice', 'a1', { leaseId: 'L1' }),
      ev(4, 'grant', 'cad', 'bob', 'b1', { leaseId: 'L2' }),
      // The other node's clock, a little behind: taken as 4h, the time of the event before.
      ev(3.5, 'release', 'cad', 'bob', 'b1', { leaseId: 'L2' }),
      ev(10, 'release', 'cad', 'alice', 'a1', { leaseId: 'L1' }),
      ev(11, 'grant', 'cad', 'carol', 'c1', { leaseId: 'L3', count: 50 }),
      ev(12, 'deny', 'cad', 'carol', 'c1', { reason: 'SEATS_EXHAUSTED' }),
    ];
    const r = run('feature', undefined, events);
    const cad = row(r, 'cad');
    // alice 1 seat 1h-10h = 9; bob's seat from 4h to "3.5h" = 0.
    near(cad.seatHours, 9, 'seat-hours');
    assert.equal(cad.peakSeats, 2);
    assert.equal(cad.denials, 0);
    assert.equal(cad.grants, 2);
  });

  it('exact nearest-rank percentiles over many waits', () => {
    seq = 0;
    // Waits 1..100 s, each once, given in a scrambled order: p50 = the 50th smallest, p95 = the 95th.
    const events = Array.from({ length: 100 }, (_, i) => ev(1, 'queue', 'cad', 'u', 'h', { waitMs: (((i * 37) % 100) + 1) * 1_000 }));
    const cad = row(run('feature', undefined, events), 'cad');
    assert.equal(cad.queued, 100);
    assert.equal(cad.queueWaitP50Ms, 50_000);
    assert.equal(cad.queueWaitP95Ms, 95_000);
  });

  it('refuses an empty window', () => {
    assert.throws(() => createUsageReport({ fromMs: TO, toMs: FROM, by: 'feature' }), /window is empty/);
    assert.throws(() => createUsageReport({ fromMs: FROM, toMs: FROM, by: 'feature' }), /window is empty/);
  });
});

describe('usage report formats', () => {
  it('csv: header row, one row per group, CRLF, numbers unformatted, hours as decimals, RFC 4180 quoting', () => {
    seq = 0;
    const tricky = 'O\'Brien, "Pat"';
    const r = run('user', 'cad', [
      ev(-1, 'grant', 'cad', tricky, 'h1', { leaseId: 'L1', count: 2 }),
      ev(1, 'queue', 'cad', '=HYPERLINK("http://x")', 'h2', { waitMs: 1_800_000 }),
      ev(2, 'deny', 'cad', tricky, 'h1', { reason: 'SEATS_EXHAUSTED' }),
    ]);
    const csv = usageReportCsv(r);
    assert.ok(csv.startsWith('\uFEFF'), 'a byte order mark, for Excel');
    assert.ok(csv.endsWith('\r\n'));
    const lines = csv.slice(1).split('\r\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(lines, [
      'from_utc,to_utc,feature,user,peak_seats,average_seats,seat_hours,grants,denials,denials_SEATS_EXHAUSTED,queued,queue_wait_p50_hours,queue_wait_p95_hours',
      // 2 seats the whole 10 h window: 20 seat-hours, average 2.
      '2026-11-01 00:00,2026-11-01 10:00,cad,"O\'Brien, ""Pat""",2,2,20,0,1,1,0,,',
      // A 30 minute wait is 0.5 hours; the formula-like name stays text.
      '2026-11-01 00:00,2026-11-01 10:00,cad,"\'=HYPERLINK(""http://x"")",0,0,0,0,0,0,1,0.5,0.5',
    ]);
  });

  it('csv: feature rows carry the top users; quoting of single cells', () => {
    const csv = usageReportCsv(run('feature'));
    const [header, cad] = csv.slice(1).split('\r\n');
    assert.equal(
      header,
      'from_utc,to_utc,feature,peak_seats,average_seats,seat_hours,grants,denials,denials_LIMIT_EXCEEDED,denials_SEATS_EXHAUSTED,queued,queue_wait_p50_hours,queue_wait_p95_hours,top_user_1,top_user_1_seat_hours,top_user_2,top_user_2_seat_hours,top_user_3,top_user_3_seat_hours',
    );
    // p50 4 s = 0.001111111 h, p95 9 s = 0.0025 h.
    assert.equal(cad, '2026-11-01 00:00,2026-11-01 10:00,cad,5,3.1,31,4,2,1,1,3,0.001111111,0.0025,bob,10,alice,8,dave,5');
    assert.equal(csvText('plain'), 'plain');
    assert.equal(csvText('a\nb'), '"a\nb"');
    assert.equal(csvText('-1+1'), "'-1+1");
    assert.equal(csvText('@SUM(A1)'), "'@SUM(A1)");
  });

  it('table: a title naming the cluster and the window, aligned rows, – where nothing queued', () => {
    const text = usageReportTable(run('feature'), { cluster: 'acme' });
    const lines = text.split('\n');
    assert.equal(lines[0], 'Usage of cluster acme, 2026-11-01 00:00 to 2026-11-01 10:00 UTC (10 hours), by feature');
    assert.match(lines[2] ?? '', /^FEATURE\s+PEAK\s+AVERAGE\s+SEAT-HOURS\s+GRANTS\s+DENIALS\s+QUEUED\s+WAIT P50\s+WAIT P95\s+DENIED FOR\s+TOP USERS/);
    assert.match(
      lines[3] ?? '',
      /^cad\s+5\s+3\.10\s+31\.0\s+4\s+2\s+3\s+4\.0s\s+9\.0s\s+LIMIT_EXCEEDED 1, SEATS_EXHAUSTED 1\s+bob 10\.0; alice 8\.0; dave 5\.0$/,
    );
    assert.match(lines[4] ?? '', /^sim\s+1\s+0\.90\s+9\.0\s+1\s+0\s+0\s+–\s+–\s+erin 9\.0$/);
    const empty = usageReportTable(run('feature', 'nothing'), { cluster: 'acme' });
    assert.match(empty, /feature nothing.*\nno seats in use/);
  });

  it('json: the result object, with the cluster and the window as ISO times', () => {
    const r = run('feature');
    const parsed = JSON.parse(usageReportJson(r, { cluster: 'acme' })) as Record<string, unknown>;
    assert.equal(parsed['cluster'], 'acme');
    assert.equal(parsed['from'], '2026-11-01T00:00:00.000Z');
    assert.equal(parsed['to'], '2026-11-01T10:00:00.000Z');
    assert.deepEqual(parsed['rows'], JSON.parse(JSON.stringify(r.rows)));
    assert.equal((parsed['rows'] as { queueWaitP50Ms: unknown }[])[1]?.queueWaitP50Ms, null);
  });
});

describe('report window (--from, --to)', () => {
  const now = Date.UTC(2026, 10, 15, 12, 30);

  it('dates, dates and times (UTC without a zone), offsets, epoch ms', () => {
    assert.equal(parseReportTime('2026-11-01', '--from'), Date.UTC(2026, 10, 1));
    assert.equal(parseReportTime('2026-11-01T08:00Z', '--from'), Date.UTC(2026, 10, 1, 8));
    assert.equal(parseReportTime('2026-11-01T08:00', '--from'), Date.UTC(2026, 10, 1, 8));
    assert.equal(parseReportTime('2026-11-01 08:00:30', '--from'), Date.UTC(2026, 10, 1, 8, 0, 30));
    assert.equal(parseReportTime('2026-11-01T08:00:30.5Z', '--from'), Date.UTC(2026, 10, 1, 8, 0, 30, 500));
    assert.equal(parseReportTime('2026-11-01T08:00+01:00', '--from'), Date.UTC(2026, 10, 1, 7));
    assert.equal(parseReportTime('2026-11-01T08:00-0230', '--from'), Date.UTC(2026, 10, 1, 10, 30));
    assert.equal(parseReportTime('1793491200000', '--to'), 1_793_491_200_000);
  });

  it('bad values name the option', () => {
    assert.throws(() => parseReportTime('yesterday', '--from'), /^Error: --from: "yesterday" is not a time: use a date \(2026-11-01\)/);
    assert.throws(() => parseReportTime('2026-02-30', '--to'), /--to: "2026-02-30" is not a real date/);
    assert.throws(() => parseReportTime('2026-11-01T24:00Z', '--to'), /--to: .* is not a real date/);
    assert.throws(() => parseReportTime('99999999999999999999', '--to'), /--to: .* too large/);
    assert.throws(
      () => resolveReportWindow({ from: '2026-11-02', to: '2026-11-01' }, now),
      /--from \(2026-11-02T00:00:00.000Z\) must be before --to \(2026-11-01T00:00:00.000Z\)/,
    );
  });

  it('defaults: --to now, --from 30 days before --to', () => {
    assert.deepEqual(resolveReportWindow({}, now), { fromMs: now - 30 * 24 * H, toMs: now });
    assert.deepEqual(resolveReportWindow({ to: '2026-11-01' }, now), { fromMs: Date.UTC(2026, 9, 2), toMs: Date.UTC(2026, 10, 1) });
    assert.deepEqual(resolveReportWindow({ from: '2026-11-01' }, now), { fromMs: Date.UTC(2026, 10, 1), toMs: now });
  });
});
