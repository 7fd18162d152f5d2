import type { CheckoutBenchReport, CpuPercent, LoadPhase } from './checkout-bench';
import type { Summary } from './histogram';
import type { OpName } from './protocol';
import { textTable } from './text-table';

/** Targets the figures are judged against. */
export const TARGETS = Object.freeze({ minRatioToBaseline: 0.8, maxFixedRateP99Ms: 5 });

/** CPU (100 = one core) used by unrelated processes above which a phase is flagged as disturbed. */
const INTERFERENCE_WARN = 20;

const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));
const int = (v: number): string => Math.round(v).toLocaleString('en-US');
const pct = (v: number | undefined): string => (v === undefined ? '?' : v.toFixed(0));
const cpu = (c: CpuPercent): string => `${pct(c.clients)} / ${pct(c.server)} / ${pct(c.redis)}`;
/** Server CPU time per completed unit (pair or call): the cost figure a client-limited run cannot hide. */
const serverCostUs = (p: LoadPhase): number | undefined =>
  p.cpu.server === undefined || p.perSecond === 0 ? undefined : ((p.cpu.server / 100) * 1e6) / p.perSecond;
const serverCost = (p: LoadPhase): string => serverCostUs(p)?.toFixed(0) ?? '?';

const LABELS: Record<OpName, string> = { checkout: 'Checkout', release: 'Release', heartbeat: 'Heartbeat', sendLag: '(send lag)' };

function phaseRows(n: string, run: string, throughput: string, p: LoadPhase, ops: readonly OpName[]): string[][] {
  const present = ops.filter((op) => p.ops[op] !== undefined);
  return present.map((op, i) => {
    const s = p.ops[op] as Summary;
    const first = i === 0;
    return [
      first ? n : '',
      first ? run : '',
      first ? throughput : '',
      LABELS[op],
      int(s.count),
      ms(s.p50Ms),
      ms(s.p99Ms),
      ms(s.maxMs),
      first ? cpu(p.cpu) : '',
      first ? p.cpu.clientMaxElu.toFixed(2) : '',
      first ? `${pct(p.cpu.machineBusy)} / ${pct(p.cpu.machineStall)} / ${pct(p.cpu.others)}` : '',
      first ? serverCost(p) : '',
      first ? String(p.errors) : '',
    ];
  });
}

