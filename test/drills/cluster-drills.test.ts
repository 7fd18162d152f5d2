import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type LocalCluster, type LocalClusterOptions, startLocalCluster } from '../../src/tools/local/local-cluster';
import { writeDevLicense } from '../../src/tools/local/dev-license';
import { logTime, NodeProcess } from '../../src/tools/local/node-process';
import { freePort } from '../../src/tools/local/ports';
import { eventually } from '../helpers/redis';

/**
 * Process drills: real `licensed` processes, a real redis-server, real signals.
 * Short timings keep them quick; waits are generous so a slow machine does not flake.
 */
const FAST: LocalClusterOptions = {
  leaseTtlMs: 1_500,
  heartbeatIntervalMs: 300,
  handbackAfterMs: 1_500,
  redundantStartupGraceMs: 3_000,
};

const clusters: LocalCluster[] = [];
const extras: NodeProcess[] = [];
after(async () => {
  await Promise.all(extras.map((n) => n.kill()));
  await Promise.all(clusters.map((c) => c.stop()));
});

async function cluster(opts: LocalClusterOptions = FAST): Promise<LocalCluster> {
  const c = await startLocalCluster({ ...opts, logFiles: true });
  clusters.push(c);
  return c;
}

const ts = logTime;

async function leaderKey(c: LocalCluster): Promise<string | null> {
  const r = new Redis(c.redisUrl);
  try {
    return await r.get(`{lic:${c.clusterId}}:leader`);
  } finally {
    r.disconnect();
  }
}

