import type { UsageReportResult, UsageReportRow } from './usage-report';

/** How `licensectl report usage` prints a report. */
export type UsageReportFormat = 'table' | 'csv' | 'json';
export const USAGE_REPORT_FORMATS: readonly UsageReportFormat[] = ['table', 'csv', 'json'];

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** What a table shows where there is no figure (no queue waits). */
const NONE = '–';

/** What the report was asked about, for its title and its JSON. */
export interface ReportContext {
  readonly cluster: string;
}

/** 2026-11-01 08:00 (UTC, seconds and ms only when there are some). */
function utc(ms: number): string {
  const iso = new Date(ms).toISOString();
  const s = iso.slice(0, 10) + ' ' + iso.slice(11, 19);
  return s.endsWith(':00') ? s.slice(0, -3) : s;
}

function windowText(r: UsageReportResult): string {
  const ms = r.toMs - r.fromMs;
  const span = ms >= DAY_MS ? `${trim(ms / DAY_MS, 1)} days` : `${trim(ms / HOUR_MS, 1)} hours`;
  return `${utc(r.fromMs)} to ${utc(r.toMs)} UTC (${span})`;
}

/** Fixed decimals without trailing zeros: 30.0 -> 30, 2.50 -> 2.5. */
function trim(v: number, digits: number): string {
  return String(Number(v.toFixed(digits)));
}

/** 350ms, 4.2s, 2m 5s, 1h 3m: queue waits at a glance. */
function waitText(ms: number | null): string {
  if (ms === null) return NONE;
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  const h = Math.floor(ms / HOUR_MS);
  const m = Math.floor((ms % HOUR_MS) / 60_000);
  const s = Math.floor((ms % 60_000) / 1_000);
  return h > 0 ? `${h}h ${m}m` : `${m}m ${s}s`;
}

const groupName = (r: UsageReportResult): 'user' | 'host' | undefined => (r.by === 'user' ? 'user' : r.by === 'host' ? 'host' : undefined);
const groupValue = (row: UsageReportRow): string => row.user ?? row.host ?? '';

/** Every denial reason in the report, sorted: the CSV has a column for each. */
function reasonsOf(r: UsageReportResult): string[] {
  const all = new Set<string>();
  for (const row of r.rows) for (const reason of Object.keys(row.denialsByReason)) all.add(reason);
  return [...all].sort();
}

