import { readFileSync } from 'node:fs';

/** Linux USER_HZ; 100 on every mainstream kernel build. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat;
 * undefined where that is not available (not Linux, process gone).
 */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)" start at field 3 (state); utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return (utime + stime) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export interface MachineCpuSample {
  /** Jiffies all CPUs spent busy (everything but idle and iowait) and in total. */
  readonly busy: number;
  readonly total: number;
  /** /proc/pressure/cpu "some" total: µs in which at least one runnable task waited for a CPU. */
  readonly stallUs: number | undefined;
}

/** Whole-machine CPU counters (Linux); undefined elsewhere. */
export function machineCpuSample(): MachineCpuSample | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal (guest time is already in user)
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (v.length < 8 || v.some((n) => !Number.isFinite(n))) return undefined;
    const total = v.reduce((a, b) => a + b, 0);
    const busy = total - (v[3] ?? 0) - (v[4] ?? 0);
    let stallUs: number | undefined;
    try {
      const m = /^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
      stallUs = m?.[1] === undefined ? undefined : Number(m[1]);
    } catch {
      stallUs = undefined;
    }
    return { busy, total, stallUs };
  } catch {
    return undefined;
  }
}