describe('cluster drills (real processes)', () => {
  it('cold start: the primary becomes ACTIVE, the redundant STANDBY, no failover', async () => {
    const c = await cluster();
    await c.primary.waitForState('ACTIVE');
    await c.redundant.waitForState('STANDBY');
    const pa = c.admin('primary');
    const ra = c.admin('redundant');
    const ps = await eventually(async () => {
      const s = await pa.getStatus();
      return s.peer?.reachable ? s : undefined;
    });
    assert.equal(ps.state, 'NODE_STATE_ACTIVE');
    assert.equal(ps.role, 'ROLE_PRIMARY');
    assert.ok(ps.epoch >= 1);
    assert.equal(ps.leader_node_id, 'node-a');
    assert.equal(ps.budget?.consumed_ms, 0);
    assert.equal(ps.budget?.episode_id, '');
    const rs = await eventually(async () => {
      const s = await ra.getStatus();
      return s.leader_addr ? s : undefined;
    });
    assert.equal(rs.state, 'NODE_STATE_STANDBY');
    assert.equal(rs.epoch, 0);
    assert.equal(rs.leader_node_id, 'node-a');
    assert.equal(rs.leader_addr, c.addr.primary);
    assert.equal(await leaderKey(c), `node-a:${ps.epoch}`);
    // Give the redundant well past its startup grace: it must not open a failover.
    await new Promise((r) => setTimeout(r, 3_500));
    assert.equal((await ra.getStatus()).state, 'NODE_STATE_STANDBY');
    assert.ok(!c.redundant.lines.some((l) => l['to'] === 'FAILOVER_ACTIVE'));
    // The local cluster signs its heartbeats with a generated secret: no unauthenticated-peers warning.
    assert.ok(c.envOf('primary')['LICENSE_CLUSTER_SECRET'] && c.envOf('primary')['LICENSE_CLUSTER_SECRET'] === c.envOf('redundant')['LICENSE_CLUSTER_SECRET']);
    for (const n of [c.primary, c.redundant]) assert.ok(!n.lines.some((l) => /not authenticated/.test(String(l.message))), `${n.opts.name}: no warning`);
  });

  it('kill -9 of the primary: the redundant takes over early (the port refuses, the renewals stopped); the restarted primary gets it back after the handback delay', async () => {
    const c = await cluster();
    const first = await c.primary.waitForState('ACTIVE');
    await c.redundant.waitForState('STANDBY');
    await eventually(async () => (await c.admin('redundant').getStatus()).peer?.reachable || undefined);
    await c.primary.kill();
    const failover = await c.redundant.waitForState('FAILOVER_ACTIVE', 20_000);
    assert.ok(Number(failover['newEpoch']) > Number(first['newEpoch']));
    const early = c.redundant.lines.find((l) => String(l.message).startsWith("the peer's port refuses connections"));
    assert.ok(early, 'the fast path was taken: a dead process is not waited out for a whole TTL');
    assert.ok(Number(early['leaseLeftMs']) > 0, 'taken while the old lease still ran');
    assert.equal(await leaderKey(c), `node-b:${String(failover['newEpoch'])}`);

    const mark = c.primary.lines.length;
    c.primary.start();
    const listening = await c.primary.waitForLog((l) => l.message === 'license node listening' && c.primary.lines.indexOf(l) >= mark);
    const back = await c.primary.waitForState('ACTIVE', 30_000, mark);
    assert.ok(Number(back['newEpoch']) > Number(failover['newEpoch']), 'handback takes a new epoch');
    assert.ok(ts(back) - ts(listening) >= FAST.handbackAfterMs!, `handback after ${ts(back) - ts(listening)} ms, before the delay`);
    const handedBack = await c.redundant.waitForState('STANDBY', 10_000, c.redundant.lines.indexOf(failover));
    assert.match(String(handedBack.message), /handing the lease back/);
    assert.ok(ts(handedBack) <= ts(back));
    assert.equal(await leaderKey(c), `node-a:${String(back['newEpoch'])}`);
  });

  it('SIGSTOP of the primary past the TTL, then SIGCONT: the old primary steps down and never acts on its old epoch', async () => {
    const c = await cluster();
    const first = await c.primary.waitForState('ACTIVE');
    const oldEpoch = Number(first['newEpoch']);
    await eventually(async () => (await c.admin('redundant').getStatus()).peer?.reachable || undefined);
    const pa = c.admin('primary');
    c.primary.signal('SIGSTOP');
    const failover = await c.redundant.waitForState('FAILOVER_ACTIVE', 20_000);
    assert.ok(Number(failover['newEpoch']) > oldEpoch);
    // A paused process still accepts connections (the kernel does): no fast path, the TTL decided.
    assert.ok(!c.redundant.lines.some((l) => String(l.message).startsWith("the peer's port refuses connections")), 'no early takeover of a paused primary');
    const mark = c.primary.lines.length;
    c.primary.signal('SIGCONT');
    // Poll the resumed primary from the first moment: it must never report ACTIVE on the old epoch.
    const seen: { state: string; epoch: number }[] = [];
    const stepped = await eventually(
      async () => {
        const s = await pa.getStatus();
        seen.push({ state: s.state, epoch: s.epoch });
        return s.state === 'NODE_STATE_STANDBY' ? s : undefined;
      },
      15_000,
      'old primary in STANDBY',
    );
    assert.equal(stepped.epoch, 0);
    assert.ok(!seen.some((s) => s.epoch === oldEpoch), `resumed primary reported its old epoch: ${JSON.stringify(seen)}`);
    const down = await c.primary.waitForLog((l) => l['from'] === 'ACTIVE' && c.primary.lines.indexOf(l) >= mark, 10_000, 'step-down line');
    assert.equal(down['to'], 'STANDBY');
    assert.equal(await leaderKey(c), `node-b:${String(failover['newEpoch'])}`, 'the redundant still holds the lease');
    // Then the healthy primary takes the cluster back with a newer epoch.
    const back = await c.primary.waitForState('ACTIVE', 30_000, mark);
    assert.ok(Number(back['newEpoch']) > Number(failover['newEpoch']));
  });

  it('SIGTERM of the active primary: planned handover without waiting for the lease to expire, exit 0', async () => {
    // A long TTL makes "did not wait for expiry" unmistakable.
    const c = await cluster({ ...FAST, leaseTtlMs: 6_000, heartbeatIntervalMs: 500 });
    await c.primary.waitForState('ACTIVE');
    await eventually(async () => (await c.admin('redundant').getStatus()).peer?.reachable || undefined);
    c.primary.signal('SIGTERM');
    const stopping = await c.primary.waitForState('STOPPING');
    const exit = await c.primary.waitExit(5_000);
    assert.equal(exit.code, 0);
    const takeover = await c.redundant.waitForState('FAILOVER_ACTIVE', 10_000);
    const gap = ts(takeover) - ts(stopping);
    assert.ok(gap < 6_000 - 1_200, `takeover ${gap} ms after the stop: it waited for the lease TTL`);
    assert.ok(c.primary.lines.some((l) => l.message === 'lease released'));
  });

  it('licensectl-style step-down over AdminService hands the lease to the peer and the node stays up', async () => {
    const c = await cluster({ ...FAST, handbackAfterMs: 60_000 });
    await c.primary.waitForState('ACTIVE');
    await eventually(async () => (await c.admin('redundant').getStatus()).peer?.reachable || undefined);
    const r = await c.admin('primary').stepDown();
    assert.equal(r.stepped_down, true);
    assert.equal(r.state, 'NODE_STATE_STANDBY');
    await c.redundant.waitForState('FAILOVER_ACTIVE', 10_000);
    assert.ok(c.primary.running);
  });

  it('a foreign cluster id is refused and logged as an error on both sides', async () => {
    const c = await cluster();
    await c.primary.waitForState('ACTIVE');
    const port = await freePort();
    const foreignDir = path.join(c.dir, 'foreign');
    mkdirSync(foreignDir, { recursive: true });
    const foreignLicense = writeDevLicense(foreignDir, `${c.clusterId}-other`, {
      servers: [
        { node_id: 'node-p', role: 'primary' },
        { node_id: 'node-x', role: 'redundant' },
      ],
    });
    const foreign = new NodeProcess({
      name: 'foreign',
      env: {
        ...c.envOf('redundant'),
        LICENSE_CLUSTER_ID: `${c.clusterId}-other`,
        LICENSE_NODE_ID: 'node-x',
        LICENSE_GRPC_ADDR: `127.0.0.1:${port}`,
        LICENSE_METRICS_ADDR: 'off',
        LICENSE_CONSOLE_ADDR: 'off',
        LICENSE_PEER_ADDR: c.addr.primary,
        LICENSE_STATE_DIR: path.join(foreignDir, 'state'),
        LICENSE_FILE: foreignLicense.licenseFile,
        LICENSE_VENDOR_PUBLIC_KEY: foreignLicense.publicKeyFile,
      },
    }).start();
    extras.push(foreign);
    const onPrimary = await c.primary.waitForLog((l) => l.level === 'error' && /peer refused/.test(String(l.message)), 15_000, 'refusal on the primary');
    assert.match(String(onPrimary['reason']), /cluster/);
    const onForeign = await foreign.waitForLog((l) => l.level === 'error' && /peer refused/.test(String(l.message)), 15_000, 'refusal on the foreign node');
    assert.match(String(onForeign['reason']), /cluster/);
    // The real pair is unaffected.
    assert.equal((await c.admin('primary').getStatus()).state, 'NODE_STATE_ACTIVE');
  });

  it('a node id the license does not list refuses to start; a second process under the primary id is refused by the peer and never becomes active', async () => {
    const c = await cluster();
    await c.primary.waitForState('ACTIVE');
    await c.redundant.waitForState('STANDBY');
    // A third node: the license names the servers, so it cannot join under a made-up id.
    const unlisted = new NodeProcess({
      name: 'unlisted',
      env: {
        ...c.envOf('primary'),
        LICENSE_NODE_ID: 'node-c',
        LICENSE_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
        LICENSE_METRICS_ADDR: 'off',
        LICENSE_CONSOLE_ADDR: 'off',
      },
    }).start();
    extras.push(unlisted);
    assert.equal((await unlisted.waitExit(10_000)).code, 2);
    assert.equal(unlisted.stderr.length, 1, unlisted.stderr.join('\n'));
    assert.match(
      unlisted.stderr[0] ?? '',
      /^licensed: LICENSE_NODE_ID: "node-c" is not a server of license file .*, which lists node-a \(primary\), node-b \(redundant\)/,
    );
    // The primary's id a second time (a license without host ids cannot tell the machines apart):
    // its heartbeats are refused and the lease, held by the real primary, never becomes its.
    const port = await freePort();
    const dup = new NodeProcess({
      name: 'duplicate-primary',
      env: {
        ...c.envOf('primary'),
        LICENSE_GRPC_ADDR: `127.0.0.1:${port}`,
        LICENSE_METRICS_ADDR: 'off',
        LICENSE_CONSOLE_ADDR: 'off',
        LICENSE_PEER_ADDR: c.addr.primary,
        LICENSE_STATE_DIR: path.join(c.dir, 'state-dup'),
      },
    }).start();
    extras.push(dup);
    const refused = await c.primary.waitForLog((l) => l.level === 'error' && /peer refused/.test(String(l.message)), 15_000, 'refusal');
    assert.match(String(refused['reason']), /uses this node's own id "node-a"/);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok(!dup.lines.some((l) => l['to'] === 'ACTIVE'), 'the duplicate never became active');
    assert.equal((await c.admin('primary').getStatus()).state, 'NODE_STATE_ACTIVE');
  });

  it('a node with a peer and neither cluster secret nor CA refuses to start; LICENSE_INSECURE_PEERS=true starts it with a warning at every start', async () => {
    const env = {
      LICENSE_CLUSTER_ID: 'x',
      LICENSE_NODE_ID: 'n',
      LICENSE_ROLE: 'redundant',
      LICENSE_ADMIN_TOKEN: 'a-long-enough-admin-token',
      LICENSE_FILE: 'license.json',
      LICENSE_VENDOR_PUBLIC_KEY: 'vendor-public.pem',
      LICENSE_PEER_ADDR: `127.0.0.1:${await freePort()}`,
    };
    const refused = new NodeProcess({ name: 'no-secret', env }).start();
    extras.push(refused);
    const exit = await refused.waitExit(10_000);
    assert.equal(exit.code, 2);
    assert.equal(refused.stderr.length, 1, refused.stderr.join('\n'));
    assert.match(refused.stderr[0] ?? '', /^licensed: LICENSE_CLUSTER_SECRET: is required when LICENSE_PEER_ADDR is set .*LICENSE_INSECURE_PEERS=true/);

    // The explicit opt-out: a whole local cluster without a secret still pairs up, and
    // both nodes (each has a peer) warn, again after a restart.
    const c = await cluster({ ...FAST, env: { LICENSE_CLUSTER_SECRET: '', LICENSE_INSECURE_PEERS: 'true' } });
    const warned = (n: NodeProcess): number =>
      n.lines.filter((l) => l.level === 'warn' && /^peer heartbeats are not authenticated/.test(String(l.message))).length;
    await c.primary.waitForState('ACTIVE');
    await c.redundant.waitForState('STANDBY');
    await eventually(async () => (await c.admin('redundant').getStatus()).peer?.reachable || undefined);
    assert.equal(warned(c.primary), 1);
    assert.equal(warned(c.redundant), 1);
    c.redundant.signal('SIGTERM');
    await c.redundant.waitExit(6_000);
    c.redundant.start();
    await c.redundant.waitForLog((l) => warned(c.redundant) === 2 && /not authenticated/.test(String(l.message)), 15_000, 'the warning after the restart');
  });

  it('bad configuration stops the node at start with one line naming the key', async () => {
    const bad = new NodeProcess({
      name: 'bad',
      env: {
        LICENSE_CLUSTER_ID: 'x',
        LICENSE_NODE_ID: 'n',
        LICENSE_ROLE: 'primary',
        LICENSE_ADMIN_TOKEN: 'a-long-enough-admin-token',
        LICENSE_LEASE_TTL_MS: 'soon',
      },
    }).start();
    extras.push(bad);
    const exit = await bad.waitExit(10_000);
    assert.notEqual(exit.code, 0);
    assert.deepEqual(bad.stderr, ['licensed: LICENSE_LEASE_TTL_MS: must be a whole number of milliseconds (got "soon")']);
  });
});
