import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  createFindings,
  type FailoverStats,
  type Findings,
  type FuzzCluster,
  type Loop,
  type SeatAuditStats,
  SEATS,
  startFailoverLoop,
  startFuzzCluster,
  startSeatAudit,
  startStatusMonitor,
  type StatusStats,
} from '../helpers/fuzz-cluster';
import { caseArb, show, type Step } from '../helpers/fuzz-requests';
import { FuzzViolation, FuzzWorld } from '../helpers/fuzz-world';

/*
 * Property-based fuzzing of a live two-node cluster. fast-check generates cases: lists
 * of steps, each a few concurrent calls, valid and malformed, against either node's
 * SeatService and AdminService. Meanwhile a loop steps the lease holder down every
 * 1.5-3 s, so calls meet both nodes in every state (ACTIVE, STANDBY, FAILOVER_ACTIVE,
 * FAILOVER_BLOCKED: the failover budget is 5 s), and monitors check the invariants:
 * never INTERNAL/UNKNOWN, only the answers the contract allows for the input, seats in
 * use never above seats licensed (Redis, ListFeatures, GetStatus, ListLeases), the
 * budget of an episode never refunded, both nodes still answering at the end.
 *
 *   FUZZ_TIME_MS  time for the fuzzing itself (default 45000)
 *   FUZZ_RUNS     at most this many cases (default 20000)
 *   FUZZ_SEED     replay the inputs of a run (the cluster's timing is not replayed)
 *   FUZZ_PATH     with FUZZ_SEED: run just the failing case fast-check reported
 *   FUZZ_VERBOSE  print the answers by method, status code and license-error
 */

const envInt = (name: string, fallback: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
};

