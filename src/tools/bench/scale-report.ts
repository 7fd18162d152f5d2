import { type ScaleReport, type ScaleStep, WARMUP_MS, type WindowFigures } from './scale-bench';
import { fmtFixed, fmtInt, fmtMiB, fmtMs, textTable } from './text-table';

/** The scale bench's report: a heartbeat table per step, then checkout+release with and without the heartbeats. */
export function formatScaleReport(r: ScaleReport): string {
  const o = r.options;
  const m = r.machine;
  const out: string[] = [''];
  out.push('scale bench: one licensed node, many open sessions heartbeating at the default interval, their seats held');
  out.push(`  machine  ${m.cpus} CPUs (${m.cpuModel}), ${m.platform}, node ${m.node}, redis-server ${m.redis}`);
  out.push(
    `           load average (1 min) ${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end: the cores are shared with whatever else runs`,
  );
  out.push(
    `  params   --sessions ${o.sessions}  --seats ${o.seats}  steps ${o.steps.join(', ')}  --duration ${o.durationSeconds} s per window (+${WARMUP_MS / 1_000} s warm-up)  --rate ${o.pairsPerSecond} pairs/s  --workers ${o.workers}  --concurrency ${o.setupConcurrency}`,
  );
  out.push(
    `  sessions heartbeat every ${fmtInt(r.heartbeatIntervalMs)} ms (the server's heartbeat_interval_ms = default LICENSE_SESSION_TTL_MS ${fmtInt(r.sessionTtlMs)} ms / 3, which the SDK follows), spread evenly`,
  );
  out.push(`  Redis used_memory before any session: ${fmtMiB(r.redisUsedBefore)} MiB`);
  out.push('');
  out.push('  heartbeats only (window 1 of each step); latency counted from the instant each heartbeat was due');
  const rows1 = r.steps.map((s) => {
    const a = s.heartbeatsOnly;
    return [
      fmtInt(s.sessions),
      fmtInt(s.seatsHeld),
      `${fmtFixed(s.growSeconds, 0)} s`,
      fmtFixed(a.heartbeatsPerSec, 0),
      fmtMs(a.heartbeat?.p50Ms),
      fmtMs(a.heartbeat?.p99Ms),
      fmtMs(a.heartbeat?.maxMs),
      `<= ${fmtMs(a.nodeHeartbeatP50Ms)} / ${fmtMs(a.nodeHeartbeatP99Ms)}`,
      `${a.heartbeatErrors} / ${s.sessionsLost}`,
      fmtMiB(s.redisUsedBytes),
      fmtInt((s.redisUsedBytes - r.redisUsedBefore) / s.sessions),
      fmtMiB(s.nodeRssBytes),
      `${fmtFixed(a.cpu.server, 0)} / ${fmtFixed(a.cpu.redis, 0)}`,
      fmtFixed(s.serverUsPerHeartbeat, 0),
      `${fmtFixed(a.cpu.workers, 0)} / ${fmtFixed(a.cpu.workerMaxElu, 2)} / ${fmtMs(a.sendLagP99Ms)}`,
      `${fmtFixed(a.cpu.machineBusy, 0)} / ${fmtFixed(a.cpu.others, 0)}`,
    ];
  });
  out.push(
    ...textTable(
      [
        'sessions',
        'seats held',
        'setup',
        'heartbeats/s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'node p50/p99 ms',
        'errors / lost',
        'Redis used MiB',
        'bytes/session',
        'node RSS MiB',
        'CPU % node/redis',
        'node µs/heartbeat',
        'load gen CPU % / ELU / lag p99 ms',
        'machine busy % / others',
      ],
      rows1,
      new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]),
    ),
  );
  out.push('');
  const base = r.steps[0];
  const ratio = (v: number | undefined, b: number | undefined): string => fmtFixed(v !== undefined && b !== undefined && b > 0 ? v / b : undefined, 2);
  /** One row per step; with `cost`, the node's CPU per pair and its ratio too. */
  const pairTable = (pick: (s: ScaleStep) => WindowFigures, cost?: (s: ScaleStep) => number | undefined): string[] => {
    const b0 = base ? pick(base) : undefined;
    const c0 = base && cost ? cost(base) : undefined;
    const rows = r.steps.map((s) => {
      const w = pick(s);
      return [
        fmtInt(s.sessions),
        fmtFixed(w.pairsPerSec, 0),
        fmtMs(w.checkout?.p50Ms),
        fmtMs(w.checkout?.p99Ms),
        fmtMs(w.release?.p50Ms),
        fmtMs(w.release?.p99Ms),
        String(w.pairErrors),
        ...(cost ? [fmtFixed(cost(s), 0)] : []),
        ratio(w.checkout?.p50Ms, b0?.checkout?.p50Ms),
        ratio(w.checkout?.p99Ms, b0?.checkout?.p99Ms),
        ...(cost ? [ratio(cost(s), c0)] : []),
        `${fmtFixed(w.cpu.server, 0)} / ${fmtFixed(w.cpu.workers, 0)} / ${fmtFixed(w.cpu.workerMaxElu, 2)}`,
        `${fmtFixed(w.cpu.machineBusy, 0)} / ${fmtFixed(w.cpu.others, 0)}`,
      ];
    });
    return textTable(
      [
        'sessions',
        'pairs/s',
        'checkout p50',
        'checkout p99',
        'release p50',
        'release p99',
        'errors',
        ...(cost ? ['node µs/pair'] : []),
        'x p50',
        'x p99',
        ...(cost ? ['x µs/pair'] : []),
        'CPU % node / load gen / ELU',
        'machine busy % / others',
      ],
      rows,
      new Set(rows[0]?.map((_c, i) => i) ?? []),
    );
  };
  out.push(
    `  checkout+release at ${o.pairsPerSecond} pairs/s (ms, from the instant each was due) with the heartbeats going on (window 2); ratios against the first step`,
  );
  out.push(...pairTable((s) => s.withPairs));
  out.push('');
  out.push(`  the same with the heartbeats paused (window 3): what the number of open sessions and held seats alone does to a checkout`);
  out.push(
    ...pairTable(
      (s) => s.pairsOnly,
      (s) => s.serverUsPerPairPaused,
    ),
  );
  out.push('');
  out.push(
    `  background heartbeats over the whole run (setup included): ${fmtInt(r.beats.sent)} attempts, ${fmtInt(r.beats.ok)} OK, ${fmtInt(r.beats.errors)} failed (${fmtInt(r.beats.retries)} of them tried again), ${fmtInt(r.beats.lost)} sessions lost (NOT_FOUND)${r.beats.firstError ? `; first error: ${r.beats.firstError}` : ''}`,
  );
  for (const s of r.steps) {
    const errs = [
      s.firstGrowError,
      s.heartbeatsOnly.firstHeartbeatError,
      s.withPairs.firstHeartbeatError,
      s.withPairs.firstPairError,
      s.pairsOnly.firstPairError,
    ].filter(Boolean);
    if (errs.length > 0) out.push(`  ${fmtInt(s.sessions)} sessions: first errors: ${errs.join('; ')}`);
  }
  out.push("  node µs/pair = node CPU / pairs in window 3 (the node's fixed background work included). Window 2 has none: subtracting window 1");
  out.push('  would mislead, as the node spends less per heartbeat once pairs share its wake-ups. Heartbeat errors = due in the window, never renewed');
  out.push('  (a failed heartbeat is tried again with backoff, as the SDK does, while the session has more than one interval left and');
  out.push("  within a retry budget of 10% of the heartbeats, so that a stall does not become a retry storm of the load generator's making)");
  out.push("  node µs/heartbeat includes the node's fixed background work (lease renewal, sweep), which dominates at small session counts");
  out.push("  bytes/session = (used_memory − used_memory before any session) / sessions, the session's held seats included");
  out.push(
    '  load gen = the worker processes (open-loop heartbeats and pairs); ELU near 1 or a large send lag means the generator, not the node, was the limit',
  );
  out.push('');
  return out.join('\n');
}
