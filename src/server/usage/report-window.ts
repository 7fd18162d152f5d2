/** The window of `licensectl report usage`: --from and --to as a person types them. */

/** --from when only --to (or nothing) is given: the 30 days before --to. */
export const DEFAULT_REPORT_DAYS = 30;
const DAY_MS = 86_400_000;

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const HOW = 'use a date (2026-11-01), a date and time (2026-11-01T08:00Z, 2026-11-01T08:00+01:00; UTC when no zone is given) or milliseconds since 1970';

/**
 * A time for --from/--to: milliseconds since 1970, `YYYY-MM-DD` (midnight UTC) or
 * `YYYY-MM-DDTHH:MM[:SS[.mmm]][Z|±HH:MM]` (UTC without a zone: a report is about a cluster that
 * may span time zones, so the command line never depends on the operator's). Throws naming `option`.
 */
export function parseReportTime(value: string, option: string): number {
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    const ms = Number(v);
    if (!Number.isSafeInteger(ms)) throw new Error(`${option}: "${value}" is too large for milliseconds since 1970`);
    return ms;
  }
  const m = DATE_TIME.exec(v);
  if (!m) throw new Error(`${option}: "${value}" is not a time: ${HOW}`);
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new Error(`${option}: "${value}" is not a real date and time: ${HOW}`);
  }
  const offset = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const ms = Date.parse(`${y ?? ''}-${mo ?? ''}-${d ?? ''}T${h}:${mi}:${s}${frac === '' ? '' : frac.padEnd(4, '0')}${offset}`);
  if (!Number.isFinite(ms)) throw new Error(`${option}: "${value}" is not a time: ${HOW}`);
  return ms;
}

/** --from and --to (either may be absent) to a window; --to defaults to now, --from to 30 days before --to. */
export function resolveReportWindow(
  opts: { readonly from?: string | undefined; readonly to?: string | undefined },
  nowMs: number,
): { fromMs: number; toMs: number } {
  const toMs = opts.to === undefined ? nowMs : parseReportTime(opts.to, '--to');
  const fromMs = opts.from === undefined ? toMs - DEFAULT_REPORT_DAYS * DAY_MS : parseReportTime(opts.from, '--from');
  if (fromMs >= toMs) {
    throw new Error(`--from (${new Date(fromMs).toISOString()}) must be before --to (${new Date(toMs).toISOString()})`);
  }
  return { fromMs, toMs };
}