export function formatCheckoutReport(r: CheckoutBenchReport): string {
  const o = r.options;
  const m = r.machine;
  const ratio = r.product.perSecond / r.baseline.perSecond;
  const p99 = r.fixedRate.ops.checkout?.p99Ms ?? Number.NaN;
  const out: string[] = [];
  out.push('');
  out.push('checkout bench: license.v1.SeatService on loopback (load workers, server and Redis share this machine)');
  out.push(`  machine  ${m.cpus} CPUs (${m.cpuModel}), ${m.platform}, node ${m.node}, redis-server ${m.redis}`);
  out.push(
    `  params   --duration-ms ${o.durationMs} (+${o.warmupMs} ms warm-up per phase)  --workers ${o.workers}  --concurrency ${o.concurrency} per worker (${o.workers * o.concurrency} loops)  --rate ${o.rate}/s (${o.rateWorkers} worker${o.rateWorkers === 1 ? '' : 's'})  --seats-held ${o.seatsHeld} over ${o.holdSessions} sessions`,
  );
  out.push(
    `  product  one licensed node (ACTIVE, no peer${r.options.tls ? ', TLS on' : ', plaintext'}${r.options.policyFile ? `, seat policy ${r.options.policyFile}` : ''}), its own redis-server; baseline = bare grpc-js (plaintext), one EVALSHA per call, same redis-server`,
  );
  out.push('');
  const rows = [
    ...phaseRows('1', 'product, saturated', `${int(r.product.perSecond)} pairs/s`, r.product, ['checkout', 'release']),
    ...phaseRows('2', 'baseline, saturated', `${int(r.baseline.perSecond)} pairs/s`, r.baseline, ['checkout', 'release']),
    ...phaseRows('3', `product, fixed ${o.rate}/s open loop`, `${r.fixedRate.perSecond.toFixed(1)} checkouts/s`, r.fixedRate, [
      'checkout',
      'release',
      'sendLag',
    ]),
    ...phaseRows('3b', `baseline, fixed ${o.rate}/s open loop`, `${r.baselineFixedRate.perSecond.toFixed(1)} checkouts/s`, r.baselineFixedRate, [
      'checkout',
      'release',
      'sendLag',
    ]),
    ...phaseRows('4', 'product, heartbeats saturated', `${int(r.heartbeat.perSecond)} heartbeats/s`, r.heartbeat, ['heartbeat']),
  ];
  out.push(
    ...textTable(
      [
        '#',
        'run',
        'throughput',
        'call',
        'samples',
        'p50 ms',
        'p99 ms',
        'max ms',
        'CPU % workers/server/redis',
        'worker ELU',
        'machine busy/wait/others %',
        'server CPU µs/unit',
        'errors',
      ],
      rows,
      new Set([4, 5, 6, 7, 9, 10, 11, 12]),
    ),
  );
  out.push('');
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  out.push(
    `  product/baseline throughput ratio: ${ratio.toFixed(2)} (${int(r.product.perSecond)} / ${int(r.baseline.perSecond)} pairs/s; target >= ${TARGETS.minRatioToBaseline}: ${verdict(ratio >= TARGETS.minRatioToBaseline)})`,
  );
  const pc = serverCostUs(r.product);
  const bc = serverCostUs(r.baseline);
  if (pc !== undefined && bc !== undefined) {
    out.push(
      `                                     server CPU per pair: product ${pc.toFixed(0)} µs, baseline ${bc.toFixed(0)} µs (ratio ${(bc / pc).toFixed(2)}: the throughput ratio to expect once the server, not the client, is the limit)`,
    );
  }
  out.push(
    `  fixed rate: offered ${r.fixedRate.offeredPerSecond?.toFixed(1) ?? '?'}/s, achieved ${r.fixedRate.perSecond.toFixed(1)}/s, Checkout p99 ${ms(p99)} ms from intended start (target <= ${TARGETS.maxFixedRateP99Ms} ms: ${verdict(p99 <= TARGETS.maxFixedRateP99Ms)}), p99.9 ${ms(r.fixedRate.ops.checkout?.p999Ms)} ms, at most ${r.fixedRate.maxInFlight ?? '?'} calls in flight`,
  );
  out.push(
    `                server side (the node's histogram, ${int(r.serverSide.p99.count)} Checkouts): p50 <= ${r.serverSide.p50.boundMs} ms, p99 <= ${r.serverSide.p99.boundMs} ms (target <= ${TARGETS.maxFixedRateP99Ms} ms: ${verdict(r.serverSide.p99.boundMs <= TARGETS.maxFixedRateP99Ms)})`,
  );
  const bp99 = r.baselineFixedRate.ops.checkout?.p99Ms;
  out.push(
    `                baseline at the same rate: Checkout p99 ${ms(bp99)} ms, send lag p99 ${ms(r.baselineFixedRate.ops.sendLag?.p99Ms)} ms (product send lag p99 ${ms(r.fixedRate.ops.sendLag?.p99Ms)} ms)`,
  );
  const mem = r.memory;
  const kb = (b: number): string => `${(b / 1024).toFixed(0)} KiB`;
  out.push(
    `  Redis memory: ${mem.bytesPerSeat.toFixed(0)} bytes per held seat (${int(mem.seatsHeld)} seats held over ${mem.sessions} sessions), ${mem.bytesPerSession.toFixed(0)} bytes per open session`,
  );
  out.push(
    `                used_memory ${kb(mem.usedBefore)} -> ${kb(mem.usedWithSessions)} with sessions -> ${kb(mem.usedWithSeats)} with seats -> ${kb(mem.usedAfterClose)} after CloseSession (${int(mem.leasesReleasedOnClose)} leases released)`,
  );
  const errs: [string, number, string | undefined][] = [
    ['product', r.product.errors, r.product.firstError],
    ['baseline', r.baseline.errors, r.baseline.firstError],
    ['fixed rate', r.fixedRate.errors, r.fixedRate.firstError],
    ['baseline fixed rate', r.baselineFixedRate.errors, r.baselineFixedRate.firstError],
    ['heartbeat', r.heartbeat.errors, r.heartbeat.firstError],
    ['memory hold', mem.holdErrors, mem.firstError],
  ];
  for (const [name, n, first] of errs) if (n > 0) out.push(`  ${name}: ${n} errors, first: ${first ?? '?'}`);
  const phases: [string, LoadPhase][] = [
    ['1 product saturated', r.product],
    ['2 baseline saturated', r.baseline],
    ['3 product fixed rate', r.fixedRate],
    ['3b baseline fixed rate', r.baselineFixedRate],
    ['4 heartbeats', r.heartbeat],
  ];
  for (const [name, p] of phases) {
    if ((p.cpu.others ?? 0) > INTERFERENCE_WARN) {
      out.push(`  WARNING: during ${name} other processes used ~${pct(p.cpu.others)}% of a core; its figures are disturbed, rerun on a quiet machine.`);
    }
  }
  out.push('');
  out.push('  latencies are per call as the client sees them; fixed-rate Checkout latency counts from the intended start (queueing included).');
  out.push('  CPU % is per process over the recording window; 100 = one core. Throughput counts pairs/calls completed inside the window.');
  out.push('  worker ELU = event-loop utilization of the busiest load worker (near 1: the load client was the limit).');
  out.push('  machine busy/wait/others % = all cores busy (100 = every core) / share of time some runnable process waited for a core (PSI) /');
  out.push('                               CPU of processes outside this bench (100 = one core).');
  out.push('  server CPU µs/unit = server process CPU time per completed pair (1-3) or heartbeat (4); send lag = how late the worker issued a scheduled call.');
  out.push('');
  return out.join('\n');
}
