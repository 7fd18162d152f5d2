import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { MachineInfo } from './checkout-bench';

/** Linux USER_HZ, as in ./proc-cpu.ts. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status); undefined where unavailable. */
export function processRssBytes(pid: number | undefined): number | undefined {
  if (pid === undefined || pid <= 0) return undefined;
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) of this process's children that have exited and been
 * waited for (cutime + cstime of /proc/self/stat). A short-lived load generator such as
 * h2load is gone before /proc/<pid>/stat can be read at its end; its CPU shows up here
 * once Node has reaped it, so the difference across one run is that run's CPU (as long
 * as no other child exits meanwhile, which the benches see to).
 */
export function reapedChildrenCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after "(comm)" start at field 3; cutime and cstime are fields 16 and 17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cutime = Number(fields[13]);
    const cstime = Number(fields[14]);
    if (!Number.isFinite(cutime) || !Number.isFinite(cstime)) return undefined;
    return (cutime + cstime) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** INFO memory used_memory in bytes. */
export async function redisUsedMemory(redis: Redis): Promise<number> {
  const m = /^used_memory:(\d+)/m.exec(await redis.info('memory'));
  if (!m?.[1]) throw new Error('INFO memory has no used_memory');
  return Number(m[1]);
}

/** used_memory once writes have settled: the smallest of a few reads, as client buffers come and go. */
export async function settledRedisMemory(redis: Redis, settleMs = 1_000): Promise<number> {
  await new Promise((r) => setTimeout(r, settleMs));
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    min = Math.min(min, await redisUsedMemory(redis));
    await new Promise((r) => setTimeout(r, 50));
  }
  return min;
}

/** What the report states about the machine (the benches share it with whatever else runs). */
export async function describeMachine(redis: Redis): Promise<MachineInfo> {
  const redisVersion = /^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1] ?? '?';
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? '?',
    node: process.version,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
    redis: redisVersion,
  };
}

/** 1-minute load average, two decimals: on a shared machine it says how much else ran. */
export const loadAverage1m = (): string => (os.loadavg()[0] ?? 0).toFixed(2);
