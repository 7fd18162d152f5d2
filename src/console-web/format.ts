/** 259198000 -> "71 h 59 m 58 s"; under an hour "12 m 5 s", under a minute "42 s". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const neg = ms < 0 ? '−' : '';
  const total = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${neg}${h} h ${m} m ${s} s`;
  if (m > 0) return `${neg}${m} m ${s} s`;
  return `${neg}${s} s`;
}

/** A rough age: "just now", "42 s ago", "5 m ago", "3 h ago". */
export function ago(atMs: number, nowMs: number): string {
  const d = Math.max(0, nowMs - atMs);
  if (d < 1500) return 'just now';
  if (d < 60_000) return `${Math.round(d / 1000)} s ago`;
  if (d < 3_600_000) return `${Math.floor(d / 60_000)} m ago`;
  if (d < 172_800_000) return `${Math.floor(d / 3_600_000)} h ago`;
  return `${Math.floor(d / 86_400_000)} d ago`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** Local wall-clock time as "2026-11-01 14:03:07"; "—" for 0 (never / not known). */
export function dateTime(ms: number): string {
  if (!ms) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function timeOfDay(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** NODE_STATE_FAILOVER_ACTIVE -> FAILOVER_ACTIVE (the CLI's and the metrics' name). */
export function stateName(s: string | undefined): string {
  return (s ?? '').replace(/^NODE_STATE_/, '') || 'UNKNOWN';
}

/** ROLE_PRIMARY -> primary. */
export function roleName(r: string | undefined): string {
  return (r ?? '').replace(/^ROLE_/, '').toLowerCase() || 'unknown';
}

/** CSS modifier for a state badge. */
export function stateTone(s: string | undefined): 'ok' | 'warn' | 'bad' | 'idle' {
  switch (stateName(s)) {
    case 'ACTIVE':
      return 'ok';
    case 'FAILOVER_ACTIVE':
      return 'warn';
    case 'FAILOVER_BLOCKED':
      return 'bad';
    default:
      return 'idle';
  }
}

export function seats(inUse: number, total: number): string {
  return `${inUse} / ${total} seat${total === 1 ? '' : 's'}`;
}

export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
