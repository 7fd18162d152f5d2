import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import type { CheckoutResponse__Output } from '../../src/contract/generated/license/v1/CheckoutResponse';
import type { HeartbeatResponse__Output } from '../../src/contract/generated/license/v1/HeartbeatResponse';
import type { OpenSessionResponse__Output } from '../../src/contract/generated/license/v1/OpenSessionResponse';
import { loadLicenseProto } from '../../src/contract/proto';
import { clusterKeys } from '../../src/server/store/keys';
import { freePort } from '../../src/tools/local/ports';
import { type RedisProcess, startRedis } from '../../src/tools/local/redis-process';
import { unary } from '../helpers/grant-sampler';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { eventually } from '../helpers/redis';

const FEATURE = 'cad-pro';
const SEATS = 500;
const WORKERS = 4;
/** Acknowledged checkouts before the kill; more keep coming while it happens. */
const BURST = 60;

type Fsync = 'always' | 'everysec';

interface Outcome {
  readonly acked: number;
  readonly lost: number;
  /** The counter after the restart minus the seats acknowledged: writes whose answer never came (not a loss). */
  readonly unacknowledgedButCounted: number;
}

/**
 * Issue 12: "a standalone Redis with AOF `everysec` loses up to one second of acknowledged
 * grants on restart; a session that survives keeps a seat the server no longer counts".
 * One node on one Redis with an append-only file; clients check seats out as fast as they
 * can; Redis is killed (SIGKILL) in the middle of that, right after at least BURST were
 * acknowledged, and restarted on the same port and directory. Every seat a client was told
 * it has must still be held by its session (Heartbeat's lease_ids) and counted.
 *
 * `appendfsync always` (what the product offers for a single Redis when no grant may be
 * lost) is asserted. `everysec` is measured and printed only: a SIGKILL of the process
 * leaves what Redis wrote in the kernel's page cache, so its loss shows on a host crash,
 * which a test cannot stage; the suite must not depend on it.
 */
describe('Redis restart with an append-only file (kill -9 during a burst of checkouts)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function burstKillRestart(fsync: Fsync): Promise<Outcome> {
    const dir = mkdtempSync(path.join(tmpdir(), `licensed-aof-${fsync}-`));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const redisOpts = { port, dir, appendOnly: true, extraArgs: ['--appendfsync', fsync] };
    let redis: RedisProcess | undefined = await startRedis(redisOpts);
    cleanups.push(() => redis?.kill());
    const node: StartedNode = await startTestNode(testConfig(redis.url, {}, { features: [{ name: FEATURE, seats: SEATS }] }));
    cleanups.push(() => node.node.stop());
    const keys = clusterKeys(node.config.clusterId);
    const c = new (loadLicenseProto().SeatService)(node.addr, grpc.credentials.createInsecure());
    cleanups.push(() => c.close());
    await eventually(() => node.node.controller.machine.isServing() || undefined, 20_000, 'node active');

    const held = new Map<string, Set<string>>();
    for (let i = 0; i < WORKERS; i++) {
      const r = await unary<OpenSessionResponse__Output>(
        (o, cb) => c.OpenSession({ client_id: `aof-${fsync}-${i}`, user: 'u', hostname: 'h', pid: process.pid }, o, cb),
        2_000,
      );
      held.set(r.session_id, new Set());
    }
    let acked = 0;
    let running = true;
    let reached: () => void = () => {};
    const burstDone = new Promise<void>((r) => (reached = r));
    const workers = [...held].map(async ([sid, leases], w) => {
      let n = 0;
      while (running) {
        try {
          const r = await unary<CheckoutResponse__Output>(
            (o, cb) => c.Checkout({ session_id: sid, feature: FEATURE, count: 1, request_id: `w${w}-${n++}` }, o, cb),
            1_000,
          );
          leases.add(r.lease_id);
          if (++acked >= BURST) reached();
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });
    await burstDone;
    // kill -9 with checkouts still in flight: a reply already received is what must survive.
    await redis.kill();
    redis = undefined;
    running = false;
    await Promise.all(workers);
    redis = await startRedis(redisOpts);
    await eventually(() => node.node.controller.machine.isServing() || undefined, 30_000, 'node active again after the Redis restart');

    // The server's view, as a client sees it: every session's held leases, answered by Heartbeat.
    let lost = 0;
    for (const [sid, leases] of held) {
      // A session the restart lost answers NOT_FOUND: all its seats are lost.
      const hb = await eventually(
        () =>
          unary<HeartbeatResponse__Output>((o, cb) => c.Heartbeat({ session_id: sid }, o, cb), 1_000).catch((err: grpc.ServiceError) => {
            if (err.code === grpc.status.NOT_FOUND) return { lease_ids: [] as string[] };
            throw err;
          }),
        10_000,
        `heartbeat of session ${sid}`,
      );
      const onServer = new Set(hb.lease_ids);
      for (const l of leases) if (!onServer.has(l)) lost++;
    }
    const db = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const counted = Number((await db.hget(keys.used, FEATURE)) ?? 0);
    db.disconnect();
    const totalAcked = [...held.values()].reduce((a, l) => a + l.size, 0);
    return { acked: totalAcked, lost, unacknowledgedButCounted: counted - (totalAcked - lost) };
  }

  it('appendfsync always: every acknowledged seat is still held and counted after kill -9 and restart', async () => {
    const o = await burstKillRestart('always');
    console.log(`# AOF always: ${o.acked} seats acknowledged before kill -9, ${o.lost} lost; ${o.unacknowledgedButCounted} counted whose answer never came`);
    assert.ok(o.acked >= BURST, `only ${o.acked} checkouts acknowledged`);
    assert.equal(o.lost, 0, `${o.lost} of ${o.acked} acknowledged seats lost with appendfsync always`);
    assert.ok(o.unacknowledgedButCounted >= 0, 'the counter is below the seats held');
  });

  it('appendfsync everysec: measured (a process kill keeps the page cache; only a host crash loses the last second)', async () => {
    const o = await burstKillRestart('everysec');
    console.log(`# AOF everysec: ${o.acked} seats acknowledged before kill -9, ${o.lost} lost; ${o.unacknowledgedButCounted} counted whose answer never came`);
    assert.ok(o.acked >= BURST, `only ${o.acked} checkouts acknowledged`);
  });
});