const FUZZ_TIME_MS = envInt('FUZZ_TIME_MS', 45_000);
const FUZZ_RUNS = envInt('FUZZ_RUNS', 20_000);
const SEED = envInt('FUZZ_SEED', (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0);
const PATH = process.env['FUZZ_PATH'];

function showCase(steps: readonly Step[], maxLines = 40): string {
  const lines = steps.map((s, i) => `  step ${i}: ${s.map((a) => show(a, 32)).join(' || ')}`);
  return lines.length > maxLines ? [...lines.slice(0, maxLines), `  ... ${lines.length - maxLines} more steps`].join('\n') : lines.join('\n');
}

const count = (m: Map<string, number>): string =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

describe('cluster fuzz: random and malformed calls against both nodes while failovers happen', () => {
  const closers: (() => Promise<void> | void)[] = [];
  const loops: Loop[] = [];
  let cluster: FuzzCluster;
  let findings: Findings;
  const audit: SeatAuditStats = { samples: 0, maxUsed: new Map(), maxSessions: 0, maxSeatsPerSession: 0, maxSessionsPerClient: 0 };
  const statusStats: StatusStats = { samples: 0, states: new Map(), episodes: new Map(), blockedSeen: 0, listFeatures: new Map(), lastHolder: 0 };
  const failovers: FailoverStats = { stepDowns: [0, 0], skipped: 0, noHolder: 0 };
  let lastEpisode = '';

  before(async () => {
    cluster = await startFuzzCluster(closers);
    findings = createFindings();
  });

  after(async () => {
    for (const l of loops.splice(0)) await l.stop();
    for (const c of closers.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        console.error(`cluster fuzz cleanup: ${String(err)}`);
      }
    }
  });

  it('never INTERNAL/UNKNOWN, only allowed answers, no over-granted seats, no refunded budget, nodes alive', async () => {
    console.log(`cluster fuzz: seed ${SEED} (replay inputs with FUZZ_SEED=${SEED}), ${FUZZ_TIME_MS} ms, at most ${FUZZ_RUNS} cases`);
    const started = Date.now();
    loops.push(startSeatAudit(cluster, findings, audit));
    loops.push(startStatusMonitor(cluster, findings, statusStats));
    loops.push(startFailoverLoop(cluster, findings, failovers, SEED));
    const vendorKey = createPrivateKey(readFileSync(cluster.vendorPrivateKeyFile));
    const world = new FuzzWorld(
      cluster,
      vendorKey,
      () => {
        for (const e of statusStats.episodes.keys()) lastEpisode = e;
        return lastEpisode;
      },
      () => statusStats.lastHolder,
    );

    const brokenInvariant = (): FuzzViolation =>
      new FuzzViolation(`invariant broken:\n  ${findings.violations.join('\n  ')}\nlast calls before it was seen:\n${world.recentCalls()}`);

    const deadline = started + FUZZ_TIME_MS;
    let cases = 0;
    const property = fc.asyncProperty(caseArb, async (steps) => {
      // Time is up: stop fast-check here (an interrupt, not a failure), never in the middle of a case.
      if (Date.now() >= deadline) throw new fc.PreconditionFailure(true);
      cases++;
      for (const step of steps) {
        if (Date.now() >= deadline) return;
        await world.runStep(step);
        if (findings.violations.length > 0) throw brokenInvariant();
      }
    });
    const details = await fc.check(property, {
      seed: SEED,
      // With a path fast-check starts at that case; one run replays just it.
      numRuns: PATH ? 1 : FUZZ_RUNS,
      // The cluster moves on between runs, so a shrunk case would not replay the failure: report the case as found.
      endOnFailure: true,
      ...(PATH ? { path: PATH } : {}),
    });
    if (details.failed) {
      const steps = details.counterexample?.[0];
      const err = details.errorInstance;
      console.log(
        [
          `cluster fuzz FAILED: seed ${SEED}, case path ${details.counterexamplePath} (replay: FUZZ_SEED=${SEED} FUZZ_PATH=${details.counterexamplePath})`,
          err instanceof Error ? err.message : String(err),
          'the case:',
          steps ? showCase(steps) : '  (none)',
        ].join('\n'),
      );
    }

    // Let the monitors take a last look, then both nodes must still answer.
    await new Promise((r) => setTimeout(r, 500));
    const final = await Promise.all(cluster.ops.map((c) => c.getStatus()));
    for (const l of loops.splice(0)) await l.stop();

    const s = world.stats;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const maxUsed = [...SEATS].map(([f, n]) => `${f} ${audit.maxUsed.get(f) ?? 0}/${n}`).join(', ');
    console.log(
      [
        `cluster fuzz: ${cases} cases, ${s.steps} steps, ${s.actions} actions, ${s.calls} calls in ${secs} s (seed ${SEED}); ` +
          `${s.granted} checkouts granted, ${s.activationsApplied} activation keys applied; ` +
          `step-downs: primary ${failovers.stepDowns[0]}, redundant ${failovers.stepDowns[1]}; ${statusStats.episodes.size} failover episode(s), blocked seen ${statusStats.blockedSeen}×`,
        `  status codes: ${count(s.histogram)}`,
        `  calls: ${count(s.byMethod)}`,
        `  monitors: ${audit.samples} redis samples (max in use ${maxUsed}; max ${audit.maxSessions} sessions, ${audit.maxSessionsPerClient} of one client, ${audit.maxSeatsPerSession} seats in one), ${statusStats.samples} GetStatus; states seen: ${count(statusStats.states).replace(/NODE_STATE_/g, '')}`,
        `  final: primary ${final[0]?.state}, redundant ${final[1]?.state}; episodes ${show([...statusStats.episodes])}`,
      ].join('\n'),
    );

    if (process.env['FUZZ_VERBOSE']) {
      console.log(
        `  by method, code and license-error:\n    ${[...s.detailed]
          .sort()
          .map(([k, v]) => `${k} ${v}`)
          .join('\n    ')}`,
      );
    }

    if (details.failed) {
      const err = details.errorInstance;
      assert.fail(
        `fuzz case failed (seed ${SEED}, FUZZ_PATH=${details.counterexamplePath}): ${err instanceof Error ? err.message.split('\n').slice(0, 2).join(' | ') : String(err)}`,
      );
    }
    if (findings.violations.length > 0) assert.fail(brokenInvariant().message);
    for (const st of final) assert.ok(st.cluster_id === cluster.clusterId, 'a node did not answer GetStatus at the end');
    if (FUZZ_TIME_MS >= 20_000 && !PATH) {
      // A fuzz run that never reached the interesting places proves nothing.
      assert.ok(s.calls > 200, `only ${s.calls} calls made`);
      assert.ok(s.granted > 0, 'no checkout was ever granted');
      assert.ok(failovers.stepDowns[0] + failovers.stepDowns[1] >= 2, 'the failover loop never stepped a node down');
      assert.ok(statusStats.episodes.size >= 1, 'the redundant never took over (no failover episode seen)');
    }
  });
});
