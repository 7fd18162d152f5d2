/** Plain-text report helpers shared by the latency and scale benches. */

/** Milliseconds with the precision their size deserves; '-' when unknown. */
export const fmtMs = (v: number | undefined): string =>
  v === undefined || Number.isNaN(v) ? '-' : v === Number.POSITIVE_INFINITY ? 'inf' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);

export const fmtInt = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : Math.round(v).toLocaleString('en-US'));

export const fmtFixed = (v: number | undefined, digits: number): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

export const fmtMiB = (bytes: number | undefined): string => (bytes === undefined ? '-' : (bytes / 1024 / 1024).toFixed(1));

/** Left-aligns text columns and right-aligns the numeric ones (indexes in `right`). */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], right: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}
