/** Human-readable durations for CLI output: 72h 0m, 4.2s, 350ms. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const neg = ms < 0 ? '-' : '';
  ms = Math.abs(ms);
  if (ms < 1_000) return `${neg}${Math.round(ms)}ms`;
  if (ms < 60_000) return `${neg}${(ms / 1_000).toFixed(1)}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1_000);
  return h > 0 ? `${neg}${h}h ${m}m` : `${neg}${m}m ${s}s`;
}

/** Left-aligned columns, for tables in the terminal. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** NODE_STATE_ACTIVE -> ACTIVE, ROLE_PRIMARY -> primary. */
export function shortState(s: string): string {
  return s.replace(/^NODE_STATE_/, '');
}

export function shortRole(r: string): string {
  return r.replace(/^ROLE_/, '').toLowerCase();
}