/** Aligned columns; numbers (the `right` ones) right-aligned so their digits line up. */
function align(rows: readonly (readonly string[])[], right: ReadonlySet<number>): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (right.has(i) ? c.padStart(widths[i] ?? 0) : i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The terminal form: a title naming the cluster and the window, then one aligned row per group. */
export function usageReportTable(r: UsageReportResult, ctx: ReportContext): string {
  const g = groupName(r);
  const title = `Usage of cluster ${ctx.cluster}${r.feature === null ? '' : `, feature ${r.feature}`}, ${windowText(r)}, by ${r.by}`;
  if (r.rows.length === 0) return `${title}\nno seats in use, no checkouts, denials or queue waits in this window`;
  const header = ['FEATURE', ...(g ? [g.toUpperCase()] : []), 'PEAK', 'AVERAGE', 'SEAT-HOURS', 'GRANTS', 'DENIALS', 'QUEUED', 'WAIT P50', 'WAIT P95'];
  const numeric = new Set(header.map((_, i) => i).filter((i) => i >= (g ? 2 : 1)));
  const withTop = r.by === 'feature';
  const withReasons = r.rows.some((row) => row.denials > 0);
  if (withReasons) header.push('DENIED FOR');
  if (withTop) header.push('TOP USERS (SEAT-HOURS)');
  const rows = r.rows.map((row) => {
    const cells = [
      row.feature,
      ...(g ? [groupValue(row)] : []),
      String(row.peakSeats),
      row.averageSeats.toFixed(2),
      row.seatHours.toFixed(1),
      String(row.grants),
      String(row.denials),
      String(row.queued),
      waitText(row.queueWaitP50Ms),
      waitText(row.queueWaitP95Ms),
    ];
    if (withReasons) {
      cells.push(
        Object.entries(row.denialsByReason)
          .map(([reason, n]) => `${reason} ${n}`)
          .join(', '),
      );
    }
    // '; ' between users: a user name may hold a comma ("Smith, Jo").
    if (withTop) cells.push((row.topUsers ?? []).map((u) => `${u.user} ${u.seatHours.toFixed(1)}`).join('; '));
    return cells;
  });
  return `${title}\n\n${align([header, ...rows], numeric)}`;
}

/**
 * A text cell for a spreadsheet: RFC 4180 quoting (a comma, quote or line break puts the cell in
 * quotes, quotes doubled), and a leading ' on text a spreadsheet would run as a formula
 * (= + - @, tab, CR): user and host names come from clients, so a name like =HYPERLINK(...)
 * must stay text.
 */
export function csvText(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A number as a spreadsheet reads it: no grouping, a dot, no float noise past 9 decimals (ms in hours are ~3e-7). */
const csvNumber = (v: number): string => String(Number(v.toFixed(9)));
const csvHours = (ms: number | null): string => (ms === null ? '' : csvNumber(ms / HOUR_MS));

/**
 * The spreadsheet form: a header row, one row per group, CRLF line ends (RFC 4180), numbers
 * unformatted, durations in hours as decimals, an empty cell where there is no figure; the
 * window in every row (`from_utc`, `to_utc`) so sheets of several reports can be appended.
 * A UTF-8 byte order mark first: without it Excel reads UTF-8 as the local code page and
 * garbles non-ASCII user names.
 */
export function usageReportCsv(r: UsageReportResult): string {
  const g = groupName(r);
  const reasons = reasonsOf(r);
  const top = r.by === 'feature' ? Math.max(0, ...r.rows.map((row) => row.topUsers?.length ?? 0)) : 0;
  const header = [
    'from_utc',
    'to_utc',
    'feature',
    ...(g ? [g] : []),
    'peak_seats',
    'average_seats',
    'seat_hours',
    'grants',
    'denials',
    ...reasons.map((reason) => `denials_${reason}`),
    'queued',
    'queue_wait_p50_hours',
    'queue_wait_p95_hours',
  ];
  for (let i = 1; i <= top; i++) header.push(`top_user_${i}`, `top_user_${i}_seat_hours`);
  const from = utc(r.fromMs);
  const to = utc(r.toMs);
  const lines = [header.map(csvText).join(',')];
  for (const row of r.rows) {
    const cells = [
      csvText(from),
      csvText(to),
      csvText(row.feature),
      ...(g ? [csvText(groupValue(row))] : []),
      String(row.peakSeats),
      csvNumber(row.averageSeats),
      csvNumber(row.seatHours),
      String(row.grants),
      String(row.denials),
      ...reasons.map((reason) => String(row.denialsByReason[reason] ?? 0)),
      String(row.queued),
      csvHours(row.queueWaitP50Ms),
      csvHours(row.queueWaitP95Ms),
    ];
    for (let i = 0; i < top; i++) {
      const u = row.topUsers?.[i];
      cells.push(u ? csvText(u.user) : '', u ? csvNumber(u.seatHours) : '');
    }
    lines.push(cells.join(','));
  }
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

/** The result object as JSON, with the cluster and the window also as ISO times. */
export function usageReportJson(r: UsageReportResult, ctx: ReportContext): string {
  return JSON.stringify({ cluster: ctx.cluster, from: new Date(r.fromMs).toISOString(), to: new Date(r.toMs).toISOString(), ...r }, null, 2);
}

export function formatUsageReport(r: UsageReportResult, format: UsageReportFormat, ctx: ReportContext): string {
  switch (format) {
    case 'csv':
      return usageReportCsv(r);
    case 'json':
      return `${usageReportJson(r, ctx)}\n`;
    case 'table':
      return `${usageReportTable(r, ctx)}\n`;
  }
}
